// The public types of the transact layer: configuration, workflows and their context, handles, admin APIs, reports.
/**
 * Public types of the transact layer.
 */
import type { Database, IsolationLevel, ProfileRequest, Queryable, Transaction } from '@strata/store';
import type { WorkflowStatusName } from './sql/types.js';

export type { WorkflowStatusName } from './sql/types.js';

/** Minimal logger; `console` fits. */
export interface Logger {
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

/** Configuration of a {@link Strata} engine. */
export interface StrataConfig {
  /**
   * The system database: a `Database` from `@strata/store`, a `postgres://` URL, `memory://`, or
   * a directory for embedded PGlite. Default `./.strata` (embedded).
   */
  readonly database?: Database | string;
  /**
   * The application database that `ctx.transaction` runs against. Default: the system database,
   * in which case the user's writes and the step checkpoint commit in one transaction. A
   * separate database also gets exactly-once transactions, through `strata.transaction_outputs`.
   */
  readonly appDatabase?: Database | string;
  /**
   * The capability profile of the databases opened from URLs: `'native'`, `'portable'` (for
   * distributed SQL engines: polled notifications, claims without `SKIP LOCKED`, lease rows
   * instead of advisory locks, SERIALIZABLE only) or `'auto'` (portable on CockroachDB and
   * YugabyteDB). Default: `process.env.STRATA_DATABASE_PROFILE`, else `'auto'`. Ignored for a
   * `Database` object, which has its own. See docs/scaling-out.md.
   */
  readonly databaseProfile?: ProfileRequest;
  /**
   * This process's executor ID. On launch, the engine resumes the unfinished workflows recorded
   * under this ID. Default `process.env.STRATA_EXECUTOR_ID` or `'local'`.
   */
  readonly executorId?: string;
  /**
   * The application version. A workflow is only recovered by an executor running the version it
   * started under, since replay needs the same code. Default `process.env.STRATA_APP_VERSION` or `'0'`.
   */
  readonly appVersion?: string;
  /** Largest serialized input, output, message or event value. Default 4 MiB. */
  readonly maxValueBytes?: number;
  /** Recoveries of one workflow before it is marked ERROR (a poison workflow that crashes its process). Default 50. */
  readonly maxRecoveryAttempts?: number;
  /** Wake-up interval of waiters as a safety net behind notifications. Default 2,000 ms. */
  readonly safetyPollIntervalMs?: number;
  /** Where engine messages go. Default `console`. */
  readonly logger?: Logger;
  /** How often this executor writes its heartbeat to `strata.executors`. Default 1,000 ms. */
  readonly heartbeatIntervalMs?: number;
  /**
   * An executor whose heartbeat is older than this is dead: the surviving executors take over its
   * unfinished workflows (each exactly once) and finish them. Default 10,000 ms; must exceed
   * `heartbeatIntervalMs`.
   */
  readonly executorTimeoutMs?: number;
  /** Deletion of old finished workflows. Default: keep everything. */
  readonly retention?: RetentionPolicy;
}

/**
 * Which finished workflows (SUCCESS, ERROR, CANCELLED) are deleted, with their steps, messages,
 * events and streams. PENDING and ENQUEUED workflows are never deleted.
 *
 * @example
 * new Strata({ database: url, retention: { maxAgeMs: 7 * 24 * 3600_000, maxCount: 1_000_000 } });
 */
export interface RetentionPolicy {
  /** Delete workflows that finished longer ago than this. */
  readonly maxAgeMs?: number;
  /** Keep at most this many finished workflows (the newest). */
  readonly maxCount?: number;
  /** How often the retention pass runs. Default 60,000 ms. */
  readonly intervalMs?: number;
  /** Workflows deleted per statement, so no pass holds locks for long. Default 1,000. */
  readonly batchSize?: number;
}

/** Options of a graceful {@link Strata.shutdown}. */
export interface ShutdownOptions {
  /**
   * How long running workflows may take to reach their next checkpoint (a step in progress
   * finishes and is recorded; waits end at once). After this, they are interrupted. Either way
   * they stay PENDING and are resumed by recovery. Default 10,000 ms; 0 interrupts at once.
   */
  readonly timeoutMs?: number;
}

/**
 * Limits of a queue. Every limit is optional; a queue without limits starts whatever is queued.
 *
 * @example
 * strata.queue('emails', { concurrency: 50, workerConcurrency: 10, rateLimit: { limit: 100, periodMs: 1_000 } });
 * strata.queue('per-customer', { partitionConcurrency: 1 });  // one at a time per partitionKey
 */
export interface QueueConfig {
  /** Most workflows of the queue running at once over all executors. */
  readonly concurrency?: number | null;
  /** Most workflows of the queue running at once in one executor. */
  readonly workerConcurrency?: number | null;
  /** Most workflows running at once per partition key; enqueues must then give a `partitionKey`. */
  readonly partitionConcurrency?: number | null;
  /** At most `limit` starts per `periodMs`, over all executors. */
  readonly rateLimit?: { readonly limit: number; readonly periodMs: number } | null;
}

/** A queue as stored in `strata.queues`. */
export interface QueueInfo {
  readonly name: string;
  readonly concurrency: number | null;
  readonly workerConcurrency: number | null;
  readonly partitionConcurrency: number | null;
  readonly rateLimit: { readonly limit: number; readonly periodMs: number } | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Creates, changes and deletes queues at runtime (stored in `strata.queues`, so every executor
 * sees the change within milliseconds).
 *
 * @example
 * await strata.queues.create('reports', { concurrency: 2 });
 * await strata.queues.update('reports', { concurrency: 8 });
 * console.log(await strata.queues.list());
 */
export interface QueueAdmin {
  /** Creates a queue; a {@link QueueStateError} if it exists. */
  create(name: string, config?: QueueConfig): Promise<QueueInfo>;
  /** Changes the given limits (`null` removes one); an {@link UnknownQueueError} if it does not exist. */
  update(name: string, config: QueueConfig): Promise<QueueInfo>;
  get(name: string): Promise<QueueInfo | undefined>;
  list(): Promise<QueueInfo[]>;
  /** Deletes an empty queue; a {@link QueueStateError} while workflows are queued or running on it. */
  delete(name: string): Promise<void>;
}

/** A cron schedule. */
export interface ScheduleConfig {
  /** A cron expression: 5 fields (minute precision) or 6 (seconds first), e.g. `'0 3 * * *'`. */
  readonly cron: string;
  /** IANA time zone the expression is read in. Default `'UTC'`. */
  readonly timezone?: string;
  /** After downtime, start the missed ticks too (each once). Default false: only future ticks. */
  readonly catchUp?: boolean;
  /** Enqueue each tick's workflow on this queue instead of starting it at once. */
  readonly queue?: string | null;
}

/** A schedule as stored in `strata.schedules`. */
export interface ScheduleInfo {
  readonly name: string;
  readonly workflowName: string;
  readonly cron: string;
  readonly timezone: string;
  readonly catchUp: boolean;
  readonly queue: string | null;
  readonly status: 'ACTIVE' | 'PAUSED';
  /** The latest tick a workflow was created for. */
  readonly lastTickAt: Date | null;
  /** The next tick from now (null while paused). */
  readonly nextTickAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Creates, pauses, resumes, changes and deletes cron schedules at runtime. Each tick starts the
 * schedule's workflow once, with the tick time as its argument and `sched:<name>:<tick ISO time>`
 * as its workflow ID, however many executors run.
 *
 * @example
 * await strata.schedules.create('nightly-report', { workflow: 'report', cron: '0 3 * * *', timezone: 'Europe/Paris' });
 * await strata.schedules.pause('nightly-report');
 */
export interface ScheduleAdmin {
  create(name: string, config: ScheduleConfig & { readonly workflow: string }): Promise<ScheduleInfo>;
  update(name: string, config: Partial<ScheduleConfig> & { readonly workflow?: string }): Promise<ScheduleInfo>;
  pause(name: string): Promise<ScheduleInfo>;
  resume(name: string): Promise<ScheduleInfo>;
  get(name: string): Promise<ScheduleInfo | undefined>;
  list(): Promise<ScheduleInfo[]>;
  delete(name: string): Promise<void>;
}

/** An executor as recorded in `strata.executors`. */
export interface ExecutorInfo {
  readonly executorId: string;
  readonly appVersion: string;
  readonly hostname: string;
  readonly pid: number;
  readonly workflowNames: readonly string[];
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
  readonly stoppedAt: Date | null;
  /** Heartbeating within the executor timeout and not stopped. */
  readonly alive: boolean;
}

/** Options when starting a workflow. */
export interface StartOptions {
  /**
   * The workflow's ID and idempotency key: starting an ID that exists returns the existing
   * workflow and runs nothing. Default: a random UUID.
   */
  readonly workflowId?: string;
  /**
   * Cancel the workflow (and its children) if it has not finished this many ms after it starts
   * (for a queued workflow: after it leaves the queue).
   */
  readonly timeoutMs?: number;
  /**
   * Labels to find the workflow by (`strata.workflows.attributes`, `workflows.list({ attributes })`),
   * e.g. `{ customer: 'c-42', region: 'eu' }`. String values; at most 32 keys.
   */
  readonly attributes?: Readonly<Record<string, string>>;
}

/**
 * Options of a queued start. Bind them with `workflow.with({...})`, then enqueue with
 * `queue.enqueue(starter, ...args)`; or pass `queue` to start any workflow through a queue.
 *
 * @example
 * const emails = strata.queue('emails', { concurrency: 10 });
 * await emails.enqueue(sendEmail.with({ priority: 1, deduplicationKey: 'welcome:ada' }), 'ada@example.com');
 */
export interface EnqueueOptions {
  /** The queue to wait in; the workflow starts when the queue's limits allow. */
  readonly queue?: string;
  /** Lower numbers start first; ties start in enqueue order. Default 0. */
  readonly priority?: number;
  /** While a workflow of this queue with this key is queued or running, another enqueue with it is a duplicate. */
  readonly deduplicationKey?: string;
  /** On a duplicate key: throw {@link DuplicateEnqueueError} (`'reject'`, default) or return the live workflow's handle (`'return'`). */
  readonly onDuplicate?: 'reject' | 'return';
  /** The partition of a queue with `partitionConcurrency` (e.g. a customer ID). */
  readonly partitionKey?: string;
  /** Do not start before this many ms from now. */
  readonly delayMs?: number;
  /** Do not start before this time. */
  readonly notBefore?: Date;
}

/** A workflow's status row, as the engine reports it. */
export interface WorkflowStatus {
  readonly workflowId: string;
  readonly name: string;
  readonly status: WorkflowStatusName;
  /** The executor running it; null while ENQUEUED. */
  readonly executorId: string | null;
  /** The application version running it; null while ENQUEUED. */
  readonly appVersion: string | null;
  readonly queueName: string | null;
  /** Labels given at start (`StartOptions.attributes`). */
  readonly attributes: Readonly<Record<string, string>>;
  /** For a fork or restart: the workflow it copies and how many of its steps it reused (0: a restart). */
  readonly forkedFrom: { readonly workflowId: string; readonly step: number } | null;
  readonly priority: number;
  readonly partitionKey: string | null;
  readonly deduplicationKey: string | null;
  /** When it left its queue (null for workflows that did not queue, and while ENQUEUED). */
  readonly startedAt: Date | null;
  readonly parentWorkflowId: string | null;
  readonly deadlineAt: Date | null;
  readonly recoveryAttempts: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly completedAt: Date | null;
}

/**
 * A reference to a started workflow.
 *
 * @example
 * const handle = await checkout.start('cart-42');
 * console.log((await handle.status()).status); // 'PENDING'
 * const receipt = await handle.result();
 */
export interface WorkflowHandle<R> {
  readonly workflowId: string;
  /** The workflow's current status row. */
  status(): Promise<WorkflowStatus>;
  /**
   * Waits for the workflow to finish and returns its output, or throws its error
   * (`WorkflowCancelledError`, `WorkflowTimeoutError`, or the workflow's own error). Inside a
   * workflow the result is recorded as a step.
   */
  result(options?: { readonly timeoutMs?: number }): Promise<R>;
}

/** When and how a step is retried. */
export interface RetryPolicy {
  /** Attempts in total, including the first. Default 1 (no retry). */
  readonly maxAttempts?: number;
  /** Delay before the second attempt. Default 100 ms. */
  readonly intervalMs?: number;
  /** Multiplier of the delay per attempt. Default 2. */
  readonly backoffFactor?: number;
  /** Longest delay between attempts. Default 30,000 ms. */
  readonly maxIntervalMs?: number;
  /** Retry only errors for which this returns true. Default: every error. */
  readonly retryIf?: (error: unknown) => boolean;
}

/** Options of `ctx.step`. */
export interface StepOptions {
  readonly retry?: RetryPolicy;
  /** Each attempt is abandoned (its `signal` aborted) after this many ms and counts as failed. */
  readonly timeoutMs?: number;
}

/** What a step function receives. */
export interface StepInfo {
  /** Aborted when the attempt times out or the workflow is cancelled. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly attempt: number;
}

/** Options of `ctx.transaction`. */
export interface TransactionStepOptions {
  /** Isolation level of the transaction. Default `'read committed'`. */
  readonly isolation?: IsolationLevel;
}

/** Options of waits inside and outside workflows. */
export interface WaitOptions {
  /** Give up after this many ms; `Infinity` waits forever. Default 60,000 ms. */
  readonly timeoutMs?: number;
}

/** Options of `readStream`. */
export interface ReadStreamOptions {
  /** First offset to read (0-based). Default 0. */
  readonly fromOffset?: number;
}

/**
 * What a workflow function receives as its first argument: every durable operation. Each call
 * takes the next step number, so a workflow must make the same calls in the same order on every
 * run (branching on step results is fine; on `Date.now()` or `Math.random()` is not — use
 * `ctx.now()` and `ctx.random()`).
 *
 * @example
 * const transfer = strata.workflow('transfer', async (ctx, from: string, to: string, cents: number) => {
 *   await ctx.transaction('debit', (tx) => tx.query('update accounts set cents = cents - $2 where id = $1', [from, cents]));
 *   await ctx.transaction('credit', (tx) => tx.query('update accounts set cents = cents + $2 where id = $1', [to, cents]));
 *   await ctx.step('notify', () => fetch('https://example.com/hooks/transfer', { method: 'POST' }).then((r) => r.status));
 *   return 'done';
 * });
 */
export interface WorkflowContext {
  /** This workflow's ID. */
  readonly workflowId: string;
  /** Aborted when the workflow is cancelled or times out. */
  readonly signal: AbortSignal;
  /**
   * A logger bound to this workflow: each line names the workflow and becomes an event of its
   * trace span. Lines are written again when a recovery re-runs the code; log inside steps for
   * once-only lines.
   *
   * @example
   * ctx.logger.info('charging', { cents });
   */
  readonly logger: Logger;

