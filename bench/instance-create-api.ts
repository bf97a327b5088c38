// Creating a database instance through the control plane's HTTP API, to the tenant's first
// `SELECT 1`: POST /v1/instances → poll GET /v1/instances/{id} until ACTIVE → connect as the
// tenant user over TCP (SCRAM) → SELECT 1. One process runs the control plane (PGlite system
// database) and one agent, with started spares or without.
//
//   node --conditions=development --import tsx bench/instance-create-api.ts [--count 50] [--spares 2] [--pause-ms 1000]
//
// `--pause-ms` waits between creates (untimed), so the spare pool can refill: the steady state
// of creates that are not back to back. With `--pause-ms 0` creates outrun the refill and most
// are served by a template copy. The instances are deleted at the end (untimed).

import { mkdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SparePool, startAgent } from '@strata/agent';
import { createControlPlane, findFlavor, flavorSettings, instanceAdminModule, instancesModule } from '@strata/control-plane';
import { ManagedCluster } from '@strata/postgres';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { percentile } from './lib/measure.js';
import { gitRevision } from './lib/revision.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '50' }, spares: { type: 'string', default: '2' }, 'pause-ms': { type: 'string', default: '1000' }, steps: { type: 'boolean', default: false } } });
const count = Number(values.count);
const spares = Number(values.spares);
const pauseMs = Number(values['pause-ms']);
const PASSWORD = 'bench-password-1';

const root = await mkdtemp(join(tmpdir(), 'strata-bench-api-'));
await chmod(root, 0o755);
const monitor = new MachineLoadMonitor();
const quiet = { info: () => {}, warn: (message: string) => process.stderr.write(`${message}\n`) };
const cp = await createControlPlane({ database: join(root, 'system'), listen: { host: '127.0.0.1', port: 0 }, modules: [instancesModule, instanceAdminModule], logger: quiet });
const key = cp.bootstrapKey;
if (key === undefined) throw new Error('a fresh system database gives a bootstrap key');
// The spares start with the benchmarked flavor's settings, as a platform would give its default flavor's.
const tiny = findFlavor('tiny');
if (tiny === undefined) throw new Error('the flavor tiny is gone: benchmark another one');
const tinySettings = flavorSettings(tiny);
const agent = await startAgent({ database: cp.db, nodeId: 'bench', rootDir: join(root, 'node'), capacity: { memoryMb: 100_000, instances: 200 }, logger: { ...quiet, error: console.error }, spares, spareSettings: tinySettings, warmCopies: spares > 0 ? 1 : 0 });

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${cp.url}${path}`, { method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** One create → ACTIVE → first SELECT 1; the ms of each phase. */
async function createOnce(name: string): Promise<{ totalMs: number; activeMs: number; selectMs: number; spare: boolean; id: string }> {
  const startedAt = performance.now();
  const created = await api('POST', '/v1/instances', { name, flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] });
  let instance = created;
  while (instance.status !== 'ACTIVE' || instance.currentOperation !== null) {
    if (instance.status === 'ERROR') throw new Error(`create of ${name} failed: ${JSON.stringify(instance)}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
    instance = await api('GET', `/v1/instances/${created.id}`);
  }
  const activeAt = performance.now();
  const client = new pg.Client({ host: instance.host, port: instance.port, user: 'app', password: PASSWORD, database: 'app' });
  await client.connect();
  await client.query('select 1');
  const doneAt = performance.now();
  await client.end();
  const { readlink } = await import('node:fs/promises');
  const spare = await readlink(join(root, 'node', 'instances', created.id)).then(() => true, () => false);
  if (values.steps) await printSteps(created.id);
  return { totalMs: doneAt - startedAt, activeMs: activeAt - startedAt, selectMs: doneAt - activeAt, spare, id: created.id };
}

