// The backup API's transactions, free of HTTP: request and delete backups, set the policy, make
// restore points, and start restores and forks into new instances — each enqueued in its own commit.
import type { BackupRetentionInput } from '@strata/agent';
import { PgBackupError, assertRestorePointName } from '@strata/postgres';
import { isUniqueViolation, type Database, type Queryable } from '@strata/store';
import { InvalidArgumentError, InvalidScheduleError, UnknownScheduleError, type Strata, type StrataClient } from '@strata/transact';
import { FLAVORS, findFlavor, flavorLimits, flavorSettings } from '../instances/flavors.js';
import { instanceNameProblem, newBackupId, newInstanceId, newOperationId } from '../instances/names.js';
import { OPERATIONS_QUEUE } from '../instances/operations.js';
import { nameTakenError, requireIdle, requireInstance, type QuotaCheck, type RecordInTransaction } from '../instances/service.js';
import { addEvent, beginOperation, getInstance, insertInstance, nameTaken, type InstanceRow } from '../instances/sql.js';
import { BACKUP_WORKFLOWS, BACKUPS_QUEUE, type RunBackupInput } from './contract.js';
import { BackupError } from './errors.js';
import { deletedRefused, liveOnly, requireBackupSource } from './sources.js';
import {
  beginBackupDelete,
  copyInstanceUsers,
  endBackup,
  findTenantBackup,
  getBackup,
  getPolicy,
  getRestorePoint,
  insertBackup,
  insertRestorePoint,
  listBackups,
  listRestorePoints,
  nodeBackupRepository,
  otherCompletedFullBackups,
  restorableSince,
  upsertPolicy,
  type BackupPolicyRow,
  type BackupRow,
  type BackupTrigger,
  type BackupType,
  type RestorePointRow,
} from './sql.js';
import type { DeleteBackupInput, RestoreInPlaceOperationInput, RestoreOperationInput } from './workflows.js';

/** What the backup service needs. */
export interface BackupServiceDeps {
  readonly db: Database;
  readonly client: StrataClient;
  readonly strata: Strata;
}

/** The retention of an instance without a policy: every backup needed to restore to any moment of the last week. */
export const DEFAULT_RETENTION: BackupRetentionInput = { days: 7 };

/** Most backups or restore points one list returns (newest first). */
export const MAX_LISTED_BACKUPS = 200;

/** Statuses an instance can be backed up (or marked) in: its server runs. */
const RUNNING_STATUSES: ReadonlySet<string> = new Set(['ACTIVE', 'RESTART_REQUIRED']);

/** The Strata schedule of an instance's backups (`backup`) or periodic restore test (`verify`). */
export function backupPolicySchedule(instanceId: string, kind: 'backup' | 'verify' = 'backup'): string {
  return `${kind}.${instanceId}`;
}

/** The instance a tick of one of its schedules is for (`sched:<kind>.<instanceId>:<tick>`), or undefined for another workflow. */
export function instanceOfScheduleTick(workflowId: string, kind: 'backup' | 'verify' = 'backup'): string | undefined {
  return new RegExp(`^sched:${kind}\\.([^:]+):`).exec(workflowId)?.[1];
}

/** The retention of a policy (the default without one). */
export function retentionOf(policy: BackupPolicyRow | undefined): BackupRetentionInput {
  if (policy?.retentionFullBackups != null) return { fullBackups: policy.retentionFullBackups };
  if (policy?.retentionDays != null) return { days: policy.retentionDays };
  return DEFAULT_RETENTION;
}

/**
 * Records a RUNNING backup of an instance and (unless `runBy` names the workflow that runs it
 * inline) enqueues its workflow in the same commit. A request with an ID that exists returns that
 * backup's run (a repeat after a crash). The first backup of a new instance (`initial`) is skipped
 * quietly on a node without a backup repository or an instance no longer running.
 *
 * @throws {BackupError} `409 backups_unavailable` (the node has no repository), `409 invalid_state`
 * (the instance is not running), `409 backup_running`.
 *
 * @example
 * await requestBackup(deps, { instanceId: 'ins_abc', trigger: 'manual', type: 'incr' });
 */
