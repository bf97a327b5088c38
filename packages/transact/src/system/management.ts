// The workflow admin API (`strata.workflows`): list, inspect, cancel, resume, restart, fork and delete, singly and in bulk.
import { randomUUID } from 'node:crypto';
import type { Database } from '@strata/store';
import { validateAttributes } from '../queues/enqueue.js';
import { InvalidArgumentError, WorkflowNotFoundError, WorkflowStateError } from '../errors.js';
import { COPY_OPTION_KEYS, LIST_OPTION_KEYS, WORKFLOW_FILTER_KEYS } from '../config.js';
import type {
  ActorOptions,
  BulkWorkflowFilter,
  CopyOptions,
  ErrorInfo,
  OperatorAction,
  OperatorActionName,
  StepAttempt,
  ListWorkflowsOptions,
  StepRecord,
  WorkflowAdmin,
  WorkflowDetails,
  WorkflowFilter,
  WorkflowPage,
  WorkflowStatusName,
} from '../interfaces.js';
import { actorOf, toStatus, type Operations } from './operations.js';
import type { Serializer } from '../serialization.js';
import { queueKey } from '../signals/keys.js';
import type { Signals } from '../signals/signals.js';
import {
  INTERNAL_QUEUE,
  copyWorkflow,
  deleteFinishedWorkflow,
  getWorkflow,
  insertOperatorActions,
  listOperatorActions,
  listStepAttempts,
  listStepRecords,
  listWorkflowRows,
  matchingWorkflowIds,
  recordedStepCount,
  MAX_FORGOTTEN_ATTEMPTS,
  resumeWorkflowRow,
  type ResumeOutcome,
  type StepAttemptRow,
  type WorkflowFilterSql,
} from '../sql/index.js';
import { assertDate, assertIdentifier, assertOptions, assertString } from '../validate.js';

const STATUSES: readonly WorkflowStatusName[] = ['ENQUEUED', 'PENDING', 'SUCCESS', 'ERROR', 'CANCELLED'];
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1_000;
/** Bulk operations work through matching workflows this many at a time. */
const BULK_BATCH = 500;
/** Options of restart and fork. */
const COPY_KEYS = [...COPY_OPTION_KEYS, 'actor'] as const;
/** A bulk operation's filter: the filter fields, and `all` to confirm a filter that narrows nothing. */
const BULK_FILTER_KEYS = [...WORKFLOW_FILTER_KEYS, 'all'] as const;

/** Checks a filter and turns it into its SQL form; throws InvalidArgumentError saying what to fix. */
export function filterSql(filter: WorkflowFilter | undefined, knownKeys: readonly string[] = WORKFLOW_FILTER_KEYS): WorkflowFilterSql {
  assertOptions(filter, 'workflow filter', knownKeys);
  if (!filter) return {};
  const out: { -readonly [K in keyof WorkflowFilterSql]: WorkflowFilterSql[K] } = {};
  if (filter.status !== undefined) {
    const statuses = (Array.isArray(filter.status) ? filter.status : [filter.status]) as unknown[];
    for (const status of statuses) {
      if (!STATUSES.includes(status as WorkflowStatusName)) {
        throw new InvalidArgumentError(`status must be one of ${STATUSES.join(', ')}; got ${JSON.stringify(status)}`);
      }
    }
    if (statuses.length === 0) throw new InvalidArgumentError(`status must name at least one of ${STATUSES.join(', ')}`);
    out.statuses = statuses as string[];
  }
  for (const key of ['name', 'queue', 'executorId', 'appVersion', 'parentWorkflowId', 'forkedFrom'] as const) {
    if (filter[key] !== undefined) {
      assertIdentifier(filter[key], key);
      out[key] = filter[key];
    }
  }
  if (filter.workflowIdPrefix !== undefined) {
    assertString(filter.workflowIdPrefix, 'workflowIdPrefix');
    out.workflowIdPrefix = filter.workflowIdPrefix;
  }
  for (const key of ['createdAfter', 'createdBefore'] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    assertDate(value, key);
    out[key] = value;
  }
  if (filter.attributes !== undefined) {
    validateAttributes(filter.attributes);
    out.attributes = JSON.stringify(filter.attributes);
  }
  return out;
}

function encodeCursor(createdText: string, workflowId: string): string {
  return Buffer.from(JSON.stringify([createdText, workflowId])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((part) => typeof part === 'string') && Number.isFinite(Date.parse(value[0] as string))) {
      return value as [string, string];
    }
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('cursor is not one this API returned; pass the nextCursor of the previous page unchanged');
}

