// What the orchestrator (run.ts) and a system's child process (child.ts) agree on.
//
// Every measurement runs in a child process of its own, on a database of its own, so one
// system's global state (DBOS is a singleton), warm caches or leftover rows never touch another's.
// A child prints exactly one line starting with RESULT_PREFIX followed by the JSON Metrics.

/**
 * The systems a workload can run on. `strata` is Strata with `databaseProfile: 'native'` (what it
 * runs with on PostgreSQL and PGlite); `portable` is the same code with `databaseProfile:
 * 'portable'`, the profile for distributed SQL engines (polled notifications, claims without
 * `SKIP LOCKED`, lease rows instead of advisory locks, SERIALIZABLE only), run on the same
 * engine so the difference is what the fallbacks cost.
 */
export type SystemName = 'strata' | 'portable' | 'dbos' | 'floor';

/** The capability profile each Strata system must run with; a child that finds another fails. */
export const PROFILE_OF: Partial<Record<SystemName, 'native' | 'portable'>> = { strata: 'native', portable: 'portable' };

/**
 * The workloads of issue 4. `recovery-park` and `recovery-resume` are the two halves of the
 * recovery workload: the orchestrator SIGKILLs the first child once it reports PARKED.
 */
export type WorkloadName = 'sequential' | 'throughput' | 'transactions' | 'queue' | 'messages' | 'recovery-park' | 'recovery-resume' | 'floor';

/** Sizes of each workload, so a smoke run (`--scale 0.05`) uses the same code paths as the full run. */
export interface Counts {
  /** Workload 1: workflows of 0 steps, and of 3 steps, run one after another. */
  readonly sequential: number;
  /** Workload 2: 3-step workflows per in-flight width. */
  readonly throughput: number;
  /** Workload 2: the in-flight widths. */
  readonly widths: readonly number[];
  /** Workload 3: workflows with one inserting transaction step, run sequentially and then 64 in flight. */
  readonly transactions: number;
  /** Workload 4: one-step workflows enqueued on a queue with concurrency `queueConcurrency`. */
  readonly drain: number;
  readonly queueConcurrency: number;
  /** Workload 4: workflows enqueued one at a time on an idle queue. */
  readonly idleSamples: number;
  /** Workload 5: send/recv round trips between two workflows. */
  readonly messages: number;
  /** Workload 6: workflows parked in a durable sleep before the SIGKILL. */
  readonly recovery: number;
  /** Workload 7: single-row INSERT commits, sequentially and per connection width. */
  readonly floor: number;
  readonly floorWidth: number;
}

/**
 * Sequential warm-up of every system before it is timed, in three-step workflows (the floor: in
 * single-row inserts). A long-running app has its hot path compiled by the JIT; a library's path
 * is longer than a bare driver call, so a short warm-up times the library cold and the floor warm
 * (measured here: 60 warm-up steps left a step 1.6× the floor, 1,500 left it 1.3–1.4×).
 */
export const WARM_UP = 500;

export const FULL_COUNTS: Counts = {
  sequential: 500,
  throughput: 5_000,
  widths: [64, 256],
  transactions: 2_000,
  drain: 5_000,
  queueConcurrency: 50,
  idleSamples: 100,
  messages: 300,
  recovery: 1_000,
  floor: 2_000,
  floorWidth: 64,
};

/** FULL_COUNTS scaled down (never below a handful, so percentiles stay defined). */
export function scaledCounts(scale: number): Counts {
  const s = (n: number, min = 5) => Math.max(min, Math.round(n * scale));
  return {
    ...FULL_COUNTS,
    sequential: s(FULL_COUNTS.sequential),
    throughput: s(FULL_COUNTS.throughput, 64),
    transactions: s(FULL_COUNTS.transactions, 64),
    drain: s(FULL_COUNTS.drain, 50),
    idleSamples: s(FULL_COUNTS.idleSamples, 3),
    messages: s(FULL_COUNTS.messages),
    recovery: s(FULL_COUNTS.recovery, 20),
    floor: s(FULL_COUNTS.floor, 64),
  };
}

