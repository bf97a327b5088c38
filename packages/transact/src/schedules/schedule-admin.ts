// The runtime admin API of cron schedules (`strata.schedules`): rows of strata.schedules, validated before they are written.
import type { Database } from '@strata/store';
import { DuplicateScheduleError, InvalidArgumentError, UnknownScheduleError } from '../errors.js';
import type { ScheduleAdmin, ScheduleConfig, ScheduleInfo } from '../interfaces.js';
import {
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  setScheduleStatus,
  updateSchedule,
  upsertSchedule,
  type ScheduleFields,
  type ScheduleRow,
} from '../sql/schedules.js';
import { assertIdentifier, assertOptions } from '../validate.js';
import { DEFAULT_SCHEDULE_TIMEZONE, nextTick, validateSchedule } from './cron.js';

/** `row` as the public API reports it; `nextTickAt` counts from `now` (null while paused or if the stored cron is unusable). */
export function toInfo(row: ScheduleRow, now: Date = new Date()): ScheduleInfo {
  let nextTickAt: Date | null = null;
  if (row.status === 'ACTIVE') {
    try {
      nextTickAt = nextTick(row.cron, row.timezone, now);
    } catch {
      // A row edited by hand with SQL; the scheduler warns about it and skips it.
    }
  }
  return {
    name: row.name,
    workflowName: row.workflow_name,
    cron: row.cron,
    timezone: row.timezone,
    catchUp: row.catch_up,
    queue: row.queue_name,
    status: row.status,
    lastTickAt: row.last_tick_at,
    nextTickAt,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function sameFields(row: ScheduleRow, fields: ScheduleFields): boolean {
  return (
    row.workflow_name === fields.workflowName &&
    row.cron === fields.cron &&
    row.timezone === fields.timezone &&
    row.catch_up === fields.catchUp &&
    row.queue_name === fields.queueName
  );
}

/** What {@link ScheduleAdminImpl} needs from the engine. */
export interface ScheduleAdminOptions {
  /** The system database. */
  readonly db: Database;
  /** Called after every committed change, so every executor's {@link Scheduler} reloads. */
  readonly onChange: () => Promise<void>;
  /** Throws an UnknownWorkflowError for a workflow name no executor can run. */
  readonly knownWorkflow?: (name: string) => Promise<void>;
  /** Throws an UnknownQueueError for a queue that does not exist. */
  readonly knownQueue?: (name: string) => Promise<void>;
}

/**
 * The {@link ScheduleAdmin} behind `strata.schedules`: schedules are rows of `strata.schedules`,
 * so a change made here reaches every executor. Input is validated before anything is written.
 *
 * @example
 * const admin = new ScheduleAdminImpl({ db, onChange: () => db.notify('strata_schedules', '') });
 * await admin.create('nightly-report', { workflow: 'report', cron: '0 3 * * *', timezone: 'Europe/Paris' });
 * await admin.update('nightly-report', { cron: '30 3 * * *' });
 * await admin.pause('nightly-report');
 * console.log((await admin.get('nightly-report'))?.status);   // 'PAUSED'
 */
export class ScheduleAdminImpl implements ScheduleAdmin {
  readonly #db: Database;
  readonly #onChange: () => Promise<void>;
  readonly #knownWorkflow: ((name: string) => Promise<void>) | undefined;
  readonly #knownQueue: ((name: string) => Promise<void>) | undefined;

  constructor(options: ScheduleAdminOptions) {
    this.#db = options.db;
    this.#onChange = options.onChange;
    this.#knownWorkflow = options.knownWorkflow;
    this.#knownQueue = options.knownQueue;
  }

  /**
   * Creates an ACTIVE schedule; a {@link DuplicateScheduleError} when the name exists. Its first
   * tick is the first one after now (with `catchUp`, ticks missed later while no executor runs
   * are started when one comes back).
   *
   * @example
   * await admin.create('every-minute', { workflow: 'poll', cron: '* * * * *', queue: 'polls' });
   */
  async create(name: string, config: ScheduleConfig & { readonly workflow: string }): Promise<ScheduleInfo> {
    const fields = await this.#checkDeclaration(name, config);
    const row = await insertSchedule(this.#db, name, fields);
    if (row === undefined) throw new DuplicateScheduleError(name);
    await this.#onChange();
    return toInfo(row);
  }

  /**
   * Creates the schedule, or brings it to this configuration, keeping its status and last tick:
   * how a schedule declared in code is stored at launch. Returns whether anything changed.
   *
   * @example
   * await admin.upsert('nightly-report', { workflow: 'report', cron: '0 3 * * *' });
   */
  async upsert(name: string, config: ScheduleConfig & { readonly workflow: string }): Promise<boolean> {
    const fields = await this.#checkDeclaration(name, config);
    const changed = await upsertSchedule(this.#db, name, fields);
    if (changed) await this.#onChange();
    return changed;
  }

  /**
   * Changes the given options (`queue: null` removes the queue); an {@link UnknownScheduleError}
   * when the schedule does not exist. Status and last tick are kept. Ticks before the change are
   * not caught up.
   *
   * @example
   * await admin.update('nightly-report', { cron: '0 4 * * *', timezone: 'America/New_York' });
   */
  async update(name: string, config: Partial<ScheduleConfig> & { readonly workflow?: string }): Promise<ScheduleInfo> {
    assertIdentifier(name, 'schedule name');
    assertOptions(config, 'schedule update');
    if (config === undefined) throw new InvalidArgumentError('schedule update must be an options object, e.g. { cron: "0 4 * * *" }');
    // The shape of what was given, before reading anything; the merged result is checked below.
    validateSchedule({ ...config, cron: config.cron ?? '* * * * *' });
    if (config.workflow !== undefined) {
      assertIdentifier(config.workflow, 'schedule workflow');
      await this.#knownWorkflow?.(config.workflow);
    }
    if (config.queue !== undefined && config.queue !== null) await this.#knownQueue?.(config.queue);
    const { row, changed } = await this.#db.transaction(async (tx) => {
      const existing = await getSchedule(tx, name, { forUpdate: true });
      if (existing === undefined) throw new UnknownScheduleError(name);
      const fields: ScheduleFields = {
        workflowName: config.workflow ?? existing.workflow_name,
        cron: config.cron ?? existing.cron,
        timezone: config.timezone ?? existing.timezone,
        catchUp: config.catchUp ?? existing.catch_up,
        queueName: config.queue === undefined ? existing.queue_name : config.queue,
      };
      validateSchedule({ cron: fields.cron, timezone: fields.timezone });
      if (sameFields(existing, fields)) return { row: existing, changed: false };
      const updated = await updateSchedule(tx, name, fields);
      if (updated === undefined) throw new UnknownScheduleError(name);
      return { row: updated, changed: true };
    });
    if (changed) await this.#onChange();
    return toInfo(row);
  }

  /**
   * Stops starting ticks until {@link resume}; an {@link UnknownScheduleError} when the schedule
   * does not exist. Pausing a paused schedule changes nothing.
   */
  async pause(name: string): Promise<ScheduleInfo> {
    return this.#setStatus(name, 'PAUSED');
  }

  /**
   * Starts ticks again from now on: ticks that fell while paused are skipped, even with
   * `catchUp`. An {@link UnknownScheduleError} when the schedule does not exist.
   */
  async resume(name: string): Promise<ScheduleInfo> {
    return this.#setStatus(name, 'ACTIVE');
  }

  /** The schedule, or undefined when it does not exist. */
  async get(name: string): Promise<ScheduleInfo | undefined> {
    assertIdentifier(name, 'schedule name');
    const row = await getSchedule(this.#db, name);
    return row === undefined ? undefined : toInfo(row);
  }

  /** Every schedule, by name. */
  async list(): Promise<ScheduleInfo[]> {
    const now = new Date();
    return (await listSchedules(this.#db)).map((row) => toInfo(row, now));
  }

  /**
   * Deletes the schedule (workflows its ticks started are kept); an {@link UnknownScheduleError}
   * when it does not exist.
   */
  async delete(name: string): Promise<void> {
    assertIdentifier(name, 'schedule name');
    if (!(await deleteSchedule(this.#db, name))) throw new UnknownScheduleError(name);
    await this.#onChange();
  }

  async #setStatus(name: string, status: 'ACTIVE' | 'PAUSED'): Promise<ScheduleInfo> {
    assertIdentifier(name, 'schedule name');
    const row = await setScheduleStatus(this.#db, name, status);
    if (row === undefined) throw new UnknownScheduleError(name);
    await this.#onChange();
    return toInfo(row);
  }

  /** Validates a full declaration and checks that its workflow and queue exist; writes nothing. */
  async #checkDeclaration(name: string, config: ScheduleConfig & { readonly workflow: string }): Promise<ScheduleFields> {
    assertIdentifier(name, 'schedule name');
    validateSchedule(config);
    assertIdentifier(config.workflow, 'schedule workflow');
    const fields: ScheduleFields = {
      workflowName: config.workflow,
      cron: config.cron,
      timezone: config.timezone ?? DEFAULT_SCHEDULE_TIMEZONE,
      catchUp: config.catchUp ?? false,
      queueName: config.queue ?? null,
    };
    await this.#knownWorkflow?.(fields.workflowName);
    if (fields.queueName !== null) await this.#knownQueue?.(fields.queueName);
    return fields;
  }
}
