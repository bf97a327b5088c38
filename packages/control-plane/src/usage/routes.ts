// usageModule: the tenant's metered usage (GET /v1/usage), its monthly caps (GET|PUT /v1/usage/cap),
// a platform admin's setting of any tenant's caps (PUT /v1/tenants/{tenantId}/usage-cap), and the caps' evaluation.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError, audited, errorResponses, jsonBody, requirePlatformAdmin, requireRole, type ApiDeps, type ApiEnv, type ApiModule } from '../http/index.js';
import { CAP_MAX, MAX_HOURLY_RANGE_DAYS, MAX_USAGE_RANGE_DAYS, UsageError, capView, setCap, usageRange, usageReport } from './service.js';
import { registerUsageOperations, USAGE_QUEUE, USAGE_WORKFLOWS, type UsageOptions } from './workflows.js';

const TAG = 'Usage';
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const UsageQuery = z.object({
  from: z.string().datetime({ offset: true }).optional().openapi({ param: { name: 'from', in: 'query' }, description: 'ISO 8601, inclusive; default the start (UTC) of the month of `to`' }),
  to: z.string().datetime({ offset: true }).optional().openapi({ param: { name: 'to', in: 'query' }, description: 'ISO 8601, exclusive; default now' }),
  group: z.enum(['instance', 'hour', 'day']).default('day').openapi({
    param: { name: 'group', in: 'query' },
    description: `instance, or UTC hour or day; a range spans at most ${MAX_USAGE_RANGE_DAYS} days (${MAX_HOURLY_RANGE_DAYS} with group=hour)`,
  }),
});

const measureFields = {
  operations: z.number().int().openapi({ description: 'Statements clients sent through the proxy' }),
  bytesIn: z.number().int().openapi({ description: 'Bytes from clients to the proxy' }),
  bytesOut: z.number().int().openapi({ description: 'Bytes from the proxy to clients' }),
  connectionMs: z.number().int().openapi({ description: 'Time client connections were open' }),
  computeMs: z.number().int().openapi({ description: "Time the instances' servers ran (the node agents')" }),
  storageBytes: z.number().int().nullable().openapi({ description: "The sum over the instances of each one's largest sampled database size; null without samples (kept a day by default)" }),
};
const MeasuresSchema = z.object(measureFields).openapi('UsageMeasures');
const GroupSchema = z
  .object({
    instanceId: z.string().nullable().openapi({ description: 'group=instance' }),
    instanceName: z.string().nullable().openapi({ description: 'group=instance; null when its row is gone' }),
    start: z.string().nullable().openapi({ description: 'group=hour|day: the UTC bucket\'s first instant' }),
    ...measureFields,
  })
  .openapi('UsageGroup');
const UsageSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    group: z.enum(['instance', 'hour', 'day']),
    groups: z.array(GroupSchema).openapi({ description: 'Time groups oldest first, instance groups most operations first; groups with nothing are left out' }),
    totals: MeasuresSchema,
  })
  .openapi('Usage');

const capField = (what: string) =>
  z.number().int().min(1).max(CAP_MAX).nullable().optional().openapi({ description: `${what} per calendar month (UTC); null removes the cap, left out keeps it` });
const CapBody = z.object({ operationsPerMonth: capField('Statements'), bytesOutPerMonth: capField('Bytes sent to clients') }).strict().openapi('SetUsageCap');

const CapSchema = z
  .object({
    tenantId: z.string(),
    period: z.object({ start: z.string(), end: z.string() }),
    cap: z.object({ operationsPerMonth: z.number().int().nullable(), bytesOutPerMonth: z.number().int().nullable() }),
    usage: z.object({ operations: z.number().int(), bytesOut: z.number().int() }).openapi({ description: 'The month so far' }),
    percent: z.number().openapi({ description: 'The larger share of the caps used, now' }),
    state: z.enum(['ok', 'warning', 'exceeded']).openapi({ description: 'What the proxy enforces (exceeded: new statements are refused with SQLSTATE 53400), as of evaluatedAt' }),
    warnedAt: z.string().nullable(),
    exceededAt: z.string().nullable(),
    evaluatedAt: z.string().nullable(),
  })
  .openapi('UsageCap');

