// The agent's backup jobs (backup, seal, restore, expire, verify) as Strata workflows whose steps act on the node's BackupRepository.
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ManagedCluster, freePort, restorableFrom, type BackupRepository, type BackupSet, type RestoreTarget } from '@strata/postgres';
import type { Strata, WorkflowContext } from '@strata/transact';
import {
  AGENT_JOBS,
  type BackupInput,
  type BackupOutput,
  type BackupSetOutput,
  type ExpireBackupsInput,
  type ProvisionOutput,
  type RestoreInPlaceInput,
  type RestoreInput,
  type RestoreTargetInput,
  type RunningOutput,
  type SealInput,
  type SealOutput,
  type VerifyBackupsInput,
  type VerifyBackupsOutput,
} from '../contract.js';
import { AgentError } from '../errors.js';
import { CLUSTER_STEP_RETRY, allocateInstance, openCluster, openRunning, requireInstance, withAwake, type JobHost } from '../jobs/jobs.js';
import { setDesired } from '../sql/node-instances.js';

/**
 * Registers the backup jobs on `strata` (before `launch()`). Each is idempotent: a backup carries
 * its ID into the repository and a retry returns the set already made; a restore adopts the
 * instance an earlier attempt completed.
 *
 * @example
 * registerBackupJobs(strata, { db, nodeId, files, backups: await BackupRepository.open('/var/lib/strata/backups') });
 */
export function registerBackupJobs(strata: Strata, host: JobHost): void {
  strata.workflow(AGENT_JOBS.backup, (ctx, input: BackupInput) => backup(ctx, host, input));
  strata.workflow(AGENT_JOBS.seal, (ctx, input: SealInput) => seal(ctx, host, input));
  strata.workflow(AGENT_JOBS.restore, (ctx, input: RestoreInput) => restore(ctx, host, input));
  strata.workflow(AGENT_JOBS.restoreInPlace, (ctx, input: RestoreInPlaceInput) => restoreInPlace(ctx, host, input));
  strata.workflow(AGENT_JOBS.expireBackups, (ctx, input: ExpireBackupsInput) => expire(ctx, host, input));
  strata.workflow(AGENT_JOBS.verifyBackups, (ctx, input: VerifyBackupsInput) => verify(ctx, host, input));
}

async function backup(ctx: WorkflowContext, host: JobHost, input: BackupInput): Promise<BackupOutput> {
  const repository = requireRepository(host);
  const awake = <T>(use: () => Promise<T>) => withAwake(host, [input.instanceId], AGENT_JOBS.backup, use);
  await ctx.step('enable archiving', () => awake(async () => {
    const cluster = await runningCluster(host, input.instanceId, 'back it up');
    const { restartRequired } = await repository.enableArchiving(cluster, input.instanceId, input.retention);
    // An instance made before archiving existed: archive_mode takes a restart (once).
    if (restartRequired) await cluster.restart();
  }), { retry: CLUSTER_STEP_RETRY });
  return ctx.step('backup', () => awake(async () => {
    const cluster = await runningCluster(host, input.instanceId, 'back it up');
    const set = await repository.backup(cluster, input.instanceId, { type: input.type, backupId: input.backupId, ...(input.retention ? { retention: input.retention } : {}) });
    return { backup: toOutput(set), remainingLabels: await labels(repository, input.instanceId) };
  }));
}

async function seal(ctx: WorkflowContext, host: JobHost, input: SealInput): Promise<SealOutput> {
  const repository = requireRepository(host);
  return ctx.step('seal', () => withAwake(host, [input.instanceId], AGENT_JOBS.seal, async () => {
    const cluster = await runningCluster(host, input.instanceId, 'mark a restorable moment');
    const sealedAt = new Date().toISOString();
    if (input.restorePoint === undefined) {
      await repository.seal(cluster, input.instanceId);
      return { sealedAt };
    }
    return { sealedAt, lsn: await repository.createRestorePoint(cluster, input.instanceId, input.restorePoint) };
  }), { retry: CLUSTER_STEP_RETRY });
}

async function restore(ctx: WorkflowContext, host: JobHost, input: RestoreInput): Promise<ProvisionOutput> {
  const repository = requireRepository(host);
  // The row first, as a provision does: a directory without a row is an orphan reconcile removes.
  const placed = await ctx.step('allocate', () => allocateInstance(host, input, false));
  await ctx.step('restore files', async () => {
    const cluster = await ManagedCluster.create(await host.files.template(), host.files.spec(input.instanceId, placed.port, input.settings), {
      prepared: (partial) => restoreStaged(repository, input.sourceInstanceId, restoreTarget(input.target), partial),
    });
    await cluster.setLimits(input.limits);
  });
  await ctx.step('start', () => withAwake(host, [input.instanceId], AGENT_JOBS.restore, async () => {
    const cluster = await openCluster(host, placed);
    await cluster.start();
    await repository.waitForPromotion(cluster);
  }), { retry: CLUSTER_STEP_RETRY });
  // Its own stanza comes with its first backup, which the control plane asks for once it is ACTIVE
  // (the copy's archive_command was removed with the restore; nothing before that backup is restorable anyway).
  return { host: '127.0.0.1', port: placed.port };
}

