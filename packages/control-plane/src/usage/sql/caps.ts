// SQL of strata_cloud.usage_caps and strata_cloud.usage_cap_state: a tenant's caps, the month's usage of
// the capped tenants, and where each stands (the state the proxy's cap guard enforces).
import type { Queryable } from '@strata/store';

/** A tenant's monthly caps; null: no cap on that measure. */
export interface UsageCap {
  readonly tenantId: string;
  readonly operationsPerMonth: number | null;
  readonly bytesOutPerMonth: number | null;
  readonly updatedAt: Date;
}

/** A change of caps: a field left out keeps its cap, null removes it. */
export interface UsageCapChange {
  readonly operationsPerMonth?: number | null;
  readonly bytesOutPerMonth?: number | null;
}

/** What a tenant used in a period, of the measures that can be capped. */
export interface CappedUsage {
  readonly operations: bigint;
  readonly bytesOut: bigint;
}

/** The three states of a tenant against its caps. */
export type CapStateName = 'ok' | 'warning' | 'exceeded';

/** A row of strata_cloud.usage_cap_state. */
export interface CapState extends CappedUsage {
  readonly tenantId: string;
  /** `2025-06-01`. */
  readonly periodStart: string;
  readonly percent: number;
  readonly state: CapStateName;
  readonly warnedAt: Date | null;
  readonly exceededAt: Date | null;
  readonly evaluatedAt: Date;
}

const nullableNumber = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const nullableDate = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(value as string | Date));

type CapRow = { tenant_id: string; operations_per_month: string | number | null; bytes_out_per_month: string | number | null; updated_at: string | Date };

function toCap(row: CapRow): UsageCap {
  return { tenantId: row.tenant_id, operationsPerMonth: nullableNumber(row.operations_per_month), bytesOutPerMonth: nullableNumber(row.bytes_out_per_month), updatedAt: new Date(row.updated_at) };
}

/** The tenant's caps, or undefined when it never set any. */
export async function getCap(db: Queryable, tenantId: string): Promise<UsageCap | undefined> {
  const { rows } = await db.query<CapRow>(`select tenant_id, operations_per_month, bytes_out_per_month, updated_at from strata_cloud.usage_caps where tenant_id = $1`, [tenantId]);
  return rows[0] === undefined ? undefined : toCap(rows[0]);
}

/** Sets the given caps of a tenant (fields left out keep theirs, null removes one); returns the caps as they now are. */
export async function upsertCap(tx: Queryable, tenantId: string, change: UsageCapChange): Promise<UsageCap> {
  const { rows } = await tx.query<CapRow>(
    `insert into strata_cloud.usage_caps as c (tenant_id, operations_per_month, bytes_out_per_month) values ($1, $2, $4)
     on conflict (tenant_id) do update set
       operations_per_month = case when $3 then excluded.operations_per_month else c.operations_per_month end,
       bytes_out_per_month = case when $5 then excluded.bytes_out_per_month else c.bytes_out_per_month end,
       updated_at = now()
     returning tenant_id, operations_per_month, bytes_out_per_month, updated_at`,
    [tenantId, change.operationsPerMonth ?? null, change.operationsPerMonth !== undefined, change.bytesOutPerMonth ?? null, change.bytesOutPerMonth !== undefined],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: insert … on conflict do update returning gives one row');
  return toCap(row);
}

/**
 * Locks the caps rows of every capped tenant (or of `tenantId` only) until the transaction ends and
 * returns them, in tenant order: two evaluations of one tenant (the schedule's and a cap change's)
 * run one after the other, so the second reads the state the first wrote and raises no event twice.
 */
export async function lockCaps(tx: Queryable, tenantId?: string): Promise<UsageCap[]> {
  const { rows } = await tx.query<CapRow>(
    `select tenant_id, operations_per_month, bytes_out_per_month, updated_at from strata_cloud.usage_caps
      where $1::text is null or tenant_id = $1 order by tenant_id for update`,
    [tenantId ?? null],
  );
  return rows.map(toCap);
}

/** What each of `tenantIds` used of the capped measures in [from, to), summed from the proxy's per-minute rows. */
export async function cappedUsageBetween(db: Queryable, tenantIds: readonly string[], from: Date, to: Date): Promise<Map<string, CappedUsage>> {
  if (tenantIds.length === 0) return new Map();
  // One index range scan (usage_tenant_minute) per tenant, only for the tenants that have caps.
  const { rows } = await db.query<{ tenant_id: string; operations: string; bytes_out: string }>(
    `select t.tenant_id, u.operations, u.bytes_out
       from unnest($1::text[]) as t(tenant_id)
       cross join lateral (
         select coalesce(sum(operations), 0)::text as operations, coalesce(sum(bytes_out), 0)::text as bytes_out
           from strata_cloud.usage where tenant_id = t.tenant_id and minute >= $2 and minute < $3
       ) u`,
    [tenantIds, from, to],
  );
  return new Map(rows.map((row) => [row.tenant_id, { operations: BigInt(row.operations), bytesOut: BigInt(row.bytes_out) }]));
}

type StateRow = {
  tenant_id: string;
  period_start: string | Date;
  operations: string | number;
  bytes_out: string | number;
  percent: string | number;
  state: CapStateName;
  warned_at: string | Date | null;
  exceeded_at: string | Date | null;
  evaluated_at: string | Date;
};

const STATE_COLUMNS = 'tenant_id, period_start::text as period_start, operations::text as operations, bytes_out::text as bytes_out, percent::float8 as percent, state, warned_at, exceeded_at, evaluated_at';

function toState(row: StateRow): CapState {
  return {
    tenantId: row.tenant_id,
    periodStart: String(row.period_start).slice(0, 10),
    operations: BigInt(row.operations),
    bytesOut: BigInt(row.bytes_out),
    percent: Number(row.percent),
    state: row.state,
    warnedAt: nullableDate(row.warned_at),
    exceededAt: nullableDate(row.exceeded_at),
    evaluatedAt: new Date(row.evaluated_at),
  };
}

/** The states of `tenantIds` in the period starting `periodStart` (absent: never evaluated in it). */
export async function statesOf(db: Queryable, periodStart: string, tenantIds: readonly string[]): Promise<Map<string, CapState>> {
  if (tenantIds.length === 0) return new Map();
  const { rows } = await db.query<StateRow>(`select ${STATE_COLUMNS} from strata_cloud.usage_cap_state where period_start = $1::date and tenant_id = any($2::text[])`, [periodStart, tenantIds]);
  return new Map(rows.map((row) => [row.tenant_id, toState(row)]));
}

/** Writes a tenant's state for a period (inserted the first time, replaced after). */
export async function saveState(tx: Queryable, state: Omit<CapState, 'evaluatedAt'>, evaluatedAt: Date): Promise<void> {
  await tx.query(
    `insert into strata_cloud.usage_cap_state (tenant_id, period_start, operations, bytes_out, percent, state, warned_at, exceeded_at, evaluated_at)
     values ($1, $2::date, $3::bigint, $4::bigint, $5, $6, $7, $8, $9)
     on conflict (tenant_id, period_start) do update set
       operations = excluded.operations, bytes_out = excluded.bytes_out, percent = excluded.percent, state = excluded.state,
       warned_at = excluded.warned_at, exceeded_at = excluded.exceeded_at, evaluated_at = excluded.evaluated_at`,
    [state.tenantId, state.periodStart, state.operations.toString(), state.bytesOut.toString(), state.percent, state.state, state.warnedAt, state.exceededAt, evaluatedAt],
  );
}
