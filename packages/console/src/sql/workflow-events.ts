import type { Queryable } from '@strata/store';

/** Events a workflow page shows: far more keys than a workflow publishes in practice; a bound on the page's size. */
export const WORKFLOW_EVENTS_MAX = 500;

/** One `setEvent` key of a workflow, its serialized latest value, and when it was set. */
export interface StoredEvent {
  readonly key: string;
  readonly value: string;
  readonly updatedAt: Date;
}

/**
 * The events (`setEvent`) a workflow published, by key, at most {@link WORKFLOW_EVENTS_MAX}
 * (`strata.events`, primary key `(workflow_id, key)`, so this reads one index range).
 *
 * @example
 * await workflowEvents(db, 'checkout-7'); // [{ key: 'progress', value: '{"json":0.5}', updatedAt: Date }]
 */
export async function workflowEvents(db: Queryable, workflowId: string): Promise<StoredEvent[]> {
  const { rows } = await db.query<{ key: string; value: string; updated_at: Date }>(
    'select key, value, updated_at from strata.events where workflow_id = $1 order by key limit $2',
    [workflowId, WORKFLOW_EVENTS_MAX],
    { prepare: true },
  );
  return rows.map((row) => ({ key: row.key, value: row.value, updatedAt: row.updated_at }));
}
