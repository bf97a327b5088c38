import type { Queryable } from '@strata/store';

/** Bound on workflows recovered per query; recovery pages through larger sets. */
export const RECOVERY_PAGE_SIZE = 1_000;

/**
 * Claims the executor's unfinished workflows for recovery: increments their recovery count and
 * returns them, oldest first, a page at a time after `afterWorkflowId`.
 */
export async function claimPendingWorkflows(
  db: Queryable,
  executorId: string,
  appVersion: string,
  afterCreatedAt: Date | null,
  afterWorkflowId: string,
): Promise<Array<{ workflow_id: string; name: string; inputs: string; deadline_at: Date | null; recovery_attempts: number; created_at: Date }>> {
  const { rows } = await db.query<{ workflow_id: string; name: string; inputs: string; deadline_at: Date | null; recovery_attempts: number; created_at: Date }>(
    `update strata.workflows w set recovery_attempts = w.recovery_attempts + 1, updated_at = now()
       from (select workflow_id from strata.workflows
              where status = 'PENDING' and executor_id = $1 and app_version = $2
                and (created_at, workflow_id) > (coalesce($3::timestamptz, '-infinity'::timestamptz), $4)
              order by created_at, workflow_id limit ${RECOVERY_PAGE_SIZE}) page
      where w.workflow_id = page.workflow_id
      returning w.workflow_id, w.name, w.inputs, w.deadline_at, w.recovery_attempts, w.created_at`,
    [executorId, appVersion, afterCreatedAt, afterWorkflowId],
  );
  return rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.workflow_id < b.workflow_id ? -1 : 1));
}

/** Counts PENDING workflows of this executor that belong to other application versions. */
export async function countOtherVersionPending(db: Queryable, executorId: string, appVersion: string): Promise<Array<{ app_version: string; count: number }>> {
  const { rows } = await db.query<{ app_version: string; count: number }>(
    `select app_version, count(*)::int as count from strata.workflows
      where status = 'PENDING' and executor_id = $1 and app_version <> $2 group by app_version`,
    [executorId, appVersion],
  );
  return rows;
}
