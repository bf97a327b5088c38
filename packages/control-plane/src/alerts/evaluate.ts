// One evaluation of every alert rule on every running instance, in one transaction: states move
// (pending → firing → resolved) and each change is an event, with its delivery enqueued in the same commit.
import type { Queryable } from '@strata/store';
import type { StrataClient } from '@strata/transact';
import { listAllInstances } from '../instances/sql.js';
import { lastBackups, latestMetrics } from '../monitoring/sql.js';
import { breaks, builtinRules, metricValue, type AlertRule, type InstanceFacts } from './rules.js';
import { deleteStatesOfGoneInstances, getWebhook, insertEvent, listRules, lockStates, saveState, type AlertEventRow } from './sql.js';

/** A sample older than this says nothing about now (its agent is down or the instance stopped). */
export const STALE_SAMPLE_MS = 5 * 60_000;

/** Statuses whose instances are watched: their server should run. */
const WATCHED: ReadonlySet<string> = new Set(['ACTIVE', 'RESTART_REQUIRED']);

/** What an evaluation needs to enqueue deliveries. */
export interface EvaluationContext {
  readonly client: StrataClient;
  /** The delivery workflow's name and queue. */
  readonly deliver: { readonly workflow: string; readonly queue: string };
  /** How long built-in rules must hold (default: each rule's own). */
  readonly builtinDurationSeconds?: number;
}

/**
 * Evaluates every rule (the built-in ones and every tenant's) on every watched instance of its
 * tenant, in the caller's transaction; returns the events it recorded. A rule's condition that
 * holds starts it pending; once it has held for the rule's duration it fires (an event); when it
 * no longer holds a firing rule resolves (an event). Repeating an evaluation changes nothing more:
 * the states it reads are the ones it wrote.
 *
 * @example
 * const events = await db.transaction((tx) => evaluateAlerts(tx, new Date(), { client, deliver: { workflow: 'cloud.alerts.deliver', queue: 'cloud.alerts' } }));
 */
export async function evaluateAlerts(tx: Queryable, now: Date, context: EvaluationContext): Promise<AlertEventRow[]> {
  const instances = (await listAllInstances(tx)).filter((row) => WATCHED.has(row.status));
  const ids = instances.map((row) => row.instanceId);
  const latest = await latestMetrics(tx, ids);
  const backups = await lastBackups(tx, ids);
  const { rows: nodes } = await tx.query<{ node_id: string }>(`select node_id from strata_cloud.nodes where backup_repository is not null`);
  const backedUpNodes = new Set(nodes.map((row) => row.node_id));
  const facts: InstanceFacts[] = instances.map((row) => {
    const sample = latest.get(row.instanceId);
    return {
      instanceId: row.instanceId,
      tenantId: row.tenantId,
      createdAt: row.createdAt,
      storageBytes: row.storageMb * 1024 * 1024,
      // A replica is backed up through its primary: it has no backups of its own to grow old.
      backedUp: backedUpNodes.has(row.nodeId) && row.replicaOf === null,
      sample: sample !== undefined && now.getTime() - sample.at.getTime() <= STALE_SAMPLE_MS ? sample : undefined,
      lastBackupAt: backups.get(row.instanceId),
    };
  });
  const rules: AlertRule[] = [...builtinRules(context.builtinDurationSeconds), ...(await listRules(tx))];
  const states = await lockStates(tx);
  const events: AlertEventRow[] = [];
  for (const rule of rules) {
    for (const instance of facts) {
      if (rule.tenantId !== null && rule.tenantId !== instance.tenantId) continue;
      if (rule.instanceId !== null && rule.instanceId !== instance.instanceId) continue;
      const value = metricValue(rule.metric, instance, now);
      const holds = value !== undefined && breaks(rule, value);
      const state = states.get(`${rule.key} ${instance.instanceId}`);
      const base = { ruleKey: rule.key, instanceId: instance.instanceId, tenantId: instance.tenantId, value: value ?? null };
      const event = (kind: 'firing' | 'resolved') =>
        insertEvent(tx, { tenantId: instance.tenantId, ruleKey: rule.key, ruleName: rule.name, instanceId: instance.instanceId, kind, metric: rule.metric, value: value ?? null, threshold: rule.threshold });
      if (holds) {
        const pendingSince = state?.pendingSince ?? now;
        const due = now.getTime() - pendingSince.getTime() >= rule.durationSeconds * 1000;
        if (due && state?.firing !== true) {
          events.push(await event('firing'));
          await saveState(tx, { ...base, pendingSince, firing: true });
        } else if (state === undefined || state.pendingSince === null || state.firing) {
          await saveState(tx, { ...base, pendingSince, firing: state?.firing === true });
        }
      } else if (state?.firing === true) {
        events.push(await event('resolved'));
        await saveState(tx, { ...base, pendingSince: null, firing: false });
      } else if (state?.pendingSince != null) {
        await saveState(tx, { ...base, pendingSince: null, firing: false });
      }
    }
  }
  await deleteStatesOfGoneInstances(tx);
  // One webhook lookup per tenant, not per event.
  const hasWebhook = new Map<string, boolean>();
  for (const event of events) {
    if (!hasWebhook.has(event.tenantId)) hasWebhook.set(event.tenantId, (await getWebhook(tx, event.tenantId)) !== undefined);
    if (hasWebhook.get(event.tenantId) !== true) continue;
    await context.client.enqueue({ workflow: context.deliver.workflow, queue: context.deliver.queue, workflowId: `alert-event-${event.eventId}`, transaction: tx }, { eventId: event.eventId });
  }
  return events;
}