export async function requestBackup(
  deps: Pick<BackupServiceDeps, 'db' | 'client'>,
  request: {
    readonly instanceId: string;
    readonly trigger: BackupTrigger;
    readonly type: BackupType;
    readonly backupId?: string;
    /** The workflow that runs the backup itself (a schedule's tick); default: a workflow enqueued here. */
    readonly runBy?: string;
    readonly record?: RecordInTransaction;
  },
): Promise<RunBackupInput | undefined> {
  const initial = request.trigger === 'initial';
  const backupId = request.backupId ?? (initial ? `bak_${request.instanceId}_initial` : newBackupId());
  return deps.db.transaction(async (tx) => {
    const instance = await getInstance(tx, request.instanceId);
    if (instance === undefined) throw new Error(`invariant: requestBackup of an unknown instance ${request.instanceId}`);
    const existing = await getBackup(tx, backupId);
    if (existing !== undefined) return runInput(existing, retentionOf(await getPolicy(tx, instance.instanceId)));
    if ((await nodeBackupRepository(tx, instance.nodeId)) === null) {
      if (initial) return undefined;
      throw new BackupError(409, 'backups_unavailable', `node ${instance.nodeId} of instance "${instance.name}" has no backup repository; start its agent with one (backupRepository)`);
    }
    if (!RUNNING_STATUSES.has(instance.status)) {
      if (initial) return undefined;
      throw new BackupError(409, 'invalid_state', `instance "${instance.name}" is ${instance.status}; back it up while it runs (ACTIVE)`);
    }
    if (instance.replicaOf !== null) {
      if (initial) return undefined;
      throw replicaRefused(instance);
    }
    const workflowId = request.runBy ?? backupId;
    const row = await insertBackup(tx, { backupId, tenantId: instance.tenantId, instanceId: instance.instanceId, nodeId: instance.nodeId, type: request.type, trigger: request.trigger, workflowId });
    if (row === undefined) {
      throw new BackupError(409, 'backup_running', `instance "${instance.name}" has a backup running; wait for it (GET /v1/instances/${instance.instanceId}/backups)`);
    }
    await addEvent(tx, instance.instanceId, 'backup_started', `${request.trigger} ${request.type} backup ${backupId} started`, workflowId);
    const input = runInput(row, retentionOf(await getPolicy(tx, instance.instanceId)));
    if (request.runBy === undefined) await deps.client.enqueue({ workflow: BACKUP_WORKFLOWS.run, queue: BACKUPS_QUEUE, workflowId, attributes: { instanceId: instance.instanceId, kind: 'backup' }, transaction: tx }, input);
    await request.record?.(tx);
    return input;
  });
}

function runInput(row: BackupRow, retention: BackupRetentionInput): RunBackupInput {
  return { backupId: row.backupId, instanceId: row.instanceId, nodeId: row.nodeId, type: row.type, retention };
}

/**
 * A tenant's request for a backup of one of its instances (by ID or name).
 *
 * @example
 * const backup = await backupInstance(deps, 'ten_1', 'orders-db', 'full');
 */
export async function backupInstance(deps: BackupServiceDeps, tenantId: string, ref: string, type: BackupType, record?: RecordInTransaction): Promise<BackupRow> {
  const instance = await liveOnly(deps.db, tenantId, ref, 'a backup', () => requireInstance(deps.db, tenantId, ref));
  const input = await requestBackup(deps, { instanceId: instance.instanceId, trigger: 'manual', type, ...(record ? { record } : {}) });
  // Only a first backup (`initial`) is skipped quietly; a manual one is made or refused with an error.
  if (input === undefined) throw new Error(`invariant: a manual backup of ${instance.instanceId} was neither made nor refused`);
  return requireBackup(deps.db, tenantId, input.backupId);
}

/**
 * A tenant's instance's backups, newest first (with `includeGone`, deleted and expired ones too),
 * and its restore window: from the end of its oldest completed backup to the present, or, for a
 * deleted instance (by ID), to the moment it was deleted (`restorableUntil`).
 */
