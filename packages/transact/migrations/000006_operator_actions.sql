-- History an operator needs (issue 11): who cancelled, resumed, restarted, forked or deleted a
-- workflow, and the error of every failed attempt of a retried step (steps.attempts is a count).

-- One row per operator action that changed a workflow, written in the same transaction as the
-- change, so a row exists iff the change happened. No foreign key to workflows: deleting a
-- workflow keeps the record of its deletion (and the actions before it). Retention, which deletes
-- workflows by age, deletes their action rows with them.
create table strata.operator_actions (
  id bigserial primary key,
  workflow_id text not null,
  -- cancel, resume, restart, fork, delete
  action text not null,
  -- who: the actor option of the management call ('api' when none was given), e.g. console-token, cli:alice
  actor text not null,
  detail jsonb not null default '{}'::jsonb,
  at timestamptz not null default now()
);
create index operator_actions_workflow on strata.operator_actions (workflow_id, id);

-- One row per failed attempt of a step that was retried (the final attempt's outcome is the
-- step's own row in strata.steps). Written only when an attempt fails, never on the success path.
-- No foreign key to workflows (like strata.steps): deleting a workflow (delete, retention) deletes
-- its rows explicitly in the same transaction, and a workflow table can still be truncated alone.
create table strata.step_attempts (
  workflow_id text not null,
  step_id integer not null,
  attempt integer not null,
  step_name text not null,
  error_name text not null,
  error_code text,
  -- bounded (see MAX_ATTEMPT_ERROR_LENGTH in src/sql/history.ts)
  message text not null,
  failed_at timestamptz not null default now(),
  primary key (workflow_id, step_id, attempt)
);

comment on table strata.operator_actions is 'Operator actions (cancel, resume, restart, fork, delete) with who did them; kept after an explicit delete';
comment on table strata.step_attempts is 'The error of each failed attempt of a retried step';
