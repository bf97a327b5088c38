// alertsModule: alert rules (the tenant's own, and its settings of the built-in ones), the tenant's webhook, events with their deliveries, and what fires now (/v1/alerts…).
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError, audited, errorResponses, jsonBody, requireRole, type ApiDeps, type ApiEnv, type ApiModule } from '../http/index.js';
import { InstanceError } from '../instances/errors.js';
import { ALERT_METRICS, BUILTIN_RULE_NAMES } from './rules.js';
import { AlertError, alertsOf, createRule, removeRule, removeWebhook, rulesOf, setBuiltinSetting, setWebhook, webhookOf } from './service.js';
import { registerAlertOperations, type AlertOptions } from './workflows.js';

const TAG = 'Alerts';
/** Most events one list returns. */
const MAX_LISTED_EVENTS = 500;
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const RuleSchema = z
  .object({
    id: z.string().openapi({ description: 'rule_… for a tenant\'s rule, builtin:<name> for a built-in one' }),
    name: z.string(),
    builtin: z.boolean(),
    instanceId: z.string().nullable().openapi({ description: 'null: every instance of the tenant' }),
    metric: z.enum(ALERT_METRICS),
    comparison: z.enum(['>', '<']),
    threshold: z.number(),
    durationSeconds: z.number().int(),
    enabled: z.boolean().openapi({ description: 'false: the tenant turned this built-in rule off; a tenant\'s own rules are always on' }),
    defaults: z.object({ threshold: z.number(), durationSeconds: z.number().int() }).nullable().openapi({ description: 'A built-in rule\'s defaults; null for a tenant\'s own rule' }),
    isDefault: z.boolean().nullable().openapi({ description: 'Whether a built-in rule runs with its defaults (on, default threshold and duration); null for a tenant\'s own rule' }),
  })
  .openapi('AlertRule');

const CreateRuleBody = z
  .object({
    name: z.string().min(1).max(63).openapi({ example: 'too-many-connections' }),
    instance: z.string().min(1).max(256).optional().openapi({ description: 'An instance ID or name; default every instance of the tenant' }),
    metric: z.string().min(1).max(64).openapi({ description: `one of ${ALERT_METRICS.join(', ')}` }),
    comparison: z.enum(['>', '<']).default('>'),
    threshold: z.number().finite(),
    durationSeconds: z.number().int().min(0).max(86_400).default(60).openapi({ description: 'How long the condition must hold before it fires' }),
  })
  .strict()
  .openapi('CreateAlertRule');

const BuiltinSettingBody = z
  .object({
    enabled: z.boolean().optional().openapi({ description: 'false: the rule no longer fires on this tenant\'s instances, and resolves where it fires' }),
    threshold: z.number().finite().nullable().optional().openapi({ description: 'The rule\'s own unit (a ratio for disk_nearly_full, seconds for the others; archiving_failing has none); null: the default' }),
    durationSeconds: z.number().int().min(0).max(86_400).nullable().optional().openapi({ description: 'How long the condition must hold before it fires; null: the default' }),
  })
  .strict()
  .openapi('BuiltinAlertRuleSetting');

const WebhookBody = z.object({ url: z.string().min(1).max(2048).openapi({ example: 'https://alerts.example.com/strata' }) }).strict().openapi('SetAlertWebhook');

const DeliverySchema = z.object({ attempt: z.number().int(), ok: z.boolean(), httpStatus: z.number().int().nullable(), error: z.string().nullable(), at: z.string() });
const EventSchema = z.object({
  id: z.string(),
  kind: z.enum(['firing', 'resolved']),
  rule: z.string(),
  ruleName: z.string(),
  instanceId: z.string(),
  metric: z.string(),
  value: z.number().nullable(),
  threshold: z.number(),
  at: z.string(),
  deliveries: z.array(DeliverySchema),
});
const AlertsSchema = z
  .object({
    firing: z.array(z.object({ rule: z.string(), instanceId: z.string(), value: z.number().nullable(), since: z.string().nullable() })),
    events: z.array(EventSchema).openapi({ description: 'Newest first' }),
  })
  .openapi('Alerts');

const LimitQuery = z.object({ limit: z.coerce.number().int().min(1).max(MAX_LISTED_EVENTS).default(100).openapi({ param: { name: 'limit', in: 'query' } }) });
const RuleParams = z.object({ rule: z.string().min(1).max(256).openapi({ param: { name: 'rule', in: 'path' }, description: 'Rule ID or name' }) });

