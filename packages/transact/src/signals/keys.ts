// The signal keys, in one place: what each wake-up is called, in TypeScript and in the SQL that notifies with its commit.

/**
 * The name of one kind of change that waiting code wakes on, sent as the payload of a
 * notification on {@link SIGNAL_CHANNEL}. Built only by the functions of this module.
 *
 * @example
 * await signals.waitFor([workflowEndedKey(id)], check, deadlineMs, pollMs);
 */
export type SignalKey = string & { readonly __signalKey: true };

/** Prefix of `w:<workflow ID>`: a workflow finished (SUCCESS, ERROR or CANCELLED). */
export const WORKFLOW_ENDED_PREFIX = 'w:';
/** Prefix of `c:<workflow ID>`: a workflow was cancelled (running executions stop). */
export const WORKFLOW_CANCELLED_PREFIX = 'c:';
/** Prefix of `m:<workflow ID>`: a message arrived for a workflow. */
export const MESSAGE_PREFIX = 'm:';
/** Prefix of `e:<workflow ID>:<key>`: an event of a workflow was set. */
export const EVENT_PREFIX = 'e:';
/** Prefix of `s:<workflow ID>:<key>`: a stream of a workflow grew or closed. */
export const STREAM_PREFIX = 's:';
/** Prefix of `q:<queue>`: a queue has new work or room (executors look at it again). */
export const QUEUE_PREFIX = 'q:';
/** Prefix of `qc:<queue>`: a queue's limits changed (executors re-read the queues). */
export const QUEUE_CHANGED_PREFIX = 'qc:';
/** `sc:`: some schedule changed (every scheduler reloads). */
export const SCHEDULES_CHANGED_KEY = 'sc:' as SignalKey;

export function workflowEndedKey(workflowId: string): SignalKey {
  return `${WORKFLOW_ENDED_PREFIX}${workflowId}` as SignalKey;
}

export function workflowCancelledKey(workflowId: string): SignalKey {
  return `${WORKFLOW_CANCELLED_PREFIX}${workflowId}` as SignalKey;
}

export function messageKey(workflowId: string): SignalKey {
  return `${MESSAGE_PREFIX}${workflowId}` as SignalKey;
}

export function eventKey(workflowId: string, key: string): SignalKey {
  return `${EVENT_PREFIX}${workflowId}:${key}` as SignalKey;
}

export function streamKey(workflowId: string, key: string): SignalKey {
  return `${STREAM_PREFIX}${workflowId}:${key}` as SignalKey;
}

export function queueKey(queueName: string): SignalKey {
  return `${QUEUE_PREFIX}${queueName}` as SignalKey;
}

export function queueChangedKey(queueName: string): SignalKey {
  return `${QUEUE_CHANGED_PREFIX}${queueName}` as SignalKey;
}

/**
 * The SQL expression of a signal key whose prefix is `prefix` and whose rest is the SQL
 * expression `rest` (a column), for statements that `pg_notify` with their own commit.
 *
 * @example
 * const notify = `, pg_notify($7, ${sqlSignalKey(WORKFLOW_ENDED_PREFIX, 'workflow_id')})`;   // 'w:' || workflow_id
 */
export function sqlSignalKey(prefix: string, rest: string): string {
  return `'${prefix}' || ${rest}`;
}

/** What a signal key that the engine reacts to says. */
export type ParsedSignal =
  | { readonly kind: 'cancelled'; readonly workflowId: string }
  | { readonly kind: 'queue'; readonly queueName: string }
  | { readonly kind: 'queue-changed'; readonly queueName: string }
  | { readonly kind: 'schedules-changed' }
  | { readonly kind: 'other' };

const OTHER: ParsedSignal = { kind: 'other' };

/** Reads a key heard on the signal channel (the engine routes cancellations, queues and schedules). */
export function parseSignalKey(key: string): ParsedSignal {
  if (key.startsWith(WORKFLOW_CANCELLED_PREFIX)) return { kind: 'cancelled', workflowId: key.slice(WORKFLOW_CANCELLED_PREFIX.length) };
  if (key.startsWith(QUEUE_PREFIX)) return { kind: 'queue', queueName: key.slice(QUEUE_PREFIX.length) };
  if (key === SCHEDULES_CHANGED_KEY) return { kind: 'schedules-changed' };
  if (key.startsWith(QUEUE_CHANGED_PREFIX)) return { kind: 'queue-changed', queueName: key.slice(QUEUE_CHANGED_PREFIX.length) };
  return OTHER;
}
