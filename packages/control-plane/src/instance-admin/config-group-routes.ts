// Routes of configuration groups: create (checked against pg_settings), list, show, delete (not while attached), attach to and detach from an instance.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { WaitTimeoutError } from '@strata/transact';
import { audited } from '../audit/audited.js';
import { requireRole } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { errorResponses, jsonBody } from '../http/schemas.js';
import type { ApiEnv } from '../http/types.js';
import { findFlavor, flavorSettings } from '../instances/flavors.js';
import { newOperationId } from '../instances/names.js';
import { OPERATIONS_QUEUE } from '../instances/operations.js';
import { addEvent, type InstanceRow } from '../instances/sql.js';
import { newId } from '../tenancy/ids.js';
import { ADMIN_REQUEST_TIMEOUT_MS, adminApiError, apiErrors, runningInstance } from './agent-admin.js';
import type { Catalogue } from './catalogue.js';
import type { AdminRouteDeps } from './changes.js';
import { checkParameters, type ParameterProblem } from './parameters.js';
import { AttachBody, Attachment, ConfigGroup, ConfigGroupList, CreateGroupBody, GroupParams, InstanceParams } from './schemas.js';
import {
  attachedGroupId,
  beginConfigureOperation,
  deleteConfigGroup,
  findConfigGroup,
  getConfigGroup,
  insertConfigGroup,
  listConfigGroups,
  type ConfigGroupRow,
} from './sql/config-groups.js';
import { ADMIN_WORKFLOWS, type ConfigureInput, type ConfigureOutcome } from './workflows.js';

