// proxySettingsModule: an instance's settings in the proxy (GET|PATCH /v1/instances/{instance}/proxy)
// and invalidations of its cached results by tag (POST /v1/instances/{instance}/cache/invalidate).
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError, audited, errorResponses, jsonBody, requireRole, type ApiDeps, type ApiEnv, type ApiModule } from '../http/index.js';
import { InstanceError } from '../instances/index.js';
import { InstanceRefParams } from '../instances/schemas.js';
import { InvalidateBody, InvalidationSchema, ProxySettingsPatch, ProxySettingsSchema } from './schemas.js';
import { ProxySettingsError, changeProxySettings, invalidateCache, proxySettingsOf } from './service.js';
import type { ProxySettings } from './sql/settings.js';

const TAG = 'Proxy';
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  show: createRoute({
    method: 'get', path: '/v1/instances/{instance}/proxy', tags: [TAG], summary: "An instance's settings in the proxy: pool mode, connection limits, cache rules",
    request: { params: InstanceRefParams }, responses: { 200: json(ProxySettingsSchema, 'the settings'), ...errorResponses(401, 404) },
  }),
  change: createRoute({
    method: 'patch', path: '/v1/instances/{instance}/proxy', tags: [TAG], summary: "Change an instance's settings in the proxy (new connections use them within a second)",
    description: 'A field left out keeps its value; `null` puts a limit back to the proxy\'s default; `cacheRules` replaces the whole list (`[]` removes every rule).',
    request: { params: InstanceRefParams, body: jsonBody(ProxySettingsPatch) },
    responses: { 200: json(ProxySettingsSchema, 'the settings as they now are'), ...errorResponses(400, 401, 403, 404) },
  }),
  invalidate: createRoute({
    method: 'post', path: '/v1/instances/{instance}/cache/invalidate', tags: [TAG], summary: "Drop the instance's cached results carrying any of the tags, in every proxy",
    description: 'Recorded at once and applied by every proxy within its poll interval (250 ms by default): the answer is 202.',
    request: { params: InstanceRefParams, body: jsonBody(InvalidateBody) },
    responses: { 202: json(InvalidationSchema, 'recorded; proxies apply it within their poll interval'), ...errorResponses(400, 401, 403, 404, 422) },
  }),
};

/** The settings as the API answers them (the schema's mutable arrays from the service's readonly ones). */
function settingsJson(settings: ProxySettings) {
  return {
    ...settings,
    cacheRules: settings.cacheRules.map(({ tables, ttlMs, swrMs, tags }) => ({ tables: [...tables], ttlMs, swrMs, ...(tags === undefined ? {} : { tags: [...tags] }) })),
  };
}

/** Runs a handler body, turning the typed errors of instances and settings into the platform's ApiError. */
async function handled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message, error.details);
    if (error instanceof ProxySettingsError) throw new ApiError(error.status, error.code, error.message, { issues: error.issues });
    throw error;
  }
}

/**
 * The proxy-settings routes. Reads need any key of the tenant; changes and invalidations a member
 * key, and are audited (`instances.proxy.update`, `instances.cache.invalidate`).
 *
 * @example
 * await createControlPlane({ database, listen, modules: [instancesModule, proxySettingsModule] });
 */
export const proxySettingsModule: ApiModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
  const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

  app.openapi(routes.show, async (c) => {
    const { instance } = c.req.valid('param');
    return c.json(settingsJson(await handled(() => proxySettingsOf(deps.db, tenantOf(c), instance))), 200);
  });

  app.openapi(routes.change, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const change = c.req.valid('json');
    const settings = await audited(c, 'instances.proxy.update', instance, (record) => handled(() => changeProxySettings(deps.db, tenantOf(c), instance, change, record)));
    return c.json(settingsJson(settings), 200);
  });

  app.openapi(routes.invalidate, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const { tags } = c.req.valid('json');
    const { invalidationId } = await audited(c, 'instances.cache.invalidate', instance, (record) => handled(() => invalidateCache(deps.db, tenantOf(c), instance, tags, record)));
    return c.json({ invalidationId }, 202);
  });
};
