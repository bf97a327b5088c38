// The backup workflows of the control plane: run a backup, the scheduled tick, delete a backup,
// make a restore point, verify, and the restore/fork operations that make a new instance.
import {
  AGENT_JOBS,
  type BackupInput,
  type BackupOutput,
  type BackupRetentionInput,
  type CloneInput,
  type DestroyOutput,
  type ExpireBackupsInput,
  type InstanceLimits,
  type ProvisionOutput,
  type RestoreInPlaceInput,
  type RestoreInput,
  type RestoreTargetInput,
  type RunningOutput,
  type SealInput,
  type SealOutput,
  type VerifyBackupsInput,
  type VerifyBackupsOutput,
} from '@strata/agent';
import type { Database } from '@strata/store';
import type { Strata, StrataClient, WorkflowContext } from '@strata/transact';
import { callAgent, type AgentOutcome } from '../instances/agent-call.js';
import { describe, finish, instanceBorn, onInstanceBorn } from '../instances/operations.js';
import { addEvent, getInstance, type InstanceStatus } from '../instances/sql.js';
import { backupPolicySchedule, instanceOfScheduleTick, requestBackup } from './service.js';
import { resetOperation, type ResetOperationInput } from './reset.js';
import { BACKUP_WORKFLOWS, BACKUPS_QUEUE, BACKUPS_WORKER_CONCURRENCY, type RunBackupInput } from './contract.js';
import { completeBackup, endBackup, endRestorePoint, expireMissing, getPolicy, restorableSince, retireHistory } from './sql.js';

/** Input of {@link BACKUP_WORKFLOWS.delete}. */
export interface DeleteBackupInput {
  readonly backupId: string;
  readonly instanceId: string;
  readonly nodeId: string;
  readonly label: string;
  /** A deleted instance's last full backup: its whole history goes (every backup, the WAL, its restore points). */
  readonly everything?: boolean;
}

/** Input of {@link BACKUP_WORKFLOWS.restorePoint}. */
export interface RestorePointInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly name: string;
}

/** Input of {@link BACKUP_WORKFLOWS.verify}. */
export interface VerifyInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly restoreTest: boolean;
}

/**
 * Input of a restore or fork: the new instance, its source, and what to bring back. `now` (a fork
 * of the present) is a consistent copy of the running source's files (`agent.clone`), not a
 * restore; `sealSource` first makes the source archive everything committed so far (a time target near now).
 */
export interface RestoreOperationInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly sourceInstanceId: string;
  readonly target: RestoreTargetInput | { readonly kind: 'now' };
  readonly sealSource: boolean;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
}

/** Input of an in-place restore: the instance, what to bring back, and the status to report if it fails before its data was touched. */
export interface RestoreInPlaceOperationInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly target: RestoreTargetInput;
  /** A time target near now needs the instance's latest WAL in the repository first. */
  readonly sealFirst: boolean;
  readonly priorStatus: InstanceStatus;
}

/** What the backup workflows need. */
export interface BackupDeps {
  readonly db: Database;
  readonly client: StrataClient;
  readonly strata: Strata;
}

const registered = new WeakSet<Strata>();

/**
 * Registers the backup workflows and queue on the control plane's engine (before `launch()`), and
 * makes every new instance (create, restore, fork) take its first backup once ACTIVE on a node
 * with a backup repository. A second call for the same engine does nothing.
 *
 * @example
 * registerBackupOperations(strata, { db, client, strata });
 */
