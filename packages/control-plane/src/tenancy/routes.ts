// Routes of tenants and API keys: GET /v1/tenant, POST /v1/tenants, PATCH /v1/tenants/{tenantId}/quotas,
// POST /v1/tenants/{tenantId}/suspend|resume, GET|POST /v1/keys, DELETE /v1/keys/{keyId}.

import { createRoute, z } from '@hono/zod-openapi';
import { isUniqueViolation } from '@strata/store';
import { audited } from '../audit/audited.js';
import { requirePlatformAdmin, requireRole } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { errorResponses, jsonBody } from '../http/schemas.js';
import type { ApiModule } from '../http/types.js';
import { hideFromReplay } from '../idempotency/idempotency.js';
import { newApiKey } from './api-keys.js';
import { newId } from './ids.js';
import { createApiKey } from './keys.js';
import { DEFAULT_QUOTAS } from './quotas.js';
import { ApiKeySchema, KeyNameSchema, NonEmptyQuotaChangeSchema, QuotaChangeSchema, RoleSchema, TenantNameSchema, TenantSchema, TokenSchema, keyJson, tenantJson } from './schemas.js';
import { listApiKeys, revokeApiKey } from './sql/api-keys.js';
import { getTenant, insertTenant, setTenantStatus, updateQuotas, usageOf, type TenantStatus } from './sql/tenants.js';

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const getTenantRoute = createRoute({
  method: 'get',
  path: '/v1/tenant',
  tags: ['tenants'],
  summary: 'The tenant of the calling key, with its quotas and usage',
  responses: { 200: json(TenantSchema, 'The tenant'), ...errorResponses(401) },
});

const createTenantRoute = createRoute({
  method: 'post',
  path: '/v1/tenants',
  tags: ['tenants'],
  summary: 'Create a tenant and its first admin key (platform admins)',
  request: { body: jsonBody(z.object({ name: TenantNameSchema, quotas: QuotaChangeSchema.optional() }).strict()) },
  responses: {
    201: json(z.object({ tenant: TenantSchema, key: ApiKeySchema, token: TokenSchema }), 'The tenant, and its first admin key (the token is shown once)'),
    ...errorResponses(400, 401, 403, 409, 413, 415, 422),
  },
});

const TenantIdParams = z.object({ tenantId: z.string().max(100).openapi({ param: { name: 'tenantId', in: 'path' }, example: 'ten_k3v9q2m7x4b8c1d5' }) });

const setQuotasRoute = createRoute({
  method: 'patch',
  path: '/v1/tenants/{tenantId}/quotas',
  tags: ['tenants'],
  summary: 'Change a tenant\'s quotas (platform admins)',
  request: { params: TenantIdParams, body: jsonBody(NonEmptyQuotaChangeSchema) },
  responses: { 200: json(TenantSchema, 'The tenant with its new quotas'), ...errorResponses(400, 401, 403, 404, 413, 415) },
});

/** `POST /v1/tenants/{tenantId}/suspend` and `/resume`: the status each sets, and what it means. */
const STATUS_CHANGES = {
  suspend: { status: 'suspended', summary: "Suspend a tenant (platform admins): the proxy refuses connections to its instances and new statements on open ones; its data and API keys stay" },
  resume: { status: 'active', summary: 'Resume a suspended tenant (platform admins): its instances take connections again' },
} as const satisfies Record<string, { status: TenantStatus; summary: string }>;

const statusRoute = (action: keyof typeof STATUS_CHANGES) =>
  createRoute({
    method: 'post',
    path: `/v1/tenants/{tenantId}/${action}`,
    tags: ['tenants'],
    summary: STATUS_CHANGES[action].summary,
    request: { params: TenantIdParams },
    responses: { 200: json(TenantSchema, 'The tenant with its new status'), ...errorResponses(401, 403, 404, 409) },
  });

const listKeysRoute = createRoute({
  method: 'get',
  path: '/v1/keys',
  tags: ['keys'],
  summary: 'The tenant\'s API keys (never their secrets), revoked ones included',
  responses: { 200: json(z.object({ keys: z.array(ApiKeySchema) }), 'The keys, oldest first'), ...errorResponses(401) },
});

const createKeyRoute = createRoute({
  method: 'post',
  path: '/v1/keys',
  tags: ['keys'],
  summary: 'Create an API key (admins); its token is shown once',
  request: { body: jsonBody(z.object({ name: KeyNameSchema, role: RoleSchema }).strict()) },
  responses: { 201: json(z.object({ key: ApiKeySchema, token: TokenSchema }), 'The key and its token (shown once)'), ...errorResponses(400, 401, 403, 413, 415, 422) },
});

const KeyIdParams = z.object({ keyId: z.string().max(100).openapi({ param: { name: 'keyId', in: 'path' }, example: 'key_k3v9q2m7x4b8c1d5' }) });

