// The JSON shapes of tenants and API keys, as the routes validate and the OpenAPI document shows them.

import { z } from '@hono/zod-openapi';
import type { ApiKeyRecord } from './sql/api-keys.js';
import type { Quotas, TenantRecord } from './sql/tenants.js';

/** Largest value of one quota: far above one host, far below integer overflow. */
const QUOTA_MAX = 1_000_000_000;

const quota = (description: string) => z.number().int().min(0).max(QUOTA_MAX).openapi({ description });

const quotaFields = () => ({
  instances: quota('database instances (not deleted)'),
  storageMb: quota('total storage of the instances, in MB'),
  connections: quota('total max_connections of the instances'),
});

export const QuotasSchema = z.object(quotaFields()).strict().openapi('Quotas');

/** Some quotas: a new tenant's (the rest default) or a change (the rest stay). A schema of its own, not `QuotasSchema.partial()`, which would keep the `Quotas` name in the document. */
export const QuotaChangeSchema = z.object(quotaFields()).partial().strict().openapi('QuotaChange');

/** A change must name at least one quota. */
export const NonEmptyQuotaChangeSchema = QuotaChangeSchema.refine((value) => Object.keys(value).length > 0, { message: 'name at least one of instances, storageMb, connections' });

export const TenantSchema = z
  .object({
    id: z.string().openapi({ example: 'ten_k3v9q2m7x4b8c1d5' }),
    name: z.string(),
    platform: z.boolean().openapi({ description: 'the platform tenant, whose admins create tenants and set quotas' }),
    status: z.enum(['active', 'suspended']).openapi({ description: 'suspended: the proxy refuses connections to its instances and new statements on open ones (its API keys still work)' }),
    quotas: QuotasSchema,
    usage: QuotasSchema,
    createdAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Tenant');

/** Tenant names: DNS-label-like, so they are safe in URLs, logs and host names. */
export const TenantNameSchema = z
  .string()
  .regex(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a tenant name is 1–63 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen')
  .openapi({ example: 'acme' });

export const RoleSchema = z.enum(['admin', 'member', 'read-only']).openapi({ description: 'admin: everything in the tenant; member: create and change; read-only: read' });

export const KeyNameSchema = z.string().min(1).max(100).regex(/^[\x20-\x7e]+$/, 'a key name is printable ASCII').openapi({ example: 'ci' });

export const ApiKeySchema = z
  .object({
    id: z.string().openapi({ example: 'key_k3v9q2m7x4b8c1d5' }),
    name: z.string(),
    role: RoleSchema,
    createdBy: z.string().nullable().openapi({ description: 'the key that created it; null for the bootstrap key' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    lastUsedAt: z.string().nullable().openapi({ format: 'date-time', description: 'to the minute' }),
    revokedAt: z.string().nullable().openapi({ format: 'date-time' }),
  })
  .openapi('ApiKey');

export const TokenSchema = z.string().nullable().openapi({
  description: 'the key to send as "Authorization: Bearer <token>", shown once; null in an idempotent replay (the secret is never stored)',
  example: 'sk_key_k3v9q2m7x4b8c1d5_Xb7…',
});

export function tenantJson(tenant: TenantRecord, usage: Quotas): z.infer<typeof TenantSchema> {
  return { id: tenant.tenantId, name: tenant.name, platform: tenant.platform, status: tenant.status, quotas: tenant.quotas, usage, createdAt: tenant.createdAt.toISOString() };
}

export function keyJson(key: ApiKeyRecord): z.infer<typeof ApiKeySchema> {
  return {
    id: key.keyId,
    name: key.name,
    role: key.role,
    createdBy: key.createdBy,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}
