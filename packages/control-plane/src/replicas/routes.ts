// The replica routes (/v1/instances/{instance}/replicas, /promote, /detach), mounted by the instances module.
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError, audited, errorResponses, jsonBody, requireRole, type ApiEnv } from '../http/index.js';
import { InstanceError } from '../instances/errors.js';
import { AddReplicasBody, InstanceRefParams, InstanceSchema, ReplicaListSchema } from '../instances/schemas.js';
import { toInstanceJson, type InstanceServiceDeps } from '../instances/service.js';
import { addReplicas, detachReplica, promoteReplica, replicasOf } from './service.js';

const TAG = 'Replicas';

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  list: createRoute({
    method: 'get', path: '/v1/instances/{instance}/replicas', tags: [TAG], summary: "An instance's streaming read replicas (their lag is in each one's metrics)",
    request: { params: InstanceRefParams }, responses: { 200: json(ReplicaListSchema, 'replicas'), ...errorResponses(401, 404) },
  }),
  add: createRoute({
    method: 'post', path: '/v1/instances/{instance}/replicas', tags: [TAG],
    summary: 'Add streaming read replicas (returns them in BUILD; ACTIVE once streaming); optionally make commits wait for one (synchronous)',
    request: { params: InstanceRefParams, body: jsonBody(AddReplicasBody) },
    responses: { 202: json(ReplicaListSchema, 'the new replicas, in BUILD'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  promote: createRoute({
    method: 'post', path: '/v1/instances/{instance}/promote', tags: [TAG],
    summary: 'Promote a replica in place of its primary: the primary is fenced (stopped, FENCED, never started again), the other replicas follow the promoted one',
    request: { params: InstanceRefParams }, responses: { 202: json(InstanceSchema, 'the replica, its promote running'), ...errorResponses(401, 403, 404, 409) },
  }),
  detach: createRoute({
    method: 'post', path: '/v1/instances/{instance}/detach', tags: [TAG],
    summary: 'Detach a replica: it becomes an independent primary; its primary runs on',
    request: { params: InstanceRefParams }, responses: { 202: json(InstanceSchema, 'the replica, its detach running'), ...errorResponses(401, 403, 404, 409) },
  }),
};

async function handled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message, error.details);
    throw error;
  }
}

/**
 * Mounts the replica routes on the API (the instances module does, with its service deps).
 *
 * @example
 * mountReplicaRoutes(app, service);
 * // POST /v1/instances/orders-db/replicas {"count": 1, "synchronous": true} → 202 {"replicas": [{"name": "orders-db-r1", "status": "BUILD", …}]}
 */
export function mountReplicaRoutes(app: OpenAPIHono<ApiEnv>, service: InstanceServiceDeps): void {
  const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

  app.openapi(routes.list, async (c) => {
    const { instance } = c.req.valid('param');
    const { replicas } = await handled(() => replicasOf(service, tenantOf(c), instance));
    return c.json({ replicas: replicas.map(toInstanceJson) }, 200);
  });

  app.openapi(routes.add, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const body = c.req.valid('json');
    const rows = await audited(c, 'instances.replicas.add', instance, (record) => handled(() => addReplicas(service, tenantOf(c), instance, body, record)));
    return c.json({ replicas: rows.map(toInstanceJson) }, 202);
  });

  for (const [action, run] of [['promote', promoteReplica], ['detach', detachReplica]] as const) {
    app.openapi(routes[action], async (c) => {
      requireRole(c, 'member');
      const { instance } = c.req.valid('param');
      const row = await audited(c, `instances.${action}`, instance, (record) => handled(() => run(service, tenantOf(c), instance, record)));
      return c.json(toInstanceJson(row), 202);
    });
  }
}
