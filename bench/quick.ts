// Quick side-by-side measurement of the transact core against the raw commit floor, on one
// throwaway PostgreSQL cluster with default durability (fsync and synchronous_commit on) and on
// embedded PGlite. Run: npm run bench:quick   (issue 4 grows this into the full `npm run bench`).
import os from 'node:os';
import { startCluster, freshPgliteDir } from '@strata/testing';
import { openDatabase, type Database } from '@strata/store';
import { Strata } from '@strata/transact';

const SEQUENTIAL_COUNT = 300;
const CONCURRENT_COUNT = 2_000;
const IN_FLIGHT = 64;

interface Row { readonly engine: string; readonly workload: string; readonly value: number; readonly unit: string }
const results: Row[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeEach(count: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await fn(i);
    samples.push(performance.now() - start);
  }
  return samples.sort((a, b) => a - b);
}

async function inFlight(count: number, width: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await fn(next++);
  }));
  return performance.now() - start;
}

async function run(engine: string, url: string): Promise<void> {
  const raw: Database = await openDatabase(url);
  await raw.exec('create table if not exists floor (id serial primary key, v text)');
  const floor = await timeEach(SEQUENTIAL_COUNT, () => raw.query('insert into floor (v) values ($1)', ['x'], { prepare: true }));
  results.push({ engine, workload: 'raw single-row INSERT commit, sequential p50', value: percentile(floor, 50), unit: 'ms' });
  if (engine === 'postgres') {
    const floorMs = await inFlight(CONCURRENT_COUNT, IN_FLIGHT, () => raw.query('insert into floor (v) values ($1)', ['x'], { prepare: true }));
    results.push({ engine, workload: `raw INSERT commits/s, ${IN_FLIGHT} in flight (pool 10)`, value: CONCURRENT_COUNT / (floorMs / 1000), unit: '/s' });
  }
  await raw.close();

  const strata = new Strata({ database: url, logger: { info() {}, warn() {}, error() {} } });
  const empty = strata.workflow('empty', async () => 0);
  const three = strata.workflow('three', async (ctx) => {
    await ctx.step('a', () => 1);
    await ctx.step('b', () => 2);
    return ctx.step('c', () => 3);
  });
  const tx = strata.workflow('tx', async (ctx) => ctx.transaction('insert', (t) => t.query("insert into floor (v) values ('tx')")));
  await strata.launch();
  const zero = await timeEach(SEQUENTIAL_COUNT, () => empty.run());
  const threeSamples = await timeEach(SEQUENTIAL_COUNT, () => three.run());
  const txSamples = await timeEach(SEQUENTIAL_COUNT, () => tx.run());
  results.push({ engine, workload: 'workflow with 0 steps, sequential p50', value: percentile(zero, 50), unit: 'ms' });
  results.push({ engine, workload: 'workflow with 3 steps, sequential p50', value: percentile(threeSamples, 50), unit: 'ms' });
  results.push({ engine, workload: 'cost per step ((3-step p50 - 0-step p50) / 3)', value: (percentile(threeSamples, 50) - percentile(zero, 50)) / 3, unit: 'ms' });
  results.push({ engine, workload: 'workflow with 1 transaction, sequential p50', value: percentile(txSamples, 50), unit: 'ms' });
  const concurrentMs = await inFlight(CONCURRENT_COUNT, IN_FLIGHT, () => three.run());
  results.push({ engine, workload: `3-step workflows/s, ${IN_FLIGHT} in flight`, value: CONCURRENT_COUNT / (concurrentMs / 1000), unit: '/s' });
  results.push({ engine, workload: `steps/s, ${IN_FLIGHT} in flight`, value: (3 * CONCURRENT_COUNT) / (concurrentMs / 1000), unit: '/s' });
  await strata.shutdown();
}

const cluster = await startCluster({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
try {
  await run('postgres', cluster.url);
} finally {
  await cluster.stop();
}
await run('pglite', await freshPgliteDir());

console.log(`\n${os.cpus().length} cores, node ${process.version}; PostgreSQL 15 with fsync=on, synchronous_commit=on`);
console.log('engine    | workload                                              | value');
for (const r of results) console.log(`${r.engine.padEnd(9)} | ${r.workload.padEnd(53)} | ${r.value.toFixed(r.unit === 'ms' ? 2 : 0)} ${r.unit}`);
const get = (engine: string, prefix: string) => results.find((r) => r.engine === engine && r.workload.startsWith(prefix))!.value;
const pgFloor = get('postgres', 'raw single-row');
console.log(`\nratios (postgres): per step / raw commit = ${(get('postgres', 'cost per step') / pgFloor).toFixed(2)}; ` +
  `steps/s at ${IN_FLIGHT} in flight / raw commits/s = ${(get('postgres', 'steps/s') / get('postgres', 'raw INSERT commits/s')).toFixed(2)}`);
process.exit(0);
