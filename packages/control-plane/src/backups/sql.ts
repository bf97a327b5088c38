// SQL of strata_cloud.backups, strata_cloud.backup_policies and strata_cloud.restore_points.
import type { BackupSetOutput } from '@strata/agent';
import type { Queryable } from '@strata/store';

/** Backup statuses: RUNNING until its workflow records the outcome; EXPIRED when retention removed it. */
export const BACKUP_STATUSES = ['RUNNING', 'COMPLETED', 'FAILED', 'DELETING', 'DELETED', 'EXPIRED'] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];
/** What started a backup: `initial` (a new instance), `manual` (the API), `scheduled` (the policy), `restore` (the base of the timeline an in-place restore began). */
export const BACKUP_TRIGGERS = ['initial', 'manual', 'scheduled', 'restore'] as const;
export type BackupTrigger = (typeof BACKUP_TRIGGERS)[number];
export type BackupType = 'full' | 'diff' | 'incr';

/** One row of strata_cloud.backups. */
export interface BackupRow {
  readonly backupId: string;
  readonly tenantId: string;
  readonly instanceId: string;
  readonly nodeId: string;
  readonly type: BackupType;
  readonly trigger: BackupTrigger;
  readonly status: BackupStatus;
  readonly workflowId: string;
  readonly label: string | null;
  readonly priorLabel: string | null;
  readonly startedAt: Date | null;
  readonly stoppedAt: Date | null;
  readonly restorableFrom: Date | null;
  readonly sizeBytes: number | null;
  readonly storedBytes: number | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const COLUMNS = `backup_id, tenant_id, instance_id, node_id, type, trigger, status, workflow_id, label, prior_label, started_at, stopped_at,
  restorable_from, size_bytes, stored_bytes, error, created_at, updated_at`;

const date = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(value as string | Date));
const count = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function toRow(row: Record<string, unknown>): BackupRow {
  return {
    backupId: row.backup_id as string,
    tenantId: row.tenant_id as string,
    instanceId: row.instance_id as string,
    nodeId: row.node_id as string,
    type: row.type as BackupType,
    trigger: row.trigger as BackupTrigger,
    status: row.status as BackupStatus,
    workflowId: row.workflow_id as string,
    label: (row.label as string | null) ?? null,
    priorLabel: (row.prior_label as string | null) ?? null,
    startedAt: date(row.started_at),
    stoppedAt: date(row.stopped_at),
    restorableFrom: date(row.restorable_from),
    sizeBytes: count(row.size_bytes),
    storedBytes: count(row.stored_bytes),
    error: (row.error as string | null) ?? null,
    createdAt: new Date(row.created_at as string | Date),
    updatedAt: new Date(row.updated_at as string | Date),
  };
}

