import type { Queryable } from '@strata/store';
import type { NewStep } from './types.js';

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
 * A workflow's `send` in one statement (one round trip, one commit): records `step` and stores the
 * message (idempotency key `<workflow>/<step>`) only when the step was written, and with
 * `notifyChannel` sends `m:<destination>` with the commit. Returns false when the workflow is not
 * PENDING; a step already recorded fails with unique violation 23505 and stores nothing; an
 * unknown destination fails with foreign-key violation 23503.
 */
export async function sendAsStep(db: Queryable, step: NewStep, destinationId: string, topic: string, message: string, notifyChannel: string | null): Promise<boolean> {
  const notify = notifyChannel === null ? '' : `, (select pg_notify($12, 'm:' || destination_id) from sent)`;
  const { rows } = await db.query<{ written: number }>(
    `with recorded as (
       insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at)
       select $1, $2, $3, $4, $5, $6, $7, $8, $9 from strata.workflows where workflow_id = $1 and status = 'PENDING'
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
    ],
    { prepare: true },
  );
  return rows[0]!.written === 1;
}

/**
 * A workflow's `recv` in one statement: takes the oldest unconsumed message of `topic` for the
 * workflow of `step` (FIFO per topic) and records `step` with the message as its output, in one
 * commit; with `deadline`, that step (the recv's not yet recorded deadline) is recorded too.
 * Returns the message, or undefined when none is waiting (or the workflow is not PENDING), which
 * writes nothing. A step already recorded fails with unique violation 23505 and consumes nothing.
 */
export async function receiveAsStep(db: Queryable, step: NewStep, topic: string, deadline: NewStep | null): Promise<string | undefined> {
  const { rows } = await db.query<{ message: string }>(
    `with taken as (
       update strata.messages set consumed_at = now()
        where message_id = (select message_id from strata.messages
                             where destination_id = $1 and topic = $7 and consumed_at is null
                             order by message_id limit 1 for update skip locked)
          and exists (select 1 from strata.workflows where workflow_id = $1 and status = 'PENDING')
        returning message
     ), recorded as (
       insert into strata.steps (workflow_id, step_id, name, kind, output, attempts, started_at)
       select $1::text, $2::int, $3::text, $4::text, message, $5::int, $6::timestamptz from taken
       union all
       select $1::text, $8::int, $9::text, $10::text, $11::text, 1, $12::timestamptz from taken where $8::int is not null
       returning 1
     )
     select message, (select count(*) from recorded) as written from taken`,
    [
      step.workflowId, step.stepId, step.name, step.kind, step.attempts, step.startedAt, topic,
      deadline?.stepId ?? null, deadline?.name ?? null, deadline?.kind ?? null, deadline?.output ?? null, deadline?.startedAt ?? null,
    ],
    { prepare: true },
  );
  return rows[0]?.message;
}
