// What the scale-out test's worker processes and the test itself agree on: queue limits, the
// workflows' shape, the app tables they write and the stdout protocol.

/** Global limit of queue 'drain': most of its workflows running at once over all executors. */
export const DRAIN_CONCURRENCY = 6;
/** Global limit of queue 'parts'; below its partition count, so both limits bind. */
export const PARTS_CONCURRENCY = 8;
/** Per-partition limit of queue 'parts'. */
export const PARTS_PARTITION_CONCURRENCY = 1;

/** The worker's heartbeat and executor timeout unless the test overrides them (env). */
export const HEARTBEAT_INTERVAL_MS = 200;
/**
 * 15 heartbeats: a survivor starved of CPU on a loaded 2-core machine (a CPU hog on both cores,
 * `npm run test:loaded`) still beats well within it, so no live executor is taken over.
 */
export const EXECUTOR_TIMEOUT_MS = 3_000;
/** Env vars that override them per worker. */
export const HEARTBEAT_ENV = 'SCALE_HEARTBEAT_INTERVAL_MS';
export const EXECUTOR_TIMEOUT_ENV = 'SCALE_EXECUTOR_TIMEOUT_MS';

/** Exit code of a worker whose launch() failed (it prints `LAUNCH_FAILED <code>` first). */
export const LAUNCH_FAILED_EXIT_CODE = 3;

/**
 * App tables, in the system database. No unique constraints on purpose: a step or transaction
 * that ran twice shows up as two rows.
 *
 * - `scale_log`: one row per execution of a workflow body (`step = 'body'`, written on entry) and
 *   per run of a step function (`step` = its name), with the writer and the database clock.
 * - `scale_effects`: one row per committed run of the workflows' `ctx.transaction('effect')`.
 */
export const APP_TABLES_SQL = `
  create table scale_log (
    workflow_id text not null,
    step text not null,
    executor_id text not null,
    pid integer not null,
    at timestamptz not null default clock_timestamp()
  );
  create index scale_log_workflow on scale_log (workflow_id);
  create table scale_effects (
    workflow_id text not null,
    step text not null,
    executor_id text not null,
    pid integer not null
  );
`;

/** Who ran a step: every step and transaction returns it, so its checkpoint names its writer. */
export interface Runner {
  readonly executorId: string;
  readonly pid: number;
}

/**
 * Workflow 'scale-wf' (the queued workload): body → step 'a' (logs, then works `stepMs`) →
 * transaction 'effect' → step 'b' (works `stepMs`, then logs).
 */
export const SCALE_WORKFLOW = 'scale-wf';
export const SCALE_STEPS = ['a', 'effect', 'b'] as const;

/**
 * Workflow 'hold-wf' (started directly, to be held by a process that dies): body → step 'ready'
 * → durable sleep `sleepMs` → step 'after' → transaction 'effect'.
 */
export const HOLD_WORKFLOW = 'hold-wf';