const TenantParams = z.object({ tenantId: z.string().max(100).openapi({ param: { name: 'tenantId', in: 'path' }, example: 'ten_k3v9q2m7x4b8c1d5' }) });

const routes = {
  usage: createRoute({
    method: 'get', path: '/v1/usage', tags: [TAG], summary: "The tenant's usage over a range, by instance, hour or day: operations, bytes, connection, compute and storage",
    request: { query: UsageQuery }, responses: { 200: json(UsageSchema, 'usage'), ...errorResponses(400, 401) },
  }),
  cap: createRoute({ method: 'get', path: '/v1/usage/cap', tags: [TAG], summary: "The tenant's monthly caps and where it stands this month", responses: { 200: json(CapSchema, 'the caps'), ...errorResponses(401) } }),
  setCap: createRoute({
    method: 'put', path: '/v1/usage/cap', tags: [TAG], summary: "Set the tenant's monthly caps (admins); takes effect at once",
    request: { body: jsonBody(CapBody) }, responses: { 200: json(CapSchema, 'the caps as they now are'), ...errorResponses(400, 401, 403) },
  }),
  setTenantCap: createRoute({
    method: 'put', path: '/v1/tenants/{tenantId}/usage-cap', tags: [TAG], summary: "Set any tenant's monthly caps (platform admins)",
    request: { params: TenantParams, body: jsonBody(CapBody) }, responses: { 200: json(CapSchema, 'the caps as they now are'), ...errorResponses(400, 401, 403, 404) },
  }),
};

async function handled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) throw new ApiError(error.status, error.code, error.message);
    throw error;
  }
}

/**
 * The usage routes with the caps' evaluation (a schedule) and the delivery of cap events to the
 * tenant's webhook (the one `PUT /v1/alerts/webhook` sets), configured:
 * `usageModuleWith({ evaluateCron: '* * * * * *', allowPrivateWebhooks: true })` in tests;
 * {@link usageModule} has the defaults (every 10 s, public receivers only).
 *
 * @example
 * await createControlPlane({ database, listen, modules: [instancesModule, monitoringModule, alertsModule, usageModule] });
 */
export function usageModuleWith(options: UsageOptions = {}): ApiModule {
  return (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
    registerUsageOperations(deps.strata, { db: deps.db, client: deps.client }, options);
    const deliver = { client: deps.client, workflow: USAGE_WORKFLOWS.deliver, queue: USAGE_QUEUE };
    const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

    app.openapi(routes.usage, async (c) => {
      const query = c.req.valid('query');
      const report = await handled(async () => usageReport(deps.db, tenantOf(c), { ...usageRange(query, new Date()), group: query.group }));
      return c.json(report, 200);
    });

    app.openapi(routes.cap, async (c) => c.json(await capView(deps.db, tenantOf(c), new Date()), 200));

    app.openapi(routes.setCap, async (c) => {
      // A cap stops the tenant's applications when reached: an admin's call, like its webhook.
      requireRole(c, 'admin');
      const change = c.req.valid('json');
      const tenantId = tenantOf(c);
      const view = await audited(c, 'usage.cap.set', tenantId, (record) => handled(() => setCap(deps.db, tenantId, change, { requestId: c.get('requestId'), record, deliver })));
      return c.json(view, 200);
    });

    app.openapi(routes.setTenantCap, async (c) => {
      requirePlatformAdmin(c);
      const { tenantId } = c.req.valid('param');
      const change = c.req.valid('json');
      const view = await audited(c, 'usage.cap.set', tenantId, (record) => handled(() => setCap(deps.db, tenantId, change, { requestId: c.get('requestId'), record, deliver })));
      return c.json(view, 200);
    });
  };
}

/** The usage routes and the caps' evaluation with the defaults: every 10 s, webhooks to public receivers only. */
export const usageModule: ApiModule = usageModuleWith();