export function registerBackupOperations(strata: Strata, deps: BackupDeps): void {
  if (registered.has(strata)) return;
  registered.add(strata);
  strata.queue(BACKUPS_QUEUE, { workerConcurrency: BACKUPS_WORKER_CONCURRENCY });
  strata.workflow(BACKUP_WORKFLOWS.run, (ctx, input: RunBackupInput) => runBackup(ctx, deps, input));
  strata.workflow(BACKUP_WORKFLOWS.scheduled, (ctx, tickAt: Date) => scheduledBackup(ctx, deps, tickAt));
  strata.workflow(BACKUP_WORKFLOWS.scheduledVerify, (ctx) => scheduledVerify(ctx, deps));
  strata.workflow(BACKUP_WORKFLOWS.delete, (ctx, input: DeleteBackupInput) => deleteBackup(ctx, deps, input));
  strata.workflow(BACKUP_WORKFLOWS.restorePoint, (ctx, input: RestorePointInput) => restorePoint(ctx, deps, input));
  strata.workflow(BACKUP_WORKFLOWS.verify, (ctx, input: VerifyInput) => verify(ctx, deps, input));
  strata.workflow(BACKUP_WORKFLOWS.restore, (ctx, input: RestoreOperationInput) => restoreOperation(ctx, deps, input, 'restore'));
  strata.workflow(BACKUP_WORKFLOWS.fork, (ctx, input: RestoreOperationInput) => restoreOperation(ctx, deps, input, 'fork'));
  strata.workflow(BACKUP_WORKFLOWS.restoreInPlace, (ctx, input: RestoreInPlaceOperationInput) => restoreInPlaceOperation(ctx, deps, input));
  strata.workflow(BACKUP_WORKFLOWS.reset, (ctx, input: ResetOperationInput) => resetOperation(ctx, deps, input));
  onInstanceBorn(strata, async ({ instanceId }) => {
    await requestBackup(deps, { instanceId, trigger: 'initial', type: 'full' });
  });
}

async function runBackup(ctx: WorkflowContext, deps: BackupDeps, input: RunBackupInput): Promise<string> {
  const agentInput: BackupInput = { instanceId: input.instanceId, backupId: input.backupId, type: input.type, retention: input.retention };
  const outcome = await callAgent<BackupInput, BackupOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.backup, input: agentInput, label: `backup ${input.backupId}` });
  return ctx.step(`record ${input.backupId}`, () =>
    deps.db.transaction(async (tx) => {
      if (outcome.ok && outcome.output.backup !== undefined) {
        const set = outcome.output.backup;
        if (await completeBackup(tx, input.backupId, set)) {
          await expireMissing(tx, input.instanceId, outcome.output.remainingLabels);
          await addEvent(tx, input.instanceId, 'backup_completed', `${set.type} backup ${input.backupId} (${set.label}) completed: ${set.sizeBytes} bytes, ${set.repositoryDeltaBytes} stored`, ctx.workflowId);
        }
        return 'COMPLETED';
      }
      const reason = outcome.ok ? 'the agent reported no backup' : describe(outcome);
      if (await endBackup(tx, input.backupId, 'RUNNING', 'FAILED', reason)) await addEvent(tx, input.instanceId, 'backup_failed', `backup ${input.backupId} failed: ${reason}`, ctx.workflowId);
      return 'FAILED';
    }),
  );
}

/** A tick of an instance's backup schedule: a backup of the policy's type, unless the instance is gone (then the schedule goes too). */
async function scheduledBackup(ctx: WorkflowContext, deps: BackupDeps, tickAt: Date): Promise<string> {
  const instanceId = instanceOfScheduleTick(ctx.workflowId);
  const requested = await ctx.step('request', async () => {
    const instance = instanceId === undefined ? undefined : await getInstance(deps.db, instanceId);
    if (instanceId === undefined || instance === undefined || instance.status === 'DELETED') {
      if (instanceId !== undefined) await deps.strata.schedules.delete(backupPolicySchedule(instanceId)).catch(() => {});
      return null;
    }
    const policy = await getPolicy(deps.db, instanceId);
    try {
      // An ID of the tick's own: a step repeated after a crash finds the backup it recorded instead of a second one.
      const backupId = `bak_${instanceId}_${Math.floor(new Date(tickAt).getTime() / 1000)}`;
      return (await requestBackup(deps, { instanceId, trigger: 'scheduled', type: policy?.type ?? 'full', backupId, runBy: ctx.workflowId })) ?? null;
    } catch (error) {
      // A backup already running, an instance stopped: this tick is skipped (recorded), the next one tries again.
      await addEvent(deps.db, instanceId, 'backup_skipped', `scheduled backup at ${new Date(tickAt).toISOString()} skipped: ${(error as Error).message}`, ctx.workflowId);
      return null;
    }
  });
  if (requested === null) return 'SKIPPED';
  return runBackup(ctx, deps, requested);
}

