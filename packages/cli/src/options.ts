/**
 * Parsing and validation of every flag value the CLI takes, in one place. Each parser throws a
 * {@link UsageError} (exit 2) whose message names the flag, what it got and what is valid, before
 * anything touches the database.
 */
import type { ListWorkflowsOptions, QueueConfig, WorkflowFilter, WorkflowStatusName } from '@strata/transact';
import { UsageError } from './errors.js';

/** Every workflow status, in lifecycle order. */
export const WORKFLOW_STATUSES: readonly WorkflowStatusName[] = ['ENQUEUED', 'PENDING', 'SUCCESS', 'ERROR', 'CANCELLED'];

/** Where the database is when neither `--database` nor the environment says. */
export const DEFAULT_DATABASE = './.strata';

/** The environment variable `--database` defaults to. */
export const DATABASE_ENV = 'STRATA_DATABASE_URL';

/** Rows per page that `workflows.list` accepts. */
export const LIST_LIMIT_MAX = 1_000;

/** Units an age (`--since 2h`) or a rate period (`--rate-limit 100/1s`) may carry, in ms. */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--database`, else `$STRATA_DATABASE_URL`, else the embedded `./.strata`. */
export function resolveDatabase(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const value = flag ?? env[DATABASE_ENV] ?? DEFAULT_DATABASE;
  if (value.trim() === '') {
    throw new UsageError(`--database is empty: give a postgres:// URL or the directory of an embedded database (default ${DEFAULT_DATABASE})`);
  }
  return value;
}

/** `SUCCESS,error` → `['SUCCESS', 'ERROR']`; case does not matter. */
export function parseStatuses(raw: string): WorkflowStatusName[] {
  const statuses: WorkflowStatusName[] = [];
  for (const part of raw.split(',')) {
    const status = part.trim().toUpperCase();
    if (!(WORKFLOW_STATUSES as readonly string[]).includes(status)) {
      throw new UsageError(`--status ${JSON.stringify(part.trim())} is not a workflow status; valid: ${WORKFLOW_STATUSES.join(', ')} (comma-separate several)`);
    }
    if (!statuses.includes(status as WorkflowStatusName)) statuses.push(status as WorkflowStatusName);
  }
  return statuses;
}

/** An ISO 8601 date or date-time; a time without a zone is read as UTC. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
/** An age back from now: `90s`, `30m`, `2h`, `7d`. */
const AGE = /^(\d+)(ms|s|m|h|d)$/;

/**
 * A point in time for `--since`/`--until`: an ISO 8601 date (`2026-01-31`, midnight UTC), date-time
 * (`2026-01-31T12:00:00Z`, `2026-01-31 12:00` is UTC) or an age back from `nowMs` (`30m`, `2h`, `7d`).
 */
export function parseTime(raw: string, flag: string, nowMs: number = Date.now()): Date {
  const text = raw.trim();
  const age = AGE.exec(text);
  if (age) return new Date(nowMs - Number(age[1]) * UNIT_MS[age[2]!]!);
  const iso = ISO_TIME.exec(text);
  if (iso) {
    const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '0', zone] = iso;
    const offset = zone === undefined || zone.toUpperCase() === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
    const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}.${fraction.padEnd(3, '0').slice(0, 3)}${offset}`);
    // Date accepts 2026-02-31 by rolling over; a calendar date must survive the round trip.
    if (!Number.isNaN(date.getTime()) && (zone !== undefined || date.toISOString().startsWith(`${year}-${month}-${day}`))) return date;
  }
  throw new UsageError(
    `${flag} ${JSON.stringify(raw)} is not a time; valid: an ISO 8601 date or date-time (2026-01-31, 2026-01-31T12:00:00Z; UTC unless a zone is given) or an age such as 30m, 2h, 7d`,
  );
}

/** `--attr k=v` values (repeatable) → `{ k: 'v' }`. */
export function parseAttributes(raw: readonly string[]): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of raw) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--attr ${JSON.stringify(pair)} is not key=value; write e.g. --attr customer=c-42 (repeat --attr for several)`);
    const key = pair.slice(0, at);
    if (Object.hasOwn(attributes, key)) throw new UsageError(`--attr ${key} is given twice; give each key once`);
    attributes[key] = pair.slice(at + 1);
  }
  return attributes;
}

