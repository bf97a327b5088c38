import type { Queryable } from '@strata/store';

/**
 * Moves a PENDING workflow to SUCCESS or ERROR with its output or error. Returns false when the
 * workflow was no longer PENDING (cancelled or timed out meanwhile), which leaves it as it is.
 */
export async function completeWorkflow(
  db: Queryable,
  workflowId: string,
  status: 'SUCCESS' | 'ERROR',
  output: string | null,
  error: string | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update strata.workflows
        set status = $2, output = $3, error = $4, updated_at = now(), completed_at = now()
      where workflow_id = $1 and status = 'PENDING'`,
    [workflowId, status, output, error],
    { prepare: true },
  );
  return rowCount === 1;
}