/**
 * {@link WorkflowAdmin} over the system database, shared by an engine and a client. Changes that
 * make a workflow runnable announce its queue, so executors pick it up at once; every change
 * records its operator action in its own transaction.
 */
export class WorkflowAdminImpl implements WorkflowAdmin {
  readonly #db: () => Database;
  readonly #signals: Signals;
  readonly #serializer: Serializer;
  readonly #operations: Operations;

  constructor(db: () => Database, signals: Signals, serializer: Serializer, operations: Operations) {
    this.#db = db;
    this.#signals = signals;
    this.#serializer = serializer;
    this.#operations = operations;
  }

  async list(options: ListWorkflowsOptions = {}): Promise<WorkflowPage> {
    assertOptions(options, 'list options', LIST_OPTION_KEYS);
    const { limit = DEFAULT_PAGE, cursor, order = 'newest', ...filter } = options ?? {};
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new InvalidArgumentError(`limit must be a whole number from 1 to ${MAX_PAGE}, got ${String(limit)}`);
    if (order !== 'newest' && order !== 'oldest') throw new InvalidArgumentError(`order must be 'newest' or 'oldest', got ${JSON.stringify(order)}`);
    if (cursor !== undefined) assertString(cursor, 'cursor');
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const rows = await listWorkflowRows(this.#db(), filterSql(filter), { limit: limit + 1, newestFirst: order === 'newest', ...(after ? { after } : {}) });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      workflows: page.map(toStatus),
      nextCursor: rows.length > limit && last ? encodeCursor(last.created_text, last.workflow_id) : null,
    };
  }

