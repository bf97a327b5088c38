// SQL: sending messages (as a step, with a taken message recorded in the same statement), peeking and consuming them.
import type { Queryable } from '@strata/store';
import type { NewStep } from './types.js';
import { MESSAGE_PREFIX, sqlSignalKey } from '../signals/keys.js';
import { ownedBy } from './owned-by.js';

/** The notification sent with the statement's own commit (see signals/keys.ts). */
const NOTIFY_MESSAGE = `, (select pg_notify($12, ${sqlSignalKey(MESSAGE_PREFIX, 'destination_id')}) from sent)`;
/**
 * Without an in-statement notification the channel parameter ($12, amid the others) is still
 * referenced, typed: PostgreSQL refuses a statement with a parameter it cannot type (42P18).
 */
const NO_NOTIFY_MESSAGE = ', $12::text as unused_channel';

/**
 * Stores a message for `destinationId`. With an idempotency key, a second send with the same key
 * to the same destination stores nothing. Returns false when the key was seen before.
 */
export async function insertMessage(
  db: Queryable,
  destinationId: string,
  topic: string,
  message: string,
  idempotencyKey: string | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into strata.messages (destination_id, topic, message, idempotency_key) values ($1, $2, $3, $4)
     on conflict (destination_id, idempotency_key) where idempotency_key is not null do nothing`,
    [destinationId, topic, message, idempotencyKey],
    { prepare: true },
  );
  return rowCount === 1;
}

/**
 * A message a `recv` returned whose taking is not recorded yet: recording it (consuming the
 * message and writing the recv's steps) waits for the workflow's next write, and rides in it when
 * that is a `send`. Until then the message stays unconsumed, so a recovered workflow's recv
 * returns it again.
 */
export interface TakenMessage {
  readonly messageId: string;
  /** The recv's step (its output: the message) and, when it was not recorded yet, its deadline's. */
  readonly steps: readonly NewStep[];
}

/**
 * The oldest unconsumed message of `topic` for `workflowId` (FIFO per topic), leaving out the
 * messages in `skip` (taken by this execution, not recorded yet). A read: it takes nothing.
 */
export async function peekMessage(db: Queryable, workflowId: string, topic: string, skip: readonly string[]): Promise<{ messageId: string; message: string } | undefined> {
  // The ID comes back as text under another name: ORDER BY must sort the bigint column.
  const { rows } = await db.query<{ id: string; message: string }>(
    `select message_id::text as id, message from strata.messages
      where destination_id = $1 and topic = $2 and consumed_at is null and message_id <> all($3::bigint[])
      order by message_id limit 1`,
    [workflowId, topic, skip],
    { prepare: true },
  );
  const row = rows[0];
  return row && { messageId: row.id, message: row.message };
}

/**
 * The CTEs that record a taken message (parameters from `$first`): consume it and insert its
 * steps, only while the workflow is PENDING and the message unconsumed. `taken_ok` yields a row
 * when it was recorded (always, with no message).
 */
function takenCtes(taken: TakenMessage | null, first: number): { sql: string; params: unknown[] } {
  if (taken === null) return { sql: 'taken_ok as (select 1)', params: [] };
  const sql = `taken_ok as (
       update strata.messages set consumed_at = now()
        where message_id = $${first}::bigint and consumed_at is null
          and exists (select 1 from strata.workflows where workflow_id = $${first + 1}
                         and ${ownedBy('strata.workflows', `$${first + 7}::text`, `$${first + 8}::bigint`)})
        returning 1
     ), taken_steps as (
       insert into strata.steps (workflow_id, step_id, name, kind, output, attempts, started_at)
       select $${first + 1}, s.step_id, s.name, s.kind, s.output, 1, s.started_at
         from unnest($${first + 2}::int[], $${first + 3}::text[], $${first + 4}::text[], $${first + 5}::text[], $${first + 6}::timestamptz[])
              as s (step_id, name, kind, output, started_at), taken_ok
       returning 1
     )`;
  const { steps } = taken;
  return {
    sql,
    params: [
      taken.messageId, steps[0]!.workflowId, steps.map((s) => s.stepId), steps.map((s) => s.name), steps.map((s) => s.kind), steps.map((s) => s.output), steps.map((s) => s.startedAt),
      steps[0]!.executorId, steps[0]!.epoch,
    ],
  };
}

/**
 * Records a message this workflow's recv took (see {@link TakenMessage}) in one statement.
 * Returns false, writing nothing, when the message was consumed meanwhile or the workflow is not
 * PENDING; a step already recorded fails with a unique violation.
 */
export async function recordTaken(db: Queryable, taken: TakenMessage): Promise<boolean> {
  const { sql, params } = takenCtes(taken, 1);
  const { rows } = await db.query<{ ok: number }>(`with ${sql} select count(*)::int as ok from taken_ok`, params, { prepare: true });
  return rows[0]!.ok === 1;
}

/**
 * A workflow's `send` in one statement (one round trip, one commit): records `step` and stores the
 * message (idempotency key `<workflow>/<step>`) only when the step was written, and with
 * `notifyChannel` sends `m:<destination>` with the commit. A message the workflow's recv `taken`
 * and did not record yet is recorded in the same commit; if it cannot be, nothing is written.
 * Returns false when nothing was written (the workflow is not PENDING, or the taken message was
 * consumed meanwhile); a step already recorded fails with a unique violation and
 * stores nothing; an unknown destination fails with a foreign-key violation.
 */
export async function sendAsStep(
  db: Queryable,
  step: NewStep,
  destinationId: string,
  topic: string,
  message: string,
  notifyChannel: string | null,
  taken: TakenMessage | null = null,
): Promise<boolean> {
  const notify = notifyChannel === null ? NO_NOTIFY_MESSAGE : NOTIFY_MESSAGE;
  const prior = takenCtes(taken, 17);
  const { rows } = await db.query<{ written: number }>(
    `with ${prior.sql}, recorded as (
       insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at)
       select $1, $2, $3, $4, $5, $6, $7, $8, $9 from strata.workflows, taken_ok
        where workflow_id = $1 and ${ownedBy('strata.workflows', '$15::text', '$16::bigint')}
       returning workflow_id
     ), sent as (
       insert into strata.messages (destination_id, topic, message, idempotency_key)
       select $10, $11, $13, $14 from recorded
       on conflict (destination_id, idempotency_key) where idempotency_key is not null do nothing
       returning destination_id
     )
     select (select count(*) from recorded)::int as written${notify}`,
    [
      step.workflowId, step.stepId, step.name, step.kind, step.output, step.error, step.childWorkflowId, step.attempts, step.startedAt,
      destinationId, topic, notifyChannel ?? '', message, `${step.workflowId}/${step.stepId}`,
      step.executorId, step.epoch,
      ...prior.params,
    ],
    { prepare: true },
  );
  return rows[0]!.written === 1;
}
