// What the partition test's executor processes and the test itself agree on: lease settings, the
// workflow's shape, the app tables, the audit of every write, and the stdout protocol.

/** Heartbeats every 200 ms: a lapsed executor is noticed within a fraction of a second. */
export const HEARTBEAT_INTERVAL_MS = 200;
/**
 * 15 heartbeats (as in scale-out): a survivor starved of CPU on a loaded 2-core machine still
 * beats well within it, so only the partitioned or killed executors are taken over.
 */
export const EXECUTOR_TIMEOUT_MS = 3_000;

/** Workflow 'partition-wf': {@link ROUNDS} rounds of a step, a transaction, a send and a recv. */
export const WORKFLOW_NAME = 'partition-wf';
/** Rounds per workflow: enough that a cut lands with every workflow half-way. */
export const ROUNDS = 4;
/** Work of each plain step `s<r>`. */
export const STEP_MS = 100;
/**
 * How long each transaction `t<r>` stays open after writing its effect row: the test aims its cut
 * at a moment when a transaction of the victim is open on the server (its effect written, its
 * checkpoint and COMMIT not sent yet), and must reach it before the transaction ends.
 */
export const TRANSACTION_HOLD_MS = 300;
/** A recv finds its message at once (the workflow sent it to itself); the bound only ends a stuck run. */
export const RECV_TIMEOUT_MS = 60_000;

/** Exit code of a worker whose launch() failed (it prints `LAUNCH_FAILED <code>` first). */
export const LAUNCH_FAILED_EXIT_CODE = 3;

/** The topic of round `round`'s message. */
export function topicOf(round: number): string {
  return `m${round}`;
}

/** The message a workflow sends itself in round `round`. */
export function messageOf(workflowId: string, round: number): string {
  return `${workflowId}#${round}`;
}

/** The workflow IDs an executor starts: `<executorId>-<i>`. */
export function workflowIdsOf(executorId: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${executorId}-${index}`);
}

/** A checkpoint of the workflow, as strata.steps records it. */
export interface ExpectedStep {
  readonly name: string;
  readonly kind: 'step' | 'transaction' | 'send' | 'recv';
}

/** The checkpoints of the workflow's own operations, in call order (a recv's deadline, if any, is not among them). */
export function expectedSteps(): ExpectedStep[] {
  const steps: ExpectedStep[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    steps.push({ name: `s${round}`, kind: 'step' }, { name: `t${round}`, kind: 'transaction' });
    steps.push({ name: topicOf(round), kind: 'send' }, { name: topicOf(round), kind: 'recv' });
  }
  return steps;
}

/** Who ran a step or transaction: each returns it, so its checkpoint names the process that wrote it. */
export interface Runner {
  readonly executorId: string;
  readonly pid: number;
}

/** The table of the transactions' effects; no unique constraint, so an effect committed twice shows as two rows. */
export const EFFECTS_TABLE = 'partition_effects';

/**
 * The app table, and the audit of every write to the tables that record a workflow's progress:
 * one row per inserted or changed row of strata.workflows (status or owner changes only),
 * strata.steps, strata.messages and the effects table, written by a trigger in the writing
 * transaction. So an audit row exists iff the write committed; `writer` is the writing
 * connection's application_name (each worker sets PGAPPNAME to its executor ID), `written_at`
 * the moment the statement wrote the row (its fencing condition had just held), and the commit
 * time of the write is `pg_xact_commit_timestamp(xmin)` of its audit row (the cluster runs with
 * track_commit_timestamp = on). Created after the engine's migrations (it needs strata.*).
 */
export const APP_TABLES_SQL = `
  create table ${EFFECTS_TABLE} (
    workflow_id text not null,
    step text not null,
    executor_id text not null,
    pid integer not null
  );
  create table partition_audit (
    id bigserial primary key,
    table_name text not null,
    op text not null,
    workflow_id text not null,
    detail text not null,
    new_executor text,
    writer text not null default current_setting('application_name'),
    written_at timestamptz not null default clock_timestamp()
  );
  create function partition_audit_row() returns trigger language plpgsql as $$
  declare
    cur jsonb := to_jsonb(new);
    prev jsonb := case when tg_op = 'UPDATE' then to_jsonb(old) end;
    detail text;
  begin
    if tg_table_name = 'workflows' then
      if prev is not null and prev->'status' = cur->'status' and prev->'executor_id' is not distinct from cur->'executor_id'
         and prev->'executor_epoch' = cur->'executor_epoch' then
        return null;
      end if;
      detail := coalesce((prev->>'status') || ' ' || coalesce(prev->>'executor_id', '-') || '@' || (prev->>'executor_epoch'), 'new')
        || ' -> ' || (cur->>'status') || ' ' || coalesce(cur->>'executor_id', '-') || '@' || (cur->>'executor_epoch');
    elsif tg_table_name = 'steps' then
      detail := (cur->>'step_id') || ' ' || (cur->>'kind') || ' ' || (cur->>'name');
    elsif tg_table_name = 'messages' then
      detail := case when tg_op = 'INSERT' then 'sent ' else 'consumed ' end || (cur->>'topic');
    else
      detail := cur->>'step';
    end if;
    insert into partition_audit (table_name, op, workflow_id, detail, new_executor)
      values (tg_table_name, tg_op, coalesce(cur->>'workflow_id', cur->>'destination_id'), detail,
              case when tg_table_name = 'workflows' then cur->>'executor_id' end);
    return null;
  end $$;
  create trigger partition_audit after insert or update on strata.workflows for each row execute function partition_audit_row();
  create trigger partition_audit after insert on strata.steps for each row execute function partition_audit_row();
  create trigger partition_audit after insert or update on strata.messages for each row execute function partition_audit_row();
  create trigger partition_audit after insert on ${EFFECTS_TABLE} for each row execute function partition_audit_row();
`;