/** A tick of an instance's restore-test schedule: verify with a test restore, unless the instance is gone (then the schedule goes too) or has no backup yet. */
async function scheduledVerify(ctx: WorkflowContext, deps: BackupDeps): Promise<string> {
  const instanceId = instanceOfScheduleTick(ctx.workflowId, 'verify');
  const target = await ctx.step('find', async () => {
    const instance = instanceId === undefined ? undefined : await getInstance(deps.db, instanceId);
    if (instanceId === undefined || instance === undefined || instance.status === 'DELETED') {
      if (instanceId !== undefined) await deps.strata.schedules.delete(backupPolicySchedule(instanceId, 'verify')).catch(() => {});
      return null;
    }
    if ((await restorableSince(deps.db, instanceId)) === null) {
      await addEvent(deps.db, instanceId, 'backups_verify_skipped', 'scheduled restore test skipped: no completed backup yet', ctx.workflowId);
      return null;
    }
    return { instanceId, nodeId: instance.nodeId };
  });
  if (target === null) return 'SKIPPED';
  const outcome = await verify(ctx, deps, { ...target, restoreTest: true });
  return outcome === null ? 'FAILED' : 'VERIFIED';
}

async function deleteBackup(ctx: WorkflowContext, deps: BackupDeps, input: DeleteBackupInput): Promise<string> {
  const everything = input.everything === true;
  const outcome = await callAgent<ExpireBackupsInput, BackupOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.expireBackups, input: { instanceId: input.instanceId, label: input.label, ...(everything ? { everything } : {}) } });
  return ctx.step('record', () =>
    deps.db.transaction(async (tx) => {
      if (outcome.ok) {
        await endBackup(tx, input.backupId, 'DELETING', 'DELETED', null);
        // With its last full backup the stanza went: nothing is left to restore its restore points from.
        if (everything) await retireHistory(tx, input.instanceId);
        else await expireMissing(tx, input.instanceId, outcome.output.remainingLabels);
        const what = everything ? `backup ${input.backupId} (${input.label}), its last full backup, deleted with the rest of its history` : `backup ${input.backupId} (${input.label}) deleted`;
        await addEvent(tx, input.instanceId, 'backup_deleted', what, ctx.workflowId);
        return 'DELETED';
      }
      await endBackup(tx, input.backupId, 'DELETING', 'COMPLETED', `delete failed: ${describe(outcome)}`);
      return 'FAILED';
    }),
  );
}

async function restorePoint(ctx: WorkflowContext, deps: BackupDeps, input: RestorePointInput): Promise<string> {
  const outcome = await callAgent<SealInput, SealOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.seal, input: { instanceId: input.instanceId, restorePoint: input.name } });
  await ctx.step('record', () => endRestorePoint(deps.db, input.instanceId, input.name, outcome.ok ? { madeAt: outcome.output.sealedAt, lsn: outcome.output.lsn ?? null } : { error: describe(outcome) }));
  return outcome.ok ? 'CREATED' : 'FAILED';
}

async function verify(ctx: WorkflowContext, deps: BackupDeps, input: VerifyInput): Promise<VerifyBackupsOutput | null> {
  const outcome = await callAgent<VerifyBackupsInput, VerifyBackupsOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.verifyBackups, input: { instanceId: input.instanceId, restoreTest: input.restoreTest } });
  await ctx.step('record', () =>
    outcome.ok
      ? addEvent(deps.db, input.instanceId, 'backups_verified', `backups verified${input.restoreTest ? `; a restore of the latest state started and listed databases ${(outcome.output.restoredDatabases ?? []).join(', ')}` : ''}`, ctx.workflowId)
      : addEvent(deps.db, input.instanceId, 'backups_verify_failed', `backup verification failed: ${describe(outcome)}`, ctx.workflowId),
  );
  return outcome.ok ? outcome.output : null;
}