// The platform tenant's default quota (10 instances) is below the run's size.
const tenant = await api('GET', '/v1/tenant');
await api('PATCH', `/v1/tenants/${tenant.id}/quotas`, { instances: count + 10, storageMb: (count + 10) * 10_240, connections: (count + 10) * 200 });
/** `--steps`: the create's workflows and steps, each as ms from its start (from the system database's records). */
async function printSteps(instanceId: string): Promise<void> {
  const { rows } = await cp.db.query<{ kind: string; name: string; started: number; ms: number }>(
    `select 'workflow' as kind, name, extract(epoch from started_at) * 1000 as started, extract(epoch from completed_at - started_at) * 1000 as ms from strata.workflows where workflow_id like $1
     union all select 'step', name, extract(epoch from started_at) * 1000, extract(epoch from completed_at - started_at) * 1000 from strata.steps where workflow_id like $1 order by started`, [`${instanceId}%`]);
  const first = rows[0]?.started ?? 0;
  process.stderr.write(`${instanceId}: ${rows.map((row) => `${row.name} @${Math.round(row.started - first)} +${Math.round(row.ms)}`).join(' | ')}\n`);
}

if (spares > 0) await agent.spares.fill();
// One untimed warm-up create: the spares then start with the settings of this flavor.
await createOnce('warmup');
if (spares > 0) await agent.spares.fill();
const samples: { totalMs: number; activeMs: number; selectMs: number; spare: boolean; id: string }[] = [];
for (let i = 0; i < count; i++) {
  if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  samples.push(await createOnce(`bench-${i}`));
  if ((i + 1) % 10 === 0) process.stderr.write(`${i + 1}/${count}\n`);
}
const load = monitor.finish();
await agent.close();
await cp.close();
// Untimed cleanup: every instance and spare stops and goes.
for (const { id } of samples) await ManagedCluster.destroyAt({ dataDir: join(root, 'node', 'instances', id, 'data'), socketDir: join(root, 'node', 'instances', id, 'socket'), port: 5432, settings: {} }).catch(() => {});
await ManagedCluster.destroyAt({ dataDir: join(root, 'node', 'instances', 'warmup', 'data'), socketDir: join(root, 'node', 'instances', 'warmup', 'socket'), port: 5432, settings: {} }).catch(() => {});
await (await SparePool.open({ rootDir: join(root, 'node'), size: 0, template: async () => { throw new Error('unused'); }, usedPorts: async () => new Set() })).reconcile();
const { readdir } = await import('node:fs/promises');
for (const id of await readdir(join(root, 'node', 'instances')).catch(() => [] as string[])) {
  await ManagedCluster.destroyAt({ dataDir: join(root, 'node', 'instances', id, 'data'), socketDir: join(root, 'node', 'instances', id, 'socket'), port: 5432, settings: {} }).catch(() => {});
}
await rm(root, { recursive: true, force: true });

const sorted = (pick: (s: (typeof samples)[number]) => number, rows = samples) => rows.map(pick).sort((a, b) => a - b);
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const fromSpare = samples.filter((s) => s.spare);
console.log(`\nCreate through the HTTP API → first SELECT 1, ${count} creates (flavor tiny, ${spares} spares, ${pauseMs} ms between creates)`);
console.log(`Machine load: ${load.verdict}\n`);
console.log('| phase | p50 | p99 |');
console.log('|---|---|---|');
console.log(`| POST → ACTIVE | ${fmt(percentile(sorted((s) => s.activeMs), 50))} | ${fmt(percentile(sorted((s) => s.activeMs), 99))} |`);
console.log(`| ACTIVE → SELECT 1 answered (new TCP + SCRAM connection) | ${fmt(percentile(sorted((s) => s.selectMs), 50))} | ${fmt(percentile(sorted((s) => s.selectMs), 99))} |`);
console.log(`| **POST → SELECT 1 answered** | **${fmt(percentile(sorted((s) => s.totalMs), 50))}** | **${fmt(percentile(sorted((s) => s.totalMs), 99))}** |`);
console.log(`\nServed by a spare: ${fromSpare.length} of ${count}${fromSpare.length > 0 && fromSpare.length < count ? ` (those: p50 ${fmt(percentile(sorted((s) => s.totalMs, fromSpare), 50))})` : ''}`);
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `instance-create-api-${new Date().toISOString().replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify({ revision: gitRevision(), count, spares, pauseMs, machineLoad: load, samples }, null, 2)}\n`);
console.log(`Raw figures: ${file}`);
