// SQL of strata_cloud.api_keys: insert, the lookup every request makes, list, revoke, last use.

import type { Queryable } from '@strata/store';
import type { Role } from '../../http/types.js';

/** What the API shows of a key (never its hash). */
export interface ApiKeyRecord {
  readonly keyId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** What authentication needs of a key. */
export interface KeyCredential {
  readonly tenantId: string;
  readonly role: Role;
  readonly platform: boolean;
  readonly salt: Buffer;
  readonly hash: Buffer;
  readonly revoked: boolean;
  /** `last_used_at` is recent enough that {@link touchApiKey} would not change it (the request need not call it). */
  readonly recentlyUsed: boolean;
}

type KeyRow = {
  key_id: string;
  tenant_id: string;
  name: string;
  role: Role;
  created_by: string | null;
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
};

const COLUMNS = 'key_id, tenant_id, name, role, created_by, created_at, last_used_at, revoked_at';

/** Do not write `last_used_at` more often than this per key: a write per request would be the API's main load. */
const LAST_USED_RESOLUTION_SECONDS = 60;

/** Stores a new key's hash. */
export async function insertApiKey(
  tx: Queryable,
  key: { keyId: string; tenantId: string; name: string; role: Role; salt: Buffer; hash: Buffer; createdBy: string | null },
): Promise<ApiKeyRecord> {
  const { rows } = await tx.query<KeyRow>(
    `insert into strata_cloud.api_keys (key_id, tenant_id, name, role, salt, hash, created_by)
     values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
    [key.keyId, key.tenantId, key.name, key.role, key.salt, key.hash, key.createdBy],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: insert … returning gives one row');
  return toKey(row);
}

/** The credential of a key (with its tenant's platform flag), or undefined when no such key exists. */
export async function keyCredential(db: Queryable, keyId: string): Promise<KeyCredential | undefined> {
  const { rows } = await db.query<{ tenant_id: string; role: Role; platform: boolean; salt: Uint8Array; hash: Uint8Array; revoked: boolean; recently_used: boolean }>(
    `select k.tenant_id, k.role, t.platform, k.salt, k.hash, k.revoked_at is not null as revoked,
            coalesce(k.last_used_at >= now() - make_interval(secs => $2), false) as recently_used
       from strata_cloud.api_keys k join strata_cloud.tenants t using (tenant_id) where k.key_id = $1`,
    [keyId, LAST_USED_RESOLUTION_SECONDS],
    { prepare: true },
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return { tenantId: row.tenant_id, role: row.role, platform: row.platform, salt: Buffer.from(row.salt), hash: Buffer.from(row.hash), revoked: row.revoked, recentlyUsed: row.recently_used };
}

/** Records that a key was used, at most once a minute per key. */
export async function touchApiKey(db: Queryable, keyId: string): Promise<void> {
  await db.query(
    `update strata_cloud.api_keys set last_used_at = now()
      where key_id = $1 and (last_used_at is null or last_used_at < now() - make_interval(secs => $2))`,
    [keyId, LAST_USED_RESOLUTION_SECONDS],
    { prepare: true },
  );
}

/** The tenant's keys, oldest first, revoked ones included. */
export async function listApiKeys(db: Queryable, tenantId: string): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<KeyRow>(`select ${COLUMNS} from strata_cloud.api_keys where tenant_id = $1 order by created_at, key_id`, [tenantId]);
  return rows.map(toKey);
}

/** Revokes a key of the tenant (again: keeps the first revocation time); undefined when the tenant has no such key. */
export async function revokeApiKey(tx: Queryable, tenantId: string, keyId: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await tx.query<KeyRow>(
    `update strata_cloud.api_keys set revoked_at = coalesce(revoked_at, now()) where tenant_id = $1 and key_id = $2 returning ${COLUMNS}`,
    [tenantId, keyId],
  );
  return rows[0] === undefined ? undefined : toKey(rows[0]);
}

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    keyId: row.key_id,
    tenantId: row.tenant_id,
    name: row.name,
    role: row.role,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}