async function restoreOperation(ctx: WorkflowContext, deps: BackupDeps, input: RestoreOperationInput, kind: 'restore' | 'fork'): Promise<InstanceStatus> {
  const operation = { db: deps.db, client: deps.client };
  let restored: AgentOutcome<ProvisionOutput>;
  if (input.target.kind === 'now') {
    // The source's present: a consistent copy of its files, made while it runs (copy-on-write where the node's filesystem can).
    const cloneInput: CloneInput = { instanceId: input.instanceId, sourceInstanceId: input.sourceInstanceId, settings: input.settings, limits: input.limits };
    restored = await callAgent<CloneInput, ProvisionOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.clone, input: cloneInput });
  } else {
    // A time near now needs the source's latest WAL in the repository; a stopped source archived all of its own as it stopped (the agent seals before a stop).
    if (input.sealSource) await callAgent<SealInput, SealOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.seal, input: { instanceId: input.sourceInstanceId }, label: 'seal source' });
    const restoreInput: RestoreInput = { instanceId: input.instanceId, sourceInstanceId: input.sourceInstanceId, target: input.target, settings: input.settings, limits: input.limits };
    restored = await callAgent<RestoreInput, ProvisionOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.restore, input: restoreInput });
  }
  if (!restored.ok) return failRestore(ctx, deps, input, kind, `${kind} failed: ${describe(restored)}`);
  const status = await finish(ctx, operation, input.instanceId, { status: 'ACTIVE', host: restored.output.host, port: restored.output.port, error: null }, kind === 'fork' ? 'forked' : 'restored', `instance is ACTIVE, ${kind === 'fork' ? 'forked' : 'restored'} from ${input.sourceInstanceId}`);
  await instanceBorn(ctx, deps.strata, input);
  return status;
}

async function restoreInPlaceOperation(ctx: WorkflowContext, deps: BackupDeps, input: RestoreInPlaceOperationInput): Promise<InstanceStatus> {
  const operation = { db: deps.db, client: deps.client };
  if (input.sealFirst) await callAgent<SealInput, SealOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.seal, input: { instanceId: input.instanceId }, label: 'seal' });
  const restored = await callAgent<RestoreInPlaceInput, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.restoreInPlace, input: { instanceId: input.instanceId, target: input.target } });
  if (!restored.ok) {
    const reason = `restore in place failed: ${describe(restored)}; restore it again, or into a new instance`;
    return finish(ctx, operation, input.instanceId, { status: 'ERROR', error: reason }, 'restore_failed', reason);
  }
  const status = await finish(ctx, operation, input.instanceId, { status: 'ACTIVE', error: null }, 'restored', 'instance is ACTIVE, restored in place');
  // The base of its new timeline: restores to moments after this one start from it.
  await ctx.step('backup after restore', () => requestBackup(deps, { instanceId: input.instanceId, trigger: 'restore', type: 'full', backupId: `bak_${input.instanceId}_${ctx.workflowId.split('.').at(-1)}` }).catch(() => undefined));
  return status;
}

/** Undo: nothing of a failed restore may stay on the node; the instance ends in ERROR with the reason. */
async function failRestore(ctx: WorkflowContext, deps: BackupDeps, input: RestoreOperationInput, kind: 'restore' | 'fork', reason: string): Promise<InstanceStatus> {
  const undone = await callAgent<unknown, DestroyOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.destroy, input: { instanceId: input.instanceId }, label: `undo ${kind}` });
  const message = `${reason}${undone.ok ? '' : `; removing its files also failed: ${describe(undone)}`}`;
  return finish(ctx, { db: deps.db, client: deps.client }, input.instanceId, { status: 'ERROR', error: message }, `${kind}_failed`, message);
}

