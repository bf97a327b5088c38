// SQL of strata_cloud.cache_invalidations (migration 14): the control plane inserts one row per
// invalidation request and prunes old ones; every proxy reads new rows by id
// (packages/proxy/src/directory/invalidations.ts).
import type { Queryable } from '@strata/store';
import { INVALIDATION_PRUNE_BATCH, INVALIDATION_RETENTION_MS } from '../limits.js';

/**
 * Records an invalidation of the instance's cached results carrying any of `tags`; returns its id
 * (a bigint, as text). Proxies apply it when they read it, within their poll interval.
 *
 * @example
 * const id = await insertInvalidation(tx, 'ins_k3x9p2m7q4r5s6t7', ['catalog']); // '42'
 */
export async function insertInvalidation(tx: Queryable, instanceId: string, tags: readonly string[]): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(`insert into strata_cloud.cache_invalidations (instance_id, tags) values ($1, $2::text[]) returning id::text as id`, [instanceId, tags]);
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: insert … returning gives one row');
  return row.id;
}

/**
 * Deletes up to `limit` invalidation rows older than `retentionMs` (oldest first, by the
 * created_at index); returns how many. Called by each insert, so the table holds about the last
 * hour's requests without a job of its own.
 *
 * @example
 * await pruneInvalidations(tx); // rows older than an hour, at most 1,000 of them
 */
export async function pruneInvalidations(tx: Queryable, retentionMs: number = INVALIDATION_RETENTION_MS, limit: number = INVALIDATION_PRUNE_BATCH): Promise<number> {
  const { rows } = await tx.query<{ pruned: string }>(
    `with old as (
       select id from strata_cloud.cache_invalidations
        where created_at < now() - make_interval(secs => $1::double precision / 1000)
        order by created_at limit $2
     ), gone as (
       delete from strata_cloud.cache_invalidations c using old where c.id = old.id returning 1
     )
     select count(*)::text as pruned from gone`,
    [retentionMs, limit],
  );
  return Number(rows[0]?.pruned ?? 0);
}
