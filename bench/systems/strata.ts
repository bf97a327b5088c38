// Strata's side of every workload (see lib/protocol.ts for what each measures). Runs in a child
// process on a database of its own; PostgreSQL or, for workload 8, an embedded PGlite directory.
// The same code serves the `strata` system (the native profile) and the `portable` one
// (`databaseProfile: 'portable'`): only the profile differs.
import { openDatabase, type ProfileName } from '@strata/store';
import { Strata, StrataClient } from '@strata/transact';
import { InWorkflowTimers, idleGap, inFlight, p50p99, reportParkedAndWait, timeEach, timeRecovery, waitForCount } from '../lib/measure.js';
import { PARKED_PREFIX, PROFILE_PREFIX, WARM_UP, type ChildConfig, type Metrics, type ProfileReport, type SystemModule, type WorkloadName } from '../lib/protocol.js';

/**
 * Info lines dropped; warnings and errors to stderr, which the orchestrator keeps in the JSON's
 * childLogs and shows when a child fails or hangs (an engine that gave up on a write says so only
 * here). A run without trouble writes nothing.
 */
const logger = {
  info() {},
  warn: (message: string, ...details: unknown[]) => console.error(`strata warn: ${message}`, ...details.map(brief)),
  error: (message: string, ...details: unknown[]) => console.error(`strata error: ${message}`, ...details.map(brief)),
};
function brief(detail: unknown): unknown {
  return detail instanceof Error ? `${detail.constructor.name}: ${detail.message}` : detail;
}

const timers = new InWorkflowTimers();

/**
 * The default executor ID ('local') and version, so a restarted process recovers the parked
 * workflows. The profile is always given, never left to `STRATA_DATABASE_PROFILE` (which CI sets
 * to portable for the transact suite) or 'auto'.
 */
function engine(config: ChildConfig, profile: ProfileName): Strata {
  return new Strata({ database: config.url, databaseProfile: profile, logger });
}

/**
 * Fails unless the launched engine's system database runs `profile`, and reports it to the
 * orchestrator (lib/protocol.ts, PROFILE_PREFIX), which checks it again and records it.
 */
function checkProfile(strata: Strata, profile: ProfileName): void {
  const db = strata.systemDatabase;
  const report: ProfileReport = { name: db.profile.name, notificationMode: db.notificationMode };
  if (report.name !== profile) throw new Error(`asked for the ${profile} profile, the system database runs ${report.name}`);
  if (profile === 'portable' && report.notificationMode !== 'poll') throw new Error(`the portable profile must poll notifications, it uses ${report.notificationMode}`);
  process.stdout.write(`${PROFILE_PREFIX}${JSON.stringify(report)}\n`);
}

/** Registers every benchmark workflow, so all processes of a run have the same ones. */
function register(strata: Strata) {
  const empty = strata.workflow('empty', async () => 0);
  const three = strata.workflow('three', async (ctx) => {
    let sum = 0;
    for (const name of ['a', 'b', 'c']) {
      const t0 = performance.now();
      sum += await ctx.step(name, () => 1);
      if (timers.recording) timers.steps.push(performance.now() - t0);
    }
    return sum;
  });
  const insert = strata.workflow('insert', async (ctx, i: number) => {
    const t0 = performance.now();
    await ctx.transaction('insert', (tx) => tx.query('insert into bench_rows (v) values ($1)', [`row ${i}`]));
    if (timers.recording) timers.transactions.push(performance.now() - t0);
  });
  const one = strata.workflow('one', async (ctx, i: number) => ctx.step('one', () => i));
  const firstLine = strata.workflow('first-line', async (ctx) => {
    timers.started.get(ctx.workflowId)?.(performance.now());
    const one = await ctx.step('one', () => 1);
    timers.ended.get(ctx.workflowId)?.();
    return one;
  });
  const pong = strata.workflow('pong', async (ctx, rounds: number, pinger: string) => {
    for (let i = 0; i < rounds; i++) {
      const ping = await ctx.recv<number>('ping', { timeoutMs: 60_000 });
      await ctx.send(pinger, ping, 'pong');
    }
  });
  const ping = strata.workflow('ping', async (ctx, rounds: number, ponger: string) => {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await ctx.send(ponger, i, 'ping');
      const reply = await ctx.recv<number>('pong', { timeoutMs: 60_000 });
      if (reply !== i) throw new Error(`round ${i}: got ${reply}`);
      timers.roundTrips.push(performance.now() - t0);
    }
  });
  const sleeper = strata.workflow('sleeper', async (ctx, wakeAt: number) => {
    await ctx.sleep(Math.max(0, wakeAt - Date.now()));
    return ctx.step('after', () => 1);
  });
  const queue = strata.queue('drain', { concurrency: 50 });
  const idle = strata.queue('idle');
  return { empty, three, insert, one, firstLine, pong, ping, sleeper, queue, idle };
}

/**
 * Start latencies on the idle queue: `enqueue(id)` one workflow at a time, from its return to the
 * workflow's first line, waiting for its last line and then idleGap() between samples.
 */
async function idleStarts(samples: number, prefix: string, enqueue: (workflowId: string) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const id = `${prefix}-${i}`;
    const seen = new Promise<number>((resolve) => timers.started.set(id, resolve));
    const done = new Promise<void>((resolve) => timers.ended.set(id, resolve));
    await enqueue(id);
    const returned = performance.now();
    latencies.push((await seen) - returned);
    await done; // the queue is idle again before the next sample (in process: the same wait for every system)
    await idleGap();
  }
  return latencies;
}

