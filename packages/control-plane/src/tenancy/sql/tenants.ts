// SQL of strata_cloud.tenants: insert, read, change quotas, suspend and resume.

import type { Queryable } from '@strata/store';

/** A tenant's limits. */
export interface Quotas {
  readonly instances: number;
  readonly storageMb: number;
  readonly connections: number;
}

/** Whether a tenant's instances take connections: a suspended tenant's are refused by the proxy. */
export type TenantStatus = 'active' | 'suspended';

/** A row of strata_cloud.tenants. */
export interface TenantRecord {
  readonly tenantId: string;
  readonly name: string;
  readonly platform: boolean;
  readonly status: TenantStatus;
  readonly quotas: Quotas;
  readonly createdAt: Date;
}

type TenantRow = {
  tenant_id: string;
  name: string;
  platform: boolean;
  status: TenantStatus;
  max_instances: number;
  max_storage_mb: number;
  max_connections: number;
  created_at: Date | string;
};

const COLUMNS = 'tenant_id, name, platform, status, max_instances, max_storage_mb, max_connections, created_at';

/** Inserts a tenant; a taken name is a unique violation (the caller turns it into `409 name_taken`). */
export async function insertTenant(tx: Queryable, tenant: { tenantId: string; name: string; platform: boolean; quotas: Quotas }): Promise<TenantRecord> {
  const { rows } = await tx.query<TenantRow>(
    `insert into strata_cloud.tenants (tenant_id, name, platform, max_instances, max_storage_mb, max_connections)
     values ($1, $2, $3, $4, $5, $6) returning ${COLUMNS}`,
    [tenant.tenantId, tenant.name, tenant.platform, tenant.quotas.instances, tenant.quotas.storageMb, tenant.quotas.connections],
  );
  return toTenant(one(rows));
}

/** The tenant, or undefined; `forUpdate` locks its row until the transaction ends (quota checks). */
export async function getTenant(db: Queryable, tenantId: string, options: { forUpdate?: boolean } = {}): Promise<TenantRecord | undefined> {
  const { rows } = await db.query<TenantRow>(`select ${COLUMNS} from strata_cloud.tenants where tenant_id = $1${options.forUpdate === true ? ' for update' : ''}`, [tenantId]);
  return rows[0] === undefined ? undefined : toTenant(rows[0]);
}

/** Sets the given quotas of a tenant; undefined when it does not exist. */
export async function updateQuotas(tx: Queryable, tenantId: string, quotas: Partial<Quotas>): Promise<TenantRecord | undefined> {
  const { rows } = await tx.query<TenantRow>(
    `update strata_cloud.tenants set
       max_instances = coalesce($2, max_instances),
       max_storage_mb = coalesce($3, max_storage_mb),
       max_connections = coalesce($4, max_connections)
     where tenant_id = $1 returning ${COLUMNS}`,
    [tenantId, quotas.instances ?? null, quotas.storageMb ?? null, quotas.connections ?? null],
  );
  return rows[0] === undefined ? undefined : toTenant(rows[0]);
}

/** Sets a tenant's status; undefined when it does not exist. */
export async function setTenantStatus(tx: Queryable, tenantId: string, status: TenantStatus): Promise<TenantRecord | undefined> {
  const { rows } = await tx.query<TenantRow>(`update strata_cloud.tenants set status = $2 where tenant_id = $1 returning ${COLUMNS}`, [tenantId, status]);
  return rows[0] === undefined ? undefined : toTenant(rows[0]);
}

/** Whether any tenant exists (false only before the first start's bootstrap). */
export async function anyTenantExists(db: Queryable): Promise<boolean> {
  const { rows } = await db.query('select 1 from strata_cloud.tenants limit 1');
  return rows.length > 0;
}

/** What a tenant uses now, from strata_cloud.tenant_usage (zeros when it uses nothing). */
export async function usageOf(db: Queryable, tenantId: string): Promise<Quotas> {
  const { rows } = await db.query<{ instances: string | number; storage_mb: string | number; connections: string | number }>(
    `select coalesce(sum(instances), 0)::text as instances, coalesce(sum(storage_mb), 0)::text as storage_mb, coalesce(sum(connections), 0)::text as connections
       from strata_cloud.tenant_usage where tenant_id = $1`,
    [tenantId],
  );
  const row = one(rows);
  return { instances: Number(row.instances), storageMb: Number(row.storage_mb), connections: Number(row.connections) };
}

function toTenant(row: TenantRow): TenantRecord {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    platform: row.platform,
    status: row.status,
    quotas: { instances: row.max_instances, storageMb: row.max_storage_mb, connections: row.max_connections },
    createdAt: new Date(row.created_at),
  };
}

function one<R>(rows: R[]): R {
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: the statement returns one row');
  return row;
}
