import type { Queryable } from '@strata/store';

/** A workflow to create. */
export interface NewWorkflow {
  readonly workflowId: string;
  readonly name: string;
  readonly inputs: string;
  readonly executorId: string;
  readonly appVersion: string;
  readonly parentWorkflowId: string | null;
  readonly deadlineAt: Date | null;
  /** `StartOptions.attributes` as JSON text, or null for none. */
  readonly attributes: string | null;
  /** W3C traceparent of the active span, if any. */
  readonly traceParent: string | null;
}

/**
 * Creates the workflow row unless the ID exists. Returns true when this call created it; the
 * ID is the idempotency key, so a concurrent or repeated start finds the row and runs nothing.
 */
export async function insertWorkflow(db: Queryable, workflow: NewWorkflow): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into strata.workflows
       (workflow_id, name, status, inputs, executor_id, app_version, parent_workflow_id, deadline_at, attributes, trace_parent)
     values ($1, $2, 'PENDING', $3, $4, $5, $6, $7, coalesce($8::jsonb, '{}'), $9)
     on conflict (workflow_id) do nothing`,
    [workflow.workflowId, workflow.name, workflow.inputs, workflow.executorId, workflow.appVersion, workflow.parentWorkflowId, workflow.deadlineAt, workflow.attributes, workflow.traceParent],
    { prepare: true },
  );
  return rowCount === 1;
}
