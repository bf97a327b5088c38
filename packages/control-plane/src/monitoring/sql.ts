// Reads of strata_cloud.instance_metrics (written by the node agents' samplers) and of the last completed backup.
import type { Queryable } from '@strata/store';

/** One sample of an instance. */
export interface MetricsRow {
  readonly instanceId: string;
  readonly at: Date;
  readonly connections: number | null;
  readonly transactionsPerSecond: number | null;
  readonly cacheHitRatio: number | null;
  readonly databaseBytes: number | null;
  readonly replicationLagSeconds: number | null;
  readonly longestTransactionSeconds: number | null;
  readonly archiveFailing: boolean | null;
  readonly lastArchivedAgeSeconds: number | null;
}

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function toRow(row: Record<string, unknown>): MetricsRow {
  return {
    instanceId: row.instance_id as string,
    at: new Date(row.at as string | Date),
    connections: num(row.connections),
    transactionsPerSecond: num(row.transactions_per_second),
    cacheHitRatio: num(row.cache_hit_ratio),
    databaseBytes: num(row.database_bytes),
    replicationLagSeconds: num(row.replication_lag_seconds),
    longestTransactionSeconds: num(row.longest_transaction_seconds),
    archiveFailing: (row.archive_failing as boolean | null) ?? null,
    lastArchivedAgeSeconds: num(row.last_archived_age_seconds),
  };
}

const COLUMNS = `instance_id, at, connections, transactions_per_second, cache_hit_ratio, database_bytes, replication_lag_seconds,
  longest_transaction_seconds, archive_failing, last_archived_age_seconds`;

/** An instance's samples in [from, to], oldest first, at most `limit` (the newest ones). */
export async function metricsBetween(db: Queryable, instanceId: string, from: Date, to: Date, limit: number): Promise<MetricsRow[]> {
  const { rows } = await db.query(
    `select * from (select ${COLUMNS} from strata_cloud.instance_metrics where instance_id = $1 and at between $2 and $3 order by at desc limit $4) newest order by at`,
    [instanceId, from, to, limit],
  );
  return rows.map(toRow);
}

/** The newest sample of each of `instanceIds` (none for one never sampled). */
export async function latestMetrics(db: Queryable, instanceIds: readonly string[]): Promise<Map<string, MetricsRow>> {
  if (instanceIds.length === 0) return new Map();
  const { rows } = await db.query(
    `select distinct on (instance_id) ${COLUMNS} from strata_cloud.instance_metrics where instance_id = any($1::text[]) order by instance_id, at desc`,
    [instanceIds],
  );
  return new Map(rows.map((row) => [row.instance_id as string, toRow(row)]));
}

/** When each of `instanceIds` last completed a backup (absent: never). */
export async function lastBackups(db: Queryable, instanceIds: readonly string[]): Promise<Map<string, Date>> {
  if (instanceIds.length === 0) return new Map();
  const { rows } = await db.query<{ instance_id: string; at: string | Date }>(
    `select instance_id, max(stopped_at) as at from strata_cloud.backups where instance_id = any($1::text[]) and status = 'COMPLETED' group by instance_id`,
    [instanceIds],
  );
  return new Map(rows.map((row) => [row.instance_id, new Date(row.at)]));
}

