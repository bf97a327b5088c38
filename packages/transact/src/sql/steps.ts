// SQL: step checkpoints (many in one statement), loading histories, and explaining a step that was not written.
import type { Queryable } from '@strata/store';
import { ownedBy } from './owned-by.js';
import type { NewStep, StepRow, WorkflowStatusName } from './types.js';

/** Every recorded step of a workflow, for replay. */
export async function loadSteps(db: Queryable, workflowId: string): Promise<StepRow[]> {
  const { rows } = await db.query<StepRow & Record<string, unknown>>(
    `select step_id, name, kind, output, error, child_workflow_id from strata.steps where workflow_id = $1 order by step_id`,
    [workflowId],
    { prepare: true },
  );
  return rows;
}

/** The recorded steps of many workflows in one query, by workflow ID (recovery loads a page at once). */
export async function loadStepsOf(db: Queryable, workflowIds: readonly string[]): Promise<Map<string, StepRow[]>> {
  const { rows } = await db.query<StepRow & { workflow_id: string } & Record<string, unknown>>(
    `select workflow_id, step_id, name, kind, output, error, child_workflow_id from strata.steps
      where workflow_id = any($1::text[]) order by workflow_id, step_id`,
    [workflowIds],
    { prepare: true },
  );
  const byWorkflow = new Map<string, StepRow[]>();
  for (const { workflow_id, ...step } of rows) {
    let list = byWorkflow.get(workflow_id);
    if (!list) byWorkflow.set(workflow_id, (list = []));
    list.push(step as StepRow);
  }
  return byWorkflow;
}

/**
 * Records a batch of steps in one statement (group commit). A step is written only while its
 * workflow is PENDING and only if that step number is not recorded yet. Returns the keys
 * (`workflowId/stepId`) that were written.
 */
export async function insertSteps(db: Queryable, steps: readonly NewStep[]): Promise<Set<string>> {
  if (steps.length === 1) {
    // A lone checkpoint takes the plain single-row statement: cheaper to plan than unnest.
    const [one] = steps as [NewStep];
    return new Set((await insertStep(db, one)) ? [`${one.workflowId}/${one.stepId}`] : []);
  }
  const { rows } = await db.query<{ key: string }>(
    `insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at)
     select u.workflow_id, u.step_id, u.name, u.kind, u.output, u.error, u.child_workflow_id, u.attempts, u.started_at
       from unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::timestamptz[], $10::text[], $11::bigint[])
              as u(workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at, executor_id, epoch)
       -- Each row's workflow by primary key (offset 0 keeps the lookup a lookup; see owned-by.ts).
       join lateral (select status, executor_id, executor_epoch from strata.workflows where workflow_id = u.workflow_id offset 0) w
         on ${ownedBy('w', 'u.executor_id', 'u.epoch')}
     on conflict (workflow_id, step_id) do nothing
     returning workflow_id || '/' || step_id as key`,
    [
      steps.map((s) => s.workflowId),
      steps.map((s) => s.stepId),
      steps.map((s) => s.name),
      steps.map((s) => s.kind),
      steps.map((s) => s.output),
      steps.map((s) => s.error),
      steps.map((s) => s.childWorkflowId),
      steps.map((s) => s.attempts),
      steps.map((s) => s.startedAt.toISOString()),
      steps.map((s) => s.executorId),
      steps.map((s) => s.epoch),
    ],
    { prepare: true },
  );
  return new Set(rows.map((row) => row.key));
}

/**
 * Records one step in a statement of its own (autocommit): the ownership check and the write
 * commit together. False when not written (recorded already, or the workflow not PENDING here).
 */
export async function insertStep(db: Queryable, step: NewStep): Promise<boolean> {
  return runStepInsert(db, step, INSERT_STEP);
}

/**
 * Records one step inside the caller's transaction; false when not written (recorded already, or
 * the workflow not PENDING here). The workflow's row is locked `FOR SHARE` until the transaction
 * ends, so a takeover cannot commit between this check and the caller's COMMIT: a COMMIT that
 * arrives late (its client was cut off from the database meanwhile) commits before the takeover
 * or not at all. A takeover already committed fails the check (read committed re-reads the row
 * it waited for; repeatable read and serializable abort with 40001, and the retry sees it).
 */
export async function insertStepInTransaction(tx: Queryable, step: NewStep): Promise<boolean> {
  return runStepInsert(tx, step, INSERT_STEP_LOCKING);
}

/** The single-step checkpoint; `lock` locks the workflow row it checks. */
function insertStepStatement(lock: string): string {
  return `insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at)
     select $1, $2, $3, $4, $5, $6, $7, $8, $9 from strata.workflows
      where workflow_id = $1 and ${ownedBy('strata.workflows', '$10::text', '$11::bigint')} ${lock}
     on conflict (workflow_id, step_id) do nothing`;
}

const INSERT_STEP = insertStepStatement('');
const INSERT_STEP_LOCKING = insertStepStatement('for share');

async function runStepInsert(q: Queryable, step: NewStep, sql: string): Promise<boolean> {
  const { rowCount } = await q.query(
    sql,
    // startedAt as ISO text, as the batch statement sends it: the driver's local-time Date formatting was ~3% of a step's CPU.
    [step.workflowId, step.stepId, step.name, step.kind, step.output, step.error, step.childWorkflowId, step.attempts, step.startedAt.toISOString(), step.executorId, step.epoch],
    { prepare: true },
  );
  return rowCount === 1;
}

/** Why a step was not written: the step already recorded (if any) and the workflow's status. */
export async function explainUnwrittenStep(
  db: Queryable,
  workflowId: string,
  stepId: number,
): Promise<{ step: StepRow | undefined; status: WorkflowStatusName | undefined; owner: { executorId: string | null; epoch: number } | undefined }> {
  const { rows } = await db.query<{ status: WorkflowStatusName | null; executor_id: string | null; executor_epoch: string | number } & Partial<StepRow> & Record<string, unknown>>(
    `select w.status, w.executor_id, w.executor_epoch, s.step_id, s.name, s.kind, s.output, s.error, s.child_workflow_id
       from strata.workflows w left join strata.steps s on s.workflow_id = w.workflow_id and s.step_id = $2
      where w.workflow_id = $1`,
    [workflowId, stepId],
  );
  const row = rows[0];
  if (!row) return { step: undefined, status: undefined, owner: undefined };
  const step = row.step_id === null || row.step_id === undefined ? undefined : (row as unknown as StepRow);
  return { step, status: row.status ?? undefined, owner: { executorId: row.executor_id, epoch: Number(row.executor_epoch) } };
}