export async function instanceBackups(
  deps: Pick<BackupServiceDeps, 'db'>,
  tenantId: string,
  ref: string,
  includeGone = false,
): Promise<{ instance: InstanceRow; backups: BackupRow[]; restorableFrom: Date | null; restorableUntil: Date | null }> {
  const { instance, deletedAt } = await requireBackupSource(deps.db, tenantId, ref);
  const backups = await listBackups(deps.db, instance.instanceId, { includeGone, limit: MAX_LISTED_BACKUPS });
  return { instance, backups, restorableFrom: await restorableSince(deps.db, instance.instanceId), restorableUntil: deletedAt };
}

/** A tenant's backup; `404 backup_not_found` (also for another tenant's). */
export async function requireBackup(db: Queryable, tenantId: string, backupId: string, forUpdate = false): Promise<BackupRow> {
  const row = await findTenantBackup(db, tenantId, backupId, forUpdate);
  if (row === undefined) throw new BackupError(404, 'backup_not_found', `no backup "${backupId}" in this tenant; list an instance's with GET /v1/instances/{instance}/backups`);
  return row;
}

/**
 * Deletes a completed (or failed) backup: marks it DELETING and enqueues the removal from the
 * repository in the same commit. Backups built on it go with it (they become EXPIRED). A deleted
 * instance's last full backup takes its whole history with it (every backup, the archived WAL,
 * its restore points); a live instance's last full backup cannot be deleted.
 *
 * @throws {BackupError} `404 backup_not_found`; `409 invalid_state` for a running, deleting or gone
 * one; `409 last_full_backup` for a live instance's only completed full backup.
 */
export async function deleteBackupOf(deps: BackupServiceDeps, tenantId: string, backupId: string, record?: RecordInTransaction): Promise<BackupRow> {
  return deps.db.transaction(async (tx) => {
    const row = await requireBackup(tx, tenantId, backupId, true);
    if (row.status === 'FAILED' || (row.status === 'COMPLETED' && row.label === null)) {
      // Nothing of it is in the repository.
      await endBackup(tx, backupId, row.status, 'DELETED', row.error);
      await record?.(tx);
      return requireBackup(tx, tenantId, backupId);
    }
    // pgBackRest keeps one full backup per stanza: the last one goes only with the whole history.
    const lastFull = row.type === 'full' && row.status === 'COMPLETED' && (await otherCompletedFullBackups(tx, row.instanceId, backupId)) === 0;
    if (lastFull && (await getInstance(tx, row.instanceId))?.status !== 'DELETED') {
      throw new BackupError(
        409,
        'last_full_backup',
        `backup ${backupId} is the last full backup of instance ${row.instanceId}: its other backups and its restore window build on it. Take another full backup first (POST /v1/instances/${row.instanceId}/backups with {"type":"full"}), then delete this one`,
      );
    }
    if (!(await beginBackupDelete(tx, backupId)) || row.label === null) {
      throw new BackupError(409, 'invalid_state', `backup ${backupId} is ${row.status}; only a COMPLETED or FAILED backup can be deleted`);
    }
    const input: DeleteBackupInput = { backupId, instanceId: row.instanceId, nodeId: row.nodeId, label: row.label, ...(lastFull ? { everything: true } : {}) };
    await deps.client.enqueue({ workflow: BACKUP_WORKFLOWS.delete, queue: BACKUPS_QUEUE, workflowId: `${backupId}.delete`, attributes: { instanceId: row.instanceId, kind: 'backup-delete' }, transaction: tx }, input);
    await record?.(tx);
    return requireBackup(tx, tenantId, backupId);
  });
}

/** An instance's backup policy as the API shows it. */
export interface BackupPolicy {
  readonly schedule: { readonly cron: string; readonly timezone: string; readonly type: BackupType } | null;
  readonly retention: BackupRetentionInput;
  /** A periodic restore test: the latest state restored into a scratch instance that must answer a query. */
  readonly verify: { readonly cron: string; readonly timezone: string } | null;
}

/** The policy of a tenant's instance (the default when none was set: no schedule, {@link DEFAULT_RETENTION}). */
export async function backupPolicyOf(deps: Pick<BackupServiceDeps, 'db'>, tenantId: string, ref: string): Promise<BackupPolicy> {
  const instance = await liveOnly(deps.db, tenantId, ref, 'a backup policy', () => requireInstance(deps.db, tenantId, ref));
  return toPolicy(await getPolicy(deps.db, instance.instanceId));
}

