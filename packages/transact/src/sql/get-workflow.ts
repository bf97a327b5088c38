// SQL: reading one workflow row by ID.
import type { Queryable } from '@strata/store';
import type { WorkflowRow } from './types.js';

/** Reads one workflow row, or undefined when the ID does not exist. */
export async function getWorkflow(db: Queryable, workflowId: string): Promise<WorkflowRow | undefined> {
  const { rows } = await db.query<WorkflowRow & Record<string, unknown>>(
    `select workflow_id, name, status, inputs, output, error, executor_id, app_version, parent_workflow_id,
            queue_name, attributes, forked_from, forked_at_step, queue_partition, priority, deduplication_key, started_at, deadline_at, recovery_attempts, created_at, updated_at, completed_at
       from strata.workflows where workflow_id = $1`,
    [workflowId],
    { prepare: true },
  );
  return rows[0];
}
