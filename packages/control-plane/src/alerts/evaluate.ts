// One evaluation of every alert rule on every running instance, in one transaction: states move
// (pending → firing → resolved) and each change is an event, with its delivery enqueued in the same commit.
import type { Queryable } from '@strata/store';
import type { StrataClient } from '@strata/transact';
import { listAllInstances } from '../instances/sql.js';
import { lastBackups, latestMetrics } from '../monitoring/sql.js';
import { breaks, builtinRules, metricValue, withSetting, type AlertRule, type BuiltinSetting, type InstanceFacts } from './rules.js';
import { deleteStatesOfGoneInstances, getWebhook, insertEvent, listBuiltinSettings, listRules, lockStates, sampledNodes, saveState, type AlertEventRow } from './sql.js';

/** A sample older than this says nothing about now (its agent is down or the instance stopped); instance_down reads the newest one however old. */
export const STALE_SAMPLE_MS = 5 * 60_000;

/** Statuses whose instances are watched: their server should run. */
const WATCHED: ReadonlySet<string> = new Set(['ACTIVE', 'RESTART_REQUIRED']);
/**
 * Statuses whose instances' states are left as they are: the node went quiet and its instances
 * return to their status when it heartbeats again. In every other status (stopped, fenced,
 * building, restoring, resizing, failed) the platform does not expect the server to run: what fired on it resolves.
 */
const KEPT: ReadonlySet<string> = new Set(['UNKNOWN']);

/** What an evaluation needs to enqueue deliveries. */
export interface EvaluationContext {
  readonly client: StrataClient;
  /** The delivery workflow's name and queue. */
  readonly deliver: { readonly workflow: string; readonly queue: string };
  /** How long built-in rules must hold (default: each rule's own); a tenant's own setting wins. */
  readonly builtinDurationSeconds?: number;
}

/**
 * Evaluates every rule (the built-in ones under each tenant's settings, and every tenant's own) on
 * every watched instance of its tenant, in the caller's transaction; returns the events it
 * recorded. A rule's condition that holds starts it pending; once it has held for the rule's
 * duration it fires (an event); when it no longer holds, or the rule was turned off, or the
 * instance is no longer meant to run, a firing rule resolves (an event). Repeating an evaluation
 * changes nothing more: the states it reads are the ones it wrote.
 *
 * @example
 * const events = await db.transaction((tx) => evaluateAlerts(tx, new Date(), { client, deliver: { workflow: 'cloud.alerts.deliver', queue: 'cloud.alerts' } }));
 */
export async function evaluateAlerts(tx: Queryable, now: Date, context: EvaluationContext): Promise<AlertEventRow[]> {
  const all = await listAllInstances(tx);
  const instances = all.filter((row) => WATCHED.has(row.status));
  const released = all.filter((row) => !WATCHED.has(row.status) && !KEPT.has(row.status));
  const ids = instances.map((row) => row.instanceId);
  const latest = await latestMetrics(tx, ids);
  const backups = await lastBackups(tx, ids);
  const sampling = await sampledNodes(tx, [...new Set(instances.map((row) => row.nodeId))]);
  const { rows: nodes } = await tx.query<{ node_id: string }>(`select node_id from strata_cloud.nodes where backup_repository is not null`);
  const backedUpNodes = new Set(nodes.map((row) => row.node_id));
  const facts: Array<InstanceFacts & { readonly watched: boolean }> = [
    ...instances.map((row) => {
      const sample = latest.get(row.instanceId);
      return {
        watched: true,
        instanceId: row.instanceId,
        tenantId: row.tenantId,
        createdAt: row.createdAt,
        storageBytes: row.storageMb * 1024 * 1024,
        // A replica is backed up through its primary: it has no backups of its own to grow old.
        backedUp: backedUpNodes.has(row.nodeId) && row.replicaOf === null,
        sample: sample !== undefined && now.getTime() - sample.at.getTime() <= STALE_SAMPLE_MS ? sample : undefined,
        lastSampleAt: sample?.at,
        changedAt: row.updatedAt,
        operating: row.operationId !== null,
        nodeSamples: sampling.has(row.nodeId),
        lastBackupAt: backups.get(row.instanceId),
      };
    }),
    // Not meant to run: nothing holds on them, so what fires on them resolves.
    ...released.map((row) => ({
      watched: false, instanceId: row.instanceId, tenantId: row.tenantId, createdAt: row.createdAt, storageBytes: row.storageMb * 1024 * 1024,
      backedUp: false, sample: undefined, lastSampleAt: undefined, changedAt: row.updatedAt, operating: row.operationId !== null, nodeSamples: false, lastBackupAt: undefined,
    })),
  ];
  const settings = new Map<string, BuiltinSetting>((await listBuiltinSettings(tx)).map((setting) => [`${setting.tenantId} ${setting.ruleName}`, setting]));
  const rules: AlertRule[] = [...builtinRules(context.builtinDurationSeconds), ...(await listRules(tx))];
  const states = await lockStates(tx);
  const events: AlertEventRow[] = [];
  for (const declared of rules) {
    for (const instance of facts) {
      if (declared.tenantId !== null && declared.tenantId !== instance.tenantId) continue;
      if (declared.instanceId !== null && declared.instanceId !== instance.instanceId) continue;
      // A built-in rule as the instance's tenant set it (only that tenant's settings apply to it).
      const { rule, enabled } = declared.tenantId === null ? withSetting(declared, settings.get(`${instance.tenantId} ${declared.name}`)) : { rule: declared, enabled: true };
      const state = states.get(`${rule.key} ${instance.instanceId}`);
      if (!instance.watched && state === undefined) continue;
      const value = instance.watched ? metricValue(rule.metric, instance, now) : undefined;
      const holds = enabled && value !== undefined && breaks(rule, value);
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