function toPolicy(row: BackupPolicyRow | undefined): BackupPolicy {
  return {
    schedule: row?.cron ? { cron: row.cron, timezone: row.timezone, type: row.type } : null,
    retention: retentionOf(row),
    verify: row?.verifyCron ? { cron: row.verifyCron, timezone: row.verifyTimezone } : null,
  };
}

/**
 * Sets an instance's backup policy: a cron schedule of backups (a Strata schedule, checked before
 * anything is written) or none, a retention (applied by pgBackRest at the next backup), and a
 * periodic restore test or none. A field left out keeps its value.
 *
 * @throws {BackupError} `400 invalid_schedule` for a cron expression or time zone that cannot be used.
 *
 * @example
 * await setBackupPolicy(deps, 'ten_1', 'orders-db', { schedule: { cron: '0 3 * * *', type: 'full' }, retention: { fullBackups: 4 }, verify: { cron: '0 5 * * 0' } });
 */
export async function setBackupPolicy(
  deps: BackupServiceDeps,
  tenantId: string,
  ref: string,
  policy: {
    readonly schedule?: { readonly cron: string; readonly timezone?: string; readonly type?: BackupType } | null;
    readonly retention?: BackupRetentionInput;
    readonly verify?: { readonly cron: string; readonly timezone?: string } | null;
  },
  record?: RecordInTransaction,
): Promise<BackupPolicy> {
  const instance = await liveOnly(deps.db, tenantId, ref, 'a backup policy', () => requireInstance(deps.db, tenantId, ref));
  if (instance.replicaOf !== null) throw replicaRefused(instance);
  const current = toPolicy(await getPolicy(deps.db, instance.instanceId));
  const schedule = policy.schedule === undefined ? current.schedule : policy.schedule;
  const retention = policy.retention ?? current.retention;
  const verify = policy.verify === undefined ? current.verify : policy.verify;
  // Both schedules are checked (and written) before the policy row: an invalid one changes nothing.
  if (policy.schedule !== undefined) await applySchedule(deps, backupPolicySchedule(instance.instanceId), BACKUP_WORKFLOWS.scheduled, schedule);
  if (policy.verify !== undefined) await applySchedule(deps, backupPolicySchedule(instance.instanceId, 'verify'), BACKUP_WORKFLOWS.scheduledVerify, verify);
  await deps.db.transaction(async (tx) => {
    await upsertPolicy(tx, {
      instanceId: instance.instanceId,
      tenantId,
      cron: schedule?.cron ?? null,
      timezone: schedule?.timezone ?? 'UTC',
      type: schedule?.type ?? 'full',
      retentionFullBackups: 'fullBackups' in retention ? retention.fullBackups : null,
      retentionDays: 'days' in retention ? retention.days : null,
      verifyCron: verify?.cron ?? null,
      verifyTimezone: verify?.timezone ?? 'UTC',
    });
    await addEvent(tx, instance.instanceId, 'backup_policy_set', `${schedule ? `backups at "${schedule.cron}" (${schedule.timezone ?? 'UTC'}), ${schedule.type ?? 'full'}` : 'no backup schedule'}; ${verify ? `restore tests at "${verify.cron}"` : 'no restore tests'}`);
    await record?.(tx);
  });
  return backupPolicyOf(deps, tenantId, instance.instanceId);
}

/** Creates, changes or (config null) deletes one Strata schedule on {@link BACKUPS_QUEUE}. */
async function applySchedule(deps: BackupServiceDeps, name: string, workflow: string, config: { readonly cron: string; readonly timezone?: string } | null): Promise<void> {
  try {
    if (config === null) {
      await deps.strata.schedules.delete(name).catch((error: unknown) => {
        if (!(error instanceof UnknownScheduleError)) throw error;
      });
      return;
    }
    const schedule = { workflow, cron: config.cron, timezone: config.timezone ?? 'UTC', queue: BACKUPS_QUEUE };
    if (await deps.strata.schedules.get(name)) await deps.strata.schedules.update(name, schedule);
    else await deps.strata.schedules.create(name, schedule);
  } catch (error) {
    if (error instanceof InvalidScheduleError || error instanceof InvalidArgumentError) throw new BackupError(400, 'invalid_schedule', error.message);
    throw error;
  }
}

