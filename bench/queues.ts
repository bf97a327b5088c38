// Queue measurements on one throwaway PostgreSQL cluster (fsync and synchronous_commit on) and on
// embedded PGlite, in one run:
//   1. idle-queue start latency: one workflow enqueued on an idle queue, from enqueue() returning
//      to its first line running (p50/p99 over 100), enqueued by the executor itself and (on
//      PostgreSQL) by a StrataClient on other connections: the NOTIFY path another process takes;
//   2. queue drain: 5,000 one-step workflows on a queue with concurrency 50 (a global limit,
//      claimed under the queue's lock) and on one with workerConcurrency 50 (the SKIP LOCKED path);
//   3. PostgreSQL: the global-limit drain again with 1,000,000 lower-priority workflows queued
//      behind the 5,000, to show a large backlog does not slow each claim.
// Run: npm run bench:queues   (STRATA_BENCH_BACKLOG=0 skips the million-row backlog)
import os from 'node:os';
import { freshPgliteDir, startCluster } from '@strata/testing';
import { Strata, StrataClient, type Queue, type Workflow } from '@strata/transact';

const LATENCY_SAMPLES = 100;
const DRAIN_COUNT = 5_000;
const DRAIN_LIMIT = 50;
const BACKLOG = Number(process.env.STRATA_BENCH_BACKLOG ?? 1_000_000);

interface Row { readonly engine: string; readonly workload: string; readonly value: number; readonly unit: string }
const results: Row[] = [];
const quiet = { info() {}, warn() {}, error() {} };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Resolvers of "workflow <id> started", set by the latency workflow's first line. */
const started = new Map<string, (at: number) => void>();

function startedSignal(id: string): Promise<number> {
  return new Promise((resolve) => started.set(id, resolve));
}

async function idleLatency(engine: string, label: string, enqueue: (id: string) => Promise<unknown>): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const id = `lat-${label}-${i}-${Date.now()}`;
    const seen = startedSignal(id);
    await enqueue(id);
    const returned = performance.now();
    samples.push((await seen) - returned);
    await new Promise((resolve) => setTimeout(resolve, 5)); // the queue is idle again
  }
  samples.sort((a, b) => a - b);
  results.push({ engine, workload: `idle-queue start latency, ${label}, p50`, value: percentile(samples, 50), unit: 'ms' });
  results.push({ engine, workload: `idle-queue start latency, ${label}, p99`, value: percentile(samples, 99), unit: 'ms' });
}

async function drain(engine: string, label: string, strata: Strata, queue: Queue, job: Workflow<[number], number>): Promise<void> {
  const prefix = `${queue.name}-${Date.now()}-`;
  const enqueueStart = performance.now();
  const handles = [];
  for (let i = 0; i < DRAIN_COUNT; i += 500) {
    handles.push(...(await Promise.all(Array.from({ length: Math.min(500, DRAIN_COUNT - i) }, (_, k) => queue.enqueue(job.with({ workflowId: `${prefix}${i + k}` }), i + k)))));
  }
  const enqueueMs = performance.now() - enqueueStart;
  await Promise.all(handles.map((handle) => handle.result()));
  const { rows } = await strata.systemDatabase.query<{ first: Date; last: Date }>(
    `select min(started_at) as first, max(completed_at) as last from strata.workflows where workflow_id like $1`,
    [`${prefix}%`],
  );
  const drainMs = rows[0]!.last.getTime() - rows[0]!.first.getTime();
  results.push({ engine, workload: `enqueue ${DRAIN_COUNT} (500 in flight)`, value: DRAIN_COUNT / (enqueueMs / 1000), unit: 'enqueues/s' });
  results.push({ engine, workload: `drain ${DRAIN_COUNT} one-step workflows, ${label}`, value: DRAIN_COUNT / (drainMs / 1000), unit: 'workflows/s' });
}

async function run(engine: string, url: string): Promise<void> {
  const strata = new Strata({ database: url, logger: quiet });
  const latency = strata.workflow('latency', async (ctx) => {
    started.get(ctx.workflowId)?.(performance.now());
    return ctx.step('one', () => 1);
  });
  const job = strata.workflow('job', async (ctx, i: number) => ctx.step('one', () => i));
  const idle = strata.queue('idle');
  const global = strata.queue('drain-global', { concurrency: DRAIN_LIMIT });
  const worker = strata.queue('drain-worker', { workerConcurrency: DRAIN_LIMIT });
  await strata.launch();

  await idleLatency(engine, 'enqueued by the executor', (id) => idle.enqueue(latency.with({ workflowId: id })));
  if (engine === 'postgres') {
    const client = await StrataClient.connect({ database: url });
    await idleLatency(engine, 'enqueued by a client (NOTIFY)', (id) => client.enqueue({ workflow: 'latency', queue: 'idle', workflowId: id }));
    await client.close();
  }
  await drain(engine, `concurrency ${DRAIN_LIMIT} (global limit)`, strata, global, job);
  await drain(engine, `workerConcurrency ${DRAIN_LIMIT}`, strata, worker, job);

  if (engine === 'postgres' && BACKLOG > 0) {
    const db = strata.systemDatabase;
    const loadStart = performance.now();
    // Priority 10: behind everything enqueued with the default 0, so the drain below goes first.
    await db.query(
      `insert into strata.workflows (workflow_id, name, status, inputs, queue_name, queue_partition, priority, queue_order)
       select 'backlog-' || g, 'job', 'ENQUEUED', $1, 'drain-global', '', 10, nextval('strata.queue_order')
         from generate_series(1, $2) g`,
      [JSON.stringify({ json: [0] }), BACKLOG],
    );
    await db.exec('analyze strata.workflows');
    console.error(`loaded a backlog of ${BACKLOG.toLocaleString()} queued workflows in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
    await drain(engine, `concurrency ${DRAIN_LIMIT}, ${BACKLOG.toLocaleString()} more queued behind`, strata, global, job);
    await strata.shutdown({ timeoutMs: 0 });
    return;
  }
  await strata.shutdown();
}

const cluster = await startCluster({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
try {
  await run('postgres', cluster.url);
  await run('pglite', await freshPgliteDir());
} finally {
  await cluster.stop();
}

console.log(`\nStrata queues — ${os.cpus().length} cores, Node ${process.version}, PostgreSQL 15 (fsync on) and PGlite\n`);
console.table(results.map((r) => ({ engine: r.engine, workload: r.workload, value: Number(r.value.toFixed(r.value < 100 ? 2 : 0)), unit: r.unit })));
const dbosDrain = 49;
for (const r of results.filter((x) => x.workload.startsWith('drain'))) {
  console.log(`${r.engine} ${r.workload}: ${(r.value / dbosDrain).toFixed(1)}× the ~${dbosDrain} workflows/s the issue quotes for DBOS (not run here; issue 4 runs it side by side)`);
}
