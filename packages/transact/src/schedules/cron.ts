// Cron schedules' arithmetic and validation: parsing expressions and time zones, next and latest ticks, tick workflow IDs.
import { Cron } from 'croner';
import { InvalidArgumentError, InvalidScheduleError } from '../errors.js';
import type { ScheduleConfig } from '../interfaces.js';
import { assertIdentifier, assertOptions, closestMatch, MAX_IDENTIFIER_LENGTH } from '../validate.js';

/** The time zone of a schedule that names none. */
export const DEFAULT_SCHEDULE_TIMEZONE = 'UTC';

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
export function latestTickBetween(cron: string, timezone: string, afterMs: number, atOrBeforeMs: number): Date | null {
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