const routes = {
  alerts: createRoute({ method: 'get', path: '/v1/alerts', tags: [TAG], summary: 'What fires now, and the newest events with each delivery attempt', request: { query: LimitQuery }, responses: { 200: json(AlertsSchema, 'alerts'), ...errorResponses(400, 401) } }),
  rules: createRoute({ method: 'get', path: '/v1/alerts/rules', tags: [TAG], summary: 'The built-in rules and the tenant\'s own', responses: { 200: json(z.object({ rules: z.array(RuleSchema) }), 'rules'), ...errorResponses(401) } }),
  createRule: createRoute({ method: 'post', path: '/v1/alerts/rules', tags: [TAG], summary: 'Add a rule: a metric, a comparison, a threshold and how long it must hold', request: { body: jsonBody(CreateRuleBody) }, responses: { 201: json(RuleSchema, 'the rule'), ...errorResponses(400, 401, 403, 404, 409) } }),
  setBuiltin: createRoute({
    method: 'put', path: '/v1/alerts/rules/{rule}', tags: [TAG],
    summary: `Turn a built-in rule (${BUILTIN_RULE_NAMES.join(', ')}) off or on, or set its threshold and duration, for this tenant; fields left out keep their setting`,
    request: { params: RuleParams, body: jsonBody(BuiltinSettingBody) }, responses: { 200: json(RuleSchema, 'the rule as it now applies'), ...errorResponses(400, 401, 403, 404) },
  }),
  deleteRule: createRoute({ method: 'delete', path: '/v1/alerts/rules/{rule}', tags: [TAG], summary: 'Delete a rule of the tenant\'s', request: { params: RuleParams }, responses: { 204: { description: 'deleted' }, ...errorResponses(401, 403, 404) } }),
  webhook: createRoute({ method: 'get', path: '/v1/alerts/webhook', tags: [TAG], summary: 'Where events are delivered', responses: { 200: json(z.object({ url: z.string() }), 'the webhook'), ...errorResponses(401, 404) } }),
  setWebhook: createRoute({
    method: 'put', path: '/v1/alerts/webhook', tags: [TAG], summary: 'Set where events are delivered; returns a new signing secret, shown once',
    request: { body: jsonBody(WebhookBody) }, responses: { 200: json(z.object({ url: z.string(), secret: z.string() }), 'the webhook and its secret'), ...errorResponses(400, 401, 403) },
  }),
  deleteWebhook: createRoute({ method: 'delete', path: '/v1/alerts/webhook', tags: [TAG], summary: 'Stop delivering events (they are still recorded)', responses: { 204: { description: 'removed' }, ...errorResponses(401, 403, 404) } }),
};

async function handled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AlertError || error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message);
    throw error;
  }
}

/**
 * The alert routes with their workflows (an evaluation schedule and the webhook delivery),
 * configured: `alertsModuleWith({ evaluateCron: '* * * * * *', allowPrivateWebhooks: true })` in
 * tests; {@link alertsModule} has the defaults (every 10 s, public receivers only).
 *
 * @example
 * await createControlPlane({ database, listen, modules: [instancesModule, monitoringModule, alertsModuleWith({ allowPrivateWebhooks: true })] });
 */
export function alertsModuleWith(options: AlertOptions = {}): ApiModule {
  return (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
    registerAlertOperations(deps.strata, { db: deps.db, client: deps.client }, options);
    const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

    app.openapi(routes.alerts, async (c) => {
      const { limit } = c.req.valid('query');
      const { firing, events } = await alertsOf(deps.db, tenantOf(c), limit);
      return c.json(
        {
          firing: firing.map((state) => ({ ...state, since: state.since?.toISOString() ?? null })),
          events: events.map((event) => ({
            id: event.eventId, kind: event.kind, rule: event.ruleKey, ruleName: event.ruleName, instanceId: event.instanceId, metric: event.metric, value: event.value, threshold: event.threshold, at: event.at.toISOString(),
            deliveries: event.deliveries.map((d) => ({ attempt: d.attempt, ok: d.ok, httpStatus: d.httpStatus, error: d.error, at: d.at.toISOString() })),
          })),
        },
        200,
      );
    });

    app.openapi(routes.rules, async (c) => c.json({ rules: await rulesOf(deps.db, tenantOf(c), options.builtinDurationSeconds) }, 200));

    app.openapi(routes.createRule, async (c) => {
      requireRole(c, 'member');
      const body = c.req.valid('json');
      const rule = await audited(c, 'alerts.rules.create', body.name, (record) => handled(() => createRule(deps.db, tenantOf(c), body, record)));
      return c.json(rule, 201);
    });

    app.openapi(routes.setBuiltin, async (c) => {
      // The built-in rules are the tenant's safety net (backups, disk, archiving): changing them is an admin's call, like the webhook.
      requireRole(c, 'admin');
      const { rule } = c.req.valid('param');
      const body = c.req.valid('json');
      const updated = await audited(c, 'alerts.rules.builtin.set', rule, (record) => handled(() => setBuiltinSetting(deps.db, tenantOf(c), rule, body, options.builtinDurationSeconds, record)));
      return c.json(updated, 200);
    });

    app.openapi(routes.deleteRule, async (c) => {
      requireRole(c, 'member');
      const { rule } = c.req.valid('param');
      await audited(c, 'alerts.rules.delete', rule, (record) => handled(() => removeRule(deps.db, tenantOf(c), rule, record)));
      return c.body(null, 204);
    });

    app.openapi(routes.webhook, async (c) => c.json(await handled(() => webhookOf(deps.db, tenantOf(c))), 200));

    app.openapi(routes.setWebhook, async (c) => {
      requireRole(c, 'admin');
      const { url } = c.req.valid('json');
      const webhook = await audited(c, 'alerts.webhook.set', url, (record) => handled(() => setWebhook(deps.db, tenantOf(c), url, options.allowPrivateWebhooks === true, record)));
      return c.json(webhook, 200);
    });

    app.openapi(routes.deleteWebhook, async (c) => {
      requireRole(c, 'admin');
      await handled(() => removeWebhook(deps.db, tenantOf(c)));
      return c.body(null, 204);
    });
  };
}

/** The alert routes and workflows with the defaults: evaluations every 10 s, webhooks to public receivers only. */
export const alertsModule: ApiModule = alertsModuleWith();
