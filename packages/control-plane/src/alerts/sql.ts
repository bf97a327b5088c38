// SQL of the alert tables: rules, the tenants' settings of built-in rules, webhooks, states, events and deliveries.
import type { Queryable } from '@strata/store';
import type { AlertMetric, AlertRule, BuiltinSetting } from './rules.js';

/** A tenant's rules (every tenant's with no tenant given). */
export async function listRules(db: Queryable, tenantId?: string): Promise<AlertRule[]> {
  const { rows } = await db.query(
    `select rule_id, tenant_id, name, instance_id, metric, comparison, threshold, duration_seconds from strata_cloud.alert_rules
      ${tenantId === undefined ? '' : 'where tenant_id = $1'} order by tenant_id, created_at, rule_id`,
    tenantId === undefined ? [] : [tenantId],
  );
  return rows.map((row) => ({
    key: row.rule_id as string,
    name: row.name as string,
    tenantId: row.tenant_id as string,
    instanceId: (row.instance_id as string | null) ?? null,
    metric: row.metric as AlertMetric,
    comparison: row.comparison as '>' | '<',
    threshold: Number(row.threshold),
    durationSeconds: Number(row.duration_seconds),
  }));
}

/** A new rule; false when the tenant has one of that name. */
export async function insertRule(db: Queryable, rule: AlertRule & { readonly tenantId: string }): Promise<boolean> {
  const { rows } = await db.query(
    `insert into strata_cloud.alert_rules (rule_id, tenant_id, name, instance_id, metric, comparison, threshold, duration_seconds)
     values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing returning rule_id`,
    [rule.key, rule.tenantId, rule.name, rule.instanceId, rule.metric, rule.comparison, rule.threshold, rule.durationSeconds],
  );
  return rows.length === 1;
}

/** Deletes a tenant's rule (by ID or name) and its states; false when there is none. */
export async function deleteRule(db: Queryable, tenantId: string, ref: string): Promise<boolean> {
  const { rows } = await db.query<{ rule_id: string }>(`delete from strata_cloud.alert_rules where tenant_id = $1 and (rule_id = $2 or name = $2) returning rule_id`, [tenantId, ref]);
  if (rows[0] === undefined) return false;
  await db.query(`delete from strata_cloud.alert_states where rule_key = $1`, [rows[0].rule_id]);
  return true;
}

function toSetting(row: Record<string, unknown>): BuiltinSetting {
  return {
    tenantId: row.tenant_id as string,
    ruleName: row.rule_name as string,
    enabled: row.enabled as boolean,
    threshold: row.threshold === null ? null : Number(row.threshold),
    durationSeconds: row.duration_seconds === null ? null : Number(row.duration_seconds),
  };
}

/** The tenants' settings of built-in rules (every tenant's with no tenant given). */
export async function listBuiltinSettings(db: Queryable, tenantId?: string): Promise<BuiltinSetting[]> {
  const { rows } = await db.query(
    `select tenant_id, rule_name, enabled, threshold, duration_seconds from strata_cloud.alert_builtin_settings ${tenantId === undefined ? '' : 'where tenant_id = $1'} order by tenant_id, rule_name`,
    tenantId === undefined ? [] : [tenantId],
  );
  return rows.map(toSetting);
}

/** What a change of a built-in rule's setting says: a field left undefined keeps its value; null returns it to the default. */
export interface BuiltinSettingChange {
  readonly enabled?: boolean;
  readonly threshold?: number | null;
  readonly durationSeconds?: number | null;
}

/**
 * Applies `change` to a tenant's setting of a built-in rule in one statement (two concurrent
 * changes of different fields both land); a setting back at every default is deleted. Returns the
 * setting as it is now (defaults when deleted).
 */
