// SQL: setting and reading workflows' events.
import type { Queryable } from '@strata/store';

/** Sets (or replaces) the value of a workflow's event. */
export async function upsertEvent(tx: Queryable, workflowId: string, key: string, value: string): Promise<void> {
  await tx.query(
    `insert into strata.events (workflow_id, key, value) values ($1, $2, $3)
     on conflict (workflow_id, key) do update set value = excluded.value, updated_at = now()`,
    [workflowId, key, value],
    { prepare: true },
  );
}

/** Reads a workflow's event value, or undefined when it is not set. */
export async function getEventValue(db: Queryable, workflowId: string, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ value: string }>(
    'select value from strata.events where workflow_id = $1 and key = $2',
    [workflowId, key],
    { prepare: true },
  );
  return rows[0]?.value;
}
