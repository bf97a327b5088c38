// SQL: the executors table: registration with epochs, heartbeats, stopped marks, and takeovers of dead executors.
import type { Database, Queryable } from '@strata/store';
import type { ClaimedWorkflow } from './pending-workflows.js';

/** An executor as stored in `strata.executors`. */
export interface ExecutorRow {
  readonly executor_id: string;
  readonly app_version: string;
  readonly hostname: string;
  readonly pid: number;
  readonly workflow_names: string[];
  readonly started_at: Date;
  readonly heartbeat_at: Date;
  readonly stopped_at: Date | null;
  /** Heartbeat within the timeout and not stopped. */
  readonly alive: boolean;
}

/** The process registering as an executor. */
export interface ExecutorRegistration {
  readonly executorId: string;
  readonly appVersion: string;
  readonly hostname: string;
  readonly pid: number;
  /** Random per process (see the column's comment). */
  readonly processInstance: string;
  readonly workflowNames: readonly string[];
}

const ALIVE = `(stopped_at is null and heartbeat_at >= now() - $2 * interval '1 millisecond')`;

/**
 * Registers (or re-registers) an executor. When a live row holds the ID, `holderIsAlive` decides
 * whether its process still runs; if so nothing is written and the holder is returned.
 * Serialized with takeovers by the row lock, so a restarted executor and a survivor taking over
 * its workflows never both get them.
 */
export async function registerExecutor(
  db: Database,
  executor: ExecutorRegistration,
  timeoutMs: number,
  holderIsAlive: (holder: { hostname: string; pid: number; process_instance: string }) => boolean,
): Promise<{ holder: { hostname: string; pid: number } } | { epoch: number }> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ hostname: string; pid: number; process_instance: string; alive: boolean }>(
      `select hostname, pid, process_instance, ${ALIVE} as alive from strata.executors where executor_id = $1 for update`,
      [executor.executorId, timeoutMs],
    );
    const holder = rows[0];
    if (holder?.alive && holderIsAlive(holder)) return { holder: { hostname: holder.hostname, pid: holder.pid } };
    const registered = await tx.query<{ epoch: string }>(
      `insert into strata.executors (executor_id, app_version, hostname, pid, process_instance, workflow_names, epoch)
       values ($1, $2, $3, $4, $5, $6, 1)
       on conflict (executor_id) do update
         set app_version = excluded.app_version, hostname = excluded.hostname, pid = excluded.pid,
             process_instance = excluded.process_instance, workflow_names = excluded.workflow_names,
             started_at = now(), heartbeat_at = now(), stopped_at = null, epoch = strata.executors.epoch + 1
       returning epoch::text`,
      [executor.executorId, executor.appVersion, executor.hostname, executor.pid, executor.processInstance, executor.workflowNames],
    );
    return { epoch: Number(registered.rows[0]!.epoch) };
  });
}

/**
 * Writes a heartbeat. Returns `'lapsed'` when the previous heartbeat was already older than the
 * timeout (others may have taken this executor's workflows over), `'missing'` when the row is gone.
 */
export async function heartbeat(db: Queryable, executorId: string, timeoutMs: number): Promise<'ok' | 'lapsed' | 'missing'> {
  const { rows } = await db.query<{ lapsed: boolean }>(
    `update strata.executors x set heartbeat_at = now()
       from (select executor_id, not ${ALIVE} as lapsed from strata.executors where executor_id = $1 for update) p
      where x.executor_id = p.executor_id
      returning p.lapsed`,
    [executorId, timeoutMs],
    { prepare: true },
  );
  if (rows.length === 0) return 'missing';
  return rows[0]!.lapsed ? 'lapsed' : 'ok';
}

/** Marks an executor stopped (graceful shutdown): others take over its unfinished workflows at once. */
export async function markExecutorStopped(db: Queryable, executorId: string, pid: number): Promise<void> {
  await db.query(`update strata.executors set stopped_at = now() where executor_id = $1 and pid = $2`, [executorId, pid]);
}

/** Dead or stopped executors other than `executorId` that still own PENDING workflows. */
export async function executorsToTakeOver(db: Queryable, executorId: string, timeoutMs: number): Promise<string[]> {
  const { rows } = await db.query<{ executor_id: string }>(
    `select executor_id from strata.executors x
      where executor_id <> $1 and not ${ALIVE}
        and exists (select 1 from strata.workflows w where w.executor_id = x.executor_id and w.status = 'PENDING')`,
    [executorId, timeoutMs],
    { prepare: true },
  );
  return rows.map((row) => row.executor_id);
}

/**
 * Moves a dead executor's PENDING workflows that this executor can run (same application
 * version, registered names) to this executor, if the dead one is still dead under its row lock.
 * Each workflow moves once: the move changes its owner, and takeovers of one executor serialize
 * on its row.
 *
 * A workflow whose row a transaction of the dead executor still locks (a transaction step that
 * passed its fencing check, cut off before its COMMIT arrived: see insertStepInTransaction) is
 * skipped where the engine can skip locked rows, and taken by a later pass once that transaction
 * ended — committed before the move, or ended by the server's idle timeout. The others move at
 * once. Without SKIP LOCKED (the portable profile) the move waits for it.
 */
export async function takeOverWorkflows(
  db: Database,
  deadExecutorId: string,
  executorId: string,
  epoch: number,
  timeoutMs: number,
  appVersion: string,
  workflowNames: readonly string[],
): Promise<ClaimedWorkflow[]> {
  return db.transaction(async (tx) => {
    const dead = await tx.query(`select 1 from strata.executors where executor_id = $1 and not ${ALIVE} for update`, [deadExecutorId, timeoutMs]);
    if (dead.rows.length === 0) return [];
    const { rows } = await tx.query<ClaimedWorkflow & Record<string, unknown>>(db.profile.capabilities.skipLocked ? TAKE_OVER_UNLOCKED : TAKE_OVER, [
      deadExecutorId,
      executorId,
      appVersion,
      workflowNames,
      epoch,
    ]);
    return rows;
  });
}

/** The dead executor's ($1) movable workflows, as a condition on `strata.workflows`. */
const MOVABLE = `status = 'PENDING' and executor_id = $1 and app_version = $3 and name = any($4)`;
const MOVE = `update strata.workflows set executor_id = $2, executor_epoch = $5, recovery_attempts = recovery_attempts + 1, updated_at = now()`;
const MOVED = `returning workflow_id, name, deadline_at, recovery_attempts, queue_name, trace_parent, inputs`;
/** Moves every movable workflow, waiting for rows other transactions lock. */
const TAKE_OVER = `${MOVE} where ${MOVABLE} ${MOVED}`;
/** Moves the movable workflows no other transaction locks now. */
const TAKE_OVER_UNLOCKED = `${MOVE} where workflow_id in (select workflow_id from strata.workflows where ${MOVABLE} for update skip locked) and ${MOVABLE} ${MOVED}`;

export async function listExecutors(db: Queryable, timeoutMs: number): Promise<ExecutorRow[]> {
  const { rows } = await db.query<ExecutorRow & Record<string, unknown>>(
    `select executor_id, app_version, hostname, pid, workflow_names, started_at, heartbeat_at, stopped_at,
            ${ALIVE.replace('$2', '$1')} as alive
       from strata.executors order by executor_id`,
    [timeoutMs],
  );
  return rows;
}

/** Every workflow name some executor registered (what a client may enqueue). */
export async function registeredWorkflowNames(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`select distinct unnest(workflow_names) as name from strata.executors order by 1`);
  return rows.map((row) => row.name);
}
