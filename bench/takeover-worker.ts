// One executor of `npm run bench:takeover` (takeover.ts starts three per run, with distinct IDs).
//
// It launches a Strata engine with the run's heartbeatIntervalMs / executorTimeoutMs and keeps a
// bounded number of workflows in flight for a fixed time: mostly three quick steps, some with a
// CPU-bound step that spins 50–200 ms, and now and then one whose step returns a 20 MB string
// (its serialization blocks the event loop, as a large value does in an app). Every workflow ends
// with a transaction step that inserts one row into bench_effects, so the runner can check that no
// effect was committed twice. It measures what the engine reports through its logger (heartbeat
// lapses, takeovers it did, executions fenced off by a takeover) and its own event-loop delay, and
// reports them to the runner over IPC.
//
// Not run by hand: takeover.ts forks it as `takeover-worker.ts '<WorkerConfig as JSON>'` with an
// IPC channel, sends `go` when every executor is up and `stop` when the run is drained.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SeededRandom } from '@strata/testing';
import { Strata, type Logger } from '@strata/transact';

/** What the runner passes on the command line. */
export interface WorkerConfig {
  readonly url: string;
  readonly executorId: string;
  readonly heartbeatIntervalMs: number;
  readonly executorTimeoutMs: number;
  /** Workflows this executor keeps started and unfinished at once. */
  readonly inFlight: number;
  /** How long it keeps starting workflows after `go`. */
  readonly durationMs: number;
  /** How long, after that, it waits for the workflows it started to finish. */
  readonly drainMs: number;
  readonly seed: number;
  /** Share of workflows with a CPU-bound step. */
  readonly cpuShare: number;
  readonly cpuMinMs: number;
  readonly cpuMaxMs: number;
  /** Share of workflows whose step returns a `bigBytes` string (0: none). */
  readonly bigShare: number;
  readonly bigBytes: number;
}

/** What the engine said through its logger, counted by kind. */
export interface LogCounts {
  /** `logger.error`: "missed its heartbeats" — this executor found its own heartbeat lapsed. */
  lapses: number;
  /** `logger.error`: "lost its row in strata.executors". */
  lostRows: number;
  /** `logger.info`: "stopped heartbeating; taking over N" — takeovers this executor did. */
  takeoverEvents: number;
  /** The sum of those N. */
  workflowsTakenOver: number;
  /** `logger.warn`: "is not finished here" — an execution here was refused by fencing. */
  fenced: number;
  /** `logger.warn`: "stays PENDING" — an execution here stopped without an end. */
  staysPending: number;
  /** Any other line, counted; the first few are kept in `otherSamples`. */
  other: number;
  otherSamples: string[];
}

/** The report a worker sends last, after its engine shut down. */
export interface WorkerReport {
  readonly executorId: string;
  /** Workflows started by this executor within the window (after `go`, before the duration ran out). */
  readonly started: number;
  /** Of those, finished (their result arrived, wherever they ran) within the window. */
  readonly completedInWindow: number;
  /** Finished by the end of the drain. */
  readonly completed: number;
  /** Started here and still unfinished when the drain ran out. */
  readonly unfinished: number;
  /** Errors from starting or awaiting a workflow, by error code (or name). */
  readonly errors: Record<string, number>;
  readonly log: LogCounts;
  readonly eventLoopDelayMaxMs: number;
  readonly eventLoopDelayP99Ms: number;
  readonly startedByKind: Record<Kind, number>;
}

export type WorkerMessage = { readonly type: 'ready' } | { readonly type: 'drained' } | { readonly type: 'report'; readonly report: WorkerReport };
export type RunnerMessage = { readonly type: 'go' } | { readonly type: 'stop' };

type Kind = 'quick' | 'cpu' | 'big';

/** Bound on the kept samples of unrecognized log lines, so a chatty failure cannot grow the report without end. */
const MAX_OTHER_SAMPLES = 20;
/** Graceful shutdown budget: the run is drained by then, so this only covers stragglers. */
const SHUTDOWN_TIMEOUT_MS = 5_000;
/** Room above the big value for superjson's wrapper and the other fields of a record. */
const VALUE_HEADROOM_BYTES = 1 << 20;
/** Pause after a failed start, so a refusing database is not hammered in a tight loop. */
const START_RETRY_DELAY_MS = 100;

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig;
if (!process.send) throw new Error('takeover-worker.ts runs under takeover.ts, with an IPC channel');
const send = (message: WorkerMessage) => process.send!(message);
// The runner is gone (killed, crashed): stop at once rather than spin on alone.
process.on('disconnect', () => process.exit(3));

const counts: LogCounts = { lapses: 0, lostRows: 0, takeoverEvents: 0, workflowsTakenOver: 0, fenced: 0, staysPending: 0, other: 0, otherSamples: [] };

function other(level: string, message: string, details: unknown[]): void {
  counts.other++;
  if (counts.otherSamples.length >= MAX_OTHER_SAMPLES) return;
  const detail = details.map((d) => (d instanceof Error ? `${d.name}: ${d.message}` : String(d))).join(' ');
  counts.otherSamples.push(`${level} ${message}${detail ? ` ${detail}` : ''}`.slice(0, 500));
}

