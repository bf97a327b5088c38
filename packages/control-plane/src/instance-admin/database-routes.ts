// Routes of an instance's databases (list, create, drop) and its server log.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { checkIdentifier } from '@strata/agent';
import { requireRole } from '../http/auth.js';
import { ApiError } from '../http/errors.js';
import { errorResponses, jsonBody } from '../http/schemas.js';
import type { ApiEnv } from '../http/types.js';
import { apiErrors, readFromAgent, runningInstance } from './agent-admin.js';
import { runChange, type AdminRouteDeps } from './changes.js';
import { CreateDatabaseBody, DatabaseChange, DatabaseList, DatabaseParams, InstanceParams, Log, LogQuery } from './schemas.js';

const TAG = 'Databases';
const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  list: createRoute({
    method: 'get',
    path: '/v1/instances/{instance}/databases',
    tags: [TAG],
    summary: "List an instance's databases",
    request: { params: InstanceParams },
    responses: { 200: json(DatabaseList, 'the databases (templates and postgres left out)'), ...errorResponses(401, 404, 409) },
  }),
  create: createRoute({
    method: 'post',
    path: '/v1/instances/{instance}/databases',
    tags: [TAG],
    summary: 'Create a database (only users granted on it may connect)',
    request: { params: InstanceParams, body: jsonBody(CreateDatabaseBody) },
    responses: { 201: json(DatabaseChange, 'the database was created'), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  }),
  drop: createRoute({
    method: 'delete',
    path: '/v1/instances/{instance}/databases/{database}',
    tags: [TAG],
    summary: 'Drop a database (its connections are cut)',
    request: { params: DatabaseParams },
    responses: { 200: json(DatabaseChange, 'the database is gone'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  log: createRoute({
    method: 'get',
    path: '/v1/instances/{instance}/log',
    tags: ['Instances'],
    summary: "The last lines of an instance's server log",
    request: { params: InstanceParams, query: LogQuery },
    responses: { 200: json(Log, 'log lines, oldest first'), ...errorResponses(400, 401, 404, 409) },
  }),
};

/**
 * Registers the database and log routes.
 *
 * @example
 * registerDatabaseRoutes(app, deps); // GET|POST /v1/instances/{instance}/databases, DELETE …/databases/{database}, GET …/log
 */
export function registerDatabaseRoutes(app: OpenAPIHono<ApiEnv>, deps: AdminRouteDeps): void {
  app.openapi(routes.list, (c) =>
    apiErrors(async () => {
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, c.req.valid('param').instance);
      const { databases } = await readFromAgent(deps.client, instance, { kind: 'listDatabases', instanceId: instance.instanceId });
      return c.json({ databases: [...databases] }, 200);
    }),
  );

  app.openapi(routes.create, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const { name } = c.req.valid('json');
      checkIdentifier('database', name);
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, c.req.valid('param').instance, { idle: true });
      const { databases } = await readFromAgent(deps.client, instance, { kind: 'listDatabases', instanceId: instance.instanceId });
      if (databases.some((database) => database.name === name)) {
        throw new ApiError(409, 'name_taken', `instance ${instance.name} has a database "${name}" already; pick another name or drop it first`);
      }
      const created = await runChange(c, deps, instance, { kind: 'createDatabase', instanceId: instance.instanceId, database: name }, 'databases.create', `${instance.instanceId}/${name}`);
      return c.json(created, 201);
    }),
  );

  app.openapi(routes.drop, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const { instance: ref, database } = c.req.valid('param');
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, ref, { idle: true });
      const dropped = await runChange(c, deps, instance, { kind: 'dropDatabase', instanceId: instance.instanceId, database }, 'databases.delete', `${instance.instanceId}/${database}`);
      if (!dropped.dropped) throw new ApiError(404, 'database_not_found', `instance ${instance.name} has no database "${database}"; list them with GET /v1/instances/${instance.instanceId}/databases`);
      return c.json(dropped, 200);
    }),
  );

  app.openapi(routes.log, (c) =>
    apiErrors(async () => {
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, c.req.valid('param').instance, { stoppedToo: true });
      const { lines } = await readFromAgent(deps.client, instance, { kind: 'logTail', instanceId: instance.instanceId, lines: c.req.valid('query').lines });
      return c.json({ instanceId: instance.instanceId, lines: [...lines] }, 200);
    }),
  );
}
