// Backups, restores and forks of the database service through its real HTTP API, for a ~100 MB
// and a ~1 GB database (pgbench scales 7 and 68): a full backup (time, size, what it stores), an
// incremental after 1 % of the rows changed, a restore of that backup into a new instance, a
// point-in-time restore, and a fork of the present — each timed from the API call until the new
// instance answers `SELECT 1` as the tenant (or the backup is COMPLETED). Beside them, in the same
// run: `cp -a` of the same data directory, the floor of any copy-based fork on this disk.
//
//   npm run bench:backups [-- --scales 7,68 --filesystems ext4,xfs-reflink]
//
// `xfs-reflink` runs the same on a loop-mounted XFS volume with reflinks (as root; xfsprogs is
// installed with apt-get when missing), where a fork's copy shares blocks copy-on-write.
//
// The platform runs in a process of its own (as `npm start` runs it, backups on); this process is its client.

import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { mountReflinkVolume, type ReflinkVolume } from '@strata/postgres';
import { resetPlatform } from '@strata/platform';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { startPlatformProcess, type InstanceJson } from './lib/platform-process.js';
import { gitRevision } from './lib/revision.js';

const run = promisify(execFile);
/** A 1 GB restore on a slow disk takes minutes; past this it is stuck. */
const OPERATION_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 100;
const PASSWORD = 'bench-password-1';

const FILESYSTEMS = ['ext4', 'xfs-reflink'] as const;
type Filesystem = (typeof FILESYSTEMS)[number];
const { values } = parseArgs({ options: { scales: { type: 'string', default: '7,68' }, filesystems: { type: 'string', default: 'ext4' } } });
const scales = values.scales.split(',').map(Number);
if (scales.some((scale) => !Number.isInteger(scale) || scale < 1)) throw new Error('--scales is a comma-separated list of pgbench scales ≥ 1, e.g. 7,68');
const filesystems = values.filesystems.split(',') as Filesystem[];
if (filesystems.some((fs) => !FILESYSTEMS.includes(fs))) throw new Error(`--filesystems is a comma-separated list of ${FILESYSTEMS.join(', ')}`);

const root = await mkdtemp(join(tmpdir(), 'strata-bench-backups-'));
await chmod(root, 0o755);
const monitor = new MachineLoadMonitor({ ownPaths: [root] });
const results: Array<Record<string, number | string>> = [];
for (const filesystem of filesystems) {
  const volume: ReflinkVolume | undefined = filesystem === 'xfs-reflink' ? await mountReflinkVolume(join(root, 'xfs'), 16_384) : undefined;
  const dataDir = join(volume?.dir ?? root, 'data');
  const platform = await startPlatformProcess({ dataDir, capacity: { memoryMb: 1_000_000, instances: 1_000 }, agent: { spares: 0 } });
  try {
    await runScales(filesystem, platform);
  } finally {
    await platform.close();
    await resetPlatform(dataDir);
    await volume?.unmount();
  }
}