/** Counts the engine's lines by what they say (engine.ts words them; see docs/transact.md "Faults"). */
const logger: Logger = {
  info(message, ...details) {
    const takeover = /stopped heartbeating; taking over (\d+)/.exec(message);
    if (takeover) {
      counts.takeoverEvents++;
      counts.workflowsTakenOver += Number(takeover[1]);
    } else other('info', message, details);
  },
  warn(message, ...details) {
    if (message.includes('is not finished here')) counts.fenced++;
    else if (message.includes('stays PENDING')) counts.staysPending++;
    else other('warn', message, details);
  },
  error(message, ...details) {
    if (message.includes('missed its heartbeats')) counts.lapses++;
    else if (message.includes('lost its row')) counts.lostRows++;
    else other('error', message, details);
  },
};

const strata = new Strata({
  database: config.url,
  executorId: config.executorId,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  executorTimeoutMs: config.executorTimeoutMs,
  maxValueBytes: Math.max(4 << 20, config.bigBytes + VALUE_HEADROOM_BYTES),
  logger,
});

/** Wall-clock busy loop: the CPU-bound step an app might run (parsing, hashing, image work). */
function spin(ms: number): number {
  const end = performance.now() + ms;
  let turns = 0;
  while (performance.now() < end) turns++;
  return turns;
}

const mixed = strata.workflow('mixed', async (ctx, kind: Kind, spinMs: number) => {
  let total = 0;
  for (const name of ['a', 'b', 'c']) total += await ctx.step(name, () => 1);
  if (kind === 'cpu') total += (await ctx.step('spin', () => spin(spinMs))) > 0 ? 1 : 0;
  if (kind === 'big') total += (await ctx.step('big', () => 'x'.repeat(config.bigBytes))).length;
  // The effect: committed with its checkpoint, so a fenced repeat must roll back, never add a row.
  await ctx.transaction('effect', async (tx) => {
    await tx.query('insert into bench_effects (workflow_id, executor_id) values ($1, $2)', [ctx.workflowId, config.executorId]);
    return 1;
  });
  return total;
});

await strata.launch();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const go = new Promise<void>((resolve) => process.on('message', (m: RunnerMessage) => m.type === 'go' && resolve()));
const stop = new Promise<void>((resolve) => process.on('message', (m: RunnerMessage) => m.type === 'stop' && resolve()));
send({ type: 'ready' });
await go;
loopDelay.enable();

const random = new SeededRandom(config.seed).fork(config.executorId);
const windowEnd = performance.now() + config.durationMs;
const errors: Record<string, number> = {};
const startedByKind: Record<Kind, number> = { quick: 0, cpu: 0, big: 0 };
let started = 0;
let completedInWindow = 0;
let completed = 0;
let next = 0;

function countError(error: unknown): void {
  const key = String((error as { code?: unknown })?.code ?? (error as Error)?.name ?? 'unknown');
  errors[key] = (errors[key] ?? 0) + 1;
}

/** One slot of the in-flight bound: starts a workflow, waits for its result, repeats until the window ends. */
async function slot(): Promise<void> {
  while (performance.now() < windowEnd) {
    const kind: Kind = random.chance(config.bigShare) ? 'big' : random.chance(config.cpuShare) ? 'cpu' : 'quick';
    const spinMs = kind === 'cpu' ? random.int(config.cpuMinMs, config.cpuMaxMs) : 0;
    let handle;
    try {
      handle = await mixed.with({ workflowId: `${config.executorId}/${next++}` }).start(kind, spinMs);
    } catch (error) {
      countError(error);
      await new Promise((resolve) => setTimeout(resolve, START_RETRY_DELAY_MS));
      continue;
    }
    started++;
    startedByKind[kind]++;
    // Wherever it runs (here, or a survivor that took it over), the result arrives from its row.
    for (;;) {
      try {
        await handle.result();
        completed++;
        if (performance.now() < windowEnd) completedInWindow++;
        break;
      } catch (error) {
        countError(error);
        if (performance.now() > windowEnd + config.drainMs) return;
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_DELAY_MS));
      }
    }
  }
}

const slots = Promise.all(Array.from({ length: config.inFlight }, () => slot()));
const drainEnd = windowEnd + config.drainMs;
let drainTimer: NodeJS.Timeout | undefined;
await Promise.race([slots, new Promise((resolve) => (drainTimer = setTimeout(resolve, Math.max(0, drainEnd - performance.now()))))]);
clearTimeout(drainTimer);
loopDelay.disable();
send({ type: 'drained' });

await stop;
await strata.shutdown({ timeoutMs: SHUTDOWN_TIMEOUT_MS });
const report: WorkerReport = {
  executorId: config.executorId,
  started,
  completedInWindow,
  completed,
  unfinished: started - completed,
  errors,
  log: counts,
  eventLoopDelayMaxMs: loopDelay.max / 1e6,
  eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  startedByKind,
};
process.removeAllListeners('disconnect');
process.send({ type: 'report', report } satisfies WorkerMessage, () => process.exit(0));
