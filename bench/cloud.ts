// The database service through its real HTTP API: create (API call → first `SELECT 1` answered as
// the tenant's user), restart and delete p50/p99, beside initdb-from-scratch measured in the same
// run; then density: idle instances, their memory (PSS, MemAvailable) and the number per 24 GiB.
//
//   npm run bench:cloud [-- --count 50] [--density 200] [--spares 2] [--backups off]
//
// Backups are on, as `npm start` runs: each new instance takes its first full backup in the
// background once ACTIVE (--backups off measures without them).
//
// The platform (@strata/platform: control plane on embedded PGlite, agent "local" with the
// platform's started spares unless --spares says otherwise, no console) runs in a process of its
// own on a temporary directory, as `npm start` runs it; this process is only its client. Each iteration runs, in turn: initdb from scratch; a create
// of a `tiny` instance with a database and a user, timed until `SELECT 1` answers as that user;
// a restart, timed until it answers again; a delete, timed until the API shows DELETED. One
// untimed round first (the template's initdb, first connections). The client waits for an
// operation with the API's long-poll, `GET /v1/instances/{id}/wait` (as `strata … --wait` does);
// `--poll-ms N` polls `GET /v1/instances/{id}` every N ms instead.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DEFAULT_PLATFORM_SPARES, resetPlatform } from '@strata/platform';
import { childrenByPid, initdbFromScratchMs, kibField, postmasterOf } from './lib/instances.js';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { percentile } from './lib/measure.js';
import { startPlatformProcess, type InstanceJson } from './lib/platform-process.js';
import { gitRevision } from './lib/revision.js';

/** One operation that takes this long is stuck, not slow. */
const OPERATION_TIMEOUT_MS = 120_000;
/** Idle instances settle (checkpointer, autovacuum launcher start) before their memory is read. */
const SETTLE_MS = 5_000;
/** The instances the density figure is projected onto: 24 GiB, the issue's target host. */
const TARGET_HOST_MIB = 24 * 1024;
/** Creates in flight during the density phase: as many as the agent runs jobs at once. */
const DENSITY_CREATE_CONCURRENCY = 4;

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '50' },
    density: { type: 'string', default: '200' },
    'poll-ms': { type: 'string', default: '0' },
    spares: { type: 'string', default: String(DEFAULT_PLATFORM_SPARES) },
    backups: { type: 'string', default: 'on' },
  },
});
if (values.backups !== 'on' && values.backups !== 'off') throw new Error('--backups is on (default, as npm start runs) or off');
const backups = values.backups === 'on';
const count = Number(values.count);
const density = Number(values.density);
/** 0: wait with the API's long-poll; else poll the instance every this many ms. */
const pollMs = Number(values['poll-ms']);
if (!Number.isInteger(pollMs) || pollMs < 0) throw new Error('--poll-ms must be a whole number ≥ 0 (0: the API\'s long-poll)');
const spares = Number(values.spares);
if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a whole number ≥ 1');
if (!Number.isInteger(density) || density < 0) throw new Error('--density must be a whole number ≥ 0 (0: skip the density phase)');
if (!Number.isInteger(spares) || spares < 0) throw new Error('--spares must be a whole number ≥ 0 (0: every create copies and starts a cluster)');

const root = await mkdtemp(join(tmpdir(), 'strata-bench-cloud-'));
await chmod(root, 0o755); // the unprivileged server user passes through to the instances
const dataDir = join(root, 'data');
// Servers the platform starts on its own (spares, restarts) are detached: count those under root as ours.
const monitor = new MachineLoadMonitor({ ownPaths: [root] });
// Placement must not be the limit: the density phase asks for more than the default capacity.
const platform = await startPlatformProcess({ dataDir, capacity: { memoryMb: 1_000_000, instances: 10_000 }, agent: { spares }, backups });


async function call<T>(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as T };
}

async function must<T>(key: string, method: string, path: string, body?: unknown): Promise<T> {
  const { status, json } = await call<T>(key, method, path, body);
  if (status >= 300) throw new Error(`${method} ${path} answered ${status}: ${JSON.stringify(json)}`);
  return json;
}

const adminKey = platform.bootstrapKey;
const unlimited = { instances: 1_000_000, storageMb: 1_000_000_000, connections: 1_000_000_000 };
const { token: key } = await must<{ token: string }>(adminKey, 'POST', '/v1/tenants', { name: 'bench', quotas: unlimited });
const PASSWORD = 'bench-password-1';

