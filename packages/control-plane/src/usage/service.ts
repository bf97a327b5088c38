// The usage API's reads and its one change, free of HTTP: a tenant's usage report over a range, its
// caps with where it stands this month, and a cap change (which re-evaluates the tenant at once).
import type { Database, Queryable } from '@strata/store';
import { evaluateCaps, capPercent, capStateOf, type CapEvaluationContext } from './evaluate.js';
import { monthOf } from './period.js';
import { cappedUsageBetween, getCap, statesOf, upsertCap, type CapStateName, type UsageCapChange } from './sql/caps.js';
import { agentTables, instanceNames, storagePeaks, usageBetween, type UsageGrouping, type UsageMeasures } from './sql/report.js';

/** A report spans at most a year (a leap one included): each one sums every per-minute row of its range. */
export const MAX_USAGE_RANGE_DAYS = 366;
/** Hourly groups over at most a month: 744 points, what a chart can show. */
export const MAX_HOURLY_RANGE_DAYS = 31;
/** Largest cap: far above any month's use, and still an exact JavaScript number. */
export const CAP_MAX = 1_000_000_000_000_000;

const DAY_MS = 86_400_000;

/** A usage request that cannot be answered: HTTP status, stable code, what to do. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly status: number,
    readonly code: 'invalid_request' | 'not_found',
    message: string,
  ) {
    super(message);
  }
}

/** One group of a report: an instance (`instanceId`, `instanceName`) or a UTC hour or day (`start`). */
export interface UsageGroup extends UsageMeasures {
  readonly instanceId: string | null;
  /** null for an instance whose row is gone. */
  readonly instanceName: string | null;
  /** ISO 8601, the bucket's first instant. */
  readonly start: string | null;
}

/** A usage report. */
export interface UsageReport {
  readonly from: string;
  readonly to: string;
  readonly group: UsageGrouping;
  /** Time groups oldest first; instance groups by operations, most first. Groups with nothing are left out. */
  readonly groups: UsageGroup[];
  readonly totals: UsageMeasures;
}

/**
 * The range a request asks for, checked: `to` defaults to now, `from` to the start of `to`'s month
 * (UTC); `from` must not be after `to`; the range is at most {@link MAX_USAGE_RANGE_DAYS} days, and
 * {@link MAX_HOURLY_RANGE_DAYS} for hourly groups.
 *
 * @throws {UsageError} `400 invalid_request`, saying what to change.
 */
export function usageRange(query: { readonly from?: string; readonly to?: string; readonly group: UsageGrouping }, now: Date): { from: Date; to: Date } {
  const to = query.to === undefined ? now : new Date(query.to);
  const from = query.from === undefined ? monthOf(new Date(to.getTime() - 1)).start : new Date(query.from);
  if (from.getTime() > to.getTime()) throw new UsageError(400, 'invalid_request', `from (${from.toISOString()}) is after to (${to.toISOString()}); give a range that starts before it ends`);
  const days = (to.getTime() - from.getTime()) / DAY_MS;
  if (days > MAX_USAGE_RANGE_DAYS) throw new UsageError(400, 'invalid_request', `the range is ${Math.ceil(days)} days; ask for at most ${MAX_USAGE_RANGE_DAYS} days at a time`);
  if (query.group === 'hour' && days > MAX_HOURLY_RANGE_DAYS) {
    throw new UsageError(400, 'invalid_request', `group=hour covers at most ${MAX_HOURLY_RANGE_DAYS} days and the range is ${Math.ceil(days)}; narrow from/to, or use group=day`);
  }
  return { from, to };
}

/**
 * The tenant's usage in [from, to), grouped by instance, UTC hour or UTC day: operations, bytes in
 * and out and connection time (the proxy's), compute time (the agents'), and storage (the sum of each
 * instance's largest sampled database size in the group; null without samples — the agents keep a
 * day of them by default).
 *
 * @example
 * const report = await usageReport(db, 'ten_1', { from: new Date('2025-06-01Z'), to: new Date('2025-07-01Z'), group: 'day' });
 */
