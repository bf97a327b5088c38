import type { Queryable } from '@strata/store';

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

/** Marks the oldest unconsumed message of a topic consumed and returns it (FIFO per topic). */
export async function consumeMessage(tx: Queryable, destinationId: string, topic: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ message: string }>(
    `update strata.messages set consumed_at = now()
      where message_id = (select message_id from strata.messages
                           where destination_id = $1 and topic = $2 and consumed_at is null
                           order by message_id limit 1 for update skip locked)
      returning message`,
    [destinationId, topic],
    { prepare: true },
  );
  return rows[0]?.message;
}
