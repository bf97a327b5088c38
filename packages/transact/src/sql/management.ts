// SQL: listing, filtering, inspecting and changing workflows for the admin API (workflows.list, steps, resume, fork, delete).
import type { Database, Queryable } from '@strata/store';
import type { WorkflowRow } from './types.js';

/** The queue that resumed, restarted and forked workflows go through. */
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

/**
 * Puts a CANCELLED or ERROR workflow back on the internal queue to continue from its last
 * checkpoint under its application version. The failure that ended an ERROR workflow (its last
 * step, if recorded with an error) is forgotten, so that step runs again. Returns false when
 * the workflow was in another status.
 */
export async function resumeWorkflowRow(db: Database, workflowId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const resumed = await requeue(tx, workflowId);
    if (resumed === 'ERROR') {
      await tx.query(
        `delete from strata.steps where workflow_id = $1 and error is not null
            and step_id = (select max(step_id) from strata.steps where workflow_id = $1)`,
        [workflowId],
      );
    }
    return resumed !== undefined;
  });
}

async function requeue(db: Queryable, workflowId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ was: string }>(
    `update strata.workflows w
        set status = 'ENQUEUED', queue_name = '${INTERNAL_QUEUE}', queue_partition = '', priority = 0, deduplication_key = null,
            executor_id = null, output = null, error = null, completed_at = null, started_at = null,
            deadline_at = null, timeout_ms = null, not_before = null, recovery_attempts = 0,
            queue_order = nextval('strata.queue_order'), updated_at = now()
       from (select workflow_id, status as was from strata.workflows where workflow_id = $1 for update) old
      where w.workflow_id = old.workflow_id and old.was in ('CANCELLED', 'ERROR')
      returning old.was`,
    [workflowId],
  );
  return rows[0]?.was;
}

/**
 * Creates workflow `newId` as a copy of `sourceId` (name, inputs, attributes) on the internal
 * queue, for any application version, with the source's steps below `fromStep` copied.
 */
export async function copyWorkflow(db: Database, sourceId: string, newId: string, fromStep: number): Promise<'created' | 'exists'> {
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      `insert into strata.workflows
         (workflow_id, name, status, inputs, attributes, queue_name, queue_partition, queue_order, forked_from, forked_at_step)
       select $2, name, 'ENQUEUED', inputs, attributes, '${INTERNAL_QUEUE}', '', nextval('strata.queue_order'), $1, $3
         from strata.workflows where workflow_id = $1
       on conflict do nothing`,
      [sourceId, newId, fromStep],
    );
    if (rowCount !== 1) return 'exists';
    if (fromStep > 0) {
      await tx.query(
        `insert into strata.steps (workflow_id, step_id, name, kind, output, error, child_workflow_id, attempts, started_at, completed_at)
         select $2, step_id, name, kind, output, error, child_workflow_id, attempts, started_at, completed_at
           from strata.steps where workflow_id = $1 and step_id < $3`,
        [sourceId, newId, fromStep],
      );
    }
    return 'created';
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

/** Deletes a finished workflow and its steps (messages, events and streams cascade). */
export async function deleteFinishedWorkflow(db: Database, workflowId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query(
      `select 1 from strata.workflows where workflow_id = $1 and status in ('SUCCESS', 'ERROR', 'CANCELLED') for update`,
      [workflowId],
    );
    if (rows.length === 0) return false;
    await tx.query(`delete from strata.steps where workflow_id = $1`, [workflowId]);
    await tx.query(`delete from strata.workflows where workflow_id = $1`, [workflowId]);
    return true;
  });
}
