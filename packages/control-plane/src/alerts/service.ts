// The alert API's transactions, free of HTTP: rules (a tenant's own, and its settings of the built-in ones), the webhook, events with their deliveries, and what fires now.
import { randomBytes } from 'node:crypto';
import type { Database, Queryable } from '@strata/store';
import { requireInstance } from '../instances/service.js';
import { ALERT_METRICS, BUILTIN_RULE_NAMES, builtinRules, findBuiltinRule, withSetting, type AlertMetric, type AlertRule, type BuiltinSetting } from './rules.js';
import {
  changeBuiltinSetting, deleteRule, deleteWebhook, deliveriesOf, firingStates, getWebhook, hasRule, insertRule, listBuiltinSettings, listEvents, listRules, upsertWebhook,
  type AlertEventRow, type BuiltinSettingChange, type DeliveryRow,
} from './sql.js';
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
    readonly code: 'invalid_rule' | 'invalid_setting' | 'not_builtin' | 'rule_taken' | 'rule_not_found' | 'too_many_rules' | 'webhook_not_allowed' | 'webhook_not_found',
    message: string,
  ) {
    super(message);
  }
}

/** A rule as the API shows it: a built-in one with the tenant's settings applied. */
export interface RuleJson {
  readonly id: string;
  readonly name: string;
  readonly builtin: boolean;
  readonly instanceId: string | null;
  readonly metric: AlertMetric;
  readonly comparison: '>' | '<';
  readonly threshold: number;
  readonly durationSeconds: number;
  /** False: the tenant turned this built-in rule off (a tenant's own rules are always on). */
  readonly enabled: boolean;
  /** A built-in rule's defaults (null for a tenant's own rule). */
  readonly defaults: { readonly threshold: number; readonly durationSeconds: number } | null;
  /** Whether a built-in rule runs with its defaults (null for a tenant's own rule). */
  readonly isDefault: boolean | null;
}

function toRuleJson(rule: AlertRule, builtin?: { readonly defaults: AlertRule; readonly setting: BuiltinSetting | undefined }): RuleJson {
  const own = { id: rule.key, name: rule.name, builtin: rule.tenantId === null, instanceId: rule.instanceId, metric: rule.metric, comparison: rule.comparison, threshold: rule.threshold, durationSeconds: rule.durationSeconds };
  if (builtin === undefined) return { ...own, enabled: true, defaults: null, isDefault: null };
  const { setting } = builtin;
  const isDefault = setting === undefined || (setting.enabled && setting.threshold === null && setting.durationSeconds === null);
  return { ...own, enabled: setting?.enabled ?? true, defaults: { threshold: builtin.defaults.threshold, durationSeconds: builtin.defaults.durationSeconds }, isDefault };
}

/** The built-in rules as `settings` set them. */
function builtinRulesJson(settings: readonly BuiltinSetting[], builtinDurationSeconds: number | undefined): RuleJson[] {
  return builtinRules(builtinDurationSeconds).map((defaults) => {
    const setting = settings.find((s) => s.ruleName === defaults.name);
    return toRuleJson(withSetting(defaults, setting).rule, { defaults, setting });
  });
}

/** The built-in rules (with the tenant's settings) and the tenant's own. `builtinDurationSeconds`: the platform's override of the built-in durations (tests). */
export async function rulesOf(db: Database, tenantId: string, builtinDurationSeconds?: number): Promise<RuleJson[]> {
  const builtins = builtinRulesJson(await listBuiltinSettings(db, tenantId), builtinDurationSeconds);
  return [...builtins, ...(await listRules(db, tenantId)).map((rule) => toRuleJson(rule))];
}

/**
 * Changes the tenant's setting of a built-in rule (`builtin:<name>` or `<name>`): turns it off or
 * on, or sets its threshold or duration; a field left out keeps its setting, null returns it to
 * the default. Only this tenant's instances see it. A rule turned off resolves where it fires, at
 * the next evaluation. Returns the rule as it now applies.
 *
 * @throws {AlertError} `404 rule_not_found` (no such built-in rule); `400 not_builtin` (a rule of
 * the tenant's own: its settings are fixed when it is made); `400 invalid_setting` (nothing to
 * change, or a threshold out of the rule's range or for a rule that has none to set).
 *
 * @example
 * await setBuiltinSetting(db, 'ten_1', 'disk_nearly_full', { threshold: 0.8, durationSeconds: 300 });
 * await setBuiltinSetting(db, 'ten_1', 'builtin:backup_too_old', { enabled: false });
 */
export async function setBuiltinSetting(
  db: Database,
  tenantId: string,
  ref: string,
  change: BuiltinSettingChange,
  builtinDurationSeconds?: number,
  record?: (tx: Queryable) => Promise<void>,
): Promise<RuleJson> {
  const name = ref.startsWith('builtin:') ? ref.slice('builtin:'.length) : ref;
  const builtin = findBuiltinRule(name);
  if (builtin === undefined) {
    if (!ref.startsWith('builtin:') && (await hasRule(db, tenantId, ref))) {
      throw new AlertError(400, 'not_builtin', `"${ref}" is a rule of your own, not a built-in one; its threshold and duration are set when it is made: delete it and create it again`);
    }
    throw new AlertError(404, 'rule_not_found', `no built-in rule "${name}"; the built-in rules are ${BUILTIN_RULE_NAMES.join(', ')}`);
  }
  if (change.enabled === undefined && change.threshold === undefined && change.durationSeconds === undefined) {
    throw new AlertError(400, 'invalid_setting', 'nothing to change: give enabled, threshold or durationSeconds (null returns a field to its default)');
  }
  if (change.threshold !== undefined && change.threshold !== null) {
    const range = builtin.thresholdRange;
    if (range === null) throw new AlertError(400, 'invalid_setting', `${name} has no threshold to set (its condition holds or not); turn it off with enabled: false, or set durationSeconds`);
    if (!(change.threshold > range.above && change.threshold <= range.upTo)) {
      throw new AlertError(400, 'invalid_setting', `${name}'s threshold is ${range.meaning}: more than ${range.above} and at most ${range.upTo}; got ${change.threshold}`);
    }
  }
  return db.transaction(async (tx) => {
    const setting = await changeBuiltinSetting(tx, tenantId, name, change);
    await record?.(tx);
    const [rule] = builtinRulesJson([setting], builtinDurationSeconds).filter((r) => r.name === name);
    if (rule === undefined) throw new Error(`invariant: the built-in rule ${name} is among the built-in rules`);
    return rule;
  });
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
  if (findBuiltinRule(request.name) !== undefined) {
    throw new AlertError(400, 'invalid_rule', `"${request.name}" is a built-in rule's name; choose another, or tune the built-in one with PUT /v1/alerts/rules/${request.name}`);
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

/** Deletes a tenant's rule by ID or name; built-in rules cannot be deleted (they are turned off). */
export async function removeRule(db: Database, tenantId: string, ref: string, record?: (tx: Queryable) => Promise<void>): Promise<void> {
  await db.transaction(async (tx) => {
    if (!(await deleteRule(tx, tenantId, ref))) {
      const builtin = findBuiltinRule(ref.startsWith('builtin:') ? ref.slice('builtin:'.length) : ref);
      throw new AlertError(
        404,
        'rule_not_found',
        builtin !== undefined ? `${builtin.name} is built in and cannot be deleted; turn it off with PUT /v1/alerts/rules/${builtin.name} { "enabled": false }` : `no rule "${ref}" in this tenant; list them with GET /v1/alerts/rules`,
      );
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

