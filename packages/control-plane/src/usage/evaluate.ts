// One evaluation of the monthly caps, in one transaction: each capped tenant's usage of the month is
// summed, its state set (ok, warning at 75 %, exceeded at 100 %), and each rise is an event — an
// audit row, and a delivery to the tenant's webhook enqueued in the same commit.
import type { Queryable } from '@strata/store';
import type { StrataClient } from '@strata/transact';
import { getWebhook } from '../alerts/sql.js';
import { appendAudit } from '../audit/sql.js';
import { monthOf, type CapPeriod } from './period.js';
import { cappedUsageBetween, lockCaps, saveState, statesOf, type CappedUsage, type CapStateName, type UsageCap } from './sql/caps.js';

/** At this share of a cap the tenant is warned (an event): time to raise it before the proxy refuses statements. */
export const WARNING_PERCENT = 75;
/** At this share the cap is reached: the proxy refuses the tenant's new statements until the cap is raised or the month ends. */
export const EXCEEDED_PERCENT = 100;

/** The audit actions of the two events. */
export const CAP_EVENT_ACTIONS = { warning: 'usage.cap.warning', exceeded: 'usage.cap.exceeded' } as const;

const RANK: Readonly<Record<CapStateName, number>> = { ok: 0, warning: 1, exceeded: 2 };

/** A tenant's state rose past a threshold. */
export interface CapEvent {
  /** `usage_<audit row id>`: the webhook's X-Strata-Event, by which receivers deduplicate. */
  readonly eventId: string;
  readonly tenantId: string;
  readonly kind: 'warning' | 'exceeded';
  readonly at: Date;
  readonly period: CapPeriod;
  readonly percent: number;
  readonly usage: CappedUsage;
  readonly cap: UsageCap;
}

/** What an evaluation needs. */
export interface CapEvaluationContext {
  /** The request ID its audit rows carry: the evaluation's workflow, or the request that changed a cap. */
  readonly requestId: string;
  /** Evaluate this tenant only (a cap change); default every capped tenant. */
  readonly tenantId?: string;
  /** Where webhook deliveries are enqueued; without it, events are only audited. */
  readonly deliver?: { readonly client: StrataClient; readonly workflow: string; readonly queue: string };
}

/**
 * The larger share (in percent, two decimals) of the capped measures: 0 with no cap.
 *
 * @example
 * capPercent({ operations: 760n, bytesOut: 0n }, { operationsPerMonth: 1000, bytesOutPerMonth: null }); // 76
 */
export function capPercent(usage: CappedUsage, cap: Pick<UsageCap, 'operationsPerMonth' | 'bytesOutPerMonth'>): number {
  let basisPoints = 0n;
  for (const [used, limit] of [[usage.operations, cap.operationsPerMonth], [usage.bytesOut, cap.bytesOutPerMonth]] as const) {
    if (limit === null) continue;
    const share = (used * 10_000n) / BigInt(limit);
    if (share > basisPoints) basisPoints = share;
  }
  return Number(basisPoints) / 100;
}

/**
 * The state `usage` puts a tenant in: `exceeded` once a measure reached its cap (every allowed
 * operation was used), `warning` from {@link WARNING_PERCENT}; compared exactly (bigint), as byte
 * counts pass 2^53 / 100.
 *
 * @example
 * capStateOf({ operations: 1000n, bytesOut: 0n }, { operationsPerMonth: 1000, bytesOutPerMonth: null }); // 'exceeded'
 */
export function capStateOf(usage: CappedUsage, cap: Pick<UsageCap, 'operationsPerMonth' | 'bytesOutPerMonth'>): CapStateName {
  let state: CapStateName = 'ok';
  for (const [used, limit] of [[usage.operations, cap.operationsPerMonth], [usage.bytesOut, cap.bytesOutPerMonth]] as const) {
    if (limit === null) continue;
    if (used * 100n >= BigInt(limit) * BigInt(EXCEEDED_PERCENT)) return 'exceeded';
    if (used * 100n >= BigInt(limit) * BigInt(WARNING_PERCENT)) state = 'warning';
  }
  return state;
}