/** A whole number in `[min, max]`, for flags such as `--limit` and `--from-step`. */
export function parseWholeNumber(raw: string, flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const text = raw.trim();
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not valid; valid: ${range}`);
  }
  return value;
}

/** The flags of `workflows list` and of the bulk commands, as commander hands them over. */
export interface RawFilterOptions {
  readonly status?: string;
  readonly name?: string;
  readonly queue?: string;
  readonly executor?: string;
  readonly appVersion?: string;
  readonly since?: string;
  readonly until?: string;
  readonly prefix?: string;
  readonly attr?: readonly string[];
  readonly parent?: string;
}

/** A workflow filter, and whether any flag narrowed it (bulk commands need one, or `--all`). */
export interface ParsedFilter {
  readonly filter: WorkflowFilter;
  readonly narrowed: boolean;
}

/** Builds a {@link WorkflowFilter} from filter flags. */
export function parseWorkflowFilter(raw: RawFilterOptions, nowMs: number = Date.now()): ParsedFilter {
  const filter: { -readonly [K in keyof WorkflowFilter]: WorkflowFilter[K] } = {};
  if (raw.status !== undefined) filter.status = parseStatuses(raw.status);
  if (raw.name !== undefined) filter.name = nonEmpty(raw.name, '--name');
  if (raw.queue !== undefined) filter.queue = nonEmpty(raw.queue, '--queue');
  if (raw.executor !== undefined) filter.executorId = nonEmpty(raw.executor, '--executor');
  if (raw.appVersion !== undefined) filter.appVersion = nonEmpty(raw.appVersion, '--app-version');
  if (raw.since !== undefined) filter.createdAfter = parseTime(raw.since, '--since', nowMs);
  if (raw.until !== undefined) filter.createdBefore = parseTime(raw.until, '--until', nowMs);
  if (raw.prefix !== undefined) filter.workflowIdPrefix = nonEmpty(raw.prefix, '--prefix');
  if (raw.attr !== undefined && raw.attr.length > 0) filter.attributes = parseAttributes(raw.attr);
  if (raw.parent !== undefined) filter.parentWorkflowId = nonEmpty(raw.parent, '--parent');
  if (filter.createdAfter && filter.createdBefore && filter.createdAfter >= filter.createdBefore) {
    throw new UsageError(`--since (${filter.createdAfter.toISOString()}) must be before --until (${filter.createdBefore.toISOString()})`);
  }
  return { filter, narrowed: Object.keys(filter).length > 0 };
}

/** The flags of `workflows list` beyond the filter. */
export interface RawListOptions extends RawFilterOptions {
  readonly limit?: string;
  readonly cursor?: string;
  readonly oldest?: boolean;
}

/** Builds the options of `workflows.list()`. */
export function parseListOptions(raw: RawListOptions, nowMs: number = Date.now()): ListWorkflowsOptions {
  const { filter } = parseWorkflowFilter(raw, nowMs);
  return {
    ...filter,
    ...(raw.limit !== undefined ? { limit: parseWholeNumber(raw.limit, '--limit', 1, LIST_LIMIT_MAX) } : {}),
    ...(raw.cursor !== undefined ? { cursor: nonEmpty(raw.cursor, '--cursor') } : {}),
    order: raw.oldest ? 'oldest' : 'newest',
  };
}

/** The flags of `queues create|update`. */
export interface RawQueueOptions {
  readonly concurrency?: string;
  readonly workerConcurrency?: string;
  readonly partitionConcurrency?: string;
  readonly rateLimit?: string;
}

/**
 * Queue limits from flags. Each takes a whole number ≥ 1, or `none` to remove the limit
 * (`update`); the rate limit is `COUNT/PERIOD` with the period in ms or with a unit (`100/1000`, `100/1s`).
 */
export function parseQueueConfig(raw: RawQueueOptions): QueueConfig {
  const limit = (value: string | undefined, flag: string): number | null | undefined => {
    if (value === undefined) return undefined;
    if (value.trim().toLowerCase() === 'none') return null;
    try {
      return parseWholeNumber(value, flag, 1);
    } catch {
      throw new UsageError(`${flag} ${JSON.stringify(value)} is not valid; valid: a whole number ≥ 1, or none to remove the limit`);
    }
  };
  const config: { -readonly [K in keyof QueueConfig]: QueueConfig[K] } = {};
  const concurrency = limit(raw.concurrency, '--concurrency');
  if (concurrency !== undefined) config.concurrency = concurrency;
  const workerConcurrency = limit(raw.workerConcurrency, '--worker-concurrency');
  if (workerConcurrency !== undefined) config.workerConcurrency = workerConcurrency;
  const partitionConcurrency = limit(raw.partitionConcurrency, '--partition-concurrency');
  if (partitionConcurrency !== undefined) config.partitionConcurrency = partitionConcurrency;
  if (raw.rateLimit !== undefined) config.rateLimit = parseRateLimit(raw.rateLimit);
  return config;
}

/** `100/1000` or `100/1s` → `{ limit: 100, periodMs: 1000 }`; `none` → null. */
export function parseRateLimit(raw: string): { limit: number; periodMs: number } | null {
  const text = raw.trim().toLowerCase();
  if (text === 'none') return null;
  const match = /^(\d+)\/(\d+)(ms|s|m|h|d)?$/.exec(text);
  const limit = match ? Number(match[1]) : 0;
  const periodMs = match ? Number(match[2]) * UNIT_MS[match[3] ?? 'ms']! : 0;
  if (!match || !Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(periodMs) || periodMs < 1) {
    throw new UsageError(
      `--rate-limit ${JSON.stringify(raw)} is not valid; valid: COUNT/PERIOD with COUNT ≥ 1 and PERIOD in ms or with a unit (100/1000, 100/1s, 5/1m), or none`,
    );
  }
  return { limit, periodMs };
}

/** A TCP port for `strata console`. */
export function parsePort(raw: string): number {
  return parseWholeNumber(raw, '--port', 0, 65_535);
}

function nonEmpty(value: string, flag: string): string {
  if (value.trim() === '') throw new UsageError(`${flag} is empty; give a value`);
  return value;
}