  /**
   * Runs `fn` (any code: HTTP calls, files) and records its result; once recorded it never runs
   * again for this workflow. Until then it runs at least once, retried by `options.retry`.
   */
  step<T>(name: string, fn: (info: StepInfo) => Promise<T> | T, options?: StepOptions): Promise<T>;

  /**
   * Runs `fn` in a transaction on the application database and records its result in the same
   * commit, so its writes happen exactly once. `fn` may be retried on serialization conflicts,
   * so it must only touch the database through `tx`.
   */
  transaction<T>(name: string, fn: (tx: Transaction) => Promise<T>, options?: TransactionStepOptions): Promise<T>;

  /** Sleeps durably: after a crash the workflow wakes at the originally recorded time. */
  sleep(durationMs: number): Promise<void>;

  /** Sends `message` to workflow `destinationId` exactly once. */
  send(destinationId: string, message: unknown, topic?: string): Promise<void>;

  /**
   * Receives the oldest message on `topic` (FIFO), waiting up to `timeoutMs`; `null` on timeout.
   * Each message is received once, even across crashes. The message is consumed and the recv
   * recorded in the commit of the workflow's next write: with a reply's `send`, or just before
   * anything else. A crash before that is a crash before the recv, which then reads the same
   * message again.
   *
   * @example
   * const order = await ctx.recv<{ id: string }>('orders', { timeoutMs: 60_000 });
   * if (order) await ctx.send(replyTo, { accepted: order.id }, 'replies'); // one commit for both
   */
  recv<T = unknown>(topic?: string, options?: WaitOptions): Promise<T | null>;