/**
 * Makes a named restore point on a running instance: recorded PENDING now, CREATED once the
 * instance marked it and its WAL is in the repository (a workflow enqueued in the same commit).
 *
 * @throws {BackupError} `409 restore_point_taken`; `409 invalid_state` (not running); `409 backups_unavailable`.
 */
export async function createRestorePoint(deps: BackupServiceDeps, tenantId: string, ref: string, name: string, record?: RecordInTransaction): Promise<RestorePointRow> {
  try {
    assertRestorePointName(name);
  } catch (error) {
    if (error instanceof PgBackupError) throw new BackupError(400, 'invalid_request', error.message);
    throw error;
  }
  return liveOnly(deps.db, tenantId, ref, 'a restore point', () => deps.db.transaction(async (tx) => {
    const instance = await requireInstance(tx, tenantId, ref);
    await requireBackupsOn(tx, instance);
    if (!RUNNING_STATUSES.has(instance.status)) throw new BackupError(409, 'invalid_state', `instance "${instance.name}" is ${instance.status}; mark a restore point while it runs`);
    const workflowId = `${instance.instanceId}.restore-point.${name}`;
    const point = await insertRestorePoint(tx, { instanceId: instance.instanceId, tenantId, name, workflowId });
    if (point === undefined) throw new BackupError(409, 'restore_point_taken', `instance "${instance.name}" already has a restore point "${name}"; choose another name`);
    await deps.client.enqueue({ workflow: BACKUP_WORKFLOWS.restorePoint, queue: BACKUPS_QUEUE, workflowId, attributes: { instanceId: instance.instanceId, kind: 'restore-point' }, transaction: tx }, { instanceId: instance.instanceId, nodeId: instance.nodeId, name });
    await record?.(tx);
    return point;
  }));
}

/** A tenant's instance's restore points, newest first (a deleted instance's too, by ID). */
export async function restorePointsOf(deps: Pick<BackupServiceDeps, 'db'>, tenantId: string, ref: string): Promise<RestorePointRow[]> {
  const { instance } = await requireBackupSource(deps.db, tenantId, ref);
  return listRestorePoints(deps.db, instance.instanceId, MAX_LISTED_BACKUPS);
}

/**
 * Starts a verification of an instance's backups (pgBackRest's checksums; with `restoreTest`,
 * also a restore of its latest state into a scratch instance that must answer a query). The
 * outcome is an event of the instance; returns the workflow ID.
 */
export async function verifyBackups(deps: BackupServiceDeps, tenantId: string, ref: string, restoreTest: boolean, record?: RecordInTransaction): Promise<string> {
  return liveOnly(deps.db, tenantId, ref, 'a verification', () => deps.db.transaction(async (tx) => {
    const instance = await requireInstance(tx, tenantId, ref);
    await requireBackupsOn(tx, instance);
    if ((await restorableSince(tx, instance.instanceId)) === null) throw noBackup(instance);
    const workflowId = newOperationId(instance.instanceId, 'verify');
    await deps.client.enqueue({ workflow: BACKUP_WORKFLOWS.verify, queue: BACKUPS_QUEUE, workflowId, attributes: { instanceId: instance.instanceId, kind: 'verify' }, transaction: tx }, { instanceId: instance.instanceId, nodeId: instance.nodeId, restoreTest });
    await record?.(tx);
    return workflowId;
  }));
}

/** A restore or fork request, as the API validated its shape. */
export interface RestoreRequest {
  readonly name: string;
  /** A backup ID of the source (its consistent end). */
  readonly backup?: string;
  /** ISO 8601: every transaction committed at or before it. */
  readonly time?: string;
  /** A restore point of the source. */
  readonly restorePoint?: string;
  /** Default: the source's flavor. */
  readonly flavor?: string;
}

/** How far in the future a target time may be (clocks of client and server differ a little): none beyond this. */
const FUTURE_TOLERANCE_MS = 1_000;

