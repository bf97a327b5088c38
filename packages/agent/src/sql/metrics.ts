// SQL of strata_cloud.instance_metrics: the sampler's batched insert and its retention.
import type { Queryable } from '@strata/store';

/** One instance's sample (the row's `at` is the insert's). */
export interface MetricsSample {
  readonly instanceId: string;
  readonly connections: number;
  readonly transactionsPerSecond: number | null;
  readonly cacheHitRatio: number | null;
  readonly databaseBytes: number;
  readonly replicationLagSeconds: number | null;
  readonly longestTransactionSeconds: number;
  readonly archiveFailing: boolean | null;
  readonly lastArchivedAgeSeconds: number | null;
}

/** Inserts one round's samples in one statement. */
export async function insertMetrics(db: Queryable, nodeId: string, samples: readonly MetricsSample[]): Promise<void> {
  if (samples.length === 0) return;
  const column = <T>(pick: (sample: MetricsSample) => T) => samples.map(pick);
  await db.query(
    `insert into strata_cloud.instance_metrics (instance_id, node_id, connections, transactions_per_second, cache_hit_ratio, database_bytes,
       replication_lag_seconds, longest_transaction_seconds, archive_failing, last_archived_age_seconds)
     select instance_id, $1, connections, tps, hit, bytes, lag, longest, failing, archived
       from unnest($2::text[], $3::int[], $4::float8[], $5::float8[], $6::bigint[], $7::float8[], $8::float8[], $9::boolean[], $10::float8[])
         as s(instance_id, connections, tps, hit, bytes, lag, longest, failing, archived)
     on conflict do nothing`,
    [
      nodeId,
      column((s) => s.instanceId),
      column((s) => s.connections),
      column((s) => s.transactionsPerSecond),
      column((s) => s.cacheHitRatio),
      column((s) => Math.round(s.databaseBytes)),
      column((s) => s.replicationLagSeconds),
      column((s) => s.longestTransactionSeconds),
      column((s) => s.archiveFailing),
      column((s) => s.lastArchivedAgeSeconds),
    ],
  );
}

/** Deletes this node's samples older than `before`. */
export async function deleteMetricsBefore(db: Queryable, nodeId: string, before: Date): Promise<void> {
  await db.query(`delete from strata_cloud.instance_metrics where node_id = $1 and at < $2`, [nodeId, before]);
}
