/**
 * Cron schedules: validation and tick arithmetic, the runtime admin API (`strata.schedules`), and
 * the per-executor loop that starts each tick's workflow.
 *
 * Every executor runs the loop for the schedules whose workflow it has registered. A tick's
 * workflow ID is derived from the schedule and the tick time, and starting a workflow is
 * idempotent by ID, so however many executors see a tick, exactly one workflow runs for it; no
 * lock or leader is needed.
 */
import { Cron } from 'croner';
import { isConnectionError, type Database } from '@strata/store';
import { DuplicateScheduleError, EngineStateError, InvalidArgumentError, InvalidScheduleError, UnknownScheduleError } from './errors.js';
import type { Logger, ScheduleAdmin, ScheduleConfig, ScheduleInfo } from './interfaces.js';
import {
  advanceLastTick,
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  setScheduleStatus,
  updateSchedule,
  upsertSchedule,
  type ScheduleFields,
  type ScheduleRow,
} from './sql/schedules.js';
import { assertIdentifier, assertOptions, closestMatch, MAX_IDENTIFIER_LENGTH } from './validate.js';
import { MAX_TIMER_MS } from './runtime.js';

/** The time zone of a schedule that names none. */
export const DEFAULT_SCHEDULE_TIMEZONE = 'UTC';

/**
 * Most missed ticks of one schedule started in one pass of the loop: after a long outage, a
 * per-second schedule would otherwise hold the pass (and every other schedule) for hours. The
 * rest follow in the next passes, which start at once.
 */
export const MAX_CATCH_UP_TICKS_PER_PASS = 1_000;

/** After a tick's workflow could not be started, the loop tries again this soon (or at its reload interval, if sooner). */
const FAILED_TICK_RETRY_MS = 1_000;


/** Schedules whose ticks one pass starts concurrently: one slow start does not hold up the others. */
const PASS_CONCURRENCY = 8;

/** Parsed cron expressions kept; past it the cache starts over (a process has few distinct schedules). */
const CRON_CACHE_LIMIT = 1_000;

const CONFIG_KEYS: ReadonlySet<string> = new Set(['cron', 'timezone', 'catchUp', 'queue', 'workflow']);

const CRON_HINT = 'use 5 fields (minute hour day month weekday) or 6 (seconds first)';

/**
 * The workflow ID of a schedule's tick: `sched:<name>:<tick ISO time>`. Every executor derives
 * the same ID, so the tick's workflow is created once.
 *
 * @example
 * scheduleTickWorkflowId('nightly', new Date('2025-01-01T03:00:00Z')); // 'sched:nightly:2025-01-01T03:00:00.000Z'
 */
export function scheduleTickWorkflowId(scheduleName: string, tickAt: Date): string {
  return `sched:${scheduleName}:${tickAt.toISOString()}`;
}

/**
 * Throws unless `config` is a valid schedule configuration: an {@link InvalidScheduleError} for a
 * cron expression or time zone that cannot be used (the message says what to write instead), an
 * {@link InvalidArgumentError} for options of the wrong type or unknown options (such as
 * `timeZone` for `timezone`). A `workflow` key is allowed and not checked here.
 *
 * @example
 * validateSchedule({ cron: '0 3 * * *', timezone: 'Europe/Paris' });   // fine
 * validateSchedule({ cron: '61 * * * *' });
 * // InvalidScheduleError: cron expression "61 * * * *" is invalid: CronPattern: Invalid value for minute: 61; use 5 fields …
 */