async function count(strata: Strata, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await strata.systemDatabase.query<{ n: string }>(sql, params);
  return Number(rows[0]!.n);
}

async function run(workload: WorkloadName, config: ChildConfig, profile: ProfileName): Promise<Metrics> {
  const { counts } = config;
  const strata = engine(config, profile);
  const w = register(strata);
  const metrics: Metrics = {};
  if (workload !== 'recovery-resume') {
    await strata.launch();
    checkProfile(strata, profile);
    // Warm-up: pool connections, prepared statements and the JIT, as a long-running app has them.
    await Promise.all(Array.from({ length: 20 }, () => w.three.run()));
    await timeEach(config.warmUp ?? WARM_UP, () => w.three.run());
  }
  timers.recording = true;

  switch (workload) {
    case 'sequential': {
      Object.assign(metrics, p50p99('seq.wf0', await timeEach(counts.sequential, () => w.empty.run())));
      Object.assign(metrics, p50p99('seq.wf3', await timeEach(counts.sequential, () => w.three.run())));
      Object.assign(metrics, p50p99('seq.step', timers.steps));
      break;
    }
    case 'throughput': {
      for (const width of counts.widths) {
        const { wallMs, samples } = await inFlight(counts.throughput, width, () => w.three.run());
        metrics[`tput.${width}.wfps`] = counts.throughput / (wallMs / 1000);
        metrics[`tput.${width}.stepsps`] = (3 * counts.throughput) / (wallMs / 1000);
        Object.assign(metrics, p50p99(`tput.${width}`, samples));
      }
      break;
    }
    case 'transactions': {
      await strata.systemDatabase.exec('create table if not exists bench_rows (id bigserial primary key, v text not null)');
      await timeEach(counts.transactions, (i) => w.insert.run(i));
      Object.assign(metrics, p50p99('tx', timers.transactions));
      const { wallMs } = await inFlight(counts.transactions, 64, (i) => w.insert.run(i));
      metrics['tx.rowsps'] = counts.transactions / (wallMs / 1000);
      const rows = await count(strata, 'select count(*) as n from bench_rows');
      if (rows !== 2 * counts.transactions) throw new Error(`expected ${2 * counts.transactions} rows, found ${rows}`);
      break;
    }
    case 'queue': {
      const t0 = performance.now();
      const handles: Array<Promise<number>> = [];
      await inFlight(counts.drain, 64, async (i) => handles.push((await w.queue.enqueue(w.one, i)).result()));
      await Promise.all(handles);
      metrics['queue.drain.ms'] = performance.now() - t0;
      metrics['queue.drain.wfps'] = counts.drain / (metrics['queue.drain.ms'] / 1000);
      // Enqueued by the executor itself: it wakes its own queue runner in process, with either profile.
      Object.assign(metrics, p50p99('queue.idle', await idleStarts(counts.idleSamples, 'idle', (id) => w.idle.enqueue(w.firstLine.with({ workflowId: id })))));
      if (config.engine === 'postgres') {
        // Enqueued by a StrataClient on connections of its own, as another process enqueues: the
        // executor hears of it through the database's notifications — LISTEN/NOTIFY natively, a
        // table polled every 100 ms in the portable profile. Strata's only: DBOS's side has no client.
        const client = await StrataClient.connect({ database: config.url, databaseProfile: profile });
        try {
          Object.assign(
            metrics,
            p50p99('queue.client', await idleStarts(counts.idleSamples, 'client', (id) => client.enqueue({ workflow: 'first-line', queue: 'idle', workflowId: id }))),
          );
        } finally {
          await client.close();
        }
      }
      break;
    }
    case 'messages': {
      const pong = await w.pong.with({ workflowId: 'pong' }).start(counts.messages, 'ping');
      const ping = await w.ping.with({ workflowId: 'ping' }).start(counts.messages, 'pong');
      await Promise.all([ping.result(), pong.result()]);
      Object.assign(metrics, p50p99('msg', timers.roundTrips));
      break;
    }
    case 'recovery-park': {
      if (config.parkBudgetMs === undefined) throw new Error('recovery-park needs parkBudgetMs');
      const wakeAt = Date.now() + config.parkBudgetMs;
      await inFlight(counts.recovery, 64, (i) => w.sleeper.with({ workflowId: `sleeper-${i}` }).start(wakeAt));
      await waitForCount(
        () => count(strata, "select count(*) as n from strata.steps s join strata.workflows w using (workflow_id) where w.name = 'sleeper' and s.kind = 'sleep'"),
        counts.recovery,
        'parked sleepers',
      );
      return reportParkedAndWait(wakeAt, PARKED_PREFIX);
    }
    case 'recovery-resume': {
      // The bench's probe, the same for both profiles (a plain SELECT every 5 ms), not the system's.
      const probe = await openDatabase({ url: config.url, profile: 'native' });
      const succeeded = async () => {
        const { rows } = await probe.query<{ n: string }>("select count(*) as n from strata.workflows where name = 'sleeper' and status = 'SUCCESS'");
        return Number(rows[0]!.n);
      };
      Object.assign(metrics, await timeRecovery(() => strata.launch(), succeeded, counts.recovery));
      checkProfile(strata, profile);
      await probe.close();
      break;
    }
    default:
      throw new Error(`unknown workload "${workload}"`);
  }
  await strata.shutdown();
  return metrics;
}

/** The workloads for Strata with `profile`: the `strata` system is native, `portable` portable. */
export function strataSystem(profile: ProfileName): SystemModule {
  return { run: (workload, config) => run(workload, config, profile) };
}
