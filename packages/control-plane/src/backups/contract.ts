// The names the backup module's parts share: its queue, its workflows, and the input of a backup run.
import type { BackupRetentionInput } from '@strata/agent';

/** The queue of backups, deletes, restore points and verifies (restore and fork are instance operations, on theirs). */
export const BACKUPS_QUEUE = 'cloud.backups';

/**
 * Backup workflows one control-plane process runs at once. Each waits on an agent, whose own
 * queue bounds what a node does at once; eight keep a nightly wave moving.
 */
export const BACKUPS_WORKER_CONCURRENCY = 8;

/** The workflow names of this module. */
export const BACKUP_WORKFLOWS = {
  run: 'cloud.backup.run',
  scheduled: 'cloud.backup.scheduled',
  scheduledVerify: 'cloud.backup.scheduled-verify',
  delete: 'cloud.backup.delete',
  restorePoint: 'cloud.backup.restore-point',
  verify: 'cloud.backup.verify',
  restore: 'cloud.instance.restore',
  restoreInPlace: 'cloud.instance.restore-in-place',
  fork: 'cloud.instance.fork',
  reset: 'cloud.instance.reset',
} as const;

/** Input of {@link BACKUP_WORKFLOWS.run}. */
export interface RunBackupInput {
  readonly backupId: string;
  readonly instanceId: string;
  readonly nodeId: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly retention: BackupRetentionInput;
}

