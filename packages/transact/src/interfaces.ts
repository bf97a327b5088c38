/**
 * Public types of the transact layer.
 */
import type { Database, IsolationLevel, Transaction } from '@strata/store';
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
}

/** Options when starting a workflow. */
export interface StartOptions {
  /**
   * The workflow's ID and idempotency key: starting an ID that exists returns the existing
   * workflow and runs nothing. Default: a random UUID.
   */
  readonly workflowId?: string;
  /** Cancel the workflow (and its children) if it has not finished this many ms after it starts. */
  readonly timeoutMs?: number;
}

/** A workflow's status row, as the engine reports it. */
export interface WorkflowStatus {
  readonly workflowId: string;
  readonly name: string;
  readonly status: WorkflowStatusName;
  readonly executorId: string;
  readonly appVersion: string;
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

  /** Receives the oldest message on `topic` (FIFO), waiting up to `timeoutMs`; `null` on timeout. */
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
  readonly options: StartOptions;
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
  /** The same workflow with start options bound (ID, timeout). */
  with(options: StartOptions): WorkflowStarter<A, R>;
}