  /** Publishes `value` under `key` for `getEvent` readers; later calls replace it. */
  setEvent(key: string, value: unknown): Promise<void>;

  /** Reads an event of another workflow, waiting up to `timeoutMs`; `null` on timeout. */
  getEvent<T = unknown>(workflowId: string, key: string, options?: WaitOptions): Promise<T | null>;

  /** Appends `value` to this workflow's stream `key`. */
  writeStream(key: string, value: unknown): Promise<void>;

  /** Closes this workflow's stream `key`; readers finish after the last value. */
  closeStream(key: string): Promise<void>;

  /** Starts a child workflow (its ID defaults to `<parentId>-<stepNumber>`); it inherits the parent's deadline. */
  startChild<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<WorkflowHandle<R>>;

  /** Starts a child workflow and waits for its result. */
  runChild<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<R>;

  /** The current time in epoch ms, recorded once and replayed after. */
  now(): Promise<number>;

  /** A random number in [0, 1), recorded once and replayed after. */
  random(): Promise<number>;

  /** A random UUID, recorded once and replayed after. */
  uuid(): Promise<string>;
}

/** A workflow function: deterministic code around durable operations. */
export type WorkflowFunction<A extends unknown[], R> = (ctx: WorkflowContext, ...args: A) => Promise<R>;

/** Something that starts a workflow: a registered workflow or one with options bound. */
export interface WorkflowStarter<A extends unknown[], R> {
  readonly name: string;
  /** @internal the engine that owns this workflow and the options bound to it */
  readonly binding: WorkflowBinding;
  /** Starts the workflow and returns its handle at once. */
  start(...args: A): Promise<WorkflowHandle<R>>;
  /** Starts the workflow and waits for its result. */
  run(...args: A): Promise<R>;
}

/** @internal */
export interface WorkflowBinding {
  readonly owner: object;
  readonly options: StartOptions & EnqueueOptions;
}

/**
 * A registered workflow.
 *
 * @example
 * const greet = strata.workflow('greet', async (ctx, name: string) => `hello ${name}`);
 * await strata.launch();
 * await greet.run('ada');                                         // 'hello ada'
 * await greet.with({ workflowId: 'greet-ada' }).start('ada');    // idempotent by ID
 */
export interface Workflow<A extends unknown[], R> extends WorkflowStarter<A, R> {
  /** The same workflow with start options bound (ID, timeout, queue options). */
  with(options: StartOptions & EnqueueOptions): WorkflowStarter<A, R>;
}

/**
 * A named queue of workflows, declared in code with `strata.queue()`.
 *
 * @example
 * const emails = strata.queue('emails', { concurrency: 50 });
 * await strata.launch();
 * const handle = await emails.enqueue(sendEmail, 'ada@example.com');
 * // inside your own transaction on the system database: commits or rolls back with your rows
 * await db.transaction(async (tx) => {
 *   await tx.query('insert into signups (email) values ($1)', ['ada@example.com']);
 *   await emails.enqueueIn(tx, sendEmail, 'ada@example.com');
 * });
 */
export interface Queue {
  readonly name: string;
  /** Enqueues the workflow (options bound with `workflow.with()` apply) and returns its handle. */
  enqueue<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<WorkflowHandle<R>>;
  /**
   * Enqueues inside `tx`, a transaction on the system database: the workflow exists (and starts)
   * only if `tx` commits.
   */
  enqueueIn<A extends unknown[], R>(tx: Queryable, workflow: WorkflowStarter<A, R>, ...args: A): Promise<WorkflowHandle<R>>;
}

/**
 * Which workflows a management call is about. Every field narrows the set; an empty filter
 * matches every workflow (a bulk operation then needs `all: true`, see {@link BulkWorkflowFilter}).
 * Unknown fields are an `UnknownOptionError`.
 */
export interface WorkflowFilter {
  readonly status?: WorkflowStatusName | readonly WorkflowStatusName[];
  readonly name?: string;
  readonly queue?: string;
  readonly executorId?: string;
  readonly appVersion?: string;
  /** Created at or after this time. */
  readonly createdAfter?: Date;
  /** Created before this time. */
  readonly createdBefore?: Date;
  readonly workflowIdPrefix?: string;
  /** Every key given must be set to the value given. */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly parentWorkflowId?: string;
  /** Forks and restarts of this workflow. */
  readonly forkedFrom?: string;
}

/**
 * The filter of a bulk operation (`cancelMany`, `resumeMany`, `deleteMany`). One that narrows
 * nothing must say `all: true`, so an empty filter (often one built from empty form fields)
 * never cancels, resumes or deletes everything by mistake.
 *
 * @example
 * await strata.workflows.deleteMany({ status: 'SUCCESS', createdBefore: monthAgo });
 * await strata.workflows.deleteMany({ all: true });   // every finished workflow, explicitly
 */
export interface BulkWorkflowFilter extends WorkflowFilter {
  /** Required (as `true`) when no other field is given: the operation applies to every workflow. */
  readonly all?: boolean;
}

/** A page request of {@link WorkflowAdmin.list}. */
export interface ListWorkflowsOptions extends WorkflowFilter {
  /** Rows per page, 1–1,000. Default 100. */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** By creation time. Default `'newest'` first. */
  readonly order?: 'newest' | 'oldest';
}

/** One page of workflows, and the cursor of the next page (null on the last). */
export interface WorkflowPage {
  readonly workflows: WorkflowStatus[];
  readonly nextCursor: string | null;
}

/** What {@link Strata.checkDeploy} found. */
export interface CheckDeployReport {
  /** Unfinished workflows looked at. */
  readonly checked: number;
  /** A replay report per workflow whose name the code registers. */
  readonly reports: readonly ReplayReport[];
  /** Those whose history the code would not follow. */
  readonly diverged: readonly ReplayReport[];
  /** Unfinished workflows whose name the code no longer registers: nothing could resume them. */
  readonly unregistered: ReadonlyArray<{ readonly workflowId: string; readonly name: string }>;
}

/** A stored error, as far as it survives serialization. */
export interface ErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
}

/** A workflow with its inputs and outcome decoded. */
export interface WorkflowDetails extends WorkflowStatus {
  readonly inputs: unknown[];
  /** The return value once SUCCESS. */
  readonly output: unknown;
  /** The error once ERROR, or the reason once CANCELLED. */
  readonly error: ErrorInfo | null;
}

/** One recorded step of a workflow. */
export interface StepRecord {
  /** 0-based position in the workflow. */
  readonly stepId: number;
  readonly name: string;
  /** step, transaction, sleep, send, recv, set_event, get_event, start_child, child_result, now, random, uuid, deadline, stream_write, stream_close. */
  readonly kind: string;
  readonly output: unknown;
  readonly error: ErrorInfo | null;
  readonly childWorkflowId: string | null;
  /** Attempts it took (retries + 1; a transaction's serialization retries). */
  readonly attempts: number;
  /** The failed attempts that were retried, in order (the last attempt's outcome is `output`/`error`). */
  readonly failedAttempts: readonly StepAttempt[];
  readonly startedAt: Date;
  readonly completedAt: Date;
  readonly durationMs: number;
}

/**
 * A failed attempt of a step that was retried (`strata.step_attempts`). Recorded only when an
 * attempt fails; its message is cut to 4,000 characters.
 */
export interface StepAttempt {
  readonly stepId: number;
  readonly stepName: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly error: { readonly name: string; readonly message: string; readonly code?: string };
  readonly failedAt: Date;
}

/** What an operator did to a workflow: cancel, resume, restart, fork or delete. */
export type OperatorActionName = 'cancel' | 'resume' | 'restart' | 'fork' | 'delete';

/**
 * One recorded operator action (`strata.operator_actions`), written in the transaction of the
 * change itself: it exists iff the change happened.
 */
export interface OperatorAction {
  /** Increasing in the order the actions committed (a decimal string: the column is a bigint). */
  readonly id: string;
  readonly workflowId: string;
  readonly action: OperatorActionName;
  /** Who did it: the `actor` option of the call, or `api` when none was given. */
  readonly actor: string;
  /**
   * What it changed. cancel: `cancelledDescendants` (root) or `via` (a descendant cancelled with
   * its ancestor); resume: `from` (status), `queue`, `keptQueue`, `forgottenStep` (the failed
   * last step that runs again, with its error), `forgottenAttempts`; restart and fork:
   * `newWorkflowId`/`sourceWorkflowId`, `fromStep`, `queue`; delete: `status`.
   */
  readonly detail: Readonly<Record<string, unknown>>;
  readonly at: Date;
}

/**
 * Says who acts, for the operator action a management call records. `actor` is an identifier
 * (non-empty, at most 512 characters, no NUL): e.g. the console records its signed-in identity,
 * the CLI `cli:<os user>`; without it the action is recorded as `api`.
 */
export interface ActorOptions {
  readonly actor?: string;
}

/** Options of `restart` and `fork`: the new workflow's ID (default a random UUID) and who acts. */
export interface CopyOptions extends ActorOptions {
  readonly workflowId?: string;
}

/**
 * See and steer workflows: list and filter them, read their steps, cancel, resume, restart, fork
 * and delete them, one at a time or by filter. Available on an engine (`strata.workflows`) and on
 * a database-only client (`client.workflows`).
 *
 * Every cancel, resume, restart, fork and delete (bulk ones too) records an operator action in
 * the same transaction, with the `actor` option as who did it (`api` when not given); read them
 * with `operatorActions`.
 *
 * A resumed workflow goes back on the queue it was enqueued on (with its partition and priority,
 * so that queue's limits apply); a restarted or forked one goes on its source's queue. One that
 * was started directly (never on a queue) goes through the internal queue `_strata`. Any
 * executor that registers the workflow's name runs them (a resumed one only an executor of its
 * application version, since it replays its history).
 *
 * @example
 * const page = await strata.workflows.list({ status: 'ERROR', name: 'checkout', limit: 50 });
 * for (const step of await strata.workflows.steps(page.workflows[0]!.workflowId)) console.log(step.stepId, step.name, step.durationMs);
 * await strata.workflows.resume(page.workflows[0]!.workflowId, { actor: 'alice' });
 * const forkId = await strata.workflows.fork('checkout-7', 3);   // reuse steps 0–2, run the rest with today's code
 * for (const a of await strata.workflows.operatorActions('checkout-7')) console.log(a.at, a.actor, a.action);
 */
export interface WorkflowAdmin {
  list(options?: ListWorkflowsOptions): Promise<WorkflowPage>;
  /** One workflow with inputs and outcome; {@link WorkflowNotFoundError} if unknown. */
  get(workflowId: string): Promise<WorkflowDetails>;
  /** Its recorded steps in order, each with its failed attempts. */
  steps(workflowId: string): Promise<StepRecord[]>;
  /**
   * Every failed attempt of its retried steps, by step and attempt — including those of a step
   * still retrying (not yet in `steps`). Unknown workflow: {@link WorkflowNotFoundError}.
   */
  failedAttempts(workflowId: string): Promise<StepAttempt[]>;
  /**
   * The operator actions recorded for this workflow ID, oldest first (the newest 1,000). Kept
   * after an explicit delete, so a deleted workflow's ID still answers with its history; an ID
   * never acted on answers `[]`.
   */
  operatorActions(workflowId: string): Promise<OperatorAction[]>;
  /** Cancels a PENDING or ENQUEUED workflow and its unfinished children. */
  cancel(workflowId: string, options?: ActorOptions): Promise<void>;
  /**
   * Runs a CANCELLED or ERROR workflow again from its last checkpoint (same ID, same application
   * version). For an ERROR workflow, the step whose recorded failure ended it runs again (its
   * error is kept in the resume's operator action).
   */
  resume(workflowId: string, options?: ActorOptions): Promise<void>;
  /** Starts a new workflow with the same name and inputs, from scratch; returns its ID. */
  restart(workflowId: string, options?: CopyOptions): Promise<string>;
  /**
   * Starts a new workflow that reuses the first `fromStep` checkpoints (steps 0 to fromStep − 1)
   * of this one and runs the rest with the code executors run today; returns its ID.
   * `fromStep` may be at most the number of recorded steps.
   */
  fork(workflowId: string, fromStep: number, options?: CopyOptions): Promise<string>;
  /** Deletes a finished workflow with its steps, messages, events and streams (its operator actions stay). */
  delete(workflowId: string, options?: ActorOptions): Promise<void>;
  /** Cancels every unfinished workflow matching `filter` (`{ all: true }` for every one); returns how many. */
  cancelMany(filter: BulkWorkflowFilter, options?: ActorOptions): Promise<number>;
  /** Resumes every CANCELLED or ERROR workflow matching `filter` (`{ all: true }` for every one); returns how many. */
  resumeMany(filter: BulkWorkflowFilter, options?: ActorOptions): Promise<number>;
  /**
   * Deletes every finished workflow matching `filter`; returns how many. An empty filter is an
   * `InvalidArgumentError` (code `STRATA_EMPTY_FILTER`): say `{ all: true }` to delete every
   * finished workflow.
   */
  deleteMany(filter: BulkWorkflowFilter, options?: ActorOptions): Promise<number>;
}

/** Options of `send` from outside a workflow. */
export interface SendOptions {
  readonly topic?: string;
  /** Repeating a send with this key delivers the message once. */
  readonly idempotencyKey?: string;
}

/** Configuration of a {@link StrataClient}. */
export interface ClientConfig {
  /** The system database of the executors: a `postgres://` URL, or a `Database` from `@strata/store`. */
  readonly database: Database | string;
  /**
   * The capability profile of the databases opened from URLs: `'native'`, `'portable'` (for
   * distributed SQL engines: polled notifications, claims without `SKIP LOCKED`, lease rows
   * instead of advisory locks, SERIALIZABLE only) or `'auto'` (portable on CockroachDB and
   * YugabyteDB). Default: `process.env.STRATA_DATABASE_PROFILE`, else `'auto'`. Ignored for a
   * `Database` object, which has its own. See docs/scaling-out.md.
   */
  readonly databaseProfile?: ProfileRequest;
  /** Largest serialized argument or message. Default 4 MiB (as the engine). */
  readonly maxValueBytes?: number;
  /** Wake-up interval of waits as a safety net behind notifications. Default 2,000 ms. */
  readonly safetyPollIntervalMs?: number;
  /** Age of the last heartbeat after which `listExecutors()` reports an executor dead. Default 10,000 ms. */
  readonly executorTimeoutMs?: number;
}

/** What to enqueue from a client: the workflow by name, its queue, and the usual start options. */
export interface ClientEnqueueOptions extends StartOptions, EnqueueOptions {
  /** The registered name of the workflow (some executor must register it). */
  readonly workflow: string;
  readonly queue: string;
  /**
   * Only an executor running this application version dequeues the workflow, and only one of
   * that version recovers it after a crash. Pins work to a group of executors, e.g. a node
   * agent's jobs to that node: `appVersion: 'agent:node-1'`. Default: whichever executor
   * dequeues it first, which then runs it under its own version.
   */
  readonly appVersion?: string;
  /**
   * Enqueue inside this transaction on the system database: the workflow exists (and starts)
   * only if the transaction commits.
   */
  readonly transaction?: Queryable;
}

/** One durable operation the replayed code called, in call (step) order. */
export interface ReplayStepEvent {
  readonly stepId: number;
  /** The recorded kind and name ('diverged': what the history holds; 'not-recorded': what the code calls). */
  readonly kind: string;
  readonly name: string;
  /**
   * 'replayed': the code called the recorded operation and got its recorded outcome;
   * 'diverged': the code called another operation (see `current`); 'not-recorded': the history
   * ends before this operation, which the live workflow would run next.
   */
  readonly outcome: 'replayed' | 'diverged' | 'not-recorded';
  /** The recorded outcome ('replayed' and 'diverged'): the output, or the error it threw. */
  readonly recorded?: { readonly output?: unknown; readonly error?: ReplayError };
  /** What the current code calls at this step ('diverged' only). */
  readonly current?: { readonly kind: string; readonly name: string };
}

/** An error as a report shows it. */
export interface ReplayError {
  readonly name: string;
  readonly message: string;
}

/** A recorded operation the replay never reached. */
export interface UnreachedStep {
  readonly stepId: number;
  readonly kind: string;
  readonly name: string;
}

/** What a replay found. */
export interface ReplayReport {
  readonly workflowId: string;
  readonly name: string;
  readonly recordedStatus: string;
  readonly timeline: readonly ReplayStepEvent[];
  /** Why the replay stopped. */
  readonly end:
    | { readonly kind: 'completed'; readonly output: unknown }
    | { readonly kind: 'failed'; readonly error: ReplayError }
    | { readonly kind: 'diverged'; readonly stepId: number; readonly recorded: string; readonly current: string }
    | { readonly kind: 'history-end'; readonly stepId: number; readonly next: string };
  /** Recorded steps that the replay never reached (e.g. code that now returns early). */
  readonly unreached: number;
  /** The first of them, in step order (at most {@link MAX_UNREACHED_LISTED}). */
  readonly unreachedSteps: readonly UnreachedStep[];
  /**
   * True when the current code does not follow the history: it called another operation than
   * the recorded one, or it finished without reaching every recorded operation. A history that
   * merely ends (the workflow is still running, or was cancelled) is not a divergence.
   */
  readonly diverged: boolean;
}
