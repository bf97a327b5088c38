// monitoringModule: an instance's metrics over a time range (GET /v1/instances/{instance}/metrics) and the Prometheus exposition (GET /v1/metrics).
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError, errorResponses, type ApiDeps, type ApiEnv, type ApiModule } from '../http/index.js';
import { InstanceError } from '../instances/errors.js';
import { InstanceRefParams } from '../instances/schemas.js';
import { requireInstance } from '../instances/service.js';
import { listAllInstances, listInstances } from '../instances/sql.js';
import { prometheusText } from './prometheus.js';
import { lastBackups, latestMetrics, metricsBetween, type MetricsRow } from './sql.js';

const TAG = 'Monitoring';
/** Most samples one request returns (the newest ones of the range): an hour at 15 s is 240. */
export const MAX_METRICS_POINTS = 2_000;
/** The range when none is given: the last hour. */
const DEFAULT_RANGE_MS = 60 * 60_000;

const MetricsQuery = z.object({
  from: z.string().datetime({ offset: true }).optional().openapi({ param: { name: 'from', in: 'query' }, description: 'ISO 8601; default an hour before `to`' }),
  to: z.string().datetime({ offset: true }).optional().openapi({ param: { name: 'to', in: 'query' }, description: 'ISO 8601; default now' }),
  limit: z.coerce.number().int().min(1).max(MAX_METRICS_POINTS).default(500).openapi({ param: { name: 'limit', in: 'query' }, description: `The newest samples of the range, at most ${MAX_METRICS_POINTS}` }),
});

const SampleSchema = z.object({
  at: z.string(),
  connections: z.number().nullable(),
  transactionsPerSecond: z.number().nullable(),
  cacheHitRatio: z.number().nullable(),
  databaseBytes: z.number().nullable(),
  replicationLagSeconds: z.number().nullable(),
  longestTransactionSeconds: z.number().nullable(),
  archiveFailing: z.boolean().nullable(),
  lastArchivedAgeSeconds: z.number().nullable(),
});

const MetricsSchema = z
  .object({
    instanceId: z.string(),
    from: z.string(),
    to: z.string(),
    samples: z.array(SampleSchema).openapi({ description: 'Oldest first' }),
    storageBytes: z.number().openapi({ description: 'What the flavor allows (database size against it: disk nearly full)' }),
    lastBackupAt: z.string().nullable().openapi({ description: 'When its last completed backup ended' }),
  })
  .openapi('InstanceMetrics');

const routes = {
  metrics: createRoute({
    method: 'get', path: '/v1/instances/{instance}/metrics', tags: [TAG], summary: "An instance's samples over a time range (connections, transactions/s, cache hit ratio, size, replication lag, longest transaction, WAL archiving) and its last backup",
    request: { params: InstanceRefParams, query: MetricsQuery }, responses: { 200: { description: 'samples', content: { 'application/json': { schema: MetricsSchema } } }, ...errorResponses(400, 401, 404) },
  }),
  prometheus: createRoute({
    method: 'get', path: '/v1/metrics', tags: [TAG], summary: "Prometheus exposition of the newest sample of each of the tenant's instances (a platform admin: every tenant's)",
    responses: { 200: { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: z.string() } } }, ...errorResponses(401) },
  }),
};

function toSample(row: MetricsRow): z.infer<typeof SampleSchema> {
  const { instanceId: _instanceId, at, ...values } = row;
  return { at: at.toISOString(), ...values };
}

/**
 * The monitoring routes: what the node agents sample into strata_cloud.instance_metrics, as JSON
 * per instance and as Prometheus gauges (scrape `/v1/metrics` with an API key as bearer token).
 *
 * @example
 * await createControlPlane({ database, listen, modules: [instancesModule, backupsModule, monitoringModule] });
 */
export const monitoringModule: ApiModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
  const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

  app.openapi(routes.metrics, async (c) => {
    const { instance } = c.req.valid('param');
    const query = c.req.valid('query');
    const row = await requireInstance(deps.db, tenantOf(c), instance).catch((error: unknown) => {
      if (error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message);
      throw error;
    });
    const to = query.to === undefined ? new Date() : new Date(query.to);
    const from = query.from === undefined ? new Date(to.getTime() - DEFAULT_RANGE_MS) : new Date(query.from);
    if (from.getTime() > to.getTime()) throw new ApiError(400, 'invalid_request', `from (${from.toISOString()}) is after to (${to.toISOString()}); give a range that starts before it ends`);
    const samples = await metricsBetween(deps.db, row.instanceId, from, to, query.limit);
    const lastBackupAt = (await lastBackups(deps.db, [row.instanceId])).get(row.instanceId);
    return c.json({ instanceId: row.instanceId, from: from.toISOString(), to: to.toISOString(), samples: samples.map(toSample), storageBytes: row.storageMb * 1024 * 1024, lastBackupAt: lastBackupAt?.toISOString() ?? null }, 200);
  });

  app.openapi(routes.prometheus, async (c) => {
    const principal = c.get('principal');
    const instances = principal.platform && principal.role === 'admin' ? await listAllInstances(deps.db) : await listInstances(deps.db, principal.tenantId);
    const ids = instances.map((row) => row.instanceId);
    const { contentType, text } = await prometheusText(instances, await latestMetrics(deps.db, ids), await lastBackups(deps.db, ids), new Date());
    return c.text(text, 200, { 'Content-Type': contentType });
  });
};