export function validateSchedule(config: ScheduleConfig): void {
  assertOptions(config, 'schedule config');
  if (config === undefined) throw new InvalidArgumentError('schedule config must be an options object with a cron expression, e.g. { cron: "0 3 * * *" }');
  for (const key of Object.keys(config)) {
    if (!CONFIG_KEYS.has(key)) {
      const near = closestMatch(key, [...CONFIG_KEYS]);
      throw new InvalidArgumentError(`schedule config has no option "${key}"; the options are cron, timezone, catchUp and queue${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
    }
  }
  const { cron, timezone = DEFAULT_SCHEDULE_TIMEZONE, catchUp, queue } = config;
  assertTimezone(timezone);
  parseCron(cron, timezone);
  if (nextTick(cron, timezone, new Date()) === null) {
    throw new InvalidScheduleError(`cron expression "${cron}" never matches a time (such as February 30); ${CRON_HINT}`);
  }
  if (catchUp !== undefined && typeof catchUp !== 'boolean') {
    throw new InvalidArgumentError(`schedule catchUp must be true or false, got ${describe(catchUp)}`);
  }
  if (queue !== undefined && queue !== null) assertIdentifier(queue, 'schedule queue');
}

/**
 * The first tick of `cron`, read in `timezone`, strictly after `after`; null when the expression
 * never matches again. Ticks fall on whole seconds. Throws an {@link InvalidScheduleError} for an
 * invalid expression or time zone.
 *
 * @example
 * nextTick('0 3 * * *', 'Europe/Paris', new Date('2025-01-01T00:00:00Z')); // 2025-01-01T02:00:00.000Z
 * nextTick('30 * * * * *', 'UTC', new Date('2025-01-01T00:00:05Z'));     // 2025-01-01T00:00:30.000Z
 */
export function nextTick(cron: string, timezone: string, after: Date): Date | null {
  return parseCron(cron, timezone).nextRun(after);
}

/**
 * The latest tick of `cron` in `(afterMs, atOrBeforeMs]`, or null when there is none. A binary
 * search over the interval, so a long gap costs a few dozen cron evaluations, not one per tick.
 */
function latestTickBetween(cron: string, timezone: string, afterMs: number, atOrBeforeMs: number): Date | null {
  const first = nextTick(cron, timezone, new Date(afterMs));
  if (first === null || first.getTime() > atOrBeforeMs) return null;
  // Invariant: the latest tick L is in (lowMs, highMs]. Ticks fall on whole seconds, so once the
  // interval is a second long, L is the first tick after lowMs.
  let lowMs = afterMs;
  let highMs = atOrBeforeMs;
  while (highMs - lowMs > 1_000) {
    const midMs = lowMs + Math.floor((highMs - lowMs) / 2);
    const next = nextTick(cron, timezone, new Date(midMs));
    if (next !== null && next.getTime() <= atOrBeforeMs) lowMs = midMs;
    else highMs = midMs;
  }
  return nextTick(cron, timezone, new Date(lowMs));
}

const cronCache = new Map<string, Cron>();

/** The parsed expression (cached), or an InvalidScheduleError that says what to fix. */
function parseCron(cron: unknown, timezone: string): Cron {
  if (typeof cron !== 'string' || cron.length === 0 || cron.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidScheduleError(`cron expression must be a non-empty string such as "0 3 * * *", got ${describe(cron)}; ${CRON_HINT}`);
  }
  const key = `${timezone}\n${cron}`;
  let parsed = cronCache.get(key);
  if (parsed === undefined) {
    // croner converts through Intl on every evaluation in `timezone` mode; a fixed zero offset is
    // the same for UTC and about a hundred times faster.
    const zone = assertTimezone(timezone) === 'UTC' ? { utcOffset: 0 } : { timezone };
    try {
      parsed = new Cron(cron, { ...zone, paused: true });
    } catch (error) {
      throw new InvalidScheduleError(`cron expression "${cron}" is invalid: ${(error as Error).message}; ${CRON_HINT}`);
    }
    if (cronCache.size >= CRON_CACHE_LIMIT) cronCache.clear();
    cronCache.set(key, parsed);
  }
  return parsed;
}

/** Throws unless `timezone` is an IANA time zone; returns its canonical name (e.g. 'UTC' for 'Etc/UTC'). */
function assertTimezone(timezone: unknown): string {
  if (typeof timezone !== 'string' || timezone.length === 0 || timezone.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidScheduleError(`time zone must be an IANA time zone name such as "Europe/Paris", got ${describe(timezone)}`);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidScheduleError(`time zone "${timezone}" is not an IANA time zone, e.g. "Europe/Paris"`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** `row` as the public API reports it; `nextTickAt` counts from `now` (null while paused or if the stored cron is unusable). */
function toInfo(row: ScheduleRow, now: Date = new Date()): ScheduleInfo {
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

/** What a {@link Scheduler} needs from its engine. */
export interface SchedulerHost {
  /** The system database. */
  readonly db: Database;
  readonly logger: Logger;
  /** Re-read schedules at least this often (changes by other processes also arrive via reload()). */
  readonly reloadIntervalMs: number;
  /** Whether this executor can start workflows of this name (it has it registered). */
  canRun(workflowName: string): boolean;
  /**
   * Creates the tick's workflow with this exact ID (start, or enqueue on `schedule.queue`); must be
   * idempotent (a second call with the same ID, from this or another process, does nothing).
   */
  startTick(schedule: ScheduleInfo, tickAt: Date, workflowId: string): Promise<void>;
}

type SchedulerState = 'new' | 'running' | 'stopped';

/** The ticks one pass starts for one schedule. */
interface DueTicks {
  readonly row: ScheduleRow;
  readonly ticks: readonly Date[];
  /** More missed ticks remain than one pass starts. */
  readonly capped: boolean;
}

/**
 * One executor's cron loop. Each pass reads `strata.schedules` and, for every ACTIVE schedule
 * whose workflow this executor can run, starts the due ticks through `host.startTick`, then
 * records them in `last_tick_at`; one timer then waits for the earliest next tick (or the reload
 * interval). Without `catch_up` only the latest due tick starts, and never one from before
 * {@link start}; with it, every tick after the last recorded one, oldest first. Ticks from before
 * the schedule's latest change (creation, update, pause or resume) never start.
 *
 * Any number of executors run this loop on one database: a tick's workflow ID is
 * {@link scheduleTickWorkflowId}, and `startTick` is idempotent by ID, so each tick runs once.
 *
 * @example
 * const scheduler = new Scheduler({
 *   db, logger: console, reloadIntervalMs: 60_000,
 *   canRun: (workflowName) => registry.has(workflowName),
 *   startTick: (schedule, tickAt, workflowId) => startByName(schedule.workflowName, [tickAt], { workflowId }),
 * });
 * await scheduler.start();                           // catches up, then follows the clock
 * const sub = await db.listen('strata_schedules', () => scheduler.reload());
 * // …
 * await scheduler.stop();
 */
export class Scheduler {
  readonly #host: SchedulerHost;
  #state: SchedulerState = 'new';
  /** Ticks before this (the loop's start) are never started without catch-up. */
  #startedAtMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #passing: Promise<void> | undefined;
  /** A reload arrived during a pass: run another one right after it. */
  #again = false;
  /** Stored schedules that cannot be evaluated, warned about once per cron and time zone. */
  readonly #warnedInvalid = new Set<string>();

  constructor(host: SchedulerHost) {
    this.#host = host;
  }

  /**
   * Loads the schedules, starts the ticks that are due (the missed ones of `catch_up` schedules),
   * and arms the timer for the next one. Rejects if `strata.schedules` cannot be read; a tick whose
   * workflow cannot be started is logged and tried again later.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new EngineStateError(`the scheduler was already ${this.#state === 'running' ? 'started' : 'stopped'}`);
    this.#state = 'running';
    this.#startedAtMs = Date.now();
    try {
      await this.#trigger(true);
    } catch (error) {
      this.#state = 'stopped';
      throw error;
    }
  }

  /** Re-reads the schedules now (a change notification arrived); coalesces with a pass in flight. */
  reload(): void {
    if (this.#state === 'running') void this.#trigger(false);
  }

  /** Clears the timer and waits for a pass in flight, which stops before its next tick. No tick starts afterwards. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#passing?.catch(() => {});
  }

  /** Runs passes until no reload is pending, then arms the timer. Rejects only on `start()`'s load failure. */
  #trigger(rejectOnLoadFailure: boolean): Promise<void> {
    if (this.#passing !== undefined) {
      this.#again = true;
      return this.#passing;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const passing = this.#loop(rejectOnLoadFailure).finally(() => {
      this.#passing = undefined;
    });
    this.#passing = passing;
    // A reload that arrived after the loop's last check (a failed start() stops the loop instead).
    passing.then(
      () => {
        if (this.#again && this.#state === 'running') void this.#trigger(false);
      },
      () => {},
    );
    return passing;
  }

  async #loop(rejectOnLoadFailure: boolean): Promise<void> {
    let wakeInMs: number;
    do {
      this.#again = false;
      try {
        wakeInMs = await this.#pass();
      } catch (error) {
        if (rejectOnLoadFailure) throw error;
        wakeInMs = Math.min(FAILED_TICK_RETRY_MS, this.#host.reloadIntervalMs);
        if (!isConnectionError(error)) this.#host.logger.warn(`schedules: could not read strata.schedules; trying again in ${wakeInMs} ms`, error);
      }
    } while (this.#again && this.#state === 'running');
    if (this.#state !== 'running') return;
    const delayMs = Math.max(0, Math.min(wakeInMs, this.#host.reloadIntervalMs, MAX_TIMER_MS));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === 'running') void this.#trigger(false);
    }, delayMs);
    this.#timer.unref();
  }

  /** One pass: starts what is due; returns how long until the next pass is needed. */
  async #pass(): Promise<number> {
    const nowMs = Date.now();
    const rows = await listSchedules(this.#host.db);
    let wakeAtMs = nowMs + this.#host.reloadIntervalMs;
    const due: DueTicks[] = [];
    for (const row of rows) {
      if (row.status !== 'ACTIVE' || !this.#host.canRun(row.workflow_name)) continue;
      try {
        const ticks = this.#dueTicks(row, nowMs);
        if (ticks.ticks.length > 0) due.push(ticks);
        const next = nextTick(row.cron, row.timezone, new Date(nowMs));
        if (next !== null) wakeAtMs = Math.min(wakeAtMs, next.getTime());
      } catch (error) {
        const key = `${row.name}\n${row.cron}\n${row.timezone}`;
        if (!this.#warnedInvalid.has(key)) {
          this.#warnedInvalid.add(key);
          this.#host.logger.warn(`schedule "${row.name}" is skipped: ${(error as Error).message}; fix it with schedules.update()`);
        }
      }
    }
    let next = 0;
    const worker = async () => {
      while (next < due.length && this.#state === 'running') {
        const item = due[next++]!;
        const startedAll = await this.#startTicks(item);
        if (!startedAll) wakeAtMs = Math.min(wakeAtMs, Date.now() + FAILED_TICK_RETRY_MS);
        else if (item.capped) wakeAtMs = Date.now();
      }
    };
    await Promise.all(Array.from({ length: Math.min(PASS_CONCURRENCY, due.length) }, worker));
    return wakeAtMs - Date.now();
  }

  /** The ticks of `row` to start now, oldest first. */
  #dueTicks(row: ScheduleRow, nowMs: number): DueTicks {
    // Ticks before the latest change of the schedule never start: a paused schedule skips its
    // ticks, and a changed expression has no ticks before the change.
    const floorMs = Math.max(row.updated_at.getTime(), row.last_tick_at?.getTime() ?? -Infinity);
    if (!row.catch_up) {
      const latest = latestTickBetween(row.cron, row.timezone, Math.max(floorMs, this.#startedAtMs), nowMs);
      return { row, ticks: latest === null ? [] : [latest], capped: false };
    }
    const ticks: Date[] = [];
    let tick = nextTick(row.cron, row.timezone, new Date(floorMs));
    while (tick !== null && tick.getTime() <= nowMs && ticks.length < MAX_CATCH_UP_TICKS_PER_PASS) {
      ticks.push(tick);
      tick = nextTick(row.cron, row.timezone, tick);
    }
    const capped = tick !== null && tick.getTime() <= nowMs;
    if (capped) {
      this.#host.logger.warn(
        `schedule "${row.name}": more than ${MAX_CATCH_UP_TICKS_PER_PASS} missed ticks to catch up; starting the oldest ${MAX_CATCH_UP_TICKS_PER_PASS} (up to ${ticks.at(-1)!.toISOString()}) now and the rest in the next passes`,
      );
    }
    return { row, ticks, capped };
  }

  /** Starts the ticks in order, recording each; stops at the first failure (logged) and returns false. */
  async #startTicks({ row, ticks }: DueTicks): Promise<boolean> {
    const info = toInfo(row);
    for (const tickAt of ticks) {
      if (this.#state !== 'running') return true;
      const workflowId = scheduleTickWorkflowId(row.name, tickAt);
      try {
        await this.#host.startTick(info, tickAt, workflowId);
        await advanceLastTick(this.#host.db, row.name, tickAt);
      } catch (error) {
        this.#host.logger.warn(
          `schedule "${row.name}": could not start workflow "${workflowId}" of the tick at ${tickAt.toISOString()}; trying again at the next pass`,
          error,
        );
        return false;
      }
    }
    return true;
  }
}