/** A new RUNNING backup; undefined when `backupId` exists already (a repeated request) or the instance has one running. */
export async function insertBackup(db: Queryable, backup: Pick<BackupRow, 'backupId' | 'tenantId' | 'instanceId' | 'nodeId' | 'type' | 'trigger' | 'workflowId'>): Promise<BackupRow | undefined> {
  const { rows } = await db.query(
    `insert into strata_cloud.backups (backup_id, tenant_id, instance_id, node_id, type, trigger, status, workflow_id)
     values ($1, $2, $3, $4, $5, $6, 'RUNNING', $7) on conflict do nothing returning ${COLUMNS}`,
    [backup.backupId, backup.tenantId, backup.instanceId, backup.nodeId, backup.type, backup.trigger, backup.workflowId],
  );
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** A backup by ID, whatever its tenant (workflows); scoped reads use {@link findTenantBackup}. */
export async function getBackup(db: Queryable, backupId: string): Promise<BackupRow | undefined> {
  const { rows } = await db.query(`select ${COLUMNS} from strata_cloud.backups where backup_id = $1`, [backupId]);
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** A tenant's backup by ID (another tenant's is not found). */
export async function findTenantBackup(db: Queryable, tenantId: string, backupId: string, forUpdate = false): Promise<BackupRow | undefined> {
  const { rows } = await db.query(`select ${COLUMNS} from strata_cloud.backups where tenant_id = $1 and backup_id = $2 ${forUpdate ? 'for update' : ''}`, [tenantId, backupId]);
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** An instance's backups, newest first (deleted and expired ones only when asked). */
export async function listBackups(db: Queryable, instanceId: string, options: { readonly includeGone?: boolean; readonly limit: number }): Promise<BackupRow[]> {
  const { rows } = await db.query(
    `select ${COLUMNS} from strata_cloud.backups where instance_id = $1 ${options.includeGone ? '' : "and status not in ('DELETED', 'EXPIRED')"}
      order by created_at desc, backup_id desc limit $2`,
    [instanceId, options.limit],
  );
  return rows.map(toRow);
}

/** Records a finished backup (once: false when it is not RUNNING any more). */
export async function completeBackup(db: Queryable, backupId: string, set: BackupSetOutput): Promise<boolean> {
  const { rows } = await db.query(
    `update strata_cloud.backups set status = 'COMPLETED', label = $2, prior_label = $3, type = $4, started_at = $5, stopped_at = $6,
        restorable_from = $7, size_bytes = $8, stored_bytes = $9, wal_start = $10, wal_stop = $11, error = null, updated_at = now()
      where backup_id = $1 and status = 'RUNNING' returning backup_id`,
    [backupId, set.label, set.prior, set.type, set.startedAt, set.stoppedAt, set.restorableFrom, set.sizeBytes, set.repositoryDeltaBytes, set.walStart, set.walStop],
  );
  return rows.length === 1;
}

/** Ends a backup in `status` with an error (FAILED), or after a delete (DELETED). */
export async function endBackup(db: Queryable, backupId: string, from: BackupStatus, status: BackupStatus, error: string | null): Promise<boolean> {
  const { rows } = await db.query(
    `update strata_cloud.backups set status = $3, error = $4, updated_at = now() where backup_id = $1 and status = $2 returning backup_id`,
    [backupId, from, status, error],
  );
  return rows.length === 1;
}

/** Marks DELETING a COMPLETED or FAILED backup (the caller locked it). */
export async function beginBackupDelete(db: Queryable, backupId: string): Promise<boolean> {
  const { rows } = await db.query(
    `update strata_cloud.backups set status = 'DELETING', updated_at = now() where backup_id = $1 and status in ('COMPLETED', 'FAILED') returning backup_id`,
    [backupId],
  );
  return rows.length === 1;
}

/** Completed backups of an instance whose sets the repository no longer holds (retention removed them, or a delete took dependents): EXPIRED. */
export async function expireMissing(db: Queryable, instanceId: string, remainingLabels: readonly string[]): Promise<number> {
  const { rows } = await db.query(
    `update strata_cloud.backups set status = 'EXPIRED', updated_at = now()
      where instance_id = $1 and status = 'COMPLETED' and not (label = any($2::text[])) returning backup_id`,
    [instanceId, remainingLabels],
  );
  return rows.length;
}

/**
 * Retires an instance's whole backup history once its stanza is gone (a fork's reset, a deleted
 * instance's last full backup deleted): every completed backup EXPIRED, every restore point removed.
 */
export async function retireHistory(db: Queryable, instanceId: string): Promise<void> {
  await expireMissing(db, instanceId, []);
  await db.query(`delete from strata_cloud.restore_points where instance_id = $1`, [instanceId]);
}

/** How many completed full backups (in the repository) the instance has besides `exceptBackupId`. */
export async function otherCompletedFullBackups(db: Queryable, instanceId: string, exceptBackupId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from strata_cloud.backups where instance_id = $1 and backup_id <> $2 and type = 'full' and status = 'COMPLETED' and label is not null`,
    [instanceId, exceptBackupId],
  );
  return rows[0]?.n ?? 0;
}

/** The earliest moment an instance can be restored to (its oldest completed backup's end), or null with no completed backup. */
export async function restorableSince(db: Queryable, instanceId: string): Promise<Date | null> {
  const { rows } = await db.query<{ since: string | Date | null }>(`select min(restorable_from) as since from strata_cloud.backups where instance_id = $1 and status = 'COMPLETED'`, [instanceId]);
  return date(rows[0]?.since);
}

/** A tenant's deleted instance by ID and when it was deleted; undefined for a live one, another tenant's, or none. */
export async function findDeletedInstance(db: Queryable, tenantId: string, instanceId: string): Promise<{ readonly instanceId: string; readonly deletedAt: Date } | undefined> {
  const { rows } = await db.query<{ instance_id: string; deleted_at: string | Date }>(
    // deleted_at is set by the delete's end; updated_at is the same moment for a row deleted some other way.
    `select instance_id, coalesce(deleted_at, updated_at) as deleted_at from strata_cloud.instances where tenant_id = $1 and instance_id = $2 and status = 'DELETED'`,
    [tenantId, instanceId],
  );
  const row = rows[0];
  return row === undefined ? undefined : { instanceId: row.instance_id, deletedAt: new Date(row.deleted_at) };
}

/** One instance that has completed backups, as {@link listBackupSources} returns it. */
export interface BackupSourceRow {
  readonly instanceId: string;
  readonly name: string;
  readonly status: string;
  readonly flavor: string;
  /** When it was deleted; null for a live instance. */
  readonly deletedAt: Date | null;
  /** Its COMPLETED backups. */
  readonly backups: number;
  /** The earliest moment it can be restored to (its oldest completed backup's end). */
  readonly restorableFrom: Date | null;
  /** When its newest completed backup ended. */
  readonly lastBackupAt: Date | null;
}

/**
 * A tenant's instances that have a COMPLETED backup: deleted ones (`deleted` true; newest deletion
 * first), live ones (false), or both (undefined; deleted ones first).
 */
export async function listBackupSources(db: Queryable, tenantId: string, options: { readonly deleted?: boolean; readonly limit: number }): Promise<BackupSourceRow[]> {
  const { rows } = await db.query(
    `select i.instance_id, i.name, i.status, i.flavor,
            case when i.status = 'DELETED' then coalesce(i.deleted_at, i.updated_at) end as deleted_at,
            count(*)::int as backups, min(b.restorable_from) as restorable_from, max(b.stopped_at) as last_backup_at
       from strata_cloud.instances i
       join strata_cloud.backups b on b.instance_id = i.instance_id and b.status = 'COMPLETED'
      where i.tenant_id = $1 and ($2::boolean is null or (i.status = 'DELETED') = $2::boolean)
      group by i.instance_id, i.name, i.status, i.flavor, i.deleted_at, i.updated_at
      order by (i.status = 'DELETED') desc, coalesce(i.deleted_at, i.updated_at) desc, i.name, i.instance_id
      limit $3`,
    [tenantId, options.deleted ?? null, options.limit],
  );
  return rows.map((row) => ({
    instanceId: row.instance_id as string,
    name: row.name as string,
    status: row.status as string,
    flavor: row.flavor as string,
    deletedAt: date(row.deleted_at),
    backups: Number(row.backups),
    restorableFrom: date(row.restorable_from),
    lastBackupAt: date(row.last_backup_at),
  }));
}

/** One row of strata_cloud.backup_policies. */
export interface BackupPolicyRow {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly cron: string | null;
  readonly timezone: string;
  readonly type: BackupType;
  readonly retentionFullBackups: number | null;
  readonly retentionDays: number | null;
  /** The periodic restore test's cron expression, or null for none. */
  readonly verifyCron: string | null;
  readonly verifyTimezone: string;
  readonly updatedAt: Date;
}

/** An instance's policy, or undefined (the defaults apply). */
export async function getPolicy(db: Queryable, instanceId: string): Promise<BackupPolicyRow | undefined> {
  const { rows } = await db.query(`select * from strata_cloud.backup_policies where instance_id = $1`, [instanceId]);
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    instanceId: row.instance_id as string,
    tenantId: row.tenant_id as string,
    cron: (row.cron as string | null) ?? null,
    timezone: row.timezone as string,
    type: row.type as BackupType,
    retentionFullBackups: count(row.retention_full_backups),
    retentionDays: count(row.retention_days),
    verifyCron: (row.verify_cron as string | null) ?? null,
    verifyTimezone: (row.verify_timezone as string | null) ?? 'UTC',
    updatedAt: new Date(row.updated_at as string | Date),
  };
}

/** Writes an instance's policy. */
export async function upsertPolicy(db: Queryable, policy: Omit<BackupPolicyRow, 'updatedAt'>): Promise<void> {
  await db.query(
    `insert into strata_cloud.backup_policies (instance_id, tenant_id, cron, timezone, type, retention_full_backups, retention_days, verify_cron, verify_timezone)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (instance_id) do update set cron = excluded.cron, timezone = excluded.timezone, type = excluded.type,
       retention_full_backups = excluded.retention_full_backups, retention_days = excluded.retention_days,
       verify_cron = excluded.verify_cron, verify_timezone = excluded.verify_timezone, updated_at = now()`,
    [policy.instanceId, policy.tenantId, policy.cron, policy.timezone, policy.type, policy.retentionFullBackups, policy.retentionDays, policy.verifyCron, policy.verifyTimezone],
  );
}

/** One named restore point. */
export interface RestorePointRow {
  readonly instanceId: string;
  readonly name: string;
  readonly status: 'PENDING' | 'CREATED' | 'FAILED';
  readonly workflowId: string;
  readonly createdAt: Date;
  readonly madeAt: Date | null;
  /** Its WAL position (picks the backup a restore to it starts from). */
  readonly lsn: string | null;
  readonly error: string | null;
}

function toPoint(row: Record<string, unknown>): RestorePointRow {
  return {
    instanceId: row.instance_id as string,
    name: row.name as string,
    status: row.status as RestorePointRow['status'],
    workflowId: row.workflow_id as string,
    createdAt: new Date(row.created_at as string | Date),
    madeAt: date(row.made_at),
    lsn: (row.lsn as string | null) ?? null,
    error: (row.error as string | null) ?? null,
  };
}

/** A new PENDING restore point; undefined when the name is taken on that instance. */
export async function insertRestorePoint(db: Queryable, point: { readonly instanceId: string; readonly tenantId: string; readonly name: string; readonly workflowId: string }): Promise<RestorePointRow | undefined> {
  const { rows } = await db.query(
    `insert into strata_cloud.restore_points (instance_id, tenant_id, name, status, workflow_id) values ($1, $2, $3, 'PENDING', $4)
     on conflict do nothing returning *`,
    [point.instanceId, point.tenantId, point.name, point.workflowId],
  );
  return rows[0] === undefined ? undefined : toPoint(rows[0]);
}

/** Records a restore point's outcome. */
export async function endRestorePoint(db: Queryable, instanceId: string, name: string, outcome: { readonly madeAt: string; readonly lsn: string | null } | { readonly error: string }): Promise<void> {
  await db.query(
    `update strata_cloud.restore_points set status = $3, made_at = $4, lsn = $5, error = $6 where instance_id = $1 and name = $2 and status = 'PENDING'`,
    'madeAt' in outcome ? [instanceId, name, 'CREATED', outcome.madeAt, outcome.lsn, null] : [instanceId, name, 'FAILED', null, null, outcome.error],
  );
}

/** An instance's restore points, newest first. */
export async function listRestorePoints(db: Queryable, instanceId: string, limit: number): Promise<RestorePointRow[]> {
  const { rows } = await db.query(`select * from strata_cloud.restore_points where instance_id = $1 order by created_at desc, name limit $2`, [instanceId, limit]);
  return rows.map(toPoint);
}

/** One restore point of an instance. */
export async function getRestorePoint(db: Queryable, instanceId: string, name: string): Promise<RestorePointRow | undefined> {
  const { rows } = await db.query(`select * from strata_cloud.restore_points where instance_id = $1 and name = $2`, [instanceId, name]);
  return rows[0] === undefined ? undefined : toPoint(rows[0]);
}

/** The node's backup repository, or null when it takes no backups (or is unknown). */
export async function nodeBackupRepository(db: Queryable, nodeId: string): Promise<string | null> {
  const { rows } = await db.query<{ backup_repository: string | null }>(`select backup_repository from strata_cloud.nodes where node_id = $1`, [nodeId]);
  return rows[0]?.backup_repository ?? null;
}

/** Copies the recorded users of one instance to another (a restored copy holds the same roles). */
export async function copyInstanceUsers(db: Queryable, fromInstanceId: string, toInstanceId: string): Promise<void> {
  await db.query(
    `insert into strata_cloud.instance_users (instance_id, name, verifier, grants)
     select $2, name, verifier, grants from strata_cloud.instance_users where instance_id = $1 on conflict do nothing`,
    [fromInstanceId, toInstanceId],
  );
}
