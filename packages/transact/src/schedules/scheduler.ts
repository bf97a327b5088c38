// One executor's cron loop: starts each due tick's workflow once, under an ID derived from the schedule and the tick.
import { isConnectionError, type Database } from '@strata/store';
import { EngineStateError } from '../errors.js';
import type { Logger, ScheduleInfo } from '../interfaces.js';
import { advanceLastTick, listSchedules, type ScheduleRow } from '../sql/schedules.js';
import { MAX_TIMER_MS } from '../timers.js';
import { latestTickBetween, nextTick, scheduleTickWorkflowId } from './cron.js';
import { toInfo } from './schedule-admin.js';

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
