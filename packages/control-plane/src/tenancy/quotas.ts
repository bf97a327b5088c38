// Quotas: each tenant's limits on instances, total storage and total connections, checked inside
// the transaction that creates or grows something.

import type { Queryable } from '@strata/store';
import { ApiError, notFound } from '../http/errors.js';
import { getTenant, usageOf, type Quotas } from './sql/tenants.js';

/**
 * Quotas of a new tenant unless the platform admin sets others: room for a team's development and
 * test instances on one host; raise them with `PATCH /v1/tenants/{tenantId}/quotas`.
 */
export const DEFAULT_QUOTAS: Quotas = { instances: 10, storageMb: 10_240, connections: 500 };

/** How much a create or resize adds (negative or missing amounts add nothing to check). */
export interface QuotaRequest {
  readonly instances?: number;
  readonly storageMb?: number;
  readonly connections?: number;
}

const DIMENSIONS = [
  { key: 'instances', label: 'instances' },
  { key: 'storageMb', label: 'MB of storage' },
  { key: 'connections', label: 'connections' },
] as const;

/**
 * Refuses with `409 quota_exceeded` when `add` would take the tenant past a quota. Call it inside
 * the transaction that creates (or grows) the resource, before writing it: it locks the tenant's
 * row, so concurrent creates of one tenant check one after the other and each sees the others'
 * committed rows. Usage comes from the view `strata_cloud.tenant_usage`.
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await checkQuota(tx, principal.tenantId, { instances: 1, storageMb: 1024, connections: 50 });
 *   await tx.query('insert into strata_cloud.instances …');
 * });
 */
export async function checkQuota(tx: Queryable, tenantId: string, add: QuotaRequest): Promise<void> {
  const tenant = await getTenant(tx, tenantId, { forUpdate: true });
  if (tenant === undefined) throw notFound('tenant', tenantId);
  const used = await usageOf(tx, tenantId);
  for (const { key, label } of DIMENSIONS) {
    const more = add[key] ?? 0;
    if (!(more > 0)) continue;
    const limit = tenant.quotas[key];
    if (used[key] + more > limit) {
      throw new ApiError(
        409,
        'quota_exceeded',
        `this would use ${used[key] + more} ${label} but the tenant's quota is ${limit} (${used[key]} in use); free some, or ask a platform admin to raise the quota`,
        { quota: key, limit, used: used[key], requested: more },
      );
    }
  }
}