/** `operations 760 of 1,000, bytes out 1.2 GB of 10 GB`: what a tenant used of each capped measure. */
export function describeCappedUsage(usage: CappedUsage, cap: Pick<UsageCap, 'operationsPerMonth' | 'bytesOutPerMonth'>): string {
  const parts: string[] = [];
  if (cap.operationsPerMonth !== null) parts.push(`operations ${usage.operations.toLocaleString('en-US')} of ${cap.operationsPerMonth.toLocaleString('en-US')}`);
  if (cap.bytesOutPerMonth !== null) parts.push(`bytes out ${usage.bytesOut.toLocaleString('en-US')} of ${cap.bytesOutPerMonth.toLocaleString('en-US')}`);
  return parts.length === 0 ? 'no cap' : parts.join(', ');
}

/**
 * Evaluates the caps of every capped tenant (or of `context.tenantId`) for the month of `now`, in
 * the caller's transaction; returns the events it raised. A tenant whose state rises past 75 % or
 * 100 % gets one event per threshold crossed — an audit row (`usage.cap.warning`,
 * `usage.cap.exceeded`) and, when it has a webhook, a delivery enqueued in this commit. Repeating
 * an evaluation raises nothing more: it compares with the state it wrote (under a lock on the
 * tenant's caps row, so a concurrent evaluation waits for this one). A raised cap lowers the state
 * at once, silently (the cap change is audited); crossing again later in the month raises again.
 *
 * @example
 * const events = await db.transaction((tx) => evaluateCaps(tx, new Date(), { requestId: 'usage-evaluation' }));
 */
export async function evaluateCaps(tx: Queryable, now: Date, context: CapEvaluationContext): Promise<CapEvent[]> {
  const period = monthOf(now);
  const caps = await lockCaps(tx, context.tenantId);
  const ids = caps.map((cap) => cap.tenantId);
  const usage = await cappedUsageBetween(tx, ids, period.start, period.end);
  const states = await statesOf(tx, period.startDate, ids);
  const events: CapEvent[] = [];
  for (const cap of caps) {
    const used = usage.get(cap.tenantId) ?? { operations: 0n, bytesOut: 0n };
    const state = capStateOf(used, cap);
    const percent = capPercent(used, cap);
    const before = states.get(cap.tenantId);
    const rankBefore = RANK[before?.state ?? 'ok'];
    const rank = RANK[state];
    await saveState(
      tx,
      {
        tenantId: cap.tenantId,
        periodStart: period.startDate,
        operations: used.operations,
        bytesOut: used.bytesOut,
        percent,
        state,
        warnedAt: rank >= RANK.warning ? (rankBefore >= RANK.warning ? (before?.warnedAt ?? now) : now) : null,
        exceededAt: rank >= RANK.exceeded ? (rankBefore >= RANK.exceeded ? (before?.exceededAt ?? now) : now) : null,
      },
      now,
    );
    const crossed = (['warning', 'exceeded'] as const).filter((kind) => rankBefore < RANK[kind] && rank >= RANK[kind]);
    for (const kind of crossed) {
      const row = await appendAudit(tx, {
        tenantId: cap.tenantId,
        keyId: null,
        action: CAP_EVENT_ACTIONS[kind],
        target: `${period.label}: ${describeCappedUsage(used, cap)} (${percent} %)`,
        requestId: context.requestId,
        result: 'ok',
      });
      events.push({ eventId: `usage_${row.id}`, tenantId: cap.tenantId, kind, at: row.at, period, percent, usage: used, cap });
    }
  }
  if (context.deliver !== undefined) {
    const hasWebhook = new Map<string, boolean>();
    for (const event of events) {
      if (!hasWebhook.has(event.tenantId)) hasWebhook.set(event.tenantId, (await getWebhook(tx, event.tenantId)) !== undefined);
      if (hasWebhook.get(event.tenantId) !== true) continue;
      const { client, workflow, queue } = context.deliver;
      await client.enqueue({ workflow, queue, workflowId: `usage-event-${event.eventId}`, transaction: tx }, { tenantId: event.tenantId, eventId: event.eventId, body: capEventBody(event) });
    }
  }
  return events;
}

/** The JSON a webhook receives for a cap event (signed like alert events). */
export function capEventBody(event: CapEvent): string {
  return JSON.stringify({
    event: { id: event.eventId, kind: CAP_EVENT_ACTIONS[event.kind], at: event.at.toISOString() },
    tenant: { id: event.tenantId },
    period: { start: event.period.start.toISOString(), end: event.period.end.toISOString() },
    percent: event.percent,
    usage: { operations: Number(event.usage.operations), bytesOut: Number(event.usage.bytesOut) },
    cap: { operationsPerMonth: event.cap.operationsPerMonth, bytesOutPerMonth: event.cap.bytesOutPerMonth },
  });
}