/**
 * Makes a new instance from another's backups: a restore (to a backup, a time, a restore point,
 * or the latest archived state) or a fork (of the present, or a time). In one transaction: checks
 * the target against what the backups can bring back, the quota and the name, inserts the new
 * instance in BUILD on the source's node, copies its recorded users, and enqueues the operation.
 * The source of a restore may be a deleted instance (by ID): its window ends when it was deleted,
 * and it is not sealed first (it runs no more); a fork needs a live one.
 *
 * @throws {BackupError} `400 invalid_request` (two targets), `400 invalid_time` (after now),
 * `400 before_first_backup`, `400 after_deletion`, `409 no_backup`, `409 instance_deleted` (a fork
 * of a deleted instance), `404 backup_not_found`, `404 restore_point_not_found`;
 * InstanceError `404 not_found`, `409 name_taken`, `400 invalid_name`, `400 unknown_flavor`.
 *
 * @example
 * const copy = await restoreInstance(deps, 'ten_1', 'orders-db', { name: 'orders-before-bug', time: '2026-12-06T10:15:00Z' }, 'restore');
 */
export async function restoreInstance(deps: BackupServiceDeps & { readonly checkQuota: QuotaCheck }, tenantId: string, ref: string, request: RestoreRequest, kind: 'restore' | 'fork', record?: RecordInTransaction): Promise<InstanceRow> {
  const problem = instanceNameProblem(request.name);
  if (problem) throw new BackupError(400, 'invalid_request', problem);
  const given = (['backup', 'time', 'restorePoint'] as const).filter((key) => request[key] !== undefined);
  if (given.length > 1) throw new BackupError(400, 'invalid_request', `give at most one of backup, time and restorePoint (got ${given.join(' and ')})`);
  if (kind === 'fork' && given.some((key) => key !== 'time')) throw new BackupError(400, 'invalid_request', 'a fork takes the present or a time; restore to a backup or restore point with POST /v1/instances/{instance}/restore');
  const time = request.time === undefined ? undefined : parseTime(request.time);
  const flavorName = request.flavor;
  try {
    return await deps.db.transaction(async (tx) => {
      const { instance: source, deletedAt } = await requireBackupSource(tx, tenantId, ref);
      if (kind === 'fork' && deletedAt !== null) throw deletedRefused(source.instanceId, deletedAt, 'a fork');
      await requireBackupsOn(tx, source);
      // A deleted source runs no more: there is nothing to seal or mark, its archive ends where it stopped.
      const running = deletedAt === null && RUNNING_STATUSES.has(source.status);
      const target = await resolveTarget(tx, tenantId, source, request, time, kind === 'fork' && running ? { kind: 'now' } : { kind: 'latest' }, deletedAt);
      const flavor = findFlavor(flavorName ?? source.flavor);
      if (!flavor) throw new BackupError(400, 'invalid_request', `unknown flavor ${JSON.stringify(flavorName)}; use one of ${FLAVORS.map((f) => f.name).join(', ')}`);
      await deps.checkQuota(tx, tenantId, { instances: 1, storageMb: flavor.storageMb, connections: flavor.maxConnections });
      if (await nameTaken(tx, tenantId, request.name)) throw nameTakenError(request.name);
      const instanceId = newInstanceId();
      const operationId = newOperationId(instanceId, kind);
      const row = await insertInstance(tx, {
        instanceId,
        tenantId,
        name: request.name,
        flavor: flavor.name,
        memoryMb: flavor.memoryMb,
        maxConnections: flavor.maxConnections,
        storageMb: flavor.storageMb,
        nodeId: source.nodeId,
        parameters: source.parameters,
        databases: source.databases,
        defaultUser: source.defaultUser,
        operationId,
        operationKind: kind,
        ...(kind === 'fork' ? { forkedFrom: source.instanceId } : {}),
      });
      await copyInstanceUsers(tx, source.instanceId, instanceId);
      const what = target.kind === 'now' ? 'its present' : target.kind === 'latest' ? 'its latest archived state' : target.kind === 'time' ? target.time : target.kind === 'backup' ? `backup ${request.backup}` : `restore point ${target.name}`;
      await addEvent(tx, instanceId, `${kind}_started`, `${kind} of "${source.name}" (${source.instanceId}${deletedAt === null ? '' : `, deleted at ${deletedAt.toISOString()}`}) as of ${what}`, operationId);
      const input: RestoreOperationInput = {
        instanceId,
        nodeId: source.nodeId,
        sourceInstanceId: source.instanceId,
        target,
        // A time target close to now may lie in WAL the source has not archived yet (only a running source can be sealed).
        sealSource: running && (target.kind === 'time' || target.kind === 'latest'),
        settings: { ...flavorSettings(flavor), ...source.parameters },
        limits: flavorLimits(flavor),
      };
      await deps.client.enqueue({ workflow: kind === 'fork' ? BACKUP_WORKFLOWS.fork : BACKUP_WORKFLOWS.restore, queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId, kind }, transaction: tx }, input);
      await record?.(tx);
      return row;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTakenError(request.name);
    throw error;
  }
}

/**
 * What a restore of `source` brings back, checked against what its backups hold: a backup of its
 * own that COMPLETED, a CREATED restore point, a time inside the restore window (which ends at
 * `until`, the deletion of a deleted source), or `otherwise`.
 */
async function resolveTarget(
  tx: Queryable,
  tenantId: string,
  source: InstanceRow,
  request: Pick<RestoreRequest, 'backup' | 'restorePoint' | 'time'>,
  time: Date | undefined,
  otherwise: RestoreOperationInput['target'],
  until: Date | null = null,
): Promise<RestoreOperationInput['target']> {
  const since = await restorableSince(tx, source.instanceId);
  if (since === null) throw until === null ? noBackup(source) : new BackupError(409, 'no_backup', `instance ${source.instanceId} ("${source.name}") was deleted and has no completed backup left: there is nothing to restore`);
  if (request.backup !== undefined) {
    const backup = await findTenantBackup(tx, tenantId, request.backup);
    if (backup === undefined || backup.instanceId !== source.instanceId) throw new BackupError(404, 'backup_not_found', `instance "${source.name}" has no backup "${request.backup}"; list them with GET /v1/instances/${source.instanceId}/backups`);
    if (backup.status !== 'COMPLETED' || backup.label === null) throw new BackupError(409, 'invalid_state', `backup ${backup.backupId} is ${backup.status}; restore from a COMPLETED one`);
    return { kind: 'backup', label: backup.label };
  }
  if (request.restorePoint !== undefined) {
    const point = await getRestorePoint(tx, source.instanceId, request.restorePoint);
    if (point?.status !== 'CREATED') throw new BackupError(404, 'restore_point_not_found', `instance "${source.name}" has no restore point "${request.restorePoint}"${point ? ` (it is ${point.status})` : ''}; list them with GET /v1/instances/${source.instanceId}/restore-points`);
    return { kind: 'name', name: point.name, ...(point.lsn === null ? {} : { lsn: point.lsn }) };
  }
  if (time !== undefined) {
    if (time.getTime() < since.getTime()) {
      throw new BackupError(400, 'before_first_backup', `${time.toISOString()} is before the earliest moment instance "${source.name}" can be restored to (${since.toISOString()}, the end of its oldest backup); pick a later time`);
    }
    if (until !== null && time.getTime() > until.getTime()) {
      throw new BackupError(
        400,
        'after_deletion',
        `${time.toISOString()} is after instance ${source.instanceId} ("${source.name}") was deleted; its restore window ends at ${until.toISOString()}: pick a time between ${since.toISOString()} and then, or leave out the time to restore its latest state`,
      );
    }
    // The text as given, not the Date's: a Date keeps milliseconds, and a commit within the same
    // millisecond but before the requested microsecond would be left out of the restore.
    return { kind: 'time', time: request.time ?? time.toISOString() };
  }
  return otherwise;
}

/** Statuses an instance can be restored in place from (ERROR too: a restore is how to rescue it). */
const RESTORE_IN_PLACE_FROM: ReadonlySet<string> = new Set(['ACTIVE', 'STOPPED', 'RESTART_REQUIRED', 'ERROR']);

/**
 * Restores an instance in place, to a backup, a time or a restore point: its status becomes
 * RESTORING (an operation of kind `restore`, one at a time) and, once its data is the target's and
 * it runs again, ACTIVE; then it takes a full backup, the base of its new timeline. Its address and
 * users stay (the users as they were at the target).
 *
 * @throws {BackupError} `400 invalid_request` (no target, or two), `400 invalid_time`, `400
 * before_first_backup`, `409 no_backup`, `404 backup_not_found` / `restore_point_not_found`,
 * `409 invalid_state`, `409 instance_deleted` (restore a deleted one into a new instance);
 * InstanceError `409 instance_busy`.
 *
 * @example
 * await restoreInPlace(deps, 'ten_1', 'orders-db', { time: '2026-12-06T10:15:00Z' });
 */
export async function restoreInPlace(deps: BackupServiceDeps, tenantId: string, ref: string, request: Omit<RestoreRequest, 'name' | 'flavor'>, record?: RecordInTransaction): Promise<InstanceRow> {
  const given = (['backup', 'time', 'restorePoint'] as const).filter((key) => request[key] !== undefined);
  if (given.length !== 1) throw new BackupError(400, 'invalid_request', `give exactly one of backup, time and restorePoint${given.length > 1 ? ` (got ${given.join(' and ')})` : ''}: what to bring the instance back to`);
  const time = request.time === undefined ? undefined : parseTime(request.time);
  return liveOnly(deps.db, tenantId, ref, 'a restore in place', () => deps.db.transaction(async (tx) => {
    const instance = await requireIdle(tx, tenantId, ref);
    await requireBackupsOn(tx, instance);
    if (!RESTORE_IN_PLACE_FROM.has(instance.status)) {
      throw new BackupError(409, 'invalid_state', `cannot restore instance "${instance.name}" while it is ${instance.status}; it can be restored from ${[...RESTORE_IN_PLACE_FROM].join(', ')}`);
    }
    const target = await resolveTarget(tx, tenantId, instance, request, time, { kind: 'latest' });
    if (target.kind === 'now') throw new Error('invariant: an in-place restore has a target');
    const operationId = newOperationId(instance.instanceId, 'restore');
    const updated = await beginOperation(tx, instance.instanceId, operationId, 'restore', 'RESTORING');
    await addEvent(tx, instance.instanceId, 'restore_started', `restore in place to ${given[0] === 'time' ? request.time : given[0] === 'backup' ? `backup ${request.backup}` : `restore point ${request.restorePoint}`}`, operationId);
    const input: RestoreInPlaceOperationInput = { instanceId: instance.instanceId, nodeId: instance.nodeId, target, sealFirst: RUNNING_STATUSES.has(instance.status) && target.kind === 'time', priorStatus: instance.status };
    await deps.client.enqueue({ workflow: BACKUP_WORKFLOWS.restoreInPlace, queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId: instance.instanceId, kind: 'restore' }, transaction: tx }, input);
    await record?.(tx);
    return updated;
  }));
}

