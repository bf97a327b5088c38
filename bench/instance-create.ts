// Creating a managed PostgreSQL instance, to its first `SELECT 1`: from a cold template copy (each
// copy method), from the warm pool, and initdb from scratch, side by side in one run.
//
//   node --conditions=development --import tsx bench/instance-create.ts [--count 50] [--pool-size 2]
//
// Each iteration runs every variant once, in turn, so they share the machine's conditions; the
// instance is destroyed after each (not timed). A warm-pool sample starts with a ready copy in
// the pool (the refill after each take is awaited, untimed): the steady state when creates are
// not back to back. "initdb from scratch" is @strata/postgres's startCluster (initdb --no-sync +
// pg_ctl start -w) with durable settings, then the same `SELECT 1`.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { COPY_METHODS, ManagedCluster, WarmPool, ensureTemplate, freePort, type CopyMethod, type InstanceSpec } from '@strata/postgres';
import { initdbFromScratchMs, postmasterOf } from './lib/instances.js';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { percentile } from './lib/measure.js';
import { gitRevision } from './lib/revision.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '50' },
    'pool-size': { type: 'string', default: '2' },
  },
});
const count = Number(values.count);
const poolSize = Number(values['pool-size']);
if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a whole number ≥ 1');

const root = await mkdtemp(join(tmpdir(), 'strata-bench-instances-'));
await chmod(root, 0o755);
const monitor = new MachineLoadMonitor();
const template = await ensureTemplate(join(root, 'template'));
const pool = await WarmPool.open({ template, dir: join(root, 'pool'), size: poolSize });
await pool.fill();

let serial = 0;
async function spec(): Promise<InstanceSpec> {
  serial += 1;
  return { dataDir: join(root, 'instances', `i${serial}`, 'data'), socketDir: join(root, 'instances', `i${serial}`, 'socket'), port: await freePort(), settings: {} };
}

/** One create → start → first `SELECT 1`; returns the ms it took and destroys the instance (untimed). */
async function managed(create: (instance: InstanceSpec) => Promise<ManagedCluster>): Promise<number> {
  const instance = await spec();
  const startedAt = performance.now();
  const cluster = await create(instance);
  await cluster.start();
  await cluster.query('select 1');
  const ms = performance.now() - startedAt;
  monitor.addRoot(await postmasterOf(instance.dataDir));
  await cluster.destroy();
  return ms;
}

const variants: { name: string; run: () => Promise<number> }[] = [
  ...COPY_METHODS.map((method: CopyMethod) => ({ name: `cold copy (${method})`, run: () => managed((instance) => ManagedCluster.create(template, instance, { copyMethod: method })) })),
  {
    name: 'warm pool',
    run: async () => {
      const ms = await managed((instance) => pool.take(instance));
      await pool.fill();
      return ms;
    },
  },
  { name: 'initdb from scratch', run: () => initdbFromScratchMs(monitor) },
];

const samples = new Map<string, number[]>(variants.map((variant) => [variant.name, []]));
// One untimed warm-up round (page cache, first connections).
for (const variant of variants) await variant.run();
for (let i = 0; i < count; i += 1) {
  for (const variant of variants) samples.get(variant.name)?.push(await variant.run());
  if ((i + 1) % 10 === 0) process.stderr.write(`${i + 1}/${count}\n`);
}
await pool.close();
const load = monitor.finish();
const templateBytes = Number(execFileSync('du', ['-sb', template.dir], { encoding: 'utf8' }).split('\t')[0]);
await rm(root, { recursive: true, force: true });

const summary = variants.map((variant) => {
  const sorted = [...(samples.get(variant.name) ?? [])].sort((a, b) => a - b);
  return { name: variant.name, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
});
const scratch = summary.find((row) => row.name === 'initdb from scratch');
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
console.log(`\nInstance create → first SELECT 1, ${count} each (PostgreSQL ${template.majorVersion}, template ${(templateBytes / 1024 / 1024).toFixed(1)} MiB, pool size ${poolSize})`);
console.log(`Machine load: ${load.verdict}\n`);
console.log('| variant | p50 | p99 | p50 vs initdb |');
console.log('|---|---|---|---|');
for (const row of summary) {
  const ratio = scratch === undefined ? '' : `${(scratch.p50Ms / row.p50Ms).toFixed(1)}× faster`;
  console.log(`| ${row.name} | ${fmt(row.p50Ms)} | ${fmt(row.p99Ms)} | ${row.name === 'initdb from scratch' ? '1×' : ratio} |`);
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `instance-create-${new Date().toISOString().replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify({ revision: gitRevision(), count, poolSize, postgresMajor: template.majorVersion, templateBytes, machineLoad: load, summary, samples: Object.fromEntries(samples) }, null, 2)}\n`);
console.log(`\nRaw figures: ${file}`);
