// SQL of strata_cloud.idempotency_keys: claim a key, read it, store or drop its answer, expire old ones.

import type { Queryable } from '@strata/store';

/** A stored key. */
export interface IdempotencyRecord {
  readonly fingerprint: string;
  /** Null while the request that owns the key is still running. */
  readonly response: { readonly status: number; readonly contentType: string | null; readonly body: string } | null;
}

/** Rows deleted per expiry pass, so no request does unbounded work. */
const EXPIRED_ROWS_PER_PASS = 100;

/** Claims `key` for a request with `fingerprint`; false when the tenant already has it. */
export async function claimKey(db: Queryable, tenantId: string, key: string, fingerprint: string): Promise<boolean> {
  const { rows } = await db.query(
    `insert into strata_cloud.idempotency_keys (tenant_id, idempotency_key, fingerprint) values ($1, $2, $3)
     on conflict (tenant_id, idempotency_key) do nothing returning 1 as claimed`,
    [tenantId, key, fingerprint],
  );
  return rows.length === 1;
}

/**
 * Takes over a key whose request was abandoned: claimed more than `abandonedAfterSeconds` ago
 * (by the database's clock) and never completed. Of concurrent takers one wins: the row lock
 * makes the others see the fresh claim.
 */
export async function takeOverKey(db: Queryable, tenantId: string, key: string, abandonedAfterSeconds: number): Promise<boolean> {
  const { rows } = await db.query(
    `update strata_cloud.idempotency_keys set claimed_at = now()
      where tenant_id = $1 and idempotency_key = $2 and completed_at is null
        and claimed_at < now() - make_interval(secs => $3) returning 1 as taken`,
    [tenantId, key, abandonedAfterSeconds],
  );
  return rows.length === 1;
}

/** The stored key, or undefined. */
export async function readKey(db: Queryable, tenantId: string, key: string): Promise<IdempotencyRecord | undefined> {
  const { rows } = await db.query<{ fingerprint: string; completed_at: Date | string | null; status_code: number | null; content_type: string | null; response_body: string | null }>(
    `select fingerprint, completed_at, status_code, content_type, response_body
       from strata_cloud.idempotency_keys where tenant_id = $1 and idempotency_key = $2`,
    [tenantId, key],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    fingerprint: row.fingerprint,
    response: row.completed_at === null ? null : { status: row.status_code ?? 200, contentType: row.content_type, body: row.response_body ?? '' },
  };
}

/** Stores the answer of the request that owns the key. */
export async function completeKey(db: Queryable, tenantId: string, key: string, response: { status: number; contentType: string | null; body: string }): Promise<void> {
  await db.query(
    `update strata_cloud.idempotency_keys set completed_at = now(), status_code = $3, content_type = $4, response_body = $5
      where tenant_id = $1 and idempotency_key = $2`,
    [tenantId, key, response.status, response.contentType, response.body],
  );
}

/** Forgets a key (its request failed on the server's side; a retry should run again). */
export async function releaseKey(db: Queryable, tenantId: string, key: string): Promise<void> {
  await db.query('delete from strata_cloud.idempotency_keys where tenant_id = $1 and idempotency_key = $2', [tenantId, key]);
}

/** Deletes up to a bounded number of keys created more than `ttlSeconds` ago. */
export async function expireKeys(db: Queryable, ttlSeconds: number): Promise<void> {
  await db.query(
    `delete from strata_cloud.idempotency_keys where (tenant_id, idempotency_key) in (
       select tenant_id, idempotency_key from strata_cloud.idempotency_keys
        where created_at < now() - make_interval(secs => $1) limit $2)`,
    [ttlSeconds, EXPIRED_ROWS_PER_PASS],
  );
}
