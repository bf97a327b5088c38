// SQL of strata_cloud.config_groups and of the group attached to an instance (instances.config_group_id).
import type { Queryable } from '@strata/store';

/** One configuration group. */
export interface ConfigGroupRow {
  readonly groupId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string;
  readonly majorVersion: number;
  readonly parameters: Readonly<Record<string, string>>;
  readonly restartRequired: readonly string[];
  readonly createdAt: Date;
  /** IDs of the live instances it is attached to. */
  readonly instanceIds: readonly string[];
}

const SELECT = `select g.group_id, g.tenant_id, g.name, g.description, g.major_version, g.parameters, g.restart_required, g.created_at,
    coalesce((select array_agg(i.instance_id order by i.instance_id) from strata_cloud.instances i
               where i.config_group_id = g.group_id and i.status <> 'DELETED'), '{}') as instance_ids
  from strata_cloud.config_groups g`;

function toRow(row: Record<string, unknown>): ConfigGroupRow {
  return {
    groupId: row.group_id as string,
    tenantId: row.tenant_id as string,
    name: row.name as string,
    description: row.description as string,
    majorVersion: Number(row.major_version),
    parameters: (typeof row.parameters === 'string' ? JSON.parse(row.parameters) : row.parameters) as Record<string, string>,
    restartRequired: (row.restart_required as string[] | null) ?? [],
    createdAt: new Date(row.created_at as string | Date),
    instanceIds: (row.instance_ids as string[] | null) ?? [],
  };
}

/** What a new group is made of (already checked against the catalogue). */
export interface NewConfigGroup {
  readonly groupId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string;
  readonly majorVersion: number;
  readonly parameters: Readonly<Record<string, string>>;
  readonly restartRequired: readonly string[];
}

/** Inserts a group; undefined when the tenant has one of that name already. */
export async function insertConfigGroup(db: Queryable, group: NewConfigGroup): Promise<ConfigGroupRow | undefined> {
  const { rows } = await db.query(
    `insert into strata_cloud.config_groups (group_id, tenant_id, name, description, major_version, parameters, restart_required)
     values ($1, $2, $3, $4, $5, $6, $7) on conflict (tenant_id, name) do nothing returning group_id`,
    [group.groupId, group.tenantId, group.name, group.description, group.majorVersion, JSON.stringify(group.parameters), group.restartRequired],
  );
  if (rows.length === 0) return undefined;
  return getConfigGroup(db, group.groupId);
}

/** A group by ID, whatever its tenant (workflows). */
export async function getConfigGroup(db: Queryable, groupId: string): Promise<ConfigGroupRow | undefined> {
  const { rows } = await db.query(`${SELECT} where g.group_id = $1`, [groupId]);
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** A tenant's group by ID or name; `forUpdate` locks it until the transaction ends. */
export async function findConfigGroup(db: Queryable, tenantId: string, ref: string, forUpdate = false): Promise<ConfigGroupRow | undefined> {
  const { rows } = await db.query(
    `${SELECT} where g.tenant_id = $1 and (g.group_id = $2 or g.name = $2) order by (g.group_id = $2) desc limit 1 ${forUpdate ? 'for update of g' : ''}`,
    [tenantId, ref],
  );
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** A tenant's groups by name. */
export async function listConfigGroups(db: Queryable, tenantId: string): Promise<ConfigGroupRow[]> {
  const { rows } = await db.query(`${SELECT} where g.tenant_id = $1 order by g.name`, [tenantId]);
  return rows.map(toRow);
}

/** Deletes a group that no live instance uses; false when one does (or it is gone). */
export async function deleteConfigGroup(db: Queryable, groupId: string): Promise<boolean> {
  const { rows } = await db.query(
    `delete from strata_cloud.config_groups g where g.group_id = $1
        and not exists (select 1 from strata_cloud.instances i where i.config_group_id = g.group_id and i.status <> 'DELETED')
      returning group_id`,
    [groupId],
  );
  return rows.length === 1;
}

/** The group attached to an instance, if any. */
export async function attachedGroupId(db: Queryable, instanceId: string): Promise<string | null> {
  const { rows } = await db.query<{ config_group_id: string | null }>(`select config_group_id from strata_cloud.instances where instance_id = $1`, [instanceId]);
  return rows[0]?.config_group_id ?? null;
}

/**
 * Attaches a group to an instance (null detaches). Its parameters become the instance's
 * parameter overrides, which a resize sends again over the new flavor's settings (groups never
 * change after they are made, so the copy stays true).
 */
export async function setAttachedGroup(db: Queryable, instanceId: string, groupId: string | null): Promise<void> {
  await db.query(
    `update strata_cloud.instances
        set config_group_id = $2,
            parameter_overrides = coalesce((select parameters from strata_cloud.config_groups where group_id = $2), '{}'::jsonb),
            updated_at = now()
      where instance_id = $1`,
    [instanceId, groupId],
  );
}

/**
 * Starts a `configure` operation on an idle instance (the caller locked its row and checked it is
 * idle); it ends with the instances' own finishOperation. False when another operation holds it.
 */
export async function beginConfigureOperation(db: Queryable, instanceId: string, operationId: string): Promise<boolean> {
  const { rows } = await db.query(
    `update strata_cloud.instances set operation_id = $2, operation_kind = 'configure', updated_at = now()
      where instance_id = $1 and operation_id is null returning instance_id`,
    [instanceId, operationId],
  );
  return rows.length === 1;
}