  async get(workflowId: string): Promise<WorkflowDetails> {
    assertIdentifier(workflowId, 'workflow ID');
    const row = await getWorkflow(this.#db(), workflowId);
    if (!row) throw new WorkflowNotFoundError(workflowId);
    return {
      ...toStatus(row),
      inputs: this.#decode(row.inputs) as unknown[],
      output: row.output === null ? undefined : this.#decode(row.output),
      error: row.error === null ? null : this.#errorInfo(row.error),
    };
  }

  async steps(workflowId: string): Promise<StepRecord[]> {
    assertIdentifier(workflowId, 'workflow ID');
    const db = this.#db();
    const rows = await listStepRecords(db, workflowId);
    if (rows.length === 0 && !(await getWorkflow(db, workflowId))) throw new WorkflowNotFoundError(workflowId);
    // Only a step that took more than one attempt can have failed ones: no read otherwise.
    const attempts = rows.some((row) => row.attempts > 1) ? (await listStepAttempts(db, workflowId)).map(toStepAttempt) : [];
    return rows.map((row) => ({
      stepId: row.step_id,
      name: row.name,
      kind: row.kind,
      output: row.output === null ? undefined : this.#decode(row.output),
      error: row.error === null ? null : this.#errorInfo(row.error),
      childWorkflowId: row.child_workflow_id,
      attempts: row.attempts,
      failedAttempts: attempts.filter((attempt) => attempt.stepId === row.step_id),
      startedAt: row.started_at,
      completedAt: row.completed_at,
      durationMs: row.completed_at.getTime() - row.started_at.getTime(),
    }));
  }

  async failedAttempts(workflowId: string): Promise<StepAttempt[]> {
    assertIdentifier(workflowId, 'workflow ID');
    const db = this.#db();
    const rows = await listStepAttempts(db, workflowId);
    if (rows.length === 0 && !(await getWorkflow(db, workflowId))) throw new WorkflowNotFoundError(workflowId);
    return rows.map(toStepAttempt);
  }

  async operatorActions(workflowId: string): Promise<OperatorAction[]> {
    assertIdentifier(workflowId, 'workflow ID');
    const rows = await listOperatorActions(this.#db(), workflowId);
    return rows.map((row) => ({
      id: row.id,
      workflowId: row.workflow_id,
      action: row.action as OperatorActionName,
      actor: row.actor,
      detail: row.detail,
      at: row.at,
    }));
  }

  cancel(workflowId: string, options: ActorOptions = {}): Promise<void> {
    return this.#operations.cancel(workflowId, options);
  }

  async resume(workflowId: string, options: ActorOptions = {}): Promise<void> {
    assertIdentifier(workflowId, 'workflow ID');
    const actor = actorOf(options, 'resume options');
    const db = this.#db();
    const outcome = await this.#resume(workflowId, actor);
    if (!outcome) {
      const row = await getWorkflow(db, workflowId);
      if (!row) throw new WorkflowNotFoundError(workflowId);
      throw new WorkflowStateError(
        workflowId,
        row.status,
        `workflow "${workflowId}" is ${row.status}; only CANCELLED or ERROR workflows can be resumed${row.status === 'SUCCESS' ? ' (restart or fork it to run it again)' : ''}`,
      );
    }
    await this.#announce(outcome.queue);
  }

  /** Resumes one workflow, recording the action (with what resume forgets) in its transaction. */
  #resume(workflowId: string, actor: string): Promise<ResumeOutcome | undefined> {
    return resumeWorkflowRow(this.#db(), workflowId, (tx, outcome) =>
      insertOperatorActions(tx, [workflowId], 'resume', actor, () => this.#resumeDetail(outcome)),
    );
  }

  #resumeDetail(outcome: ResumeOutcome): Record<string, unknown> {
    const step = outcome.forgottenStep;
    const attempts = outcome.forgottenAttempts;
    return {
      from: outcome.was,
      queue: outcome.queue,
      keptQueue: outcome.keptQueue,
      ...(outcome.keptQueue ? {} : { note: `never on a queue: resumed through the internal queue ${INTERNAL_QUEUE}` }),
      ...(step ? { forgottenStep: { stepId: step.step_id, name: step.name, attempts: step.attempts, error: this.#errorInfo(step.error) } } : {}),
      ...(attempts.length > 0
        ? {
            forgottenAttempts: attempts.slice(-MAX_FORGOTTEN_ATTEMPTS).map((row) => jsonAttempt(toStepAttempt(row))),
            ...(attempts.length > MAX_FORGOTTEN_ATTEMPTS ? { forgottenAttemptsOmitted: attempts.length - MAX_FORGOTTEN_ATTEMPTS } : {}),
          }
        : {}),
    };
  }

  async restart(workflowId: string, options: CopyOptions = {}): Promise<string> {
    return this.#copy(workflowId, 0, options, 'restart');
  }

  async fork(workflowId: string, fromStep: number, options: CopyOptions = {}): Promise<string> {
    assertIdentifier(workflowId, 'workflow ID');
    if (!Number.isInteger(fromStep) || fromStep < 0) throw new InvalidArgumentError(`fromStep must be a whole number ≥ 0, got ${String(fromStep)}`);
    const db = this.#db();
    if (!(await getWorkflow(db, workflowId))) throw new WorkflowNotFoundError(workflowId);
    const recorded = await recordedStepCount(db, workflowId);
    if (fromStep > recorded) {
      throw new InvalidArgumentError(`workflow "${workflowId}" recorded ${recorded} step(s) (0–${recorded - 1}); fork from a step between 0 and ${recorded}, got ${fromStep}`);
    }
    return this.#copy(workflowId, fromStep, options, 'fork');
  }

  async delete(workflowId: string, options: ActorOptions = {}): Promise<void> {
    assertIdentifier(workflowId, 'workflow ID');
    const actor = actorOf(options, 'delete options');
    const db = this.#db();
    if (await this.#delete(workflowId, actor)) return;
    const row = await getWorkflow(db, workflowId);
    if (!row) throw new WorkflowNotFoundError(workflowId);
    throw new WorkflowStateError(workflowId, row.status, `workflow "${workflowId}" is ${row.status}; cancel it (or let it finish) before deleting it`);
  }

  #delete(workflowId: string, actor: string): Promise<boolean> {
    return deleteFinishedWorkflow(this.#db(), workflowId, (tx, status) => insertOperatorActions(tx, [workflowId], 'delete', actor, () => ({ status })));
  }

  cancelMany(filter: BulkWorkflowFilter, options: ActorOptions = {}): Promise<number> {
    const actor = actorOf(options, 'cancelMany options');
    return this.#bulk('cancelMany', filter, ['ENQUEUED', 'PENDING'], async (id) => {
      await this.#operations.cancel(id, { actor }).catch((error: unknown) => {
        if (!(error instanceof WorkflowStateError)) throw error; // finished meanwhile
      });
      return true;
    });
  }

  async resumeMany(filter: BulkWorkflowFilter, options: ActorOptions = {}): Promise<number> {
    const actor = actorOf(options, 'resumeMany options');
    const queues = new Set<string>();
    const count = await this.#bulk('resumeMany', filter, ['CANCELLED', 'ERROR'], async (id) => {
      const outcome = await this.#resume(id, actor);
      if (outcome) queues.add(outcome.queue);
      return outcome !== undefined;
    });
    for (const queue of queues) await this.#announce(queue);
    return count;
  }

  deleteMany(filter: BulkWorkflowFilter, options: ActorOptions = {}): Promise<number> {
    const actor = actorOf(options, 'deleteMany options');
    return this.#bulk('deleteMany', filter, ['SUCCESS', 'ERROR', 'CANCELLED'], (id) => this.#delete(id, actor));
  }

  async #copy(workflowId: string, fromStep: number, options: CopyOptions, what: 'restart' | 'fork'): Promise<string> {
    assertIdentifier(workflowId, 'workflow ID');
    assertOptions(options, `${what} options`, COPY_KEYS);
    const { actor: actorOption, ...copyOptions } = options ?? {};
    const actor = actorOf(actorOption === undefined ? {} : { actor: actorOption }, `${what} options`);
    const newId = copyOptions.workflowId ?? randomUUID();
    assertIdentifier(newId, 'workflowId');
    const outcome = await copyWorkflow(this.#db(), workflowId, newId, fromStep, async (tx, copy) => {
      await insertOperatorActions(tx, [workflowId], what, actor, () => ({ newWorkflowId: newId, fromStep, queue: copy.queue }));
      await insertOperatorActions(tx, [newId], what, actor, () => ({ sourceWorkflowId: workflowId, fromStep, queue: copy.queue }));
    });
    if (outcome === 'exists') {
      const db = this.#db();
      if (!(await getWorkflow(db, workflowId))) throw new WorkflowNotFoundError(workflowId);
      throw new InvalidArgumentError(`a workflow with ID "${newId}" already exists; give the ${what} another workflowId`);
    }
    await this.#announce(outcome.queue);
    return newId;
  }

  /**
   * Applies `apply` to every workflow matching `filter` in one of `statuses`; counts those it
   * changed. A filter that narrows nothing must say `all: true`: `deleteMany({})` is far more
   * often a bug (a filter built from empty form fields) than a wish to delete everything.
   */
  async #bulk(operation: string, filter: BulkWorkflowFilter, statuses: readonly string[], apply: (workflowId: string) => Promise<boolean>): Promise<number> {
    if (filter === undefined || filter === null) {
      throw new InvalidArgumentError(`${operation}() needs a filter object, e.g. { status: 'ERROR' }, or { all: true } for every workflow`);
    }
    assertOptions(filter, 'workflow filter', BULK_FILTER_KEYS);
    const { all, ...fields } = filter;
    if (all !== undefined && typeof all !== 'boolean') throw new InvalidArgumentError(`all must be true or false, got ${typeof all}`);
    const sql = filterSql(fields);
    if (Object.values(fields).every((value) => value === undefined) && all !== true) {
      throw new InvalidArgumentError(
        `${operation}() was given an empty filter, which would apply to every workflow; pass { all: true } if that is what you mean, or narrow the filter (status, name, createdBefore, …)`,
        'STRATA_EMPTY_FILTER',
      );
    }
    let count = 0;
    for (let after = ''; ; ) {
      const ids = await matchingWorkflowIds(this.#db(), sql, statuses, after, BULK_BATCH);
      for (const id of ids) if (await apply(id)) count++;
      if (ids.length < BULK_BATCH) return count;
      after = ids.at(-1)!;
    }
  }

  /** Tells executors that `queue` has runnable work. */
  async #announce(queue: string): Promise<void> {
    await this.#signals.publish(queueKey(queue));
  }

  #decode(text: string): unknown {
    try {
      return this.#serializer.deserialize(text);
    } catch {
      return text; // not ours to fail on: show it raw
    }
  }

  #errorInfo(text: string): ErrorInfo {
    const value = this.#decode(text) as Partial<ErrorInfo> | undefined;
    if (value && typeof value === 'object') {
      return {
        name: String(value.name ?? 'Error'),
        message: String(value.message ?? ''),
        ...(typeof value.stack === 'string' ? { stack: value.stack } : {}),
        ...(typeof value.code === 'string' ? { code: value.code } : {}),
      };
    }
    return { name: 'Error', message: String(value) };
  }
}

function toStepAttempt(row: StepAttemptRow): StepAttempt {
  return {
    stepId: row.step_id,
    stepName: row.step_name,
    attempt: row.attempt,
    error: { name: row.error_name, message: row.message, ...(row.error_code === null ? {} : { code: row.error_code }) },
    failedAt: row.failed_at,
  };
}

/** A failed attempt as JSON for an action's detail (dates as ISO text). */
function jsonAttempt(attempt: StepAttempt): Record<string, unknown> {
  return { ...attempt, failedAt: attempt.failedAt.toISOString() };
}
