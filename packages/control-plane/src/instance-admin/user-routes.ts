// Routes of an instance's users: list, create (with a password and grants), drop, reset the password, grant and revoke per database.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { checkIdentifier } from '@strata/agent';
import { scramVerifier } from '@strata/postgres';
import { requireRole } from '../http/auth.js';
import { ApiError } from '../http/errors.js';
import { errorResponses, jsonBody } from '../http/schemas.js';
import type { ApiEnv } from '../http/types.js';
import { apiErrors, readFromAgent, runningInstance } from './agent-admin.js';
import { runChange, type AdminRouteDeps } from './changes.js';
import { CreateUserBody, Grant, GrantChange, InstanceParams, RevokeQuery, SetPasswordBody, UserChange, UserList, UserParams } from './schemas.js';

const TAG = 'Users';
const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  list: createRoute({
    method: 'get',
    path: '/v1/instances/{instance}/users',
    tags: [TAG],
    summary: "List an instance's users and their grants",
    request: { params: InstanceParams },
    responses: { 200: json(UserList, 'the login roles of the tenant'), ...errorResponses(401, 404, 409) },
  }),
  create: createRoute({
    method: 'post',
    path: '/v1/instances/{instance}/users',
    tags: [TAG],
    summary: 'Create a user with a password (stored only as a SCRAM verifier) and optional grants',
    request: { params: InstanceParams, body: jsonBody(CreateUserBody) },
    responses: { 201: json(UserChange, 'the user was created'), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  }),
  drop: createRoute({
    method: 'delete',
    path: '/v1/instances/{instance}/users/{user}',
    tags: [TAG],
    summary: 'Drop a user (its sessions end; what it owns passes to the platform, the data stays)',
    request: { params: UserParams },
    responses: { 200: json(UserChange, 'the user is gone'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  password: createRoute({
    method: 'post',
    path: '/v1/instances/{instance}/users/{user}/password',
    tags: [TAG],
    summary: "Reset a user's password (the old one stops working)",
    request: { params: UserParams, body: jsonBody(SetPasswordBody) },
    responses: { 200: json(UserChange, 'the password is replaced'), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  }),
  grant: createRoute({
    method: 'post',
    path: '/v1/instances/{instance}/users/{user}/grants',
    tags: [TAG],
    summary: "Grant a user 'all' or 'read' on a database (replacing what it held there)",
    request: { params: UserParams, body: jsonBody(Grant) },
    responses: { 200: json(GrantChange, 'the grant holds'), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  }),
  revoke: createRoute({
    method: 'delete',
    path: '/v1/instances/{instance}/users/{user}/grants',
    tags: [TAG],
    summary: "Revoke a user's privileges on a database (it can no longer connect to it)",
    request: { params: UserParams, query: RevokeQuery },
    responses: { 200: json(GrantChange, 'the grant is gone'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
};

/**
 * Registers the user routes. Passwords become SCRAM verifiers here, before anything is stored,
 * enqueued or logged.
 *
 * @example
 * registerUserRoutes(app, deps); // GET|POST /v1/instances/{instance}/users, DELETE …/users/{user}, POST …/password, POST|DELETE …/grants
 */
export function registerUserRoutes(app: OpenAPIHono<ApiEnv>, deps: AdminRouteDeps): void {
  app.openapi(routes.list, (c) =>
    apiErrors(async () => {
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, c.req.valid('param').instance);
      const { users } = await readFromAgent(deps.client, instance, { kind: 'listUsers', instanceId: instance.instanceId });
      return c.json({ users: users.map((user) => ({ name: user.name, grants: [...user.grants] })) }, 200);
    }),
  );

  app.openapi(routes.create, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const body = c.req.valid('json');
      const grants = body.grants ?? [];
      // Every name is checked before anything happens, so a bad one changes nothing.
      checkIdentifier('user', body.name);
      for (const grant of grants) checkIdentifier('database', grant.database);
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, c.req.valid('param').instance, { idle: true });
      const { users } = await readFromAgent(deps.client, instance, { kind: 'listUsers', instanceId: instance.instanceId });
      if (users.some((user) => user.name === body.name)) {
        throw new ApiError(409, 'name_taken', `instance ${instance.name} has a user "${body.name}" already; pick another name, or reset its password (POST …/users/${body.name}/password)`);
      }
      if (grants.length > 0) {
        const { databases } = await readFromAgent(deps.client, instance, { kind: 'listDatabases', instanceId: instance.instanceId });
        const missing = grants.find((grant) => !databases.some((database) => database.name === grant.database));
        if (missing !== undefined) throw new ApiError(404, 'database_not_found', `instance ${instance.name} has no database "${missing.database}"; create it first (POST …/databases)`);
      }
      const target = `${instance.instanceId}/${body.name}`;
      const verifier = scramVerifier(body.password);
      const created = await runChange(c, deps, instance, { kind: 'createUser', instanceId: instance.instanceId, user: body.name, verifier }, 'users.create', target);
      for (const grant of grants) {
        await runChange(c, deps, instance, { kind: 'grant', instanceId: instance.instanceId, user: body.name, database: grant.database, privilege: grant.privilege }, 'users.grant', `${target}/${grant.database}`);
      }
      return c.json(created, 201);
    }),
  );

  app.openapi(routes.drop, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const { instance: ref, user } = c.req.valid('param');
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, ref, { idle: true });
      const dropped = await runChange(c, deps, instance, { kind: 'dropUser', instanceId: instance.instanceId, user }, 'users.delete', `${instance.instanceId}/${user}`);
      if (!dropped.dropped) throw new ApiError(404, 'user_not_found', `instance ${instance.name} has no user "${user}"; list them with GET /v1/instances/${instance.instanceId}/users`);
      return c.json(dropped, 200);
    }),
  );

  app.openapi(routes.password, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const { instance: ref, user } = c.req.valid('param');
      checkIdentifier('user', user);
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, ref, { idle: true });
      const verifier = scramVerifier(c.req.valid('json').password);
      const changed = await runChange(c, deps, instance, { kind: 'setPassword', instanceId: instance.instanceId, user, verifier }, 'users.password', `${instance.instanceId}/${user}`);
      return c.json(changed, 200);
    }),
  );

  app.openapi(routes.grant, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const { instance: ref, user } = c.req.valid('param');
      const { database, privilege } = c.req.valid('json');
      checkIdentifier('user', user);
      checkIdentifier('database', database);
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, ref, { idle: true });
      const granted = await runChange(c, deps, instance, { kind: 'grant', instanceId: instance.instanceId, user, database, privilege }, 'users.grant', `${instance.instanceId}/${user}/${database}`);
      return c.json(granted, 200);
    }),
  );

  app.openapi(routes.revoke, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const { instance: ref, user } = c.req.valid('param');
      const { database } = c.req.valid('query');
      checkIdentifier('user', user);
      checkIdentifier('database', database);
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, ref, { idle: true });
      const revoked = await runChange(c, deps, instance, { kind: 'revoke', instanceId: instance.instanceId, user, database }, 'users.revoke', `${instance.instanceId}/${user}/${database}`);
      return c.json({ ...revoked, privilege: null }, 200);
    }),
  );
}
