// Reads of a tenant's usage over a range, grouped by instance, hour or day: what the proxy metered
// (strata_cloud.usage), how long its instances ran (strata_cloud.instance_compute, the agents') and
// how large their databases were (strata_cloud.instance_metrics, the agents' samples).
import type { Queryable } from '@strata/store';

/** How a usage report is grouped. */
export type UsageGrouping = 'instance' | 'hour' | 'day';

/** The measures of one group (a bigint column summed, as a number: exact below 2^53). */
export interface UsageMeasures {
  operations: number;
  bytesIn: number;
  bytesOut: number;
  connectionMs: number;
  computeMs: number;
  /** The sum over the group's instances of each one's largest sampled database size; null when none was sampled. */
  storageBytes: number | null;
}

/** The measures of each group, by its key: the instance ID, or the bucket's start as ISO 8601 (`2025-06-01T13:00:00Z`). */
export type UsageByKey = Map<string, UsageMeasures>;

/** The key of a row's group: `column` is the row's instance ID or its time column. */
function keyOf(grouping: UsageGrouping, instanceColumn: string, timeColumn: string): string {
  if (grouping === 'instance') return instanceColumn;
  // Buckets of UTC hours and days, written as the API shows them.
  return `to_char(date_trunc('${grouping}', ${timeColumn}, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
}

function measuresOf(map: UsageByKey, key: string): UsageMeasures {
  let measures = map.get(key);
  if (measures === undefined) {
    measures = { operations: 0, bytesIn: 0, bytesOut: 0, connectionMs: 0, computeMs: 0, storageBytes: null };
    map.set(key, measures);
  }
  return measures;
}

/** Which of the agents' tables exist (their migrations run when the first agent starts; a control plane without agents has neither). */
export interface AgentTables {
  readonly compute: boolean;
  readonly metrics: boolean;
}

/** Whether strata_cloud.instance_compute and strata_cloud.instance_metrics exist yet. */
export async function agentTables(db: Queryable): Promise<AgentTables> {
  const { rows } = await db.query<{ compute: boolean; metrics: boolean }>(
    `select to_regclass('strata_cloud.instance_compute') is not null as compute, to_regclass('strata_cloud.instance_metrics') is not null as metrics`,
  );
  return { compute: rows[0]?.compute === true, metrics: rows[0]?.metrics === true };
}

/**
 * The tenant's usage in [from, to) by group. Only groups with something to show are present.
 * Every read is filtered by the tenant: the proxy's rows carry it, the agents' rows are joined to
 * the tenant's instances.
 *
 * @example
 * const byDay = await usageBetween(db, 'ten_1', new Date('2025-06-01Z'), new Date('2025-07-01Z'), 'day', await agentTables(db));
 */
export async function usageBetween(db: Queryable, tenantId: string, from: Date, to: Date, grouping: UsageGrouping, tables: AgentTables): Promise<UsageByKey> {
  const out: UsageByKey = new Map();
  const metered = await db.query<{ key: string; operations: string; bytes_in: string; bytes_out: string; connection_ms: string }>(
    `select ${keyOf(grouping, 'instance_id', 'minute')} as key, sum(operations)::text as operations, sum(bytes_in)::text as bytes_in,
            sum(bytes_out)::text as bytes_out, sum(connection_ms)::text as connection_ms
       from strata_cloud.usage where tenant_id = $1 and minute >= $2 and minute < $3 group by 1`,
    [tenantId, from, to],
  );
  for (const row of metered.rows) {
    const measures = measuresOf(out, row.key);
    measures.operations = Number(row.operations);
    measures.bytesIn = Number(row.bytes_in);
    measures.bytesOut = Number(row.bytes_out);
    measures.connectionMs = Number(row.connection_ms);
  }
  if (tables.compute) {
    const compute = await db.query<{ key: string; running_ms: string }>(
      `select ${keyOf(grouping, 'c.instance_id', 'c.minute')} as key, sum(c.running_ms)::text as running_ms
         from strata_cloud.instance_compute c join strata_cloud.instances i on i.instance_id = c.instance_id
        where i.tenant_id = $1 and c.minute >= $2 and c.minute < $3 group by 1`,
      [tenantId, from, to],
    );
    for (const row of compute.rows) measuresOf(out, row.key).computeMs = Number(row.running_ms);
  }
  if (tables.metrics) {
    for (const [key, bytes] of await storagePeaks(db, tenantId, from, to, grouping)) measuresOf(out, key).storageBytes = bytes;
  }
  return out;
}

/** Per group, the sum over its instances of each one's largest sampled database size in the group. */
export async function storagePeaks(db: Queryable, tenantId: string, from: Date, to: Date, grouping: UsageGrouping): Promise<Map<string, number>> {
  const { rows } = await db.query<{ key: string; bytes: string }>(
    `select key, sum(peak)::text as bytes from (
       select ${keyOf(grouping, 'm.instance_id', 'm.at')} as key, m.instance_id, max(m.database_bytes) as peak
         from strata_cloud.instance_metrics m join strata_cloud.instances i on i.instance_id = m.instance_id
        where i.tenant_id = $1 and m.at >= $2 and m.at < $3 and m.database_bytes is not null
        group by 1, 2
     ) per_instance group by key`,
    [tenantId, from, to],
  );
  return new Map(rows.map((row) => [row.key, Number(row.bytes)]));
}

/** The names of the tenant's instances among `instanceIds` (deleted ones too: their usage still counts). */
export async function instanceNames(db: Queryable, tenantId: string, instanceIds: readonly string[]): Promise<Map<string, string>> {
  if (instanceIds.length === 0) return new Map();
  const { rows } = await db.query<{ instance_id: string; name: string }>(`select instance_id, name from strata_cloud.instances where tenant_id = $1 and instance_id = any($2::text[])`, [tenantId, instanceIds]);
  return new Map(rows.map((row) => [row.instance_id, row.name]));
}
