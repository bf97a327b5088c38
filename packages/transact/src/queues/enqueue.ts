// Enqueueing a workflow on a queue: validation of enqueue options, and the insert that dedupes by ID and deduplication key.
import { isForeignKeyViolation, type Queryable } from '@strata/store';
import { DuplicateEnqueueError, EnqueueConflictError, InvalidArgumentError, UnknownQueueError, WorkflowConflictError } from '../errors.js';
import type { EnqueueOptions, StartOptions } from '../interfaces.js';
import { queueKey } from '../signals/keys.js';
import { SIGNAL_CHANNEL, inStatementChannel } from '../signals/signals.js';
import { activeTraceParent } from '../tracing.js';
import { enqueueWorkflow, getWorkflow, liveDeduplicationHolder, type NewQueuedWorkflow, type QueueLimits } from '../sql/index.js';
import { START_OPTION_KEYS } from '../config.js';
import { assertDate, assertDuration, assertIdentifier, assertOptions, assertString, MAX_DURATION_MS } from '../validate.js';

const QUEUE_ONLY_OPTIONS = ['priority', 'deduplicationKey', 'onDuplicate', 'partitionKey', 'delayMs', 'notBefore'] as const;


/**
 * Inserts one enqueue tries before giving up (EnqueueConflictError). Each retry follows a conflict
 * whose holder vanished before it could be read (finished and deleted at that moment): ten in a
 * row means something keeps deleting, not a race worth waiting out.
 */
const MAX_ENQUEUE_ATTEMPTS = 10;

/** Most attributes on one workflow. */
export const MAX_ATTRIBUTES = 32;

/** Checks `StartOptions.attributes`: a plain object of at most 32 string values with identifier keys. */
export function validateAttributes(attributes: unknown): void {
  if (attributes === undefined) return;
  if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) {
    throw new InvalidArgumentError('attributes must be an object of string values, e.g. { customer: "c-42" }');
  }
  const entries = Object.entries(attributes);
  if (entries.length > MAX_ATTRIBUTES) throw new InvalidArgumentError(`attributes has ${entries.length} keys; the limit is ${MAX_ATTRIBUTES}`);
  for (const [key, value] of entries) {
    assertIdentifier(key, 'attribute key');
    if (typeof value !== 'string') throw new InvalidArgumentError(`attribute "${key}" must be a string, got ${typeof value}`);
    assertString(value, `attribute "${key}"`);
  }
}

/** Attributes as stored (JSON text), or null for none. */
export function attributesJson(attributes: Readonly<Record<string, string>> | undefined): string | null {
  return attributes === undefined || Object.keys(attributes).length === 0 ? null : JSON.stringify(attributes);
}

/** Throws when a start without a queue carries options that only a queued start uses. */
export function assertQueuedIfQueueOptions(options: EnqueueOptions): void {
  if (options.queue !== undefined) return;
  const stray = QUEUE_ONLY_OPTIONS.filter((key) => options[key] !== undefined);
  if (stray.length > 0) throw new InvalidArgumentError(`${stray.join(', ')} only apply to a queued start; add queue: "<name>" or enqueue with queue.enqueue()`);
}

/**
 * Checks the keys of start options (`knownKeys`: those of a start, or of `client.enqueue`) and
 * the values of the queue options among them (bound with `with()` before the queue may be known;
 * a start without a queue is checked by {@link assertQueuedIfQueueOptions}). A delay or
 * `notBefore` is at most {@link MAX_DURATION_MS} (10 years) away.
 *
 * @example
 * validateEnqueueOptions({ queue: 'emails', delayMs: 60_000 });     // fine
 * validateEnqueueOptions({ queue: 'emails', delay: 60_000 });
 * // UnknownOptionError: start options has no option "delay"; did you mean "delayMs"? …
 */
export function validateEnqueueOptions(
  options: EnqueueOptions,
  knownKeys: readonly string[] = START_OPTION_KEYS,
  what = 'start options',
): void {
  assertOptions(options, what, knownKeys);
  if (options.queue !== undefined) assertIdentifier(options.queue, 'queue');
  if (options.priority !== undefined && (!Number.isInteger(options.priority) || Math.abs(options.priority) > 2 ** 31 - 1)) {
    throw new InvalidArgumentError(`priority must be a whole number (lower starts first), got ${String(options.priority)}`);
  }
  if (options.deduplicationKey !== undefined) assertIdentifier(options.deduplicationKey, 'deduplicationKey');
  if (options.onDuplicate !== undefined && options.onDuplicate !== 'reject' && options.onDuplicate !== 'return') {
    throw new InvalidArgumentError(`onDuplicate must be 'reject' or 'return', got ${JSON.stringify(options.onDuplicate)}`);
  }
  if (options.partitionKey !== undefined) assertString(options.partitionKey, 'partitionKey');
  if (options.delayMs !== undefined) assertDuration(options.delayMs, 'delayMs');
  if (options.notBefore !== undefined) {
    assertDate(options.notBefore, 'notBefore');
    // A time in the past starts at once; one further away than a delay may be is refused alike.
    if (options.notBefore.getTime() - Date.now() > MAX_DURATION_MS) {
      throw new InvalidArgumentError(`notBefore must be at most ${MAX_DURATION_MS} ms (10 years) from now, got ${options.notBefore.toISOString()}`);
    }
  }
  if (options.delayMs !== undefined && options.notBefore !== undefined) throw new InvalidArgumentError('give delayMs or notBefore, not both');
}