async function restoreInPlace(ctx: WorkflowContext, host: JobHost, input: RestoreInPlaceInput): Promise<RunningOutput> {
  const repository = requireRepository(host);
  const instance = await ctx.step('record desired', async () => {
    const row = await requireInstance(host, input.instanceId);
    await setDesired(host.db, host.nodeId, input.instanceId, 'running');
    return row;
  });
  // Stops the server, restores beside its data and swaps (a repeat after a crash finishes a swap
  // cut short). A suspended instance is woken first, so the start below ends its suspension.
  const awake = <T>(use: () => Promise<T>) => withAwake(host, [input.instanceId], AGENT_JOBS.restoreInPlace, use);
  await ctx.step('restore files', () => awake(async () => {
    const cluster = await openCluster(host, instance);
    // It keeps archiving into its own stanza: its new timeline continues the history its backups cover.
    await cluster.replaceData(async (dir) => {
      await restoreStaged(repository, input.instanceId, restoreTarget(input.target), dir, { keepArchiving: true });
    });
  }));
  return ctx.step('start', () => awake(async () => {
    const cluster = await openCluster(host, instance);
    await cluster.start();
    await repository.waitForPromotion(cluster);
    return { running: true };
  }), { retry: CLUSTER_STEP_RETRY });
}

async function expire(ctx: WorkflowContext, host: JobHost, input: ExpireBackupsInput): Promise<BackupOutput> {
  const repository = requireRepository(host);
  return ctx.step('expire', async () => {
    if (input.everything === true) {
      await repository.deleteStanza(input.instanceId);
      return { remainingLabels: [] };
    }
    // A deleted instance's stanza keeps its config file: its backups can still be removed.
    await repository.expire(input.instanceId, input.label);
    return { remainingLabels: await labels(repository, input.instanceId) };
  });
}

/** Scratch restores of a restore test live here, removed after (and at the next test after a crash). */
const RESTORE_TEST_DIR = 'restore-tests';

async function verify(ctx: WorkflowContext, host: JobHost, input: VerifyBackupsInput): Promise<VerifyBackupsOutput> {
  const repository = requireRepository(host);
  const report = await ctx.step('verify', () => repository.verify(input.instanceId));
  if (!input.restoreTest) return { report };
  const restoredDatabases = await ctx.step('restore test', async () => {
    // Short: the socket path must fit a unix socket's 107 bytes.
    const dir = join(host.files.rootDir, RESTORE_TEST_DIR, createHash('sha256').update(ctx.workflowId).digest('hex').slice(0, 12));
    const spec = { dataDir: join(dir, 'data'), socketDir: join(dir, 'socket'), port: await freePort(), settings: {} };
    await ManagedCluster.destroyAt(spec).catch(() => {});
    try {
      const copy = await ManagedCluster.create(await host.files.template(), spec, {
        prepared: (partial) => restoreStaged(repository, input.instanceId, { kind: 'latest' }, partial),
      });
      await copy.start();
      await repository.waitForPromotion(copy);
      return (await copy.query<{ datname: string }>('select datname from pg_database where not datistemplate order by datname')).map((row) => row.datname);
    } finally {
      await ManagedCluster.destroyAt(spec).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
  return { report, restoredDatabases };
}

/**
 * Restores into a directory of this attempt's own beside `partial`, then renames it there. An
 * agent killed mid-restore leaves its pgbackrest running (children outlive it): that one keeps
 * writing into its own directory, never into the one a retry restores into. Leftovers of earlier
 * attempts are removed (best effort: one still being written goes with the instance's directory).
 */
async function restoreStaged(repository: BackupRepository, stanza: string, target: RestoreTarget, partial: string, options: { readonly keepArchiving?: boolean } = {}): Promise<true> {
  const prefix = `${basename(partial)}-`;
  for (const entry of await readdir(dirname(partial))) {
    if (entry.startsWith(prefix)) await rm(join(dirname(partial), entry), { recursive: true, force: true }).catch(() => {});
  }
  const staging = `${partial}-${randomBytes(4).toString('hex')}`;
  await repository.restoreInto(stanza, target, staging, options);
  await rename(staging, partial);
  return true;
}

function requireRepository(host: JobHost): BackupRepository {
  if (host.backups === undefined) {
    throw new AgentError('STRATA_AGENT_NO_BACKUPS', `node ${host.nodeId} has no backup repository; start its agent with backupRepository set`);
  }
  return host.backups;
}

async function runningCluster(host: JobHost, instanceId: string, purpose: string): Promise<ManagedCluster> {
  return openRunning(host, await requireInstance(host, instanceId), purpose);
}

async function labels(repository: BackupRepository, stanza: string): Promise<string[]> {
  return ((await repository.info(stanza))?.backups ?? []).map((set) => set.label);
}

function toOutput(set: BackupSet): BackupSetOutput {
  return {
    label: set.label,
    type: set.type,
    prior: set.prior,
    startedAt: set.startedAt.toISOString(),
    stoppedAt: set.stoppedAt.toISOString(),
    restorableFrom: restorableFrom(set).toISOString(),
    sizeBytes: set.sizeBytes,
    repositorySizeBytes: set.repositorySizeBytes,
    deltaBytes: set.deltaBytes,
    repositoryDeltaBytes: set.repositoryDeltaBytes,
    walStart: set.walStart,
    walStop: set.walStop,
  };
}

function restoreTarget(target: RestoreTargetInput): RestoreTarget {
  if (target.kind === 'time') {
    // A Date keeps milliseconds; the ISO text may carry microseconds, and commits are stamped with them.
    const fraction = /\.(\d{4,6})(?:Z|[+-])/.exec(target.time)?.[1];
    return { kind: 'time', time: new Date(target.time), ...(fraction ? { microseconds: Number(fraction.slice(3).padEnd(3, '0')) } : {}) };
  }
  return target;
}
