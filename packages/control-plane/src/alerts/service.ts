// The alert API's transactions, free of HTTP: rules, the webhook, events with their deliveries, and what fires now.
import { randomBytes } from 'node:crypto';
import type { Database, Queryable } from '@strata/store';
import { requireInstance } from '../instances/service.js';
import { ALERT_METRICS, builtinRules, type AlertMetric, type AlertRule } from './rules.js';
import { deleteRule, deleteWebhook, deliveriesOf, firingStates, getWebhook, insertRule, listEvents, listRules, upsertWebhook, type AlertEventRow, type DeliveryRow } from './sql.js';
import { webhookUrlProblem } from './webhook.js';

/** Rules one tenant may have: each is evaluated on each of its instances every few seconds. */
export const MAX_RULES_PER_TENANT = 100;
/** Rule names: like instance names. */
const RULE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/** An alert request that cannot be done: HTTP status, stable code, what to do. */
export class AlertError extends Error {
  override readonly name = 'AlertError';
  constructor(
    readonly status: number,
    readonly code: 'invalid_rule' | 'rule_taken' | 'rule_not_found' | 'too_many_rules' | 'webhook_not_allowed' | 'webhook_not_found',
    message: string,
  ) {
    super(message);
  }
}

/** A rule as the API shows it. */
export interface RuleJson {
  readonly id: string;
  readonly name: string;
  readonly builtin: boolean;
  readonly instanceId: string | null;
  readonly metric: AlertMetric;
  readonly comparison: '>' | '<';
  readonly threshold: number;
  readonly durationSeconds: number;
}

function toRuleJson(rule: AlertRule): RuleJson {
  return { id: rule.key, name: rule.name, builtin: rule.tenantId === null, instanceId: rule.instanceId, metric: rule.metric, comparison: rule.comparison, threshold: rule.threshold, durationSeconds: rule.durationSeconds };
}

/** The built-in rules and the tenant's own. */
export async function rulesOf(db: Database, tenantId: string, builtinDurationSeconds?: number): Promise<RuleJson[]> {
  return [...builtinRules(builtinDurationSeconds), ...(await listRules(db, tenantId))].map(toRuleJson);
}

/**
 * Adds a rule: `metric` `comparison` `threshold` held for `durationSeconds`, on one instance or on
 * every instance of the tenant.
 *
 * @throws {AlertError} `400 invalid_rule`, `409 rule_taken`, `409 too_many_rules`; InstanceError `404` for an instance not the tenant's.
 *
 * @example
 * await createRule(db, 'ten_1', { name: 'busy', metric: 'connections', comparison: '>', threshold: 40, durationSeconds: 60 });
 */
export async function createRule(
  db: Database,
  tenantId: string,
  request: { readonly name: string; readonly instance?: string; readonly metric: string; readonly comparison: '>' | '<'; readonly threshold: number; readonly durationSeconds: number },
  record?: (tx: Queryable) => Promise<void>,
): Promise<RuleJson> {
  if (!RULE_NAME_PATTERN.test(request.name) || request.name.startsWith('builtin')) {
    throw new AlertError(400, 'invalid_rule', `a rule name is 1-63 lower-case letters, digits, '-' or '_' starting with a letter, not "builtin…"; got ${JSON.stringify(request.name)}`);
  }
  if (!(ALERT_METRICS as readonly string[]).includes(request.metric)) {
    throw new AlertError(400, 'invalid_rule', `unknown metric ${JSON.stringify(request.metric)}; use one of ${ALERT_METRICS.join(', ')}`);
  }
  return db.transaction(async (tx) => {
    const instance = request.instance === undefined ? undefined : await requireInstance(tx, tenantId, request.instance);
    if ((await listRules(tx, tenantId)).length >= MAX_RULES_PER_TENANT) throw new AlertError(409, 'too_many_rules', `a tenant has at most ${MAX_RULES_PER_TENANT} rules; delete one first`);
    const rule: AlertRule & { tenantId: string } = {
      key: `rule_${randomBytes(8).toString('hex')}`,
      name: request.name,
      tenantId,
      instanceId: instance?.instanceId ?? null,
      metric: request.metric as AlertMetric,
      comparison: request.comparison,
      threshold: request.threshold,
      durationSeconds: request.durationSeconds,
    };
    if (!(await insertRule(tx, rule))) throw new AlertError(409, 'rule_taken', `a rule named "${request.name}" exists; choose another name or delete it`);
    await record?.(tx);
    return toRuleJson(rule);
  });
}

/** Deletes a tenant's rule by ID or name; built-in rules cannot be deleted. */
export async function removeRule(db: Database, tenantId: string, ref: string, record?: (tx: Queryable) => Promise<void>): Promise<void> {
  await db.transaction(async (tx) => {
    if (!(await deleteRule(tx, tenantId, ref))) {
      throw new AlertError(404, 'rule_not_found', ref.startsWith('builtin:') ? `${ref} is built in and cannot be deleted` : `no rule "${ref}" in this tenant; list them with GET /v1/alerts/rules`);
    }
    await record?.(tx);
  });
}

/**
 * Sets the tenant's webhook; returns it with a new signing secret (shown this once: the receiver
 * checks `X-Strata-Signature: sha256=HMAC-SHA256(secret, body)`).
 *
 * @throws {AlertError} `400 webhook_not_allowed` for a URL that is not http(s), holds credentials, or reaches the platform's own network.
 */
export async function setWebhook(db: Database, tenantId: string, url: string, allowPrivate: boolean, record?: (tx: Queryable) => Promise<void>): Promise<{ url: string; secret: string }> {
  const problem = await webhookUrlProblem(url, allowPrivate);
  if (problem !== undefined) throw new AlertError(400, 'webhook_not_allowed', problem);
  const secret = `whsec_${randomBytes(24).toString('base64url')}`;
  await db.transaction(async (tx) => {
    await upsertWebhook(tx, { tenantId, url, secret });
    await record?.(tx);
  });
  return { url, secret };
}

/** The tenant's webhook URL (never its secret). */
export async function webhookOf(db: Database, tenantId: string): Promise<{ url: string }> {
  const webhook = await getWebhook(db, tenantId);
  if (webhook === undefined) throw new AlertError(404, 'webhook_not_found', 'no webhook is set; set one with PUT /v1/alerts/webhook');
  return { url: webhook.url };
}

/** Removes the tenant's webhook (events are still recorded, no longer delivered). */
export async function removeWebhook(db: Database, tenantId: string): Promise<void> {
  if (!(await deleteWebhook(db, tenantId))) throw new AlertError(404, 'webhook_not_found', 'no webhook is set');
}

/** The tenant's newest events with their delivery attempts, and the rules firing now. */
export async function alertsOf(db: Database, tenantId: string, limit: number): Promise<{ firing: Array<{ rule: string; instanceId: string; value: number | null; since: Date | null }>; events: Array<AlertEventRow & { deliveries: DeliveryRow[] }> }> {
  const events = await listEvents(db, tenantId, limit);
  const deliveries = await deliveriesOf(db, events.map((event) => event.eventId));
  return {
    firing: (await firingStates(db, tenantId)).map((state) => ({ rule: state.ruleKey, instanceId: state.instanceId, value: state.value, since: state.since })),
    events: events.map((event) => ({ ...event, deliveries: deliveries.filter((delivery) => delivery.eventId === event.eventId) })),
  };
}