export async function usageReport(db: Queryable, tenantId: string, range: { readonly from: Date; readonly to: Date; readonly group: UsageGrouping }): Promise<UsageReport> {
  const tables = await agentTables(db);
  const byKey = await usageBetween(db, tenantId, range.from, range.to, range.group, tables);
  const names = range.group === 'instance' ? await instanceNames(db, tenantId, [...byKey.keys()]) : new Map<string, string>();
  const groups: UsageGroup[] = [...byKey].map(([key, measures]) =>
    range.group === 'instance' ? { instanceId: key, instanceName: names.get(key) ?? null, start: null, ...measures } : { instanceId: null, instanceName: null, start: key, ...measures },
  );
  if (range.group === 'instance') groups.sort((a, b) => b.operations - a.operations || (a.instanceId ?? '').localeCompare(b.instanceId ?? ''));
  else groups.sort((a, b) => (a.start ?? '').localeCompare(b.start ?? ''));
  const totals: UsageMeasures = { operations: 0, bytesIn: 0, bytesOut: 0, connectionMs: 0, computeMs: 0, storageBytes: null };
  for (const group of groups) {
    totals.operations += group.operations;
    totals.bytesIn += group.bytesIn;
    totals.bytesOut += group.bytesOut;
    totals.connectionMs += group.connectionMs;
    totals.computeMs += group.computeMs;
  }
  // Storage does not add up over time: the range's total is each instance's peak in the whole range.
  if (tables.metrics) {
    const peaks = range.group === 'instance' ? groups.map((group) => group.storageBytes).filter((bytes): bytes is number => bytes !== null) : [...(await storagePeaks(db, tenantId, range.from, range.to, 'instance')).values()];
    totals.storageBytes = peaks.length === 0 ? null : peaks.reduce((sum, bytes) => sum + bytes, 0);
  }
  return { from: range.from.toISOString(), to: range.to.toISOString(), group: range.group, groups, totals };
}

/** A tenant's caps and where it stands in the month. */
export interface CapView {
  readonly tenantId: string;
  readonly period: { readonly start: string; readonly end: string };
  readonly cap: { readonly operationsPerMonth: number | null; readonly bytesOutPerMonth: number | null };
  /** The month's usage so far, summed now. */
  readonly usage: { readonly operations: number; readonly bytesOut: number };
  /** The larger share of the caps used, now. */
  readonly percent: number;
  /** The state the proxy enforces, as of `evaluatedAt` (the last evaluation; null before the first). */
  readonly state: CapStateName;
  readonly warnedAt: string | null;
  readonly exceededAt: string | null;
  readonly evaluatedAt: string | null;
}

/**
 * The tenant's caps (null: none), its usage of the month so far and where the last evaluation put it.
 *
 * @example
 * const { cap, usage, percent, state } = await capView(db, 'ten_1', new Date());
 */
export async function capView(db: Queryable, tenantId: string, now: Date): Promise<CapView> {
  const period = monthOf(now);
  const cap = (await getCap(db, tenantId)) ?? { operationsPerMonth: null, bytesOutPerMonth: null };
  const used = (await cappedUsageBetween(db, [tenantId], period.start, period.end)).get(tenantId) ?? { operations: 0n, bytesOut: 0n };
  const state = (await statesOf(db, period.startDate, [tenantId])).get(tenantId);
  const capped = cap.operationsPerMonth !== null || cap.bytesOutPerMonth !== null;
  return {
    tenantId,
    period: { start: period.start.toISOString(), end: period.end.toISOString() },
    cap: { operationsPerMonth: cap.operationsPerMonth, bytesOutPerMonth: cap.bytesOutPerMonth },
    usage: { operations: Number(used.operations), bytesOut: Number(used.bytesOut) },
    percent: capPercent(used, cap),
    // Not evaluated yet (a cap set a moment ago is evaluated in its own commit): what the usage says.
    state: state?.state ?? (capped ? capStateOf(used, cap) : 'ok'),
    warnedAt: state?.warnedAt?.toISOString() ?? null,
    exceededAt: state?.exceededAt?.toISOString() ?? null,
    evaluatedAt: state?.evaluatedAt.toISOString() ?? null,
  };
}

/**
 * Sets the tenant's caps (a field left out keeps its cap; null removes it) and evaluates the tenant
 * in the same commit: a raised cap lowers its state at once, so the proxy lets its statements
 * through at its next refresh (a second); a lowered one may raise an event. `record` appends the
 * audit row in that commit.
 *
 * @example
 * await setCap(db, 'ten_1', { operationsPerMonth: 5_000_000 }, { requestId: 'req_1' });
 */
export async function setCap(
  db: Database,
  tenantId: string,
  change: UsageCapChange,
  context: Omit<CapEvaluationContext, 'tenantId'> & { readonly record?: (tx: Queryable) => Promise<void> },
): Promise<CapView> {
  if (change.operationsPerMonth === undefined && change.bytesOutPerMonth === undefined) {
    throw new UsageError(400, 'invalid_request', 'nothing to change: give operationsPerMonth or bytesOutPerMonth (null removes that cap)');
  }
  const now = new Date();
  await db.transaction(async (tx) => {
    const { rows } = await tx.query(`select 1 from strata_cloud.tenants where tenant_id = $1`, [tenantId]);
    if (rows.length === 0) throw new UsageError(404, 'not_found', `no tenant ${JSON.stringify(tenantId.slice(0, 200))}; check the ID that POST /v1/tenants returned`);
    await upsertCap(tx, tenantId, change);
    await context.record?.(tx);
    await evaluateCaps(tx, now, { requestId: context.requestId, tenantId, ...(context.deliver === undefined ? {} : { deliver: context.deliver }) });
  });
  return capView(db, tenantId, now);
}