/** What a child is told: its database and the sizes. */
export interface ChildConfig {
  /** `postgres://…` of a database created for this child alone, or a PGlite directory. */
  readonly url: string;
  /** 'postgres' or 'pglite': the floor and Strata also run on PGlite (workload 8). */
  readonly engine: 'postgres' | 'pglite';
  readonly counts: Counts;
  /**
   * recovery-park: how long parking may take. The child sets every sleep to end this long after
   * it is ready to park (launched and warmed up: a slow process start does not eat the budget) and
   * reports that time with PARKED.
   */
  readonly parkBudgetMs?: number;
  /**
   * Sequential warm-up runs before anything is timed; {@link WARM_UP} when omitted. Only a smoke
   * run (`--warm-up 5`, bench/test) lowers it: it checks the code paths, not the figures.
   */
  readonly warmUp?: number;
}

/**
 * A child's figures, by metric name. Latencies are milliseconds, rates per second. Every system
 * returns the same names for a workload (W is an in-flight width, N a count from Counts):
 *
 * - sequential: `seq.wf0.p50|p99` per 0-step workflow and `seq.wf3.p50|p99` per 3-step workflow,
 *   each started and awaited one after another (N = sequential); `seq.step.p50|p99` per step,
 *   timed inside the workflow around each step call (3N samples).
 * - throughput: per width W, `tput.W.wfps`, `tput.W.stepsps` and `tput.W.p50|p99` (start to
 *   result of each workflow), N = throughput 3-step workflows.
 * - transactions: `tx.p50|p99` per transaction step, timed inside the workflow around the call, N
 *   workflows one after another; then `tx.rowsps`: N more with 64 in flight, rows/s.
 * - queue: `queue.drain.ms` from the first enqueue to all N finished (the enqueues run 64 in
 *   flight meanwhile), `queue.drain.wfps` = N / that; `queue.idle.p50|p99` from an enqueue on an
 *   idle queue returning to the workflow's first line running; Strata on PostgreSQL also
 *   `queue.client.p50|p99`, the same with the enqueue made by a `StrataClient` on connections of
 *   its own (the executor hears of it through the database's notifications, as from another process).
 * - messages: `msg.p50|p99`, a ping workflow's send to a pong workflow until the pong's reply is
 *   received, timed inside the ping workflow.
 * - recovery-resume: `recovery.ms` from just before launch to all N parked workflows finished
 *   (polled every 5 ms on a connection of the child's own), and `recovery.launch.ms`.
 * - floor: `floor.seq.p50|p99` and `floor.seq.cps` for single-row INSERT commits on one
 *   connection; `floor.par.cps` with `floorWidth` connections (PostgreSQL only).
 */
export type Metrics = Record<string, number>;

export const RESULT_PREFIX = 'BENCH_RESULT ';
/**
 * recovery-park prints this, then `{"parkedAt":…,"wakeAt":…}` (ms since epoch), once every
 * workflow is parked; the orchestrator then SIGKILLs it and waits until wakeAt.
 */
export const PARKED_PREFIX = 'BENCH_PARKED ';
/**
 * A Strata child prints this, then `{"name":…,"notificationMode":…}`: the profile its system
 * database was opened with (`Database.profile.name`) and how it gets notifications ('listen' or
 * 'poll'), once launched. The orchestrator records it with the metrics and fails a measurement
 * whose profile is not the system's ({@link PROFILE_OF}).
 */
export const PROFILE_PREFIX = 'BENCH_PROFILE ';

/** What a Strata child reports after {@link PROFILE_PREFIX}. */
export interface ProfileReport {
  readonly name: string;
  readonly notificationMode: string;
}

/**
 * One system's implementation of the workloads. Each function runs in a fresh child process on a
 * fresh database and returns its metrics; `parkForRecovery` never returns (it prints PARKED and
 * waits to be killed).
 */
export interface SystemModule {
  run(workload: WorkloadName, config: ChildConfig): Promise<Metrics>;
}
