// SQL: claiming this executor's PENDING workflows for recovery, and finding orphans and other versions' work.
import type { Queryable } from '@strata/store';

/** Bound on workflows claimed per query; recovery pages through larger sets. */
export const RECOVERY_PAGE_SIZE = 1_000;

/** A workflow claimed for recovery. */
export interface ClaimedWorkflow {
  readonly workflow_id: string;
  readonly name: string;
  readonly deadline_at: Date | null;
  readonly recovery_attempts: number;
  readonly queue_name: string | null;
  readonly trace_parent: string | null;
  /** The serialized arguments. */
  readonly inputs: string;
}

/**
 * Claims a page of the executor's unfinished workflows for recovery by registration `epoch`, in
 * workflow ID order after `afterWorkflowId`, and returns them; with `countRecovery` it adds one to
 * their recovery counts.
 */
export async function claimPendingWorkflows(
  db: Queryable,
  executorId: string,
  epoch: number,
  appVersion: string,
  afterWorkflowId: string,
  countRecovery: boolean,
): Promise<ClaimedWorkflow[]> {
  const { rows } = await db.query<ClaimedWorkflow & Record<string, unknown>>(
    `update strata.workflows w set recovery_attempts = w.recovery_attempts + $5::int, executor_epoch = $4, updated_at = now()
       from (select workflow_id from strata.workflows
              where status = 'PENDING' and executor_id = $1 and app_version = $2 and workflow_id > $3
              order by workflow_id limit ${RECOVERY_PAGE_SIZE}) page
      where w.workflow_id = page.workflow_id
      returning w.workflow_id, w.name, w.deadline_at, w.recovery_attempts, w.queue_name, w.trace_parent, w.inputs`,
    [executorId, appVersion, afterWorkflowId, epoch, countRecovery ? 1 : 0],
  );
  return rows.sort((a, b) => (a.workflow_id < b.workflow_id ? -1 : a.workflow_id > b.workflow_id ? 1 : 0));
}

/**
 * The PENDING workflows of this version that this executor registration (`executorId`, `epoch`)
 * owns, without claiming them: after an outage, those that run nowhere are adopted.
 */
export async function ownedPendingWorkflows(db: Queryable, executorId: string, epoch: number, appVersion: string): Promise<ClaimedWorkflow[]> {
  const { rows } = await db.query<ClaimedWorkflow & Record<string, unknown>>(
    `select workflow_id, name, deadline_at, recovery_attempts, queue_name, trace_parent, inputs from strata.workflows
      where status = 'PENDING' and executor_id = $1 and executor_epoch = $2 and app_version = $3
      order by workflow_id limit ${RECOVERY_PAGE_SIZE}`,
    [executorId, epoch, appVersion],
  );
  return rows;
}

/**
 * Forgives a recovered workflow its recovery count: it got past where it stopped (a checkpoint or
 * a durable wait), so the restarts it saw were not its doing.
 */
export async function resetRecoveryAttempts(db: Queryable, workflowId: string): Promise<void> {
  await db.query(`update strata.workflows set recovery_attempts = 0 where workflow_id = $1 and recovery_attempts > 0`, [workflowId]);
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