const TAG = 'Configuration groups';
const json = <T>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  list: createRoute({ method: 'get', path: '/v1/config-groups', tags: [TAG], summary: 'List configuration groups', responses: { 200: json(ConfigGroupList, 'the groups'), ...errorResponses(401) } }),
  create: createRoute({
    method: 'post',
    path: '/v1/config-groups',
    tags: [TAG],
    summary: "Create a configuration group (each parameter checked against PostgreSQL's pg_settings)",
    request: { body: jsonBody(CreateGroupBody) },
    responses: { 201: json(ConfigGroup, 'the group'), ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
  }),
  show: createRoute({ method: 'get', path: '/v1/config-groups/{group}', tags: [TAG], summary: 'Show a configuration group', request: { params: GroupParams }, responses: { 200: json(ConfigGroup, 'the group'), ...errorResponses(401, 404) } }),
  delete: createRoute({
    method: 'delete',
    path: '/v1/config-groups/{group}',
    tags: [TAG],
    summary: 'Delete a configuration group (refused while an instance uses it)',
    request: { params: GroupParams },
    responses: { 200: json(ConfigGroup, 'the deleted group'), ...errorResponses(401, 403, 404, 409) },
  }),
  attach: createRoute({
    method: 'put',
    path: '/v1/instances/{instance}/config-group',
    tags: [TAG],
    summary: 'Attach a configuration group to an instance (RESTART_REQUIRED when a parameter needs a restart)',
    request: { params: InstanceParams, body: jsonBody(AttachBody) },
    responses: { 200: json(Attachment, 'the group is applied'), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  }),
  detach: createRoute({
    method: 'delete',
    path: '/v1/instances/{instance}/config-group',
    tags: [TAG],
    summary: "Detach an instance's configuration group (its parameters go back to the instance's own values)",
    request: { params: InstanceParams },
    responses: { 200: json(Attachment, 'the group is taken off'), ...errorResponses(401, 403, 404, 409) },
  }),
};

/** The API shape of a group. */
function groupJson(group: ConfigGroupRow) {
  return {
    id: group.groupId,
    name: group.name,
    description: group.description,
    majorVersion: group.majorVersion,
    parameters: { ...group.parameters },
    restartRequired: [...group.restartRequired],
    instances: [...group.instanceIds],
    createdAt: group.createdAt.toISOString(),
  };
}

/** `400 unknown_parameter` / `parameter_not_allowed` / `invalid_parameter_value` for the first problem, every problem in details. */
function parameterError(problems: readonly ParameterProblem[]): ApiError {
  const first = problems[0];
  if (first === undefined) throw new Error('invariant: parameterError needs at least one problem');
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1).map((problem) => problem.parameter).join(', ')})` : '';
  return new ApiError(400, first.code, `${first.message}${more}`, { problems });
}

/** A JSON parameter value as postgresql.conf reads it: booleans on/off, numbers as written. */
function parameterText(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

/**
 * Registers the configuration-group routes.
 *
 * @example
 * registerConfigGroupRoutes(app, deps); // GET|POST /v1/config-groups, GET|DELETE …/{group}, PUT|DELETE /v1/instances/{instance}/config-group
 */
export function registerConfigGroupRoutes(app: OpenAPIHono<ApiEnv>, deps: AdminRouteDeps): void {
  app.openapi(routes.list, async (c) => {
    const groups = await listConfigGroups(deps.db, c.get('principal').tenantId);
    return c.json({ configGroups: groups.map(groupJson) }, 200);
  });

  app.openapi(routes.show, async (c) => {
    const ref = c.req.valid('param').group;
    const group = await findConfigGroup(deps.db, c.get('principal').tenantId, ref);
    if (group === undefined) throw notFound('configuration group', ref);
    return c.json(groupJson(group), 200);
  });

  app.openapi(routes.create, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const body = c.req.valid('json');
      const tenantId = c.get('principal').tenantId;
      const requested = Object.fromEntries(Object.entries(body.parameters).map(([name, value]) => [name, parameterText(value)]));
      if (Object.keys(requested).length === 0) throw new ApiError(400, 'invalid_request', 'a configuration group needs at least one parameter in "parameters"');
      const catalogue = await deps.catalogues.forMajor(deps.db, deps.client, body.majorVersion);
      const checked = checkParameters(requested, catalogue.settings);
      if (checked.problems.length > 0) throw parameterError(checked.problems);
      const groupId = newId('cfg');
      const group = await audited(c, 'config-groups.create', groupId, (record) =>
        deps.db.transaction(async (tx) => {
          const inserted = await insertConfigGroup(tx, {
            groupId,
            tenantId,
            name: body.name,
            description: body.description ?? '',
            majorVersion: catalogue.majorVersion,
            parameters: checked.parameters,
            restartRequired: checked.restartRequired,
          });
          if (inserted === undefined) throw new ApiError(409, 'name_taken', `a configuration group named "${body.name}" exists; pick another name or delete it first`);
          await record(tx);
          return inserted;
        }),
      );
      return c.json(groupJson(group), 201);
    }),
  );

  app.openapi(routes.delete, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const ref = c.req.valid('param').group;
      const tenantId = c.get('principal').tenantId;
      const group = await findConfigGroup(deps.db, tenantId, ref);
      if (group === undefined) throw notFound('configuration group', ref);
      await audited(c, 'config-groups.delete', group.groupId, (record) =>
        deps.db.transaction(async (tx) => {
          if (!(await deleteConfigGroup(tx, group.groupId))) {
            const current = await getConfigGroup(tx, group.groupId);
            if (current === undefined) throw notFound('configuration group', ref);
            throw new ApiError(409, 'config_group_in_use', `configuration group "${group.name}" is attached to ${current.instanceIds.join(', ')}; detach it first (DELETE /v1/instances/{instance}/config-group)`, {
              instances: current.instanceIds,
            });
          }
          await record(tx);
        }),
      );
      return c.json(groupJson(group), 200);
    }),
  );

  app.openapi(routes.attach, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const tenantId = c.get('principal').tenantId;
      const groupRef = c.req.valid('json').group;
      const instance = await runningInstance(deps.db, tenantId, c.req.valid('param').instance, { idle: true });
      const group = await findConfigGroup(deps.db, tenantId, groupRef);
      if (group === undefined) throw notFound('configuration group', groupRef);
      const catalogue = await deps.catalogues.forInstance(deps.client, instance);
      if (catalogue.majorVersion !== group.majorVersion) {
        throw new ApiError(409, 'version_mismatch', `configuration group "${group.name}" is for PostgreSQL ${group.majorVersion}, instance ${instance.name} runs ${catalogue.majorVersion}; create a group for ${catalogue.majorVersion}`);
      }
      const checked = checkParameters(group.parameters, catalogue.settings);
      if (checked.problems.length > 0) throw parameterError(checked.problems);
      const previousId = await attachedGroupId(deps.db, instance.instanceId);
      const previous = previousId === null || previousId === group.groupId ? undefined : await getConfigGroup(deps.db, previousId);
      // The old group's parameters that the new one does not set go back to the instance's own values.
      const settings = { ...resetValues(instance, previous, catalogue), ...checked.parameters };
      const result = await configure(c, deps, instance, group.groupId, settings, 'instances.config-group.attach', `${instance.instanceId}/${group.groupId}`);
      return c.json(result, 200);
    }),
  );

  app.openapi(routes.detach, (c) =>
    apiErrors(async () => {
      requireRole(c, 'member');
      const instance = await runningInstance(deps.db, c.get('principal').tenantId, c.req.valid('param').instance, { idle: true });
      const groupId = await attachedGroupId(deps.db, instance.instanceId);
      const group = groupId === null ? undefined : await getConfigGroup(deps.db, groupId);
      if (group === undefined) throw new ApiError(404, 'no_config_group', `instance ${instance.name} has no configuration group attached`);
      const catalogue = await deps.catalogues.forInstance(deps.client, instance);
      const result = await configure(c, deps, instance, null, resetValues(instance, group, catalogue), 'instances.config-group.detach', `${instance.instanceId}/${group.groupId}`);
      return c.json(result, 200);
    }),
  );
}

/**
 * The values a group's parameters go back to when it comes off: the instance's own parameter
 * (from its create), else the flavor's setting, else PostgreSQL's built-in default.
 */
function resetValues(instance: InstanceRow, group: ConfigGroupRow | undefined, catalogue: Catalogue): Record<string, string> {
  if (group === undefined) return {};
  const flavor = findFlavor(instance.flavor);
  const fromFlavor = flavor === undefined ? {} : flavorSettings(flavor);
  const defaults = new Map(catalogue.settings.map((setting) => [setting.name, setting.defaultValue]));
  const values: Record<string, string> = {};
  for (const name of Object.keys(group.parameters)) {
    const value = instance.parameters[name] ?? fromFlavor[name] ?? defaults.get(name) ?? null;
    if (value !== null) values[name] = value;
  }
  return values;
}

/**
 * Starts the configure operation (the instance locked, checked idle, marked busy, the workflow
 * enqueued and the audit row appended in one commit), then waits for it.
 */
async function configure(
  c: Context<ApiEnv>,
  deps: AdminRouteDeps,
  instance: InstanceRow,
  groupId: string | null,
  settings: Readonly<Record<string, string>>,
  auditAction: string,
  target: string,
) {
  const operationId = newOperationId(instance.instanceId, 'configure');
  await audited(c, auditAction, target, (record) =>
    deps.db.transaction(async (tx) => {
      const locked = await runningInstance(tx, instance.tenantId, instance.instanceId, { idle: true, forUpdate: true });
      if (!(await beginConfigureOperation(tx, locked.instanceId, operationId))) {
        throw new ApiError(409, 'instance_busy', `instance ${locked.name} is busy with another operation; retry when it has finished`);
      }
      await addEvent(tx, locked.instanceId, 'configure_started', groupId === null ? 'detach configuration group' : `attach configuration group ${groupId}`, operationId);
      const input: ConfigureInput = { instanceId: locked.instanceId, nodeId: locked.nodeId, groupId, settings, priorStatus: locked.status };
      await deps.client.enqueue({ workflow: ADMIN_WORKFLOWS.configure, queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId: locked.instanceId, kind: 'configure' }, transaction: tx }, input);
      await record(tx);
    }),
  );
  let outcome: ConfigureOutcome;
  try {
    outcome = await deps.client.retrieve<ConfigureOutcome>(operationId).result({ timeoutMs: ADMIN_REQUEST_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof WaitTimeoutError) {
      throw new ApiError(503, 'agent_unavailable', `node ${instance.nodeId} did not finish the configuration within ${ADMIN_REQUEST_TIMEOUT_MS} ms; it goes on as operation ${operationId} (GET /v1/instances/${instance.instanceId}/operations)`);
    }
    throw error;
  }
  if (!outcome.ok) throw adminApiError(outcome.error);
  return { instanceId: instance.instanceId, configGroup: groupId, status: outcome.output.status, restartRequired: [...outcome.output.restartRequired] };
}
