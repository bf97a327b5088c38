// Operations on workflows by ID (send, events, streams, cancel, status, results) shared by the engine and the client.
import { isForeignKeyViolation, type Database } from '@strata/store';
import { InvalidArgumentError, WaitTimeoutError, WorkflowCancelledError, WorkflowNotFoundError, WorkflowStateError, WorkflowTimeoutError } from '../errors.js';
import type { ActorOptions, ExecutorInfo, ReadStreamOptions, SendOptions, WaitOptions, WorkflowHandle, WorkflowStatus } from '../interfaces.js';

export type { SendOptions } from '../interfaces.js';
import type { Terminal } from '../workflow/runtime.js';
import type { Availability } from '../engine/availability.js';
import type { Serializer } from '../serialization.js';
import { eventKey, messageKey, streamKey, workflowCancelledKey, workflowEndedKey } from '../signals/keys.js';
import type { Signals } from '../signals/signals.js';
import {
  STREAM_READ_BATCH,
  cancelWorkflowTree,
  getEventValue,
  getWorkflow,
  insertMessage,
  insertOperatorActions,
  readStreamEntries,
  type ExecutorRow,
  type WorkflowRow,
} from '../sql/index.js';
import { assertDuration, assertIdentifier, assertOptions, assertString, WAIT_OPTION_KEYS, waitTimeoutMs } from '../validate.js';
import { READ_STREAM_OPTION_KEYS, SEND_OPTION_KEYS } from '../config.js';


/**
 * What both an engine and a database-only client can do with workflows by ID: send, read events
 * and streams, cancel, read status and wait for results. Only the system database is needed.
 */
export class Operations {
  readonly #db: Database;
  readonly #signals: Signals;
  readonly #serializer: Serializer;
  readonly #safetyPollIntervalMs: number;
  readonly #availability: Availability;

  /** `availability` lets waits (result, getEvent, readStream) go on through a database outage. */
  constructor(db: Database, signals: Signals, serializer: Serializer, safetyPollIntervalMs: number, availability: Availability) {
    this.#db = db;
    this.#availability = availability;
    this.#signals = signals;
    this.#serializer = serializer;
    this.#safetyPollIntervalMs = safetyPollIntervalMs;
  }

  async send(destinationId: string, message: unknown, options: SendOptions = {}): Promise<void> {
    assertIdentifier(destinationId, 'destination workflow ID');
    assertOptions(options, 'send options', SEND_OPTION_KEYS);
    const topic = options.topic ?? '';
    assertString(topic, 'topic');
    if (options.idempotencyKey !== undefined) assertIdentifier(options.idempotencyKey, 'idempotencyKey');
    const text = this.#serializer.serialize(message, `message to workflow "${destinationId}"`);
    try {
      await insertMessage(this.#db, destinationId, topic, text, options.idempotencyKey ?? null);
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new WorkflowNotFoundError(destinationId);
      throw error;
    }
    await this.#signals.publish(messageKey(destinationId));
  }

  async getEvent<T = unknown>(workflowId: string, key: string, options: WaitOptions = {}): Promise<T | null> {
    assertIdentifier(workflowId, 'workflow ID');
    assertIdentifier(key, 'event key');
    const timeoutMs = waitTimeoutMs(options, 'getEvent');
    const db = this.#db;
    const deadlineMs = Date.now() + timeoutMs;
    const value = await this.#signals.waitFor(
      [eventKey(workflowId, key)],
      () => this.#availability.retry(() => getEventValue(db, workflowId, key), undefined, deadlineMs),
      deadlineMs,
      this.#safetyPollIntervalMs,
    );
    return value === undefined ? null : this.#serializer.deserialize<T>(value);
  }

