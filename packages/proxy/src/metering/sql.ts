// SQL of metering: the meter's batched upsert into strata_cloud.usage, and the cap guard's read of
// the tenants whose statements are refused (suspended, or over a monthly cap). The tables are the
// control plane's (migrations 12 and 13).
import type { Queryable } from '@strata/store';

/** One row of a flush: what an instance used in one minute since the last flush. */
export interface UsageRow {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly minuteMs: number;
  readonly operations: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connectionMs: number;
}

/** Adds to each (instance, minute) row, creating it the first time: the proxies' flushes only ever add. */
const UPSERT_USAGE = `insert into strata_cloud.usage as u (instance_id, tenant_id, minute, operations, bytes_in, bytes_out, connection_ms)
  select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
  on conflict (instance_id, minute) do update set
    operations = u.operations + excluded.operations,
    bytes_in = u.bytes_in + excluded.bytes_in,
    bytes_out = u.bytes_out + excluded.bytes_out,
    connection_ms = u.connection_ms + excluded.connection_ms`;

/**
 * Writes a flush's rows in one statement (one commit). Each (instance, minute) may appear once: an
 * upsert cannot touch a row twice.
 *
 * @example
 * await upsertUsage(db, [{ instanceId: 'ins_1', tenantId: 'ten_1', minuteMs: 1_750_000_020_000, operations: 3, bytesIn: 90, bytesOut: 400, connectionMs: 0 }]);
 */
export async function upsertUsage(db: Queryable, rows: readonly UsageRow[]): Promise<void> {
  if (rows.length === 0) return;
  const column = <T>(pick: (row: UsageRow) => T) => rows.map(pick);
  await db.query(
    UPSERT_USAGE,
    [
      column((row) => row.instanceId),
      column((row) => row.tenantId),
      column((row) => new Date(row.minuteMs).toISOString()),
      column((row) => row.operations),
      column((row) => row.bytesIn),
      column((row) => row.bytesOut),
      column((row) => row.connectionMs),
    ],
    { prepare: true },
  );
}

/** A tenant whose statements are refused now, and what the refusal says. */
export interface BlockedTenantRow {
  readonly tenantId: string;
  readonly name: string;
  readonly reason: 'suspended' | 'exceeded';
  /** For `exceeded`: the month (`2025-06-01`), the usage the last evaluation summed, and the caps. */
  readonly periodStart: string | null;
  readonly operations: string | null;
  readonly bytesOut: string | null;
  readonly percent: number | null;
  readonly operationsPerMonth: string | null;
  readonly bytesOutPerMonth: string | null;
}

/**
 * The suspended tenants, and the tenants whose state this month (UTC, by the database's clock) is
 * `exceeded`, with their usage and caps. Bigints come back as text.
 */
export async function blockedTenants(db: Queryable): Promise<BlockedTenantRow[]> {
  const { rows } = await db.query<{
    tenant_id: string; name: string; reason: 'suspended' | 'exceeded'; period_start: string | null; operations: string | null; bytes_out: string | null;
    percent: number | string | null; operations_per_month: string | null; bytes_out_per_month: string | null;
  }>(
    `select tenant_id, name, 'suspended' as reason, null::text as period_start, null::text as operations, null::text as bytes_out, null::float8 as percent,
            null::text as operations_per_month, null::text as bytes_out_per_month
       from strata_cloud.tenants where status = 'suspended'
     union all
     select s.tenant_id, t.name, 'exceeded', s.period_start::text, s.operations::text, s.bytes_out::text, s.percent::float8,
            c.operations_per_month::text, c.bytes_out_per_month::text
       from strata_cloud.usage_cap_state s
       join strata_cloud.tenants t on t.tenant_id = s.tenant_id
       left join strata_cloud.usage_caps c on c.tenant_id = s.tenant_id
      where s.period_start = date_trunc('month', now() at time zone 'UTC')::date and s.state = 'exceeded'`,
    [],
    { prepare: true },
  );
  return rows.map((row) => ({
    tenantId: row.tenant_id,
    name: row.name,
    reason: row.reason,
    periodStart: row.period_start,
    operations: row.operations,
    bytesOut: row.bytes_out,
    percent: row.percent === null ? null : Number(row.percent),
    operationsPerMonth: row.operations_per_month,
    bytesOutPerMonth: row.bytes_out_per_month,
  }));
}
