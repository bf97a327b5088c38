// SQL: inserting the rows of directly started workflows (one, or many in one statement).
import type { Queryable } from '@strata/store';

/** A workflow to create. */
export interface NewWorkflow {
  readonly workflowId: string;
  readonly name: string;
  readonly inputs: string;
  readonly executorId: string;
  /** The executor's registration epoch (see strata.workflows.executor_epoch). */
  readonly epoch: number;
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
       (workflow_id, name, status, inputs, executor_id, app_version, parent_workflow_id, deadline_at, attributes, trace_parent, executor_epoch)
     values ($1, $2, 'PENDING', $3, $4, $5, $6, $7, coalesce($8::jsonb, '{}'), $9, $10)
     on conflict (workflow_id) do nothing`,
    [workflow.workflowId, workflow.name, workflow.inputs, workflow.executorId, workflow.appVersion, workflow.parentWorkflowId, workflow.deadlineAt, workflow.attributes, workflow.traceParent, workflow.epoch],
    { prepare: true },
  );
  return rowCount === 1;
}

/**
 * Creates the rows whose IDs do not exist yet, in one statement; returns the IDs this call
 * created (an ID given twice is created once).
 */
export async function insertWorkflows(db: Queryable, workflows: readonly NewWorkflow[]): Promise<Set<string>> {
  if (workflows.length === 1) {
    const [one] = workflows as [NewWorkflow];
    return new Set((await insertWorkflow(db, one)) ? [one.workflowId] : []);
  }
  const { rows } = await db.query<{ workflow_id: string }>(
    `insert into strata.workflows
       (workflow_id, name, status, inputs, executor_id, app_version, parent_workflow_id, deadline_at, attributes, trace_parent, executor_epoch)
     select u.workflow_id, u.name, 'PENDING', u.inputs, u.executor_id, u.app_version, u.parent_workflow_id, u.deadline_at,
            coalesce(u.attributes::jsonb, '{}'), u.trace_parent, u.epoch
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::bigint[])
            as u(workflow_id, name, inputs, executor_id, app_version, parent_workflow_id, deadline_at, attributes, trace_parent, epoch)
     on conflict (workflow_id) do nothing
     returning workflow_id`,
    [
      workflows.map((w) => w.workflowId),
      workflows.map((w) => w.name),
      workflows.map((w) => w.inputs),
      workflows.map((w) => w.executorId),
      workflows.map((w) => w.appVersion),
      workflows.map((w) => w.parentWorkflowId),
      workflows.map((w) => w.deadlineAt?.toISOString() ?? null),
      workflows.map((w) => w.attributes),
      workflows.map((w) => w.traceParent),
      workflows.map((w) => w.epoch),
    ],
    { prepare: true },
  );
  return new Set(rows.map((row) => row.workflow_id));
}
