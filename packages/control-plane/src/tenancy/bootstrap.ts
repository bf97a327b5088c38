// The first start: an empty schema gets the platform tenant and its first admin key.

import type { Database } from '@strata/store';
import { appendAudit } from '../audit/sql.js';
import { newApiKey } from './api-keys.js';
import { newId } from './ids.js';
import { createApiKey } from './keys.js';
import { DEFAULT_QUOTAS } from './quotas.js';
import { anyTenantExists, insertTenant } from './sql/tenants.js';

/** Name of the platform tenant created on the first start. */
export const PLATFORM_TENANT_NAME = 'platform';

/** Serializes concurrent first starts (two control planes on one database): "BOOT". */
const BOOTSTRAP_LOCK_KEY = 0x424f_4f54;

/** What the first start made: the platform tenant and its first admin key's token (shown once). */
export interface BootstrapResult {
  readonly tenantId: string;
  readonly keyId: string;
  readonly token: string;
}

/**
 * On a database without tenants, creates the platform tenant and an admin key for it and returns
 * the key's token (the only time it exists in the clear); on any later start returns undefined.
 * Concurrent calls create one platform tenant.
 *
 * @example
 * const first = await bootstrap(db);
 * if (first !== undefined) console.log(`platform admin key (shown once): ${first.token}`);
 */
export async function bootstrap(db: Database): Promise<BootstrapResult | undefined> {
  if (await anyTenantExists(db)) return undefined;
  const made = await newApiKey();
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
    if (await anyTenantExists(tx)) return undefined;
    const tenant = await insertTenant(tx, { tenantId: newId('ten'), name: PLATFORM_TENANT_NAME, platform: true, quotas: DEFAULT_QUOTAS });
    const { key, token } = await createApiKey(tx, { tenantId: tenant.tenantId, role: 'admin', name: 'bootstrap', createdBy: null }, made);
    await appendAudit(tx, { tenantId: tenant.tenantId, keyId: null, action: 'platform.bootstrap', target: key.keyId, requestId: 'bootstrap', result: 'ok' });
    return { tenantId: tenant.tenantId, keyId: key.keyId, token };
  });
}