/** Waits (long-poll, or polling with --poll-ms) until `done` says so; throws on ERROR or after OPERATION_TIMEOUT_MS. */
async function until(id: string, done: (instance: InstanceJson | undefined) => boolean): Promise<InstanceJson | undefined> {
  const deadline = Date.now() + OPERATION_TIMEOUT_MS;
  for (;;) {
    const path = pollMs === 0 ? `/v1/instances/${id}/wait?timeoutMs=60000` : `/v1/instances/${id}`;
    const { status, json } = await call<InstanceJson>(key, 'GET', path);
    const instance = status === 404 ? undefined : json;
    if (done(instance)) return instance;
    if (instance?.status === 'ERROR') throw new Error(`instance ${id} failed: ${instance.error}`);
    if (Date.now() > deadline) throw new Error(`instance ${id} stuck in ${instance?.status ?? 'nothing'}`);
    if (pollMs > 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

const idle = (instance: InstanceJson | undefined) => instance?.status === 'ACTIVE' && instance.currentOperation === null;

/** `SELECT 1` as the tenant's user over TCP, retried until it answers (the server may still be starting). */
async function firstSelect(instance: InstanceJson): Promise<void> {
  const deadline = Date.now() + OPERATION_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({ host: instance.host ?? '127.0.0.1', port: instance.port ?? 0, user: 'app', password: PASSWORD, database: 'app' });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** Where each create's time went: the POST's answer, then until the API says ACTIVE, then connect + `SELECT 1`. */
const phases: Array<{ postMs: number; untilActiveMs: number; firstSelectMs: number }> = [];
let serial = 0;
async function create(): Promise<{ ms: number; id: string }> {
  serial += 1;
  const startedAt = performance.now();
  const made = await must<InstanceJson>(key, 'POST', '/v1/instances', { name: `b${serial}`, flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] });
  const answeredAt = performance.now();
  const active = await until(made.id, idle);
  if (active === undefined) throw new Error(`invariant: instance ${made.id} is ACTIVE`);
  const activeAt = performance.now();
  await firstSelect(active);
  const doneAt = performance.now();
  const ms = doneAt - startedAt;
  phases.push({ postMs: answeredAt - startedAt, untilActiveMs: activeAt - answeredAt, firstSelectMs: doneAt - activeAt });
  monitor.addRoot(await postmasterOf(join(platform.nodeRootDir, 'instances', made.id, 'data')));
  return { ms, id: made.id };
}

async function restart(id: string): Promise<number> {
  const startedAt = performance.now();
  await must(key, 'POST', `/v1/instances/${id}/restart`);
  const active = await until(id, idle);
  if (active === undefined) throw new Error(`invariant: instance ${id} is ACTIVE`);
  await firstSelect(active);
  const ms = performance.now() - startedAt;
  monitor.addRoot(await postmasterOf(join(platform.nodeRootDir, 'instances', id, 'data')));
  return ms;
}

async function remove(id: string): Promise<number> {
  const startedAt = performance.now();
  await must(key, 'DELETE', `/v1/instances/${id}`);
  await until(id, (instance) => instance === undefined || instance.status === 'DELETED');
  return performance.now() - startedAt;
}

const samples = { 'initdb from scratch': [] as number[], create: [] as number[], restart: [] as number[], delete: [] as number[] };
// One untimed round: the template's initdb, first connections, page cache.
{
  await initdbFromScratchMs(monitor);
  const { id } = await create();
  await restart(id);
  await remove(id);
}
phases.length = 0; // the untimed round's
for (let i = 0; i < count; i += 1) {
  samples['initdb from scratch'].push(await initdbFromScratchMs(monitor));
  const made = await create();
  samples.create.push(made.ms);
  samples.restart.push(await restart(made.id));
  samples.delete.push(await remove(made.id));
  if ((i + 1) % 10 === 0) process.stderr.write(`${i + 1}/${count}\n`);
}

/** Memory of the machine and of processes, from /proc (Linux). */
function memAvailableMib(): number {
  const line = readFileSync('/proc/meminfo', 'utf8').split('\n').find((entry) => entry.startsWith('MemAvailable:'));
  if (line === undefined) throw new Error('no MemAvailable in /proc/meminfo (not Linux?)');
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** The platform process's resident memory (VmRSS), in MiB. */
function platformRssMib(): number {
  const line = readFileSync(`/proc/${platform.pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
  return line === undefined ? 0 : Number(line.split(/\s+/)[1]) / 1024;
}

let densityResult: Record<string, number> | undefined;
if (density > 0) {
  process.stderr.write(`density: creating ${density} idle instances\n`);
  const availableBeforeMib = memAvailableMib();
  const platformBeforeMib = platformRssMib();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: DENSITY_CREATE_CONCURRENCY }, async () => {
      while (next < density) {
        next += 1;
        ids.push((await create()).id);
        if (ids.length % 50 === 0) process.stderr.write(`${ids.length}/${density}\n`);
      }
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const availableAfterMib = memAvailableMib();
  // What the platform process (control plane on PGlite, agent) grew by is not the instances'.
  const platformGrowthMib = platformRssMib() - platformBeforeMib;
  const children = childrenByPid();
  let totalPssKib = 0;
  let processes = 0;
  for (const id of ids) {
    const postmaster = await postmasterOf(join(platform.nodeRootDir, 'instances', id, 'data'));
    for (const pid of [postmaster, ...(children.get(postmaster) ?? [])]) {
      totalPssKib += kibField(`/proc/${pid}/smaps_rollup`, 'Pss');
      processes += 1;
    }
  }
  const pssPerInstanceMib = totalPssKib / 1024 / ids.length;
  const availableDropPerInstanceMib = (availableBeforeMib - availableAfterMib) / ids.length;
  const instancesDropPerInstanceMib = (availableBeforeMib - availableAfterMib - platformGrowthMib) / ids.length;
  densityResult = {
    instances: ids.length,
    processesPerInstance: processes / ids.length,
    pssPerInstanceMib,
    availableDropPerInstanceMib,
    platformGrowthMib,
    instancesDropPerInstanceMib,
    perTargetHostByPss: Math.floor(TARGET_HOST_MIB / pssPerInstanceMib),
    perTargetHostByMemAvailable: Math.floor(TARGET_HOST_MIB / availableDropPerInstanceMib),
    perTargetHostByInstancesDrop: Math.floor(TARGET_HOST_MIB / instancesDropPerInstanceMib),
  };
}

const load = monitor.finish();
await platform.close();
await resetPlatform(dataDir); // stops and removes every instance the run left
await rm(root, { recursive: true, force: true });

const summary = Object.entries(samples).map(([name, values]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { name, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
});
const scratch = summary.find((row) => row.name === 'initdb from scratch');
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
console.log(`\nThe database service through its HTTP API, ${count} of each (flavor tiny, ${spares} spare(s), backups ${backups ? 'on' : 'off'}, ${pollMs === 0 ? 'operations awaited with the API\'s long-poll' : `statuses polled every ${pollMs} ms`})`);
console.log(`Machine load: ${load.verdict}\n`);
console.log('| operation | p50 | p99 | p50 vs initdb from scratch |');
console.log('|---|---|---|---|');
for (const row of summary) {
  const ratio = scratch === undefined || row === scratch ? '1×' : `${(scratch.p50Ms / row.p50Ms).toFixed(1)}× faster`;
  console.log(`| ${row.name === 'initdb from scratch' ? row.name : `${row.name} (API → ${row.name === 'delete' ? 'DELETED' : 'first SELECT 1'})`} | ${fmt(row.p50Ms)} | ${fmt(row.p99Ms)} | ${row.name === 'delete' ? '' : ratio} |`);
}
const timedPhases = phases.slice(0, count); // the density phase's creates run 4 at a time: not these
const phaseP50 = (pick: (phase: (typeof phases)[number]) => number) => percentile(timedPhases.map(pick).sort((a, b) => a - b), 50).toFixed(1);
console.log(`\ncreate, p50 of each part: POST answered ${phaseP50((p) => p.postMs)} ms; then until ACTIVE ${phaseP50((p) => p.untilActiveMs)} ms; then connect + SELECT 1 ${phaseP50((p) => p.firstSelectMs)} ms`);
if (densityResult !== undefined) {
  const d = densityResult;
  console.log(`\nDensity: ${d.instances} idle instances (${(d.processesPerInstance ?? 0).toFixed(1)} processes each)`);
  console.log(`  PSS per instance:            ${(d.pssPerInstanceMib ?? 0).toFixed(2)} MiB → ${d.perTargetHostByPss} per 24 GiB`);
  const drop = d.availableDropPerInstanceMib ?? 0;
  // Other processes' memory moves MemAvailable too: a small run on a busy machine can see it rise.
  console.log(`  MemAvailable drop per instance: ${drop.toFixed(2)} MiB → ${drop > 0 ? `${d.perTargetHostByMemAvailable} per 24 GiB` : 'no projection (the machine\'s other memory use moved more than the instances did)'}`);
  const net = d.instancesDropPerInstanceMib ?? 0;
  console.log(`    of which the platform process itself grew ${(d.platformGrowthMib ?? 0).toFixed(0)} MiB (control plane on PGlite + agent)`);
  console.log(`  MemAvailable drop per instance, net of that: ${net.toFixed(2)} MiB → ${net > 0 ? `${d.perTargetHostByInstancesDrop} per 24 GiB` : 'no projection'}`);
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `cloud-${new Date().toISOString().replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify({ revision: gitRevision(), count, density, spares, backups, pollIntervalMs: pollMs, machineLoad: load, summary, densityResult, samples, createPhases: timedPhases }, null, 2)}\n`);
console.log(`\nRaw figures: ${file}`);
