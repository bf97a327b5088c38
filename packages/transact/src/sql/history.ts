// SQL: the history operators read — operator actions (who cancelled, resumed, …) and the failed attempts of retried steps.
import type { Queryable } from '@strata/store';

/**
 * Longest error message kept per failed attempt, in characters: a step retried a thousand times
 * with a megabyte error each must not write a gigabyte of history; the first 4,000 characters
 * say what went wrong.
 */
export const MAX_ATTEMPT_ERROR_LENGTH = 4_000;

/** Longest error name or code kept per failed attempt: names and codes are short words; a longer one is noise. */
export const MAX_ATTEMPT_ERROR_NAME_LENGTH = 200;

/** Most action rows one read returns: a workflow steered more often than this shows its latest. */
export const MAX_OPERATOR_ACTIONS_READ = 1_000;

/** Most failed attempts one read returns (the newest are kept when there are more). */
export const MAX_STEP_ATTEMPTS_READ = 5_000;

/** A stored operator action. */
export interface OperatorActionRow {
  readonly id: string;
  readonly workflow_id: string;
  readonly action: string;
  readonly actor: string;
  readonly detail: Record<string, unknown>;
  readonly at: Date;
}

/** A stored failed attempt. */
export interface StepAttemptRow {
  readonly workflow_id: string;
  readonly step_id: number;
  readonly attempt: number;
  readonly step_name: string;
  readonly error_name: string;
  readonly error_code: string | null;
  readonly message: string;
  readonly failed_at: Date;
}

/** Records that `actor` did `action` to each of `workflowIds` (one row each); run it in the change's transaction. */
export async function insertOperatorActions(
  db: Queryable,
  workflowIds: readonly string[],
  action: string,
  actor: string,
  detail: (workflowId: string) => Record<string, unknown>,
): Promise<void> {
  if (workflowIds.length === 0) return;
  await db.query(
    `insert into strata.operator_actions (workflow_id, action, actor, detail)
     select id, $2, $3, d::jsonb from unnest($1::text[], $4::text[]) as u(id, d)`,
    [workflowIds, action, actor, workflowIds.map((id) => JSON.stringify(detail(id)))],
  );
}

/** A workflow's operator actions, oldest first (the newest {@link MAX_OPERATOR_ACTIONS_READ}). */
export async function listOperatorActions(db: Queryable, workflowId: string): Promise<OperatorActionRow[]> {
  const { rows } = await db.query<OperatorActionRow & Record<string, unknown>>(
    `select * from (select id::text as id, workflow_id, action, actor, detail, at from strata.operator_actions
       where workflow_id = $1 order by id desc limit $2) newest order by id::bigint`,
    [workflowId, MAX_OPERATOR_ACTIONS_READ],
  );
  return rows.map((row) => ({ ...row, detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, unknown>) : row.detail }));
}

/** A failed attempt to record; `message` is cut to {@link MAX_ATTEMPT_ERROR_LENGTH}. */
export interface NewStepAttempt {
  readonly workflowId: string;
  readonly stepId: number;
  readonly attempt: number;
  readonly stepName: string;
  readonly errorName: string;
  readonly errorCode: string | null;
  readonly message: string;
}

/**
 * Records a failed attempt of a step. Safe to repeat (a repeat after an ambiguous commit, or a
 * step run again after resume, overwrites the row of that attempt number). Written only while
 * the workflow exists: an attempt of a deleted workflow writes nothing.
 */
export async function insertStepAttempt(db: Queryable, row: NewStepAttempt): Promise<void> {
  await db.query(
    `insert into strata.step_attempts (workflow_id, step_id, attempt, step_name, error_name, error_code, message)
     select $1, $2, $3, $4, $5, $6, $7 where exists (select 1 from strata.workflows where workflow_id = $1)
     on conflict (workflow_id, step_id, attempt) do update
       set step_name = excluded.step_name, error_name = excluded.error_name, error_code = excluded.error_code,
           message = excluded.message, failed_at = excluded.failed_at`,
    [row.workflowId, row.stepId, row.attempt, row.stepName, bound(row.errorName, MAX_ATTEMPT_ERROR_NAME_LENGTH), row.errorCode === null ? null : bound(row.errorCode, MAX_ATTEMPT_ERROR_NAME_LENGTH), bound(row.message, MAX_ATTEMPT_ERROR_LENGTH)],
  );
}

/** A workflow's failed attempts by step and attempt (at most {@link MAX_STEP_ATTEMPTS_READ}, the newest). */
export async function listStepAttempts(db: Queryable, workflowId: string): Promise<StepAttemptRow[]> {
  const { rows } = await db.query<StepAttemptRow & Record<string, unknown>>(
    `select * from (select workflow_id, step_id, attempt, step_name, error_name, error_code, message, failed_at
       from strata.step_attempts where workflow_id = $1 order by step_id desc, attempt desc limit $2) newest
      order by step_id, attempt`,
    [workflowId, MAX_STEP_ATTEMPTS_READ],
  );
  return rows;
}

/** Text PostgreSQL stores (NUL replaced), cut to `max` characters (never splitting a surrogate pair), marked when cut. */
export function bound(value: string, max: number): string {
  const text = value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
