// Row shapes shared by the SQL modules.

/** Workflow statuses as stored in `strata.workflows.status`. */
export type WorkflowStatusName = 'ENQUEUED' | 'PENDING' | 'SUCCESS' | 'ERROR' | 'CANCELLED';

/** Kinds of durable operation recorded in `strata.steps.kind`. */
export type StepKind =
  | 'step'
  | 'transaction'
  | 'sleep'
  | 'send'
  | 'recv'
  | 'deadline'
  | 'set_event'
  | 'get_event'
  | 'start_child'
  | 'child_result'
  | 'now'
  | 'random'
  | 'uuid'
  | 'stream_write'
  | 'stream_close';

/** A step as recorded. */
export interface StepRow {
  readonly step_id: number;
  readonly name: string;
  readonly kind: StepKind;
  readonly output: string | null;
  readonly error: string | null;
  readonly child_workflow_id: string | null;
}

/** A step to record. */
export interface NewStep {
  readonly workflowId: string;
  readonly stepId: number;
  readonly name: string;
  readonly kind: StepKind;
  readonly output: string | null;
  readonly error: string | null;
  readonly childWorkflowId: string | null;
  readonly attempts: number;
  readonly startedAt: Date;
  /** The executor writing it and its registration epoch: written only while they own the workflow (fencing). */
  readonly executorId: string;
  readonly epoch: number;
}

/** The columns of a workflow row that the engine reads back. */
export interface WorkflowRow {
  readonly workflow_id: string;
  readonly name: string;
  readonly status: WorkflowStatusName;
  readonly inputs: string;
  readonly output: string | null;
  readonly error: string | null;
  readonly executor_id: string | null;
  readonly app_version: string | null;
  readonly parent_workflow_id: string | null;
  readonly queue_name: string | null;
  readonly attributes: Record<string, string>;
  readonly forked_from: string | null;
  readonly forked_at_step: number | null;
  readonly queue_partition: string | null;
  readonly priority: number;
  readonly deduplication_key: string | null;
  readonly started_at: Date | null;
  readonly deadline_at: Date | null;
  readonly recovery_attempts: number;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly completed_at: Date | null;
}
