// instancesModule: the instance routes (/v1/flavors, /v1/instances…, /v1/nodes) on the control plane's OpenAPI app.
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { isConnectionError } from '@strata/store';
import { SystemDatabaseError } from '@strata/transact';
import { scramVerifier } from '@strata/postgres';
import { ApiError, ErrorSchema, audited, checkQuota, errorResponses, jsonBody, requirePlatformAdmin, requireRole, type ApiDeps, type ApiEnv, type ApiModule } from '../http/index.js';
import { InstanceError } from './errors.js';
import { listNodes } from './nodes.js';
import { registerInstanceOperations } from './operations.js';
import { mountReplicaRoutes, registerReplicaOperations } from '../replicas/index.js';
import {
  CreateInstanceBody,
  FlavorListSchema,
  InstanceListSchema,
  InstanceRefParams,
  InstanceSchema,
  NodeListSchema,
  OperationListSchema,
  RenameInstanceBody,
  ResizeInstanceBody,
  WaitQuery,
} from './schemas.js';
import {
  createInstance,
  instanceHistory,
  listFlavors,
  listTenantInstances,
  renameInstanceTo,
  requireInstance,
  startOperation,
  toInstanceJson,
  type InstanceServiceDeps,
} from './service.js';

const TAG = 'Instances';