async function runScales(filesystem: Filesystem, platform: Awaited<ReturnType<typeof startPlatformProcess>>): Promise<void> {

  interface BackupJson {
    readonly id: string;
    readonly status: string;
    readonly trigger: string;
    readonly sizeBytes: number | null;
    readonly storedBytes: number | null;
    readonly error: string | null;
  }

  async function must<T>(key: string, method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as T;
    if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(json)}`);
    return json;
  }

  const unlimited = { instances: 1_000, storageMb: 1_000_000_000, connections: 1_000_000 };
  const { token: key } = await must<{ token: string }>(platform.bootstrapKey, 'POST', '/v1/tenants', { name: 'bench', quotas: unlimited });

  async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + OPERATION_TIMEOUT_MS;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function active(id: string): Promise<InstanceJson> {
    const instance = await until(`instance ${id}`, async () => {
      const json = await must<InstanceJson>(key, 'GET', `/v1/instances/${id}/wait?timeoutMs=60000`);
      if (json.status === 'ERROR') throw new Error(`instance ${id} failed: ${json.error}`);
      return json.status === 'ACTIVE' && json.currentOperation === null ? json : undefined;
    });
    const client = new pg.Client({ host: instance.host ?? '127.0.0.1', port: instance.port ?? 0, user: 'app', password: PASSWORD, database: 'app' });
    await client.connect();
    await client.query('select 1');
    await client.end();
    return instance;
  }

  async function backupDone(id: string): Promise<BackupJson> {
    const backup = await until(`backup ${id}`, async () => {
      const json = await must<BackupJson>(key, 'GET', `/v1/backups/${id}`);
      return json.status === 'RUNNING' ? undefined : json;
    });
    if (backup.status !== 'COMPLETED') throw new Error(`backup ${id} ${backup.status}: ${backup.error}`);
    return backup;
  }

  async function sql(instance: InstanceJson, text: string): Promise<Record<string, unknown>[]> {
    const client = new pg.Client({ host: '127.0.0.1', port: instance.port ?? 0, user: 'app', password: PASSWORD, database: 'app' });
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  /** Times `make` (an API call answering a new instance in BUILD) until that instance answers, then deletes it. */
  async function timedCopy(make: () => Promise<InstanceJson>): Promise<number> {
    const startedAt = performance.now();
    const made = await make();
    await active(made.id);
    const ms = performance.now() - startedAt;
    await must(key, 'DELETE', `/v1/instances/${made.id}`);
    return ms;
  }

  let serial = 0;
  for (const scale of scales) {
    serial += 1;
    process.stderr.write(`scale ${scale}: create and pgbench -i\n`);
    const made = await must<InstanceJson>(key, 'POST', '/v1/instances', { name: `src${serial}`, flavor: 'small', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] });
    const source = await active(made.id);
    const initial = await until('the initial backup', async () => (await must<{ backups: BackupJson[] }>(key, 'GET', `/v1/instances/${source.id}/backups`)).backups.find((b) => b.trigger === 'initial'));
    await backupDone(initial.id);
    await run('pgbench', ['-i', '-q', '-s', String(scale), '-h', '127.0.0.1', '-p', String(source.port), '-U', 'app', 'app'], { env: { ...process.env, PGPASSWORD: PASSWORD }, maxBuffer: 64 * 1024 * 1024 });
    const databaseBytes = Number((await sql(source, "select pg_database_size('app') as bytes"))[0]?.bytes);

    process.stderr.write(`scale ${scale}: full backup\n`);
    let startedAt = performance.now();
    const full = await backupDone((await must<BackupJson>(key, 'POST', `/v1/instances/${source.id}/backups`, { type: 'full' })).id);
    const fullMs = performance.now() - startedAt;

    await sql(source, 'update pgbench_accounts set abalance = abalance + 1 where aid % 100 = 0');
    process.stderr.write(`scale ${scale}: incremental backup after 1 % of the rows changed\n`);
    startedAt = performance.now();
    const incr = await backupDone((await must<BackupJson>(key, 'POST', `/v1/instances/${source.id}/backups`, { type: 'incr' })).id);
    const incrMs = performance.now() - startedAt;

    process.stderr.write(`scale ${scale}: restore of the incremental backup\n`);
    const restoreMs = await timedCopy(() => must<InstanceJson>(key, 'POST', `/v1/instances/${source.id}/restore`, { name: `r${serial}`, backup: incr.id }));
    await sql(source, 'update pgbench_branches set bbalance = bbalance + 1');
    const moment = new Date().toISOString();
    await sql(source, 'update pgbench_branches set bbalance = bbalance + 1');
    process.stderr.write(`scale ${scale}: point-in-time restore\n`);
    const pitrMs = await timedCopy(() => must<InstanceJson>(key, 'POST', `/v1/instances/${source.id}/restore`, { name: `p${serial}`, time: moment }));
    process.stderr.write(`scale ${scale}: fork\n`);
    const forkMs = await timedCopy(() => must<InstanceJson>(key, 'POST', `/v1/instances/${source.id}/fork`, { name: `f${serial}` }));

    // The floor of a copy-based fork: the same data directory copied with cp -a (not consistent; timing only).
    const copyTarget = join(root, `cp-${serial}`);
    startedAt = performance.now();
    await run('cp', ['-a', join(platform.nodeRootDir, 'instances', source.id, 'data'), copyTarget]);
    const cpMs = performance.now() - startedAt;
    await rm(copyTarget, { recursive: true, force: true });

    results.push({ filesystem, scale, databaseMb: databaseBytes / 1e6, fullMs, fullSizeMb: (full.sizeBytes ?? 0) / 1e6, fullStoredMb: (full.storedBytes ?? 0) / 1e6, incrMs, incrStoredMb: (incr.storedBytes ?? 0) / 1e6, restoreMs, pitrMs, forkMs, cpMs });
    await must(key, 'DELETE', `/v1/instances/${source.id}`);
  }

}

const load = monitor.finish();
await rm(root, { recursive: true, force: true });

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log('\nBackups through the HTTP API (pgBackRest 2.45, lz4, 2 processes; repository on the same disk), each timed until COMPLETED or until the new instance answers SELECT 1');
console.log(`Machine load: ${load.verdict}\n`);
console.log('| filesystem | database | full backup | size → stored | incr after 1 % changed (stored) | restore of a backup | point-in-time restore | fork of the present | cp -a of the data dir | fork ÷ cp -a |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const n = (key: string) => Number(r[key]);
  console.log(`| ${r.filesystem} | ${n('databaseMb').toFixed(0)} MB (scale ${r.scale}) | ${s(n('fullMs'))} | ${n('fullSizeMb').toFixed(0)} → ${n('fullStoredMb').toFixed(1)} MB | ${s(n('incrMs'))} (${n('incrStoredMb').toFixed(1)} MB) | ${s(n('restoreMs'))} | ${s(n('pitrMs'))} | ${s(n('forkMs'))} | ${s(n('cpMs'))} | ${(n('forkMs') / n('cpMs')).toFixed(1)}× |`);
}
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `backups-${new Date().toISOString().replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify({ revision: gitRevision(), machineLoad: load, results }, null, 2)}\n`);
console.log(`\nRaw figures: ${file}`);
