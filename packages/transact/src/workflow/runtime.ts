// What a running workflow's context needs from its engine (the Runtime seam), and the shared types of an execution.
import { isConnectionError, type Database, type Queryable } from '@strata/store';
import type { EnqueueOptions, Logger, StartOptions, WorkflowStarter } from '../interfaces.js';
import type { Serializer } from '../serialization.js';
import type { Signals } from '../signals/signals.js';
import type { NewQueuedWorkflow, NewStep, NewWorkflow, WorkflowEnd, WorkflowStatusName } from '../sql/index.js';

/**
 * A batched writer (group commit, see engine/group-commit.ts): `write` resolves once the item is
 * committed, with whether this call wrote it. A small interface, so the workflow layer does not
 * depend on the engine's writers.
 */
export interface BatchWriter<T> {
  write(item: T): Promise<boolean>;
}

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
  readonly writer: BatchWriter<NewStep>;
  /** Group commit of the rows of direct starts. */
  readonly starts: BatchWriter<NewWorkflow>;
  /** Group commit of workflow ends with their notifications. */
  readonly ends: BatchWriter<WorkflowEnd>;
  /** Group commit of enqueues made outside a transaction. */
  readonly enqueues: BatchWriter<NewQueuedWorkflow>;
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
  /**
   * The options of every transaction that writes a workflow's step (`ctx.transaction`, a child's
   * start, an event): the server ends one that sits idle longer than the executor lease
   * (`executorTimeoutMs`), so an executor cut off mid-transaction cannot keep the workflow's row
   * locked past the lease — its takeover waits for that lock (see insertStepInTransaction).
   */
  readonly stepTransactions: { readonly idleTimeoutMs?: number };
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
 * True when the system database failed under a workflow in a way it cannot wait through: its
 * connection (once the engine no longer waits) or the database was closed (the engine stops).
 */
export function isSystemFailure(error: unknown): boolean {
  return isConnectionError(error) || (error as { code?: unknown } | null)?.code === 'STRATA_DATABASE_CLOSED';
}

