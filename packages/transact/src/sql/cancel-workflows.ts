import type { Queryable } from '@strata/store';

/**
 * Cancels a PENDING workflow and every PENDING descendant (children started through it), storing
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
      where workflow_id in (select workflow_id from tree) and status = 'PENDING'
      returning workflow_id`,
    [workflowId, error],
    { prepare: true },
  );
  return rows.map((row) => row.workflow_id);
}
