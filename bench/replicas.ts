// Streaming replicas of the database service through its real HTTP API, for a ~100 MB and a ~1 GB
// database (pgbench scales 7 and 68): the time to add a replica (from the API call until the
// replica answers `SELECT 1` as the tenant, streaming), and the replay lag under a steady write load
// of ~1,000 single-row writes/s (pgbench -R 1000), sampled every 50 ms from the primary's
// pg_stat_replication — first with one asynchronous replica, then with a second replica added and
// commits synchronous (ANY 1). pgbench's own latency and rate show what synchronous commits cost.
//
//   npm run bench:replicas [-- --scales 7,68 --seconds 20 --rate 1000]
//
// The platform runs in a process of its own (as `npm start` runs it); this process is its client.

import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { resetPlatform } from '@strata/platform';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { startPlatformProcess, type InstanceJson } from './lib/platform-process.js';
import { gitRevision } from './lib/revision.js';

const run = promisify(execFile);
const OPERATION_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 100;
const SAMPLE_MS = 50;
const PASSWORD = 'bench-password-1';

const { values } = parseArgs({ options: { scales: { type: 'string', default: '7,68' }, seconds: { type: 'string', default: '20' }, rate: { type: 'string', default: '1000' } } });
const scales = values.scales.split(',').map(Number);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
if (scales.some((scale) => !Number.isInteger(scale) || scale < 1)) throw new Error('--scales is a comma-separated list of pgbench scales ≥ 1, e.g. 7,68');
if (!Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(rate) || rate < 1) throw new Error('--seconds and --rate are whole numbers ≥ 1');

const root = await mkdtemp(join(tmpdir(), 'strata-bench-replicas-'));
await chmod(root, 0o755);
const dataDir = join(root, 'data');
const monitor = new MachineLoadMonitor({ ownPaths: [root] });
const platform = await startPlatformProcess({ dataDir, capacity: { memoryMb: 1_000_000, instances: 1_000 }, agent: { spares: 0 } });


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

