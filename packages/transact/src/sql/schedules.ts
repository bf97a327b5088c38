// SQL: the schedules table: create, update, pause, delete, and advancing a schedule's last tick.
import type { Queryable } from '@strata/store';

/** Schedule statuses as stored in `strata.schedules.status`. */
export type ScheduleStatusName = 'ACTIVE' | 'PAUSED';

/** A row of `strata.schedules`. */
export interface ScheduleRow {
  readonly name: string;
  readonly workflow_name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly status: ScheduleStatusName;
  readonly catch_up: boolean;
  readonly queue_name: string | null;
  readonly last_tick_at: Date | null;
  readonly created_at: Date;
  /** The latest change of the schedule's configuration or status (advancing the last tick is not one). */
  readonly updated_at: Date;
}

/** The configurable columns of a schedule. */
export interface ScheduleFields {
  readonly workflowName: string;
  readonly cron: string;
  readonly timezone: string;
  readonly catchUp: boolean;
  readonly queueName: string | null;
}

const COLUMNS = 'name, workflow_name, cron, timezone, status, catch_up, queue_name, last_tick_at, created_at, updated_at';

/** Inserts an ACTIVE schedule; returns undefined (and writes nothing) when the name exists. */
export async function insertSchedule(db: Queryable, name: string, fields: ScheduleFields): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow & Record<string, unknown>>(
    `insert into strata.schedules (name, workflow_name, cron, timezone, catch_up, queue_name)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (name) do nothing
     returning ${COLUMNS}`,
    [name, fields.workflowName, fields.cron, fields.timezone, fields.catchUp, fields.queueName],
    { prepare: true },
  );
  return rows[0];
}

/**
 * Inserts a schedule declared in code, or brings an existing one to the declared configuration.
 * Status and last tick are kept, and `updated_at` only moves when a column really changes, so a
 * relaunch with the same declaration is not a change. Returns whether a row was written.
 */
export async function upsertSchedule(db: Queryable, name: string, fields: ScheduleFields): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into strata.schedules as s (name, workflow_name, cron, timezone, catch_up, queue_name)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (name) do update
       set workflow_name = excluded.workflow_name, cron = excluded.cron, timezone = excluded.timezone,
           catch_up = excluded.catch_up, queue_name = excluded.queue_name, updated_at = now()
       where (s.workflow_name, s.cron, s.timezone, s.catch_up, s.queue_name)
             is distinct from (excluded.workflow_name, excluded.cron, excluded.timezone, excluded.catch_up, excluded.queue_name)`,
    [name, fields.workflowName, fields.cron, fields.timezone, fields.catchUp, fields.queueName],
    { prepare: true },
  );
  return rowCount === 1;
}

/** Replaces the configurable columns of a schedule; undefined when it does not exist. */
export async function updateSchedule(db: Queryable, name: string, fields: ScheduleFields): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow & Record<string, unknown>>(
    `update strata.schedules
        set workflow_name = $2, cron = $3, timezone = $4, catch_up = $5, queue_name = $6, updated_at = now()
      where name = $1
      returning ${COLUMNS}`,
    [name, fields.workflowName, fields.cron, fields.timezone, fields.catchUp, fields.queueName],
    { prepare: true },
  );
  return rows[0];
}

/**
 * Sets a schedule's status; undefined when it does not exist. Setting the status it already has
 * changes nothing (not even `updated_at`).
 */
export async function setScheduleStatus(db: Queryable, name: string, status: ScheduleStatusName): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow & Record<string, unknown>>(
    `update strata.schedules
        set status = $2, updated_at = case when status = $2 then updated_at else now() end
      where name = $1
      returning ${COLUMNS}`,
    [name, status],
    { prepare: true },
  );
  return rows[0];
}

/** Reads one schedule, or undefined when it does not exist. */
export async function getSchedule(db: Queryable, name: string, options: { readonly forUpdate?: boolean } = {}): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow & Record<string, unknown>>(
    `select ${COLUMNS} from strata.schedules where name = $1${options.forUpdate === true ? ' for update' : ''}`,
    [name],
    { prepare: true },
  );
  return rows[0];
}

/** Every schedule, by name. */
export async function listSchedules(db: Queryable): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow & Record<string, unknown>>(
    `select ${COLUMNS} from strata.schedules order by name`,
    [],
    { prepare: true },
  );
  return rows;
}

/** Deletes a schedule; returns false when it did not exist. */
export async function deleteSchedule(db: Queryable, name: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from strata.schedules where name = $1', [name], { prepare: true });
  return rowCount === 1;
}

/**
 * Records that a workflow exists for the tick at `tickAt`. The last tick only moves forward, so
 * executors that finish ticks out of order never move it back.
 */
export async function advanceLastTick(db: Queryable, name: string, tickAt: Date): Promise<void> {
  await db.query(
    `update strata.schedules set last_tick_at = greatest(coalesce(last_tick_at, $2), $2) where name = $1`,
    [name, tickAt],
    { prepare: true },
  );
}