function parseTime(text: string): Date {
  const time = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(time.getTime())) {
    throw new BackupError(400, 'invalid_time', `time must be an ISO 8601 timestamp with a zone, e.g. 2026-12-06T10:15:00Z; got ${JSON.stringify(text)}`);
  }
  if (time.getTime() > Date.now() + FUTURE_TOLERANCE_MS) throw new BackupError(400, 'invalid_time', `${text} is in the future; restore to a moment that has happened`);
  return time;
}

async function requireBackupsOn(db: Queryable, instance: InstanceRow): Promise<void> {
  if ((await nodeBackupRepository(db, instance.nodeId)) === null) {
    throw new BackupError(409, 'backups_unavailable', `node ${instance.nodeId} of instance "${instance.name}" has no backup repository; start its agent with one (backupRepository)`);
  }
}

function replicaRefused(instance: InstanceRow): BackupError {
  return new BackupError(409, 'is_replica', `instance "${instance.name}" is a replica of ${instance.replicaOf}: its data is its primary's, backed up there; back up the primary (or detach this replica first)`);
}

function noBackup(instance: InstanceRow): BackupError {
  return new BackupError(409, 'no_backup', `instance "${instance.name}" has no completed backup yet (the first one runs right after it is created); wait for it or take one with POST /v1/instances/${instance.instanceId}/backups`);
}
