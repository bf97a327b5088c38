// SQL: listing, filtering, inspecting and changing workflows for the admin API (workflows.list, steps, resume, fork, delete).
import type { Database, Queryable } from '@strata/store';
import type { StepAttemptRow } from './history.js';
import type { WorkflowRow } from './types.js';

/** The queue that resumed, restarted and forked workflows go through when they (or their source) were never on a queue. */
export const INTERNAL_QUEUE = '_strata';

/** A validated filter over `strata.workflows`. */
export interface WorkflowFilterSql {
  readonly statuses?: readonly string[];
  readonly name?: string;
  readonly queue?: string;
  readonly executorId?: string;
  readonly appVersion?: string;
  readonly createdAfter?: Date;
  readonly createdBefore?: Date;
  readonly workflowIdPrefix?: string;
  /** JSON text of the attributes that must match. */
  readonly attributes?: string;
  readonly parentWorkflowId?: string;
  readonly forkedFrom?: string;
}

/** `where` conditions for `filter`, appending their values to `params`. */
function conditions(filter: WorkflowFilterSql, params: unknown[]): string[] {
  const where: string[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (filter.statuses) add((n) => `status = any(${n}::text[])`, filter.statuses);
  if (filter.name !== undefined) add((n) => `name = ${n}`, filter.name);
  if (filter.queue !== undefined) add((n) => `queue_name = ${n}`, filter.queue);
  if (filter.executorId !== undefined) add((n) => `executor_id = ${n}`, filter.executorId);
  if (filter.appVersion !== undefined) add((n) => `app_version = ${n}`, filter.appVersion);
  if (filter.createdAfter !== undefined) add((n) => `created_at >= ${n}`, filter.createdAfter);
  if (filter.createdBefore !== undefined) add((n) => `created_at < ${n}`, filter.createdBefore);
  // A prefix as a range, so the primary key's btree serves it (no LIKE escaping either).
  if (filter.workflowIdPrefix !== undefined) add((n) => `workflow_id >= ${n} and left(workflow_id, length(${n})) = ${n}`, filter.workflowIdPrefix);
  if (filter.attributes !== undefined) add((n) => `attributes @> ${n}::jsonb`, filter.attributes);
  if (filter.parentWorkflowId !== undefined) add((n) => `parent_workflow_id = ${n}`, filter.parentWorkflowId);
  if (filter.forkedFrom !== undefined) add((n) => `forked_from = ${n}`, filter.forkedFrom);
  return where;
}

const WORKFLOW_COLUMNS = `workflow_id, name, status, inputs, output, error, executor_id, app_version, parent_workflow_id,
  queue_name, attributes, forked_from, forked_at_step, queue_partition, priority, deduplication_key, started_at, deadline_at, recovery_attempts,
  created_at, updated_at, completed_at`;

/** A listed workflow, with the exact creation time for the page cursor. */
export type ListedWorkflow = WorkflowRow & { readonly created_text: string };

/**
 * One page of workflows matching `filter`, by creation time (then ID), after the keyset `after`
 * (`[created_at as text, workflow_id]` of the previous page's last row).
 */
export async function listWorkflowRows(
  db: Queryable,
  filter: WorkflowFilterSql,
  page: { readonly limit: number; readonly newestFirst: boolean; readonly after?: readonly [string, string] },
): Promise<ListedWorkflow[]> {
  const params: unknown[] = [];
  const where = conditions(filter, params);
  const op = page.newestFirst ? '<' : '>';
  if (page.after) {
    params.push(page.after[0], page.after[1]);
    where.push(`(created_at, workflow_id) ${op} ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  params.push(page.limit);
  const direction = page.newestFirst ? 'desc' : 'asc';
  const { rows } = await db.query<ListedWorkflow & Record<string, unknown>>(
    `select ${WORKFLOW_COLUMNS}, created_at::text as created_text from strata.workflows
      ${where.length ? `where ${where.join(' and ')}` : ''}
      order by created_at ${direction}, workflow_id ${direction} limit $${params.length}`,
    params,
  );
  return rows;
}

/** IDs of up to `limit` workflows matching `filter` whose status is one of `statuses`, after `afterId`. */
export async function matchingWorkflowIds(db: Queryable, filter: WorkflowFilterSql, statuses: readonly string[], afterId: string, limit: number): Promise<string[]> {
  const params: unknown[] = [];
  const where = conditions(filter, params);
  params.push(statuses);
  where.push(`status = any($${params.length}::text[])`);
  params.push(afterId);
  where.push(`workflow_id > $${params.length}`);
  params.push(limit);
  const { rows } = await db.query<{ workflow_id: string }>(
    `select workflow_id from strata.workflows where ${where.join(' and ')} order by workflow_id limit $${params.length}`,
    params,
  );
  return rows.map((row) => row.workflow_id);
}

/** A recorded step with its timings. */
export interface StepRecordRow {
  readonly step_id: number;
  readonly name: string;
  readonly kind: string;
  readonly output: string | null;
  readonly error: string | null;
  readonly child_workflow_id: string | null;
  readonly attempts: number;
  readonly started_at: Date;
  readonly completed_at: Date;
}

export async function listStepRecords(db: Queryable, workflowId: string): Promise<StepRecordRow[]> {
  const { rows } = await db.query<StepRecordRow & Record<string, unknown>>(
    `select step_id, name, kind, output, error, child_workflow_id, attempts, started_at, completed_at
       from strata.steps where workflow_id = $1 order by step_id`,
    [workflowId],
  );
  return rows;
}

/** What a resume changed, for its operator action's detail. */
export interface ResumeOutcome {
  /** The status it was resumed from: CANCELLED or ERROR. */
  readonly was: string;
  /** The queue it is on now: its own, or {@link INTERNAL_QUEUE} when it was never on one. */
  readonly queue: string;
  /** False when it was started directly (never enqueued), so it goes through {@link INTERNAL_QUEUE}. */
  readonly keptQueue: boolean;
  /** The failed last step resume deleted so it runs again (its error text as stored). */
  readonly forgottenStep: { readonly step_id: number; readonly name: string; readonly error: string; readonly attempts: number } | null;
  /** Failed attempts of the steps that run again (they restart at attempt 1), deleted from strata.step_attempts. */
  readonly forgottenAttempts: readonly StepAttemptRow[];
}

/** Most forgotten attempts a resume's action detail lists; the rest are counted. */
export const MAX_FORGOTTEN_ATTEMPTS = 50;

/**
 * Puts a CANCELLED or ERROR workflow back on its queue — the user queue it was enqueued on, with
 * its partition and priority (so that queue's limits apply), or the internal queue when it was
 * started directly — to continue from its last checkpoint under its application version. The
 * failure that ended an ERROR workflow (its last step, if recorded with an error) is forgotten,
 * so that step runs again. In the same transaction the action is recorded with `detail(outcome)`
 * (which says what was forgotten). Returns undefined when the workflow was in another status.
 */
export async function resumeWorkflowRow(
  db: Database,
  workflowId: string,
  record: (tx: Queryable, outcome: ResumeOutcome) => Promise<void>,
): Promise<ResumeOutcome | undefined> {
  return db.transaction(async (tx) => {
    const requeued = await requeue(tx, workflowId);
    if (!requeued) return undefined;
    let forgottenStep: ResumeOutcome['forgottenStep'] = null;
    if (requeued.was === 'ERROR') {
      const { rows } = await tx.query<{ step_id: number; name: string; error: string; attempts: number }>(
        `delete from strata.steps where workflow_id = $1 and error is not null
            and step_id = (select max(step_id) from strata.steps where workflow_id = $1)
         returning step_id, name, error, attempts`,
        [workflowId],
      );
      forgottenStep = rows[0] ?? null;
    }
    // Steps without a recorded outcome run again from attempt 1: their failed attempts leave the
    // table (and go into the action's detail) so the new run's attempts do not mix with them.
    const { rows: forgottenAttempts } = await tx.query<StepAttemptRow & Record<string, unknown>>(
      `delete from strata.step_attempts a where a.workflow_id = $1
          and not exists (select 1 from strata.steps s where s.workflow_id = a.workflow_id and s.step_id = a.step_id)
       returning workflow_id, step_id, attempt, step_name, error_name, error_code, message, failed_at`,
      [workflowId],
    );
    forgottenAttempts.sort((a, b) => a.step_id - b.step_id || a.attempt - b.attempt);
    const outcome: ResumeOutcome = { ...requeued, forgottenStep, forgottenAttempts };
    await record(tx, outcome);
    return outcome;
  });
}

async function requeue(db: Queryable, workflowId: string): Promise<Pick<ResumeOutcome, 'was' | 'queue' | 'keptQueue'> | undefined> {
  const { rows } = await db.query<{ was: string; queue: string; kept_queue: boolean }>(
    `update strata.workflows w
        set status = 'ENQUEUED', queue_name = coalesce(old.queue_name, '${INTERNAL_QUEUE}'),
            queue_partition = case when old.queue_name is null then '' else coalesce(w.queue_partition, '') end,
            priority = case when old.queue_name is null then 0 else w.priority end, deduplication_key = null,
            executor_id = null, output = null, error = null, completed_at = null, started_at = null,
            deadline_at = null, timeout_ms = null, not_before = null, recovery_attempts = 0,
            queue_order = nextval('strata.queue_order'), updated_at = now()
       from (select workflow_id, status as was, queue_name from strata.workflows where workflow_id = $1 for update) old
      where w.workflow_id = old.workflow_id and old.was in ('CANCELLED', 'ERROR')
      returning old.was, w.queue_name as queue, old.queue_name is not null as kept_queue`,
    [workflowId],
  );
  const row = rows[0];
  return row && { was: row.was, queue: row.queue, keptQueue: row.kept_queue };
}

/** Where a copy (restart or fork) went: its source's queue, or the internal queue. */
export interface CopyOutcome {
  readonly queue: string;
}

/**
 * Creates workflow `newId` as a copy of `sourceId` (name, inputs, attributes), for any
 * application version, with the source's steps below `fromStep` copied (and their failed
 * attempts). It goes on the source's queue with its partition and priority (so that queue's
 * limits apply to the copy too), or on the internal queue when the source was started directly.
 * `record` writes the operator actions in the same transaction.
 */
export async function copyWorkflow(
  db: Database,
  sourceId: string,
  newId: string,
  fromStep: number,
  record: (tx: Queryable, outcome: CopyOutcome) => Promise<void>,
): Promise<CopyOutcome | 'exists'> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ queue: string }>(
      `insert into strata.workflows
         (workflow_id, name, status, inputs, attributes, queue_name, queue_partition, priority, queue_order, forked_from, forked_at_step)
       select $2, name, 'ENQUEUED', inputs, attributes, coalesce(queue_name, '${INTERNAL_QUEUE}'),
              case when queue_name is null then '' else coalesce(queue_partition, '') end,
              case when queue_name is null then 0 else priority end, nextval('strata.queue_order'), $1, $3
         from strata.workflows where workflow_id = $1
       on conflict do nothing
       returning queue_name as queue`,
      [sourceId, newId, fromStep],
    );
    const created = rows[0];
    if (!created) return 'exists';
    if (fromStep > 0) {
      await tx.query(
        `insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at, completed_at)
         select $2, step_id, name, kind, output, error, child_workflow_id, attempts, started_at, completed_at
           from strata.steps where workflow_id = $1 and step_id < $3`,
        [sourceId, newId, fromStep],
      );
      await tx.query(
        `insert into strata.step_attempts (workflow_id, step_id, attempt, step_name, error_name, error_code, message, failed_at)
         select $2, step_id, attempt, step_name, error_name, error_code, message, failed_at
           from strata.step_attempts where workflow_id = $1 and step_id < $3`,
        [sourceId, newId, fromStep],
      );
    }
    const outcome = { queue: created.queue };
    await record(tx, outcome);
    return outcome;
  });
}

/** Unfinished workflows that a deploy's code would resume: PENDING, or ENQUEUED with steps (resumed), of `appVersion` (null: any). */
export async function unfinishedWithHistory(
  db: Queryable,
  appVersion: string | null,
): Promise<Array<Pick<WorkflowRow, 'workflow_id' | 'name' | 'status' | 'inputs' | 'deadline_at'>>> {
  const { rows } = await db.query<Pick<WorkflowRow, 'workflow_id' | 'name' | 'status' | 'inputs' | 'deadline_at'> & Record<string, unknown>>(
    `select workflow_id, name, status, inputs, deadline_at from strata.workflows w
      where ($1::text is null or app_version = $1 or app_version is null)
        and (status = 'PENDING' or (status = 'ENQUEUED' and exists (select 1 from strata.steps s where s.workflow_id = w.workflow_id)))
      order by created_at, workflow_id`,
    [appVersion],
  );
  return rows;
}

/** How many steps a workflow recorded (its highest step number + 1). */
export async function recordedStepCount(db: Queryable, workflowId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select coalesce(max(step_id) + 1, 0)::int as n from strata.steps where workflow_id = $1`, [workflowId]);
  return rows[0]!.n;
}

/**
 * Deletes a finished workflow, its steps and failed step attempts (messages, events and streams
 * cascade); `record` writes the operator action in the same transaction (operator actions have
 * no foreign key, so the record of the delete stays).
 */
export async function deleteFinishedWorkflow(db: Database, workflowId: string, record: (tx: Queryable, status: string) => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ status: string }>(
      `select status from strata.workflows where workflow_id = $1 and status in ('SUCCESS', 'ERROR', 'CANCELLED') for update`,
      [workflowId],
    );
    if (rows.length === 0) return false;
    await record(tx, rows[0]!.status);
    await tx.query(`delete from strata.steps where workflow_id = $1`, [workflowId]);
    await tx.query(`delete from strata.step_attempts where workflow_id = $1`, [workflowId]);
    await tx.query(`delete from strata.workflows where workflow_id = $1`, [workflowId]);
    return true;
  });
}
