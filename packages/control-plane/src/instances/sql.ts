// SQL of strata_cloud.instances and strata_cloud.instance_events (and the reads of the agent's strata_cloud.nodes that placement and liveness need).
import type { Queryable } from '@strata/store';

/**
 * Instance statuses, as in Trove (RESTORING: restored in place, src/backups/), plus UNKNOWN (its
 * node stopped heartbeating) and FENCED (a primary stopped for good when its replica was promoted, src/replicas/).
 */
export const INSTANCE_STATUSES = ['BUILD', 'ACTIVE', 'RESIZE', 'RESTART_REQUIRED', 'STOPPED', 'ERROR', 'DELETED', 'UNKNOWN', 'RESTORING', 'FENCED'] as const;
/** One instance status. */
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/**
 * The kinds of operation on an instance (`configure`: attaching a configuration group,
 * src/instance-admin/; `restore` and `fork`: a new instance made from another's backups, src/backups/).
 */
export const OPERATION_KINDS = ['create', 'delete', 'stop', 'start', 'restart', 'resize', 'configure', 'restore', 'fork', 'replicate', 'promote', 'detach', 'reset'] as const;
/** One kind of operation. */
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** One row of strata_cloud.instances. */
export interface InstanceRow {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly status: InstanceStatus;
  readonly flavor: string;
  readonly memoryMb: number;
  readonly maxConnections: number;
  readonly storageMb: number;
  readonly nodeId: string;
  readonly host: string | null;
  readonly port: number | null;
  /** The tenant's parameters from the create. */
  readonly parameters: Readonly<Record<string, string>>;
  /** Parameters set since, by another module (an attached configuration group); they win over `parameters`. */
  readonly parameterOverrides: Readonly<Record<string, string>>;
  readonly databases: readonly string[];
  readonly defaultUser: string | null;
  readonly operationId: string | null;
  readonly operationKind: OperationKind | null;
  readonly error: string | null;
  /** The primary this instance is a streaming replica of (src/replicas/); null for a primary. */
  readonly replicaOf: string | null;
  /** A primary whose commits wait for one of its replicas to have them on disk. */
  readonly synchronous: boolean;
  /** The instance this one is a fork of (src/backups/); null otherwise. */
  readonly forkedFrom: string | null;
  /** Its power state on its node (scale to zero), from the agent's strata_cloud.instance_power; null: never suspended, or unknown. */
  readonly power: InstancePower | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * An instance's power state as its node's agent records it (@strata/agent's src/power/):
 * `running`, `frozen` (processes stopped, memory kept) or `stopped` (shut down while idle; woken by
 * its next client); since when; how many wakes so far and how long the last one took.
 */
export interface InstancePower {
  readonly state: 'running' | 'frozen' | 'stopped';
  readonly since: Date;
  readonly wakes: number;
  readonly lastWakeMs: number | null;
}

const BASE_COLUMNS = `instance_id, tenant_id, name, status, flavor, memory_mb, max_connections, storage_mb, node_id, host, port,
  parameters, parameter_overrides, databases, default_user, operation_id, operation_kind, error, replica_of, synchronous, forked_from, created_at, updated_at`;

/** The row's power record on its node, as JSON (a scalar subquery: fine in RETURNING and beside FOR UPDATE). */
const POWER_COLUMN = `(select json_build_object('state', p.state, 'since', p.changed_at, 'wakes', p.wakes, 'last_wake_ms', p.last_wake_ms)
    from strata_cloud.instance_power p where p.node_id = instances.node_id and p.instance_id = instances.instance_id) as power`;

/** Queryables (the database, or one transaction) known to have the agents' power table: it never goes away once made. */
const havePowerTable = new WeakSet<Queryable>();

/**
 * The columns of an instance row. strata_cloud.instance_power is made by the node agents'
 * migrations: a control plane that never saw an agent of this version lacks it, and a statement
 * naming it would fail, so its presence is checked (once per database object or transaction).
 */
async function columns(db: Queryable): Promise<string> {
  if (!havePowerTable.has(db)) {
    const { rows } = await db.query<{ present: boolean }>(`select to_regclass('strata_cloud.instance_power') is not null as present`);
    if (rows[0]?.present !== true) return `${BASE_COLUMNS}, null::json as power`;
    havePowerTable.add(db);
  }
  return `${BASE_COLUMNS}, ${POWER_COLUMN}`;
}

/** A jsonb column as PGlite and node-postgres return it (parsed), or as text. */
function jsonObject(value: unknown): Record<string, string> {
  return (typeof value === 'string' ? JSON.parse(value) : (value ?? {})) as Record<string, string>;
}

function toPower(value: unknown): InstancePower | null {
  if (value === null || value === undefined) return null;
  const power = (typeof value === 'string' ? JSON.parse(value) : value) as { state: InstancePower['state']; since: string; wakes: number | string; last_wake_ms: number | null };
  return { state: power.state, since: new Date(power.since), wakes: Number(power.wakes), lastWakeMs: power.last_wake_ms === null ? null : Number(power.last_wake_ms) };
}

function toRow(row: Record<string, unknown>): InstanceRow {
  return {
    instanceId: row.instance_id as string,
    tenantId: row.tenant_id as string,
    name: row.name as string,
    status: row.status as InstanceStatus,
    flavor: row.flavor as string,
    memoryMb: Number(row.memory_mb),
    maxConnections: Number(row.max_connections),
    storageMb: Number(row.storage_mb),
    nodeId: row.node_id as string,
    host: (row.host as string | null) ?? null,
    port: row.port === null || row.port === undefined ? null : Number(row.port),
    parameters: jsonObject(row.parameters),
    parameterOverrides: jsonObject(row.parameter_overrides),
    databases: (row.databases as string[] | null) ?? [],
    defaultUser: (row.default_user as string | null) ?? null,
    operationId: (row.operation_id as string | null) ?? null,
    operationKind: (row.operation_kind as OperationKind | null) ?? null,
    error: (row.error as string | null) ?? null,
    replicaOf: (row.replica_of as string | null) ?? null,
    synchronous: row.synchronous === true,
    forkedFrom: (row.forked_from as string | null) ?? null,
    power: toPower(row.power),
    createdAt: new Date(row.created_at as string | Date),
    updatedAt: new Date(row.updated_at as string | Date),
  };
}

/** The one row a statement returns; its absence is a broken invariant (the caller holds the row). */
function returned(rows: Record<string, unknown>[], what: string): Record<string, unknown> {
  const row = rows[0];
  if (row === undefined) throw new Error(`invariant: the ${what} returned no row`);
  return row;
}

/** A new instance, as the create transaction inserts it (status BUILD, its create operation running). */
export interface NewInstance {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly flavor: string;
  readonly memoryMb: number;
  readonly maxConnections: number;
  readonly storageMb: number;
  readonly nodeId: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly databases: readonly string[];
  readonly defaultUser: string | null;
  readonly operationId: string;
  /** The operation that makes it: a create (default), a restore or fork from another instance's backups, or a replicate. */
  readonly operationKind?: 'create' | 'restore' | 'fork' | 'replicate';
  /** The primary of a replica. */
  readonly replicaOf?: string;
  /** A primary whose commits wait for a replica. */
  readonly synchronous?: boolean;
  /** The parent of a fork. */
  readonly forkedFrom?: string;
}

/** Inserts a new instance in BUILD with the operation that makes it. */
export async function insertInstance(db: Queryable, instance: NewInstance): Promise<InstanceRow> {
  const selected = await columns(db);
  const { rows } = await db.query(
    `insert into strata_cloud.instances (instance_id, tenant_id, name, status, flavor, memory_mb, max_connections, storage_mb, node_id,
       parameters, databases, default_user, operation_id, operation_kind, replica_of, synchronous, forked_from)
     values ($1, $2, $3, 'BUILD', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) returning ${selected}`,
    [
      instance.instanceId,
      instance.tenantId,
      instance.name,
      instance.flavor,
      instance.memoryMb,
      instance.maxConnections,
      instance.storageMb,
      instance.nodeId,
      JSON.stringify(instance.parameters),
      instance.databases,
      instance.defaultUser,
      instance.operationId,
      instance.operationKind ?? 'create',
      instance.replicaOf ?? null,
      instance.synchronous ?? false,
      instance.forkedFrom ?? null,
    ],
  );
  return toRow(returned(rows, `insert of instance ${instance.instanceId}`));
}

/**
 * A tenant's instance that is not deleted, by ID or by name; `forUpdate` locks its row until the
 * transaction ends (so two operations cannot both find it idle).
 */
export async function findInstance(db: Queryable, tenantId: string, ref: string, forUpdate = false): Promise<InstanceRow | undefined> {
  const selected = await columns(db);
  const { rows } = await db.query(
    `select ${selected} from strata_cloud.instances
      where tenant_id = $1 and status <> 'DELETED' and (instance_id = $2 or name = $2)
      order by (instance_id = $2) desc limit 1 ${forUpdate ? 'for update' : ''}`,
    [tenantId, ref],
  );
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** An instance by ID, whatever its tenant and status (operations and tests). */
export async function getInstance(db: Queryable, instanceId: string): Promise<InstanceRow | undefined> {
  const selected = await columns(db);
  const { rows } = await db.query(`select ${selected} from strata_cloud.instances where instance_id = $1`, [instanceId]);
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** A tenant's instances that are not deleted, oldest first. */
export async function listInstances(db: Queryable, tenantId: string): Promise<InstanceRow[]> {
  const selected = await columns(db);
  const { rows } = await db.query(`select ${selected} from strata_cloud.instances where tenant_id = $1 and status <> 'DELETED' order by created_at, instance_id`, [tenantId]);
  return rows.map(toRow);
}

/** Every instance that is not deleted, of every tenant, oldest first (the platform admin's view). */
export async function listAllInstances(db: Queryable): Promise<InstanceRow[]> {
  const selected = await columns(db);
  const { rows } = await db.query(`select ${selected} from strata_cloud.instances where status <> 'DELETED' order by created_at, instance_id`);
  return rows.map(toRow);
}

/** The replicas of `primaryId` that are not deleted, oldest first. */
export async function listReplicas(db: Queryable, primaryId: string): Promise<InstanceRow[]> {
  const selected = await columns(db);
  const { rows } = await db.query(`select ${selected} from strata_cloud.instances where replica_of = $1 and status <> 'DELETED' order by created_at, instance_id`, [primaryId]);
  return rows.map(toRow);
}

/** Whether a tenant has a live instance of that name (other than `exceptId`). */
export async function nameTaken(db: Queryable, tenantId: string, name: string, exceptId?: string): Promise<boolean> {
  const { rows } = await db.query(
    `select 1 from strata_cloud.instances where tenant_id = $1 and name = $2 and status <> 'DELETED' and instance_id <> coalesce($3::text, '')`,
    [tenantId, name, exceptId ?? null],
  );
  return rows.length > 0;
}

/** Starts an operation on an idle instance (the caller locked its row); `status` is set at once when given (RESIZE). */
export async function beginOperation(db: Queryable, instanceId: string, operationId: string, kind: OperationKind, status?: InstanceStatus): Promise<InstanceRow> {
  const selected = await columns(db);
  const { rows } = await db.query(
    `update strata_cloud.instances set operation_id = $2, operation_kind = $3, status = coalesce($4::text, status), updated_at = now()
      where instance_id = $1 and operation_id is null returning ${selected}`,
    [instanceId, operationId, kind, status ?? null],
  );
  if (rows[0] === undefined) throw new Error(`instance ${instanceId} is not idle; lock its row and check operation_id before beginOperation`);
  return toRow(rows[0]);
}

/** What the end of an operation changes. */
export interface OperationEnd {
  readonly status: InstanceStatus;
  readonly host?: string;
  readonly port?: number;
  readonly error?: string | null;
  readonly flavor?: { readonly name: string; readonly memoryMb: number; readonly maxConnections: number; readonly storageMb: number };
}

/**
 * Ends an instance's operation `operationId` with its outcome; false when it already ended (a
 * repeated step after a crash). While the instance is UNKNOWN the new status waits in
 * status_before_unknown, so the node's return shows it.
 */
export async function finishOperation(db: Queryable, instanceId: string, operationId: string, end: OperationEnd): Promise<boolean> {
  const { rows } = await db.query(
    `update strata_cloud.instances
        set status = case when status = 'UNKNOWN' and $2::text <> 'DELETED' then 'UNKNOWN' else $2::text end,
            status_before_unknown = case when status = 'UNKNOWN' and $2::text <> 'DELETED' then $2::text else null end,
            host = coalesce($3::text, host), port = coalesce($4::integer, port),
            error = case when $5::boolean then $6::text else error end,
            flavor = coalesce($7::text, flavor), memory_mb = coalesce($8::integer, memory_mb),
            max_connections = coalesce($9::integer, max_connections), storage_mb = coalesce($10::integer, storage_mb),
            deleted_at = case when $2::text = 'DELETED' then now() else deleted_at end,
            operation_id = null, operation_kind = null, updated_at = now()
      where instance_id = $1 and operation_id = $11 returning instance_id`,
    [
      instanceId,
      end.status,
      end.host ?? null,
      end.port ?? null,
      end.error !== undefined,
      end.error ?? null,
      end.flavor?.name ?? null,
      end.flavor?.memoryMb ?? null,
      end.flavor?.maxConnections ?? null,
      end.flavor?.storageMb ?? null,
      operationId,
    ],
  );
  return rows.length === 1;
}

/** Renames an instance (the caller checked the name is free; the unique index is the last word). */
export async function renameInstance(db: Queryable, instanceId: string, name: string): Promise<InstanceRow> {
  const selected = await columns(db);
  const { rows } = await db.query(`update strata_cloud.instances set name = $2, updated_at = now() where instance_id = $1 returning ${selected}`, [instanceId, name]);
  return toRow(returned(rows, `rename of instance ${instanceId}`));
}

/** One instance event. */
export interface InstanceEvent {
  readonly eventId: string;
  readonly instanceId: string;
  readonly kind: string;
  readonly message: string;
  readonly workflowId: string | null;
  readonly at: Date;
}

/** Appends an event to an instance's history. */
export async function addEvent(db: Queryable, instanceId: string, kind: string, message: string, workflowId: string | null = null): Promise<void> {
  await db.query(`insert into strata_cloud.instance_events (instance_id, kind, message, workflow_id) values ($1, $2, $3, $4)`, [instanceId, kind, message, workflowId]);
}

/** The newest `limit` events of an instance, oldest first. */
export async function listEvents(db: Queryable, instanceId: string, limit: number): Promise<InstanceEvent[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `select * from (select event_id::text as event_id, instance_id, kind, message, workflow_id, at from strata_cloud.instance_events
       where instance_id = $1 order by event_id desc limit $2) newest order by event_id`,
    [instanceId, limit],
  );
  return rows.map((row) => ({
    eventId: row.event_id as string,
    instanceId: row.instance_id as string,
    kind: row.kind as string,
    message: row.message as string,
    workflowId: (row.workflow_id as string | null) ?? null,
    at: new Date(row.at as string | Date),
  }));
}
