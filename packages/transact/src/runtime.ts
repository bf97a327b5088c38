import { isConnectionError, type Database, type Queryable } from '@strata/store';
import type { CheckpointWriter, EnqueueWriter, WorkflowEndWriter, WorkflowStartWriter } from './group-commit.js';
import type { EnqueueOptions, Logger, StartOptions, WorkflowStarter } from './interfaces.js';
import type { Serializer } from './serialization.js';
import type { Signals } from './signals.js';
import type { WorkflowStatusName } from './sql/index.js';
import { StrataError } from './errors.js';

/** A finished workflow's stored outcome. */
export interface Terminal {
  readonly status: Exclude<WorkflowStatusName, 'PENDING' | 'ENQUEUED'>;
  readonly output: string | null;
  readonly error: string | null;
}

/** The parent of a child workflow being started, and the step that records the start. */
export interface ParentLink {
  readonly workflowId: string;
  readonly stepId: number;
  readonly deadlineAt: Date | null;
}

/** What a running workflow's context needs from its engine. */
export interface Runtime {
  readonly db: Database;
  readonly appDb: Database;
  readonly serializer: Serializer;
  /** Group commit of step checkpoints. */
  readonly writer: CheckpointWriter;
  /** Group commit of the rows of direct starts. */
  readonly starts: WorkflowStartWriter;
  /** Group commit of workflow ends with their notifications. */
  readonly ends: WorkflowEndWriter;
  /** Group commit of enqueues made outside a transaction. */
  readonly enqueues: EnqueueWriter;
  readonly signals: Signals;
  readonly logger: Logger;
  readonly safetyPollIntervalMs: number;
  /**
   * `null` while this executor's lease holds: its last heartbeat was sent less than
   * `executorTimeoutMs` ago, so no other executor can have taken its workflows over. Otherwise a
   * promise that resolves once a heartbeat renews the lease, and rejects with `signal`'s reason
   * when the execution is stopped meanwhile (a lapsed executor stops its executions). Checked
   * before running a step's or transaction's code, so an executor that was paused past the
   * timeout runs no step that a survivor has taken over.
   */
  holdLease(signal: AbortSignal): Promise<void> | null;
  /** Starts or enqueues a workflow (a child when `parent` is given; inside `tx` when given) and returns its ID. */
  startWorkflow(
    starter: WorkflowStarter<unknown[], unknown>,
    args: unknown[],
    options: StartOptions & EnqueueOptions,
    parent?: ParentLink,
    tx?: Queryable,
  ): Promise<string>;
  /** Waits until the workflow finishes; rejects on `signal` abort or timeout. */
  awaitTerminal(workflowId: string, timeoutMs: number, signal?: AbortSignal): Promise<Terminal>;
  /** The value a finished workflow returned, or throws its error. */
  decodeTerminal<R>(workflowId: string, terminal: Terminal): R;
  /**
   * Runs `operation` on `db` until it succeeds, pausing through database outages (connection
   * failures) until the database answers again; rejects with `signal`'s reason when it aborts
   * meanwhile. `operation` must be safe to repeat: every durable write of a workflow is (a
   * repeated checkpoint finds its step recorded).
   */
  durable<T>(db: Database, operation: () => Promise<T>, signal: AbortSignal): Promise<T>;
  /** This executor and its registration epoch: the owner that fenced writes must still match. */
  owner(): Owner;
}

/** Who may write a workflow's checkpoints: the executor that owns it, in the epoch it claimed it. */
export interface Owner {
  readonly executorId: string;
  readonly epoch: number;
}

/**
 * The system database failed under a running workflow. The workflow is left PENDING and resumes
 * from its last checkpoint on the next launch (or when another executor recovers it).
 */
export class SystemDatabaseError extends StrataError {
  constructor(cause: unknown) {
    super(
      'STRATA_SYSTEM_DATABASE',
      `the system database failed (${(cause as Error)?.message ?? String(cause)}); the workflow stays PENDING and resumes from its last checkpoint on recovery`,
      { cause },
    );
  }
}

/** True for errors that mean the database connection, not the statement, failed. */
export { isConnectionError } from '@strata/store';

/**
 * True when the system database failed under a workflow in a way it cannot wait through: its
 * connection (once the engine no longer waits) or the database was closed (the engine stops).
 */
export function isSystemFailure(error: unknown): boolean {
  return isConnectionError(error) || (error as { code?: unknown } | null)?.code === 'STRATA_DATABASE_CLOSED';
}

/** Longest delay Node's setTimeout keeps (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      cancel();
      reject(signal.reason);
    };
    const cancel = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `setTimeout` for any delay: Node fires a timer of more than 2^31 − 1 ms (24.8 days) at once,
 * so a longer one re-arms until it is due. Returns the function that cancels it. Unref'd when
 * `unref` is set.
 *
 * @example
 * const cancel = setLongTimeout(() => expire(id), 30 * 24 * 3_600_000);
 */
export function setLongTimeout(fn: () => void, ms: number, unref = false): () => void {
  const dueAt = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const arm = (leftMs: number) => {
    timer = setTimeout(() => {
      if (leftMs > MAX_TIMER_MS) return arm(dueAt - Date.now());
      fn();
    }, Math.min(Math.max(0, leftMs), MAX_TIMER_MS));
    if (unref) timer.unref();
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** Races `promise` against the signal's abort. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
