// SQL of strata_cloud.instance_metrics: the sampler's batched insert and its retention.
import type { Queryable } from '@strata/store';
import type { PowerState } from './instance-power.js';

/**
 * One instance's sample (the row's `at` is the insert's). A suspended instance is not asked: its
 * sample says only its power state (the other values null), so it is neither woken nor taken for down.
 */
export interface MetricsSample {
  readonly instanceId: string;
  readonly powerState: PowerState;
  readonly connections: number | null;
  readonly transactionsPerSecond: number | null;
  readonly cacheHitRatio: number | null;
  readonly databaseBytes: number | null;
  readonly replicationLagSeconds: number | null;
  readonly longestTransactionSeconds: number | null;
  readonly archiveFailing: boolean | null;
  readonly lastArchivedAgeSeconds: number | null;
}

/** Inserts one round's samples in one statement. */
export async function insertMetrics(db: Queryable, nodeId: string, samples: readonly MetricsSample[]): Promise<void> {
  if (samples.length === 0) return;
  const column = <T>(pick: (sample: MetricsSample) => T) => samples.map(pick);
  await db.query(
    `insert into strata_cloud.instance_metrics (instance_id, node_id, connections, transactions_per_second, cache_hit_ratio, database_bytes,
       replication_lag_seconds, longest_transaction_seconds, archive_failing, last_archived_age_seconds, power_state)
     select instance_id, $1, connections, tps, hit, bytes, lag, longest, failing, archived, power
       from unnest($2::text[], $3::int[], $4::float8[], $5::float8[], $6::bigint[], $7::float8[], $8::float8[], $9::boolean[], $10::float8[], $11::text[])
         as s(instance_id, connections, tps, hit, bytes, lag, longest, failing, archived, power)
     on conflict do nothing`,
    [
      nodeId,
      column((s) => s.instanceId),
      column((s) => s.connections),
      column((s) => s.transactionsPerSecond),
      column((s) => s.cacheHitRatio),
      column((s) => (s.databaseBytes === null ? null : Math.round(s.databaseBytes))),
      column((s) => s.replicationLagSeconds),
      column((s) => s.longestTransactionSeconds),
      column((s) => s.archiveFailing),
      column((s) => s.lastArchivedAgeSeconds),
      column((s) => s.powerState),
    ],
  );
}

/** Deletes this node's samples older than `before`. */
export async function deleteMetricsBefore(db: Queryable, nodeId: string, before: Date): Promise<void> {
  await db.query(`delete from strata_cloud.instance_metrics where node_id = $1 and at < $2`, [nodeId, before]);
}