  async *readStream<T = unknown>(workflowId: string, key: string, options: ReadStreamOptions = {}): AsyncGenerator<T, void, undefined> {
    assertIdentifier(workflowId, 'workflow ID');
    assertIdentifier(key, 'stream key');
    assertOptions(options, 'readStream options', READ_STREAM_OPTION_KEYS);
    let offset = options.fromOffset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`fromOffset must be a whole number ≥ 0, got ${String(offset)}`);
    // Set once the workflow was seen finished: after one more full read, nothing more can come.
    let ended = false;
    for (;;) {
      const armed = this.#signals.arm([streamKey(workflowId, key), workflowEndedKey(workflowId)], this.#safetyPollIntervalMs);
      try {
        const rows = await this.#availability.retry(() => readStreamEntries(this.#db, workflowId, key, offset));
        for (const row of rows) {
          if (row.closed) return;
          offset = row.stream_offset + 1;
          yield this.#serializer.deserialize<T>(row.value!);
        }
        if (rows.length === STREAM_READ_BATCH) continue;
        if (ended) return;
        if (rows.length === 0) {
          const workflow = await this.#availability.retry(() => getWorkflow(this.#db, workflowId));
          if (!workflow) throw new WorkflowNotFoundError(workflowId);
          // The workflow ended: read once more in case its last values landed meanwhile.
          if (isFinished(workflow.status)) ended = true;
          else await armed.fired;
        }
      } finally {
        armed.cancel();
      }
    }
  }

  /**
   * Cancels a workflow and its unfinished descendants, and announces it to every process. The
   * operator action (one row per cancelled workflow, by `options.actor`, default `api`) commits
   * with the cancellation.
   */
  async cancel(workflowId: string, options: ActorOptions = {}): Promise<void> {
    assertIdentifier(workflowId, 'workflow ID');
    const actor = actorOf(options, 'cancel options');
    const reason = this.#serializer.serialize(new WorkflowCancelledError(workflowId), 'error');
    const cancelled = await this.#db.transaction(async (tx) => {
      const ids = await cancelWorkflowTree(tx, workflowId, reason);
      const descendants = ids.filter((id) => id !== workflowId);
      await insertOperatorActions(tx, ids, 'cancel', actor, (id) => (id === workflowId ? { cancelledDescendants: descendants.length } : { via: workflowId }));
      return ids;
    });
    if (cancelled.length === 0) {
      const row = await getWorkflow(this.#db, workflowId);
      if (!row) throw new WorkflowNotFoundError(workflowId);
      if (row.status === 'CANCELLED') return;
      throw new WorkflowStateError(workflowId, row.status, `workflow "${workflowId}" already finished with status ${row.status}; there is nothing to cancel`);
    }
    await this.announceEnded(cancelled, true);
  }

  /** Tells waiters in every process that these workflows ended (and were cancelled, when `cancelled`). */
  async announceEnded(workflowIds: readonly string[], cancelled: boolean): Promise<void> {
    await Promise.all(workflowIds.flatMap((id) => (cancelled ? [this.#signals.publish(workflowCancelledKey(id)), this.#signals.publish(workflowEndedKey(id))] : [this.#signals.publish(workflowEndedKey(id))])));
  }

  async status(workflowId: string): Promise<WorkflowStatus> {
    const row = await getWorkflow(this.#db, workflowId);
    if (!row) throw new WorkflowNotFoundError(workflowId);
    return toStatus(row);
  }

  /** Waits for the stored end of a workflow (its row leaving PENDING/ENQUEUED). */
  async awaitStored(workflowId: string, timeoutMs: number, deadlineMs: number, signal?: AbortSignal): Promise<Terminal> {
    const terminal = await this.#signals.waitFor<Terminal>(
      [workflowEndedKey(workflowId)],
      async () => {
        // Through an outage the wait goes on, up to its own deadline.
        const row = await this.#availability.retry(() => getWorkflow(this.#db, workflowId), signal, deadlineMs);
        if (!row) throw new WorkflowNotFoundError(workflowId);
        return isFinished(row.status) ? { status: row.status as Terminal['status'], output: row.output, error: row.error } : undefined;
      },
      deadlineMs,
      this.#safetyPollIntervalMs,
      signal,
    );
    if (!terminal) throw new WaitTimeoutError(`workflow "${workflowId}" finishing`, timeoutMs);
    return terminal;
  }

  /** The value a finished workflow returned, or throws its error. */
  decodeTerminal<R>(workflowId: string, terminal: Terminal): R {
    if (terminal.status === 'SUCCESS') return (terminal.output === null ? undefined : this.#serializer.deserialize<R>(terminal.output)) as R;
    if (terminal.status === 'ERROR') throw this.#serializer.deserialize(terminal.error!);
    const reason = terminal.error === null ? undefined : this.#serializer.deserialize<Error>(terminal.error);
    throw reason?.name === 'WorkflowTimeoutError' ? new WorkflowTimeoutError(workflowId) : new WorkflowCancelledError(workflowId);
  }

  /** A handle whose `result()` waits with `awaitTerminal` (the engine adds its local shortcut). */
  handle<R>(workflowId: string, awaitTerminal: (workflowId: string, timeoutMs: number) => Promise<Terminal>): WorkflowHandle<R> {
    return {
      workflowId,
      status: () => this.status(workflowId),
      result: async (options: { readonly timeoutMs?: number } = {}) => {
        assertOptions(options, 'result options', WAIT_OPTION_KEYS);
        const timeoutMs = options.timeoutMs ?? Infinity;
        assertDuration(timeoutMs, 'result timeoutMs', true);
        return this.decodeTerminal<R>(workflowId, await awaitTerminal(workflowId, timeoutMs));
      },
    };
  }
}

/** Who an operator action is by: `options.actor` (an identifier), or `api` when not given. */
export function actorOf(options: ActorOptions | undefined, what: string): string {
  assertOptions(options, what, ACTOR_OPTION_KEYS);
  const actor = options?.actor;
  if (actor === undefined) return DEFAULT_ACTOR;
  assertIdentifier(actor, 'actor');
  return actor;
}

/** The actor of operator actions whose call named none. */
export const DEFAULT_ACTOR = 'api';
const ACTOR_OPTION_KEYS = ['actor'] as const;

function isFinished(status: WorkflowRow['status']): boolean {
  return status !== 'PENDING' && status !== 'ENQUEUED';
}

/** A stored workflow row in the public shape. */
export function toStatus(row: WorkflowRow): WorkflowStatus {
  return {
    workflowId: row.workflow_id,
    name: row.name,
    status: row.status,
    executorId: row.executor_id,
    appVersion: row.app_version,
    queueName: row.queue_name,
    attributes: row.attributes,
    forkedFrom: row.forked_from === null ? null : { workflowId: row.forked_from, step: row.forked_at_step ?? 0 },
    priority: row.priority,
    partitionKey: row.queue_partition,
    deduplicationKey: row.deduplication_key,
    startedAt: row.started_at,
    parentWorkflowId: row.parent_workflow_id,
    deadlineAt: row.deadline_at,
    recoveryAttempts: row.recovery_attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    completedAt: row.completed_at,
  };
}

/** A stored executor in the public shape. */
export function toExecutorInfo(row: ExecutorRow): ExecutorInfo {
  return {
    executorId: row.executor_id,
    appVersion: row.app_version,
    hostname: row.hostname,
    pid: row.pid,
    workflowNames: row.workflow_names,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    stoppedAt: row.stopped_at,
    alive: row.alive,
  };
}
