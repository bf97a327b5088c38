// Where a sequential step's time goes beyond its one commit (issue 11, "Performance, honestly").
//
//   node --conditions=development --import tsx bench/step-split.ts [--rounds 8] [--count 300] [--async-commit]
//
// On one durable throwaway cluster, in one process, alternating from round to round, it times
// (p50 of --count each):
//   floor            the raw commit: `insert into bench_rows (v) values ($1)` on a pg.Client
//   raw step INSERT  the statement a step's checkpoint sends (same SQL, the same 11 parameters,
//                    prepared), on the same pg.Client, for a parked PENDING workflow
//   ctx.step         a step of a running workflow, timed around the call (as workload 1 does)
// and prints each round and the medians of the ratios, with their spread. raw/floor is what the
// database and the driver charge for the step's statement; step/raw is Strata's own overhead.
// --async-commit runs the cluster with synchronous_commit=off, so the WAL flush (the noisiest
// part on a shared disk) drops out and the ratios show CPU and round trips only.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startCluster } from '@strata/testing';
import { Strata } from '@strata/transact';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '8' }, count: { type: 'string', default: '300' }, 'async-commit': { type: 'boolean', default: false } },
});
const rounds = Number(args.rounds);
const count = Number(args.count);
if (!(Number.isInteger(rounds) && rounds >= 1 && Number.isInteger(count) && count >= 10)) {
  console.error('step-split: --rounds must be ≥ 1 and --count ≥ 10 (whole numbers)');
  process.exit(2);
}

/** The statement `insertStepInTransaction` sends for a lone checkpoint (packages/transact sql/steps). */
const STEP_SQL = `insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at)
   select $1, $2, $3, $4, $5, $6, $7, $8, $9 from strata.workflows
    where workflow_id = $1 and (strata.workflows.status, strata.workflows.executor_id, strata.workflows.executor_epoch) is not distinct from ('PENDING'::text, $10::text, $11::bigint)
   on conflict (workflow_id, step_id) do nothing`;

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const settings: Record<string, string> = { fsync: 'on', synchronous_commit: args['async-commit'] ? 'off' : 'on', full_page_writes: 'on' };
const cluster = await startCluster({ settings });
try {
  const admin = new pg.Client(cluster.url);
  await admin.connect();
  await admin.query('create database step_split');
  await admin.end();
  const url = new URL(cluster.url);
  url.pathname = '/step_split';
  const raw = new pg.Client(url.toString());
  await raw.connect();
  await raw.query('create table bench_rows (id bigserial primary key, v text not null)');

  const strata = new Strata({ database: url.toString(), logger: { info() {}, warn() {}, error() {} } });
  let stepMs: number[] = [];
  const steps = strata.workflow('steps', async (ctx, n: number) => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await ctx.step('a', () => 1);
      stepMs.push(performance.now() - t0);
    }
  });
  const parked = strata.workflow('parked', async (ctx) => ctx.sleep(3_600_000));
  await strata.launch();
  const parkedId = (await parked.start()).workflowId;
  let owner: { executor_id: string; executor_epoch: string } | undefined;
  while (owner === undefined) {
    ({ rows: [owner] } = await raw.query<{ executor_id: string; executor_epoch: string }>(
      "select executor_id, executor_epoch from strata.workflows where workflow_id = $1 and status = 'PENDING' and executor_id is not null",
      [parkedId],
    ));
  }

  let nextStepId = 1_000;
  const rawStep = async () => {
    const { rowCount } = await raw.query({ name: 'step', text: STEP_SQL, values: [parkedId, nextStepId++, 'a', 'step', '{"json":1}', null, null, 1, new Date(), owner.executor_id, owner.executor_epoch] });
    // An unwritten row commits nothing: its time would not be a commit's.
    if (rowCount !== 1) throw new Error(`the raw step INSERT wrote ${rowCount} rows; the parked workflow is no longer this executor's`);
  };
  const floor = (i: number) => raw.query({ name: 'floor', text: 'insert into bench_rows (v) values ($1)', values: [`row ${i}`] });
  const timed = async (fn: (i: number) => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await fn(i);
      samples.push(performance.now() - t0);
    }
    return median(samples);
  };

  // Warm-up: pool connections, prepared statements and the JIT, as a long-running app has them
  // (6,000 steps at --count 300; a short warm-up times Strata's longer path cold and the driver's warm).
  for (let i = 0; i < 20; i++) {
    await steps.run(count);
    await timed(floor);
    await timed(rawStep);
  }

  const results = { floor: [] as number[], raw: [] as number[], step: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? (['floor', 'raw', 'step'] as const) : (['step', 'raw', 'floor'] as const);
    for (const what of order) {
      if (what === 'floor') results.floor.push(await timed(floor));
      else if (what === 'raw') results.raw.push(await timed(rawStep));
      else {
        stepMs = [];
        await steps.run(count);
        results.step.push(median(stepMs));
      }
    }
    console.log(`round ${round}: floor ${results.floor.at(-1)!.toFixed(3)} ms, raw step INSERT ${results.raw.at(-1)!.toFixed(3)} ms, ctx.step ${results.step.at(-1)!.toFixed(3)} ms`);
  }
  const ratios = (a: readonly number[], b: readonly number[]) => a.map((x, i) => x / b[i]!);
  const spread = (values: readonly number[]) => `${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`;
  console.log(`\nsynchronous_commit=${settings.synchronous_commit}; medians of ${rounds} rounds [min–max]:`);
  console.log(`  floor ${median(results.floor).toFixed(3)} ms, raw step INSERT ${median(results.raw).toFixed(3)} ms, ctx.step ${median(results.step).toFixed(3)} ms`);
  console.log(`  raw step INSERT / floor  ${spread(ratios(results.raw, results.floor))}   (the statement: database and driver)`);
  console.log(`  ctx.step / raw INSERT    ${spread(ratios(results.step, results.raw))}   (Strata's own overhead)`);
  console.log(`  ctx.step / floor         ${spread(ratios(results.step, results.floor))}   (the issue's target: at most 1.5)`);
  await raw.end();
  await strata.shutdown();
} finally {
  await cluster.stop();
}
