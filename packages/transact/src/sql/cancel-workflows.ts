// SQL: cancelling a workflow and its unfinished descendants, and finding the root a deadline expired.
import type { Queryable } from '@strata/store';

/**
 * Cancels a PENDING or ENQUEUED workflow and every such descendant (children started through it), storing
 * `error` as the reason. Returns the IDs that changed status.
 */
export async function cancelWorkflowTree(db: Queryable, workflowId: string, error: string): Promise<string[]> {
  const { rows } = await db.query<{ workflow_id: string }>(
    `with recursive tree as (
       select workflow_id from strata.workflows where workflow_id = $1
       union all
       select w.workflow_id from strata.workflows w join tree t on w.parent_workflow_id = t.workflow_id
     )
     update strata.workflows
        set status = 'CANCELLED', error = $2, updated_at = now(), completed_at = now()
      where workflow_id in (select workflow_id from tree) and status in ('PENDING', 'ENQUEUED')
      returning workflow_id`,
    [workflowId, error],
    { prepare: true },
  );
  return rows.map((row) => row.workflow_id);
}

/**
 * The topmost of a workflow and its ancestors whose deadline has passed by `now`. Children
 * inherit their parent's deadline, so when a child's deadline fires the parent's usually has too,
 * and the whole tree must be cancelled at once (else the parent would see its child's timeout as
 * an ordinary failure).
 */
export async function expiredRoot(db: Queryable, workflowId: string, now: Date): Promise<string> {
  const { rows } = await db.query<{ workflow_id: string }>(
    `with recursive up as (
       select workflow_id, parent_workflow_id, deadline_at, 0 as depth from strata.workflows where workflow_id = $1
       union all
       select w.workflow_id, w.parent_workflow_id, w.deadline_at, up.depth + 1
         from strata.workflows w join up on w.workflow_id = up.parent_workflow_id
     )
     select workflow_id from up where deadline_at <= $2 order by depth desc limit 1`,
    [workflowId, now],
  );
  return rows[0]?.workflow_id ?? workflowId;
}