/** The answer of a create when no node has room. */
const NO_CAPACITY = { 503: { description: 'No live node has room for the flavor (no_capacity)', content: { 'application/json': { schema: ErrorSchema } } } };

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  flavors: createRoute({ method: 'get', path: '/v1/flavors', tags: [TAG], summary: 'List flavors', responses: { 200: json(FlavorListSchema, 'flavors'), ...errorResponses(401) } }),
  list: createRoute({ method: 'get', path: '/v1/instances', tags: [TAG], summary: 'List instances', responses: { 200: json(InstanceListSchema, 'instances'), ...errorResponses(401) } }),
  create: createRoute({
    method: 'post',
    path: '/v1/instances',
    tags: [TAG],
    summary: 'Create an instance (returns at once, status BUILD; ACTIVE when connectable)',
    request: { body: jsonBody(CreateInstanceBody) },
    responses: { 202: json(InstanceSchema, 'the new instance, in BUILD'), ...errorResponses(400, 401, 403, 409, 413, 415, 422), ...NO_CAPACITY },
  }),
  show: createRoute({ method: 'get', path: '/v1/instances/{instance}', tags: [TAG], summary: 'Show an instance', request: { params: InstanceRefParams }, responses: { 200: json(InstanceSchema, 'the instance'), ...errorResponses(401, 404) } }),
  rename: createRoute({
    method: 'patch',
    path: '/v1/instances/{instance}',
    tags: [TAG],
    summary: 'Rename an instance',
    request: { params: InstanceRefParams, body: jsonBody(RenameInstanceBody) },
    responses: { 200: json(InstanceSchema, 'the renamed instance'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  delete: createRoute({
    method: 'delete',
    path: '/v1/instances/{instance}',
    tags: [TAG],
    summary: 'Delete an instance (its data directory is removed)',
    request: { params: InstanceRefParams },
    responses: { 202: json(InstanceSchema, 'the instance, its delete running'), ...errorResponses(401, 403, 404, 409) },
  }),
  resize: createRoute({
    method: 'post',
    path: '/v1/instances/{instance}/resize',
    tags: [TAG],
    summary: 'Resize an instance to another flavor (a running one restarts)',
    request: { params: InstanceRefParams, body: jsonBody(ResizeInstanceBody) },
    responses: { 202: json(InstanceSchema, 'the instance, in RESIZE'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  wait: createRoute({
    method: 'get',
    path: '/v1/instances/{instance}/wait',
    tags: [TAG],
    summary: "Wait for the instance's running operation to end (a long-poll), then show the instance",
    description:
      'Answers at once when no operation runs; else when the operation ends (its outcome is in the status) or after timeoutMs, ' +
      'whichever comes first: `currentOperation` says which. Use it instead of polling GET /v1/instances/{instance}.',
    request: { params: InstanceRefParams, query: WaitQuery },
    responses: { 200: json(InstanceSchema, 'the instance when its operation ended, or as it is after timeoutMs'), ...errorResponses(400, 401, 404) },
  }),
  operations: createRoute({
    method: 'get',
    path: '/v1/instances/{instance}/operations',
    tags: [TAG],
    summary: "An instance's operations (the workflows they are) and events",
    request: { params: InstanceRefParams },
    responses: { 200: json(OperationListSchema, 'operations and events'), ...errorResponses(401, 404) },
  }),
  nodes: createRoute({ method: 'get', path: '/v1/nodes', tags: ['Nodes'], summary: 'List nodes (platform admin)', responses: { 200: json(NodeListSchema, 'nodes'), ...errorResponses(401, 403) } }),
};

const powerRoute = (action: 'stop' | 'start' | 'restart') =>
  createRoute({
    method: 'post',
    path: `/v1/instances/{instance}/${action}`,
    tags: [TAG],
    summary: `${action.charAt(0).toUpperCase()}${action.slice(1)} an instance`,
    request: { params: InstanceRefParams },
    responses: { 202: json(InstanceSchema, `the instance, its ${action} running`), ...errorResponses(401, 403, 404, 409) },
  });

/** Runs a handler body, turning an {@link InstanceError} into the platform's ApiError. */
async function handled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message, error.details);
    throw error;
  }
}

/**
 * The instance routes of the HTTP API; also registers the instance operations on the engine
 * (so the module must be applied before the engine launches).
 *
 * @example
 * await createControlPlane({ database, listen: { host: '127.0.0.1', port: 8080 }, modules: [instancesModule] });
 */
export const instancesModule: ApiModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
  registerInstanceOperations(deps.strata, { db: deps.db, client: deps.client });
  registerReplicaOperations(deps.strata, { db: deps.db, client: deps.client });
  const service: InstanceServiceDeps = { db: deps.db, client: deps.client, checkQuota, scramVerifier };
  mountReplicaRoutes(app, service);
  const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

  app.openapi(routes.flavors, (c) => c.json({ flavors: listFlavors() }, 200));

  app.openapi(routes.list, async (c) => c.json({ instances: (await listTenantInstances(service, tenantOf(c))).map(toInstanceJson) }, 200));

  app.openapi(routes.create, async (c) => {
    requireRole(c, 'member');
    const body = c.req.valid('json');
    const row = await audited(c, 'instances.create', body.name, (record) => handled(() => createInstance(service, tenantOf(c), body, record)));
    return c.json(toInstanceJson(row), 202);
  });

  app.openapi(routes.show, async (c) => {
    const { instance } = c.req.valid('param');
    return c.json(toInstanceJson(await handled(() => requireInstance(deps.db, tenantOf(c), instance))), 200);
  });

  app.openapi(routes.rename, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const { name } = c.req.valid('json');
    const row = await audited(c, 'instances.rename', instance, (record) => handled(() => renameInstanceTo(service, tenantOf(c), instance, name, record)));
    return c.json(toInstanceJson(row), 200);
  });

  app.openapi(routes.delete, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const row = await audited(c, 'instances.delete', instance, (record) => handled(() => startOperation(service, tenantOf(c), instance, 'delete', { record })));
    return c.json(toInstanceJson(row), 202);
  });

  for (const action of ['stop', 'start', 'restart'] as const) {
    app.openapi(powerRoute(action), async (c) => {
      requireRole(c, 'member');
      const { instance } = c.req.valid('param');
      const row = await audited(c, `instances.${action}`, instance, (record) => handled(() => startOperation(service, tenantOf(c), instance, action, { record })));
      return c.json(toInstanceJson(row), 202);
    });
  }

  app.openapi(routes.resize, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const { flavor } = c.req.valid('json');
    const row = await audited(c, 'instances.resize', instance, (record) => handled(() => startOperation(service, tenantOf(c), instance, 'resize', { flavor, record })));
    return c.json(toInstanceJson(row), 202);
  });

  app.openapi(routes.wait, async (c) => {
    const { instance } = c.req.valid('param');
    const { timeoutMs } = c.req.valid('query');
    const row = await handled(() => requireInstance(deps.db, tenantOf(c), instance));
    if (row.operationId === null) return c.json(toInstanceJson(row), 200);
    // The operation's workflow ends right after it records its outcome in the row; a timeout
    // answers the row as it is (still busy), and an operation that failed (or was cancelled, or
    // whose workflow retention removed) left its outcome there. Only a database that cannot be
    // reached is an error of this request (503).
    await deps.client
      .retrieve(row.operationId)
      .result({ timeoutMs })
      .catch((error: unknown) => {
        if (isConnectionError(error) || error instanceof SystemDatabaseError) throw error;
      });
    return c.json(toInstanceJson(await handled(() => requireInstance(deps.db, tenantOf(c), row.instanceId))), 200);
  });

  app.openapi(routes.operations, async (c) => {
    const { instance } = c.req.valid('param');
    const history = await handled(() => instanceHistory(service, tenantOf(c), instance));
    return c.json({ operations: history.operations, events: history.events.map((event) => ({ ...event, at: event.at.toISOString() })) }, 200);
  });

  app.openapi(routes.nodes, async (c) => {
    requirePlatformAdmin(c);
    const nodes = await listNodes(deps.db);
    return c.json({ nodes: nodes.map((node) => ({ ...node, heartbeatAt: node.heartbeatAt.toISOString(), startedAt: node.startedAt.toISOString() })) }, 200);
  });
};