/** A workflow about to be enqueued, its options already validated. */
export interface EnqueueRequest {
  readonly workflowId: string;
  readonly name: string;
  readonly inputs: string;
  readonly queueName: string;
  readonly queue: QueueLimits;
  readonly options: EnqueueOptions & Pick<StartOptions, 'timeoutMs' | 'attributes'>;
  readonly parentWorkflowId: string | null;
  readonly deadlineAt: Date | null;
  /** Only executors of this application version dequeue it (`ClientEnqueueOptions.appVersion`); null: any. */
  readonly appVersion?: string | null;
}

/** The outcome of an enqueue: the workflow that holds the place, and whether this call created it. */
export interface Enqueued {
  readonly workflowId: string;
  readonly created: boolean;
}

/**
 * Puts a workflow on a queue through `db` (a database or the caller's transaction) and, when it
 * was created, announces it with a transactional notification (sent at commit). `batched`, for
 * enqueues outside a transaction, makes the first insert through a group-commit writer. An existing
 * workflow ID returns that workflow; a live deduplication key returns its holder or throws
 * {@link DuplicateEnqueueError}, as `onDuplicate` says. Nothing fails inside the statement, so
 * the caller's transaction stays usable either way.
 */
export async function enqueue(db: Queryable, request: EnqueueRequest, batched?: (row: NewQueuedWorkflow) => Promise<boolean>): Promise<Enqueued> {
  const { options } = request;
  if (request.queue.partition_concurrency !== null && options.partitionKey === undefined) {
    throw new InvalidArgumentError(
      `queue "${request.queueName}" limits concurrency per partition; enqueue with a partitionKey (e.g. the customer ID)`,
    );
  }
  const row: NewQueuedWorkflow = {
    workflowId: request.workflowId,
    name: request.name,
    inputs: request.inputs,
    queueName: request.queueName,
    partitionKey: options.partitionKey ?? '',
    priority: options.priority ?? 0,
    deduplicationKey: options.deduplicationKey ?? null,
    notBefore: options.notBefore ?? (options.delayMs === undefined ? null : new Date(Date.now() + options.delayMs)),
    timeoutMs: options.timeoutMs ?? null,
    parentWorkflowId: request.parentWorkflowId,
    deadlineAt: request.deadlineAt,
    attributes: attributesJson(options.attributes),
    traceParent: activeTraceParent(),
    appVersion: request.appVersion ?? null,
  };
  // Outside a transaction, a server's NOTIFY goes with the insert's own commit; in the caller's
  // transaction (or a polled database) it is sent through `db`, at that commit.
  const channel = inStatementChannel(db);
  // A conflict whose holder finished before we could read it is gone: insert again.
  for (let attempt = 0; attempt < MAX_ENQUEUE_ATTEMPTS; attempt++) {
    let inserted: boolean;
    try {
      // The first try may go with other enqueues in one statement (it notifies with its commit).
      inserted = attempt === 0 && batched ? await batched(row) : await enqueueWorkflow(db, row, channel);
    } catch (error) {
      // The queue was deleted since its limits were read (the foreign key to strata.queues).
      if (isForeignKeyViolation(error)) throw new UnknownQueueError(request.queueName, []);
      throw error;
    }
    if (inserted) {
      if (channel === null && !(attempt === 0 && batched)) await db.notify(SIGNAL_CHANNEL, queueKey(request.queueName));
      return { workflowId: row.workflowId, created: true };
    }
    const existing = await getWorkflow(db, row.workflowId);
    if (existing) {
      if (existing.name !== row.name) throw new WorkflowConflictError(row.workflowId, existing.name, row.name);
      return { workflowId: row.workflowId, created: false };
    }
    if (row.deduplicationKey !== null) {
      const holder = await liveDeduplicationHolder(db, request.queueName, row.deduplicationKey);
      if (holder !== undefined) {
        if (options.onDuplicate === 'return') return { workflowId: holder, created: false };
        throw new DuplicateEnqueueError(request.queueName, row.deduplicationKey, holder);
      }
    }
  }
  throw new EnqueueConflictError(row.workflowId, MAX_ENQUEUE_ATTEMPTS);
}