async function active(id: string): Promise<InstanceJson> {
  const deadline = Date.now() + OPERATION_TIMEOUT_MS;
  for (;;) {
    const json = await must<InstanceJson>(key, 'GET', `/v1/instances/${id}/wait?timeoutMs=60000`);
    if (json.status === 'ERROR') throw new Error(`instance ${id} failed: ${json.error}`);
    if (json.status === 'ACTIVE' && json.currentOperation === null) {
      const client = new pg.Client({ host: '127.0.0.1', port: json.port ?? 0, user: 'app', password: PASSWORD, database: 'app' });
      await client.connect();
      await client.query('select 1');
      await client.end();
      return json;
    }
    if (Date.now() > deadline) throw new Error(`timed out: instance ${id}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The primary's own view of its standbys, over its private socket as the instance's superuser (pg_stat_replication's lag columns are not the tenant's to read). */
function adminClient(instance: InstanceJson): pg.Client {
  return new pg.Client({ host: join(platform.nodeRootDir, 'instances', instance.id, 'socket'), port: instance.port ?? 0, user: 'strata_admin', database: 'postgres' });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** pgbench at `rate` single-row updates/s for `seconds`, the standbys' replay lag sampled meanwhile. */
async function lagUnderLoad(primary: InstanceJson): Promise<Record<string, number>> {
  const script = join(root, 'one-write.sql');
  await writeFile(script, '\\set aid random(1, 100000 * :scale)\nupdate pgbench_accounts set abalance = abalance + 1 where aid = :aid;\n');
  const admin = adminClient(primary);
  await admin.connect();
  const lagsMs: number[] = [];
  const lagBytes: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await admin.query<{ lag_ms: number | null; lag_bytes: string | null }>(
        `select extract(epoch from coalesce(replay_lag, interval '0')) * 1000 as lag_ms, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text as lag_bytes from pg_stat_replication`);
      for (const row of rows) {
        lagsMs.push(Number(row.lag_ms ?? 0));
        lagBytes.push(Number(row.lag_bytes ?? 0));
      }
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  const { stdout } = await run('pgbench', ['-n', '-f', script, '-R', String(rate), '-T', String(seconds), '-c', '8', '-j', '2', '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'app', 'app'], {
    env: { ...process.env, PGPASSWORD: PASSWORD }, maxBuffer: 64 * 1024 * 1024,
  });
  sampling = false;
  await sampler;
  await admin.end();
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
  const sorted = [...lagsMs].sort((a, b) => a - b);
  const sortedBytes = [...lagBytes].sort((a, b) => a - b);
  return { tps, latencyMs, lagP50Ms: percentile(sorted, 50), lagP99Ms: percentile(sorted, 99), lagMaxMs: sorted.at(-1) ?? Number.NaN, lagP99Bytes: percentile(sortedBytes, 99), samples: sorted.length };
}

const results: Array<Record<string, number | string>> = [];
let serial = 0;
for (const scale of scales) {
  serial += 1;
  process.stderr.write(`scale ${scale}: create and pgbench -i\n`);
  const made = await must<InstanceJson>(key, 'POST', '/v1/instances', { name: `src${serial}`, flavor: 'small', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] });
  const primary = await active(made.id);
  await run('pgbench', ['-i', '-q', '-s', String(scale), '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'app', 'app'], { env: { ...process.env, PGPASSWORD: PASSWORD }, maxBuffer: 64 * 1024 * 1024 });
  const client = new pg.Client({ host: '127.0.0.1', port: primary.port ?? 0, user: 'app', password: PASSWORD, database: 'app' });
  await client.connect();
  const databaseBytes = Number((await client.query("select pg_database_size('app') as bytes")).rows[0]?.bytes);
  await client.end();

  process.stderr.write(`scale ${scale}: add a replica\n`);
  let startedAt = performance.now();
  const [first] = (await must<{ replicas: InstanceJson[] }>(key, 'POST', `/v1/instances/${primary.id}/replicas`, { count: 1 })).replicas;
  await active(first!.id);
  const replicaMs = performance.now() - startedAt;

  process.stderr.write(`scale ${scale}: ${rate} writes/s for ${seconds} s, one asynchronous replica\n`);
  const asynchronous = await lagUnderLoad(primary);

  process.stderr.write(`scale ${scale}: a second replica, commits synchronous (ANY 1)\n`);
  startedAt = performance.now();
  const [second] = (await must<{ replicas: InstanceJson[] }>(key, 'POST', `/v1/instances/${primary.id}/replicas`, { count: 1, synchronous: true })).replicas;
  await active(second!.id);
  const secondMs = performance.now() - startedAt;
  process.stderr.write(`scale ${scale}: ${rate} writes/s for ${seconds} s, synchronous\n`);
  const synchronous = await lagUnderLoad(primary);

  results.push({
    scale, databaseMb: databaseBytes / 1e6, replicaMs, secondReplicaMs: secondMs,
    ...Object.fromEntries(Object.entries(asynchronous).map(([k, v]) => [`async_${k}`, v])),
    ...Object.fromEntries(Object.entries(synchronous).map(([k, v]) => [`sync_${k}`, v])),
  });
  for (const replica of [first!, second!]) await must(key, 'DELETE', `/v1/instances/${replica.id}`);
  for (const replica of [first!, second!]) await must(key, 'GET', `/v1/instances/${replica.id}/wait?timeoutMs=60000`).catch(() => {});
  await must(key, 'DELETE', `/v1/instances/${primary.id}`).catch(() => {});
}

const load = monitor.finish();
await platform.close();
await resetPlatform(dataDir);
await rm(root, { recursive: true, force: true });

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
console.log(`\nStreaming replicas through the HTTP API (pg_basebackup over the primary's socket, a slot per replica); lag = pg_stat_replication.replay_lag sampled every ${SAMPLE_MS} ms under pgbench -R ${rate} (one-row updates, 8 clients) for ${seconds} s`);
console.log(`Machine load: ${load.verdict}\n`);
console.log('| database | add a replica | mode | writes/s | commit latency | lag p50 | lag p99 | lag max | p99 bytes behind |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const n = (k: string) => Number(r[k]);
  for (const mode of ['async', 'sync'] as const) {
    console.log(`| ${n('databaseMb').toFixed(0)} MB (scale ${r.scale}) | ${s(n(mode === 'async' ? 'replicaMs' : 'secondReplicaMs'))} | ${mode === 'async' ? '1 replica, asynchronous' : '2 replicas, synchronous ANY 1'} | ${n(`${mode}_tps`).toFixed(0)} | ${ms(n(`${mode}_latencyMs`))} | ${ms(n(`${mode}_lagP50Ms`))} | ${ms(n(`${mode}_lagP99Ms`))} | ${ms(n(`${mode}_lagMaxMs`))} | ${n(`${mode}_lagP99Bytes`).toFixed(0)} |`);
  }
}
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `replicas-${new Date().toISOString().replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify({ revision: gitRevision(), machineLoad: load, rate, seconds, results }, null, 2)}\n`);
console.log(`\nRaw figures: ${file}`);