export async function changeBuiltinSetting(db: Queryable, tenantId: string, ruleName: string, change: BuiltinSettingChange): Promise<BuiltinSetting> {
  const { rows } = await db.query(
    `insert into strata_cloud.alert_builtin_settings as s (tenant_id, rule_name, enabled, threshold, duration_seconds)
     values ($1, $2, coalesce($3::boolean, true), $4::double precision, $5::integer)
     on conflict (tenant_id, rule_name) do update set
       enabled = coalesce($3::boolean, s.enabled),
       threshold = case when $6::boolean then $4::double precision else s.threshold end,
       duration_seconds = case when $7::boolean then $5::integer else s.duration_seconds end,
       updated_at = now()
     returning tenant_id, rule_name, enabled, threshold, duration_seconds`,
    [tenantId, ruleName, change.enabled ?? null, change.threshold ?? null, change.durationSeconds ?? null, change.threshold !== undefined, change.durationSeconds !== undefined],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: an upsert returning its columns returns its row');
  const setting = toSetting(row);
  if (setting.enabled && setting.threshold === null && setting.durationSeconds === null) {
    await db.query(`delete from strata_cloud.alert_builtin_settings where tenant_id = $1 and rule_name = $2 and enabled and threshold is null and duration_seconds is null`, [tenantId, ruleName]);
  }
  return setting;
}

/** Whether the tenant has a rule of its own with that ID or name. */
export async function hasRule(db: Queryable, tenantId: string, ref: string): Promise<boolean> {
  const { rows } = await db.query(`select 1 from strata_cloud.alert_rules where tenant_id = $1 and (rule_id = $2 or name = $2)`, [tenantId, ref]);
  return rows.length > 0;
}

/** The nodes among `nodeIds` that have written a sample (within the retention): those that sample their instances. */
export async function sampledNodes(db: Queryable, nodeIds: readonly string[]): Promise<Set<string>> {
  if (nodeIds.length === 0) return new Set();
  // One index probe per node (instance_metrics_node_at), not a scan of the samples.
  const { rows } = await db.query<{ node_id: string }>(
    `select n.node_id from unnest($1::text[]) as n(node_id) where exists (select 1 from strata_cloud.instance_metrics m where m.node_id = n.node_id)`,
    [nodeIds],
  );
  return new Set(rows.map((row) => row.node_id));
}

/** A tenant's webhook. */
export interface WebhookRow {
  readonly tenantId: string;
  readonly url: string;
  readonly secret: string;
}

export async function getWebhook(db: Queryable, tenantId: string): Promise<WebhookRow | undefined> {
  const { rows } = await db.query<{ url: string; secret: string }>(`select url, secret from strata_cloud.alert_webhooks where tenant_id = $1`, [tenantId]);
  return rows[0] === undefined ? undefined : { tenantId, url: rows[0].url, secret: rows[0].secret };
}

export async function upsertWebhook(db: Queryable, webhook: WebhookRow): Promise<void> {
  await db.query(
    `insert into strata_cloud.alert_webhooks (tenant_id, url, secret) values ($1, $2, $3)
     on conflict (tenant_id) do update set url = excluded.url, secret = excluded.secret, updated_at = now()`,
    [webhook.tenantId, webhook.url, webhook.secret],
  );
}

export async function deleteWebhook(db: Queryable, tenantId: string): Promise<boolean> {
  const { rows } = await db.query(`delete from strata_cloud.alert_webhooks where tenant_id = $1 returning tenant_id`, [tenantId]);
  return rows.length === 1;
}

/** One rule's state on one instance. */
export interface AlertState {
  readonly ruleKey: string;
  readonly instanceId: string;
  readonly pendingSince: Date | null;
  readonly firing: boolean;
}

/** Every state (locked for the evaluation's transaction). */
export async function lockStates(db: Queryable): Promise<Map<string, AlertState>> {
  const { rows } = await db.query(`select rule_key, instance_id, pending_since, firing from strata_cloud.alert_states for update`);
  return new Map(
    rows.map((row) => [
      `${row.rule_key as string} ${row.instance_id as string}`,
      { ruleKey: row.rule_key as string, instanceId: row.instance_id as string, pendingSince: row.pending_since === null ? null : new Date(row.pending_since as string | Date), firing: row.firing as boolean },
    ]),
  );
}

export async function saveState(db: Queryable, state: AlertState & { readonly tenantId: string; readonly value: number | null }): Promise<void> {
  await db.query(
    `insert into strata_cloud.alert_states (rule_key, instance_id, tenant_id, pending_since, firing, value) values ($1, $2, $3, $4, $5, $6)
     on conflict (rule_key, instance_id) do update set pending_since = excluded.pending_since, firing = excluded.firing, value = excluded.value, updated_at = now()`,
    [state.ruleKey, state.instanceId, state.tenantId, state.pendingSince, state.firing, state.value],
  );
}

/** Forgets the states of instances that are gone. */
export async function deleteStatesOfGoneInstances(db: Queryable): Promise<void> {
  await db.query(`delete from strata_cloud.alert_states s where not exists (select 1 from strata_cloud.instances i where i.instance_id = s.instance_id and i.status <> 'DELETED')`);
}

/** One alert event. */
export interface AlertEventRow {
  readonly eventId: string;
  readonly tenantId: string;
  readonly ruleKey: string;
  readonly ruleName: string;
  readonly instanceId: string;
  readonly kind: 'firing' | 'resolved';
  readonly metric: string;
  readonly value: number | null;
  readonly threshold: number;
  readonly at: Date;
}

function toEvent(row: Record<string, unknown>): AlertEventRow {
  return {
    eventId: String(row.event_id),
    tenantId: row.tenant_id as string,
    ruleKey: row.rule_key as string,
    ruleName: row.rule_name as string,
    instanceId: row.instance_id as string,
    kind: row.kind as 'firing' | 'resolved',
    metric: row.metric as string,
    value: row.value === null ? null : Number(row.value),
    threshold: Number(row.threshold),
    at: new Date(row.at as string | Date),
  };
}

export async function insertEvent(db: Queryable, event: Omit<AlertEventRow, 'eventId' | 'at'>): Promise<AlertEventRow> {
  const { rows } = await db.query(
    `insert into strata_cloud.alert_events (tenant_id, rule_key, rule_name, instance_id, kind, metric, value, threshold) values ($1, $2, $3, $4, $5, $6, $7, $8) returning *`,
    [event.tenantId, event.ruleKey, event.ruleName, event.instanceId, event.kind, event.metric, event.value, event.threshold],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: an insert returning * returns its row');
  return toEvent(row);
}

export async function getEvent(db: Queryable, eventId: string): Promise<AlertEventRow | undefined> {
  const { rows } = await db.query(`select * from strata_cloud.alert_events where event_id = $1::bigint`, [eventId]);
  return rows[0] === undefined ? undefined : toEvent(rows[0]);
}

/** A tenant's newest events, newest first. */
export async function listEvents(db: Queryable, tenantId: string, limit: number): Promise<AlertEventRow[]> {
  const { rows } = await db.query(`select * from strata_cloud.alert_events where tenant_id = $1 order by event_id desc limit $2`, [tenantId, limit]);
  return rows.map(toEvent);
}

/** A tenant's rules that fire now, with their instance and value. */
export async function firingStates(db: Queryable, tenantId: string): Promise<Array<{ ruleKey: string; instanceId: string; value: number | null; since: Date | null }>> {
  const { rows } = await db.query(`select rule_key, instance_id, value, pending_since from strata_cloud.alert_states where tenant_id = $1 and firing order by rule_key, instance_id`, [tenantId]);
  return rows.map((row) => ({ ruleKey: row.rule_key as string, instanceId: row.instance_id as string, value: row.value === null ? null : Number(row.value), since: row.pending_since === null ? null : new Date(row.pending_since as string | Date) }));
}

/** One delivery attempt. */
export interface DeliveryRow {
  readonly eventId: string;
  readonly attempt: number;
  readonly url: string;
  readonly ok: boolean;
  readonly httpStatus: number | null;
  readonly error: string | null;
  readonly at: Date;
}

export async function recordDelivery(db: Queryable, delivery: Omit<DeliveryRow, 'attempt' | 'at'>): Promise<number> {
  const { rows } = await db.query<{ attempt: number }>(
    `insert into strata_cloud.alert_deliveries (event_id, attempt, url, ok, http_status, error)
     select $1::bigint, coalesce(max(attempt), 0) + 1, $2, $3, $4, $5 from strata_cloud.alert_deliveries where event_id = $1::bigint returning attempt`,
    [delivery.eventId, delivery.url, delivery.ok, delivery.httpStatus, delivery.error],
  );
  return Number(rows[0]?.attempt);
}

/** The delivery attempts of `eventIds`, oldest first. */
export async function deliveriesOf(db: Queryable, eventIds: readonly string[]): Promise<DeliveryRow[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await db.query(`select * from strata_cloud.alert_deliveries where event_id = any($1::bigint[]) order by event_id, attempt`, [eventIds]);
  return rows.map((row) => ({
    eventId: String(row.event_id),
    attempt: Number(row.attempt),
    url: row.url as string,
    ok: row.ok as boolean,
    httpStatus: row.http_status === null ? null : Number(row.http_status),
    error: (row.error as string | null) ?? null,
    at: new Date(row.at as string | Date),
  }));
}