const revokeKeyRoute = createRoute({
  method: 'delete',
  path: '/v1/keys/{keyId}',
  tags: ['keys'],
  summary: 'Revoke an API key (admins); requests with it get 401 from then on',
  request: { params: KeyIdParams },
  responses: { 200: json(z.object({ key: ApiKeySchema }), 'The revoked key'), ...errorResponses(401, 403, 404) },
});

/**
 * The tenancy routes: the caller's tenant, tenants and quotas (platform admins), API keys.
 *
 * @example
 * tenancyModule(app, deps);
 */
export const tenancyModule: ApiModule = (app, { db }) => {
  app.openapi(getTenantRoute, async (c) => {
    const { tenantId } = c.get('principal');
    const tenant = await getTenant(db, tenantId);
    if (tenant === undefined) throw notFound('tenant', tenantId);
    return c.json(tenantJson(tenant, await usageOf(db, tenantId)), 200);
  });

  app.openapi(createTenantRoute, async (c) => {
    requirePlatformAdmin(c);
    const { name, quotas } = c.req.valid('json');
    const tenantId = newId('ten');
    const made = await newApiKey();
    const created = await audited(c, 'tenants.create', tenantId, (record) =>
      db.transaction(async (tx) => {
        const tenant = await insertTenant(tx, { tenantId, name, platform: false, quotas: { ...DEFAULT_QUOTAS, ...quotas } }).catch((error: unknown) => {
          throw isUniqueViolation(error) ? new ApiError(409, 'name_taken', `a tenant named "${name}" exists; pick another name`) : error;
        });
        const key = await createApiKey(tx, { tenantId, role: 'admin', name: 'first admin', createdBy: c.get('principal').keyId }, made);
        await record(tx);
        return { tenant, ...key };
      }),
    );
    hideFromReplay(c, 'token');
    return c.json({ tenant: tenantJson(created.tenant, await usageOf(db, tenantId)), key: keyJson(created.key), token: created.token }, 201);
  });

  app.openapi(setQuotasRoute, async (c) => {
    requirePlatformAdmin(c);
    const { tenantId } = c.req.valid('param');
    const change = c.req.valid('json');
    const tenant = await audited(c, 'tenants.quotas.update', tenantId, (record) =>
      db.transaction(async (tx) => {
        const updated = await updateQuotas(tx, tenantId, change);
        if (updated === undefined) throw notFound('tenant', tenantId);
        await record(tx);
        return updated;
      }),
    );
    return c.json(tenantJson(tenant, await usageOf(db, tenantId)), 200);
  });

  for (const action of ['suspend', 'resume'] as const) {
    app.openapi(statusRoute(action), async (c) => {
      requirePlatformAdmin(c);
      const { tenantId } = c.req.valid('param');
      const tenant = await audited(c, `tenants.${action}`, tenantId, (record) =>
        db.transaction(async (tx) => {
          const current = await getTenant(tx, tenantId, { forUpdate: true });
          if (current === undefined) throw notFound('tenant', tenantId);
          // Its admins would lose the connections they need to resume anything through the proxy.
          if (current.platform && action === 'suspend') throw new ApiError(409, 'platform_tenant', 'the platform tenant cannot be suspended; suspend the tenants it hosts instead');
          const updated = await setTenantStatus(tx, tenantId, STATUS_CHANGES[action].status);
          if (updated === undefined) throw new Error(`invariant: tenant ${tenantId} is locked in this transaction`);
          await record(tx);
          return updated;
        }),
      );
      return c.json(tenantJson(tenant, await usageOf(db, tenantId)), 200);
    });
  }

  app.openapi(listKeysRoute, async (c) => {
    const keys = await listApiKeys(db, c.get('principal').tenantId);
    return c.json({ keys: keys.map(keyJson) }, 200);
  });

  app.openapi(createKeyRoute, async (c) => {
    requireRole(c, 'admin');
    const { name, role } = c.req.valid('json');
    const principal = c.get('principal');
    const made = await newApiKey();
    const created = await audited(c, 'keys.create', made.keyId, (record) =>
      db.transaction(async (tx) => {
        const key = await createApiKey(tx, { tenantId: principal.tenantId, role, name, createdBy: principal.keyId }, made);
        await record(tx);
        return key;
      }),
    );
    hideFromReplay(c, 'token');
    return c.json({ key: keyJson(created.key), token: created.token }, 201);
  });

  app.openapi(revokeKeyRoute, async (c) => {
    requireRole(c, 'admin');
    const { keyId } = c.req.valid('param');
    const { tenantId } = c.get('principal');
    const key = await audited(c, 'keys.revoke', keyId, (record) =>
      db.transaction(async (tx) => {
        const revoked = await revokeApiKey(tx, tenantId, keyId);
        if (revoked === undefined) throw notFound('API key', keyId);
        await record(tx);
        return revoked;
      }),
    );
    return c.json({ key: keyJson(key) }, 200);
  });
};
