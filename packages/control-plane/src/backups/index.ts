// The backups part of the control plane: backups, policies and schedules, restore points, verify, and restores and forks into new instances (only re-exports).
export { backupsModule, toBackupJson } from './routes.js';
export { BACKUP_WORKFLOWS, BACKUPS_QUEUE, BACKUPS_WORKER_CONCURRENCY, type RunBackupInput } from './contract.js';
export { registerBackupOperations, type BackupDeps, type RestoreInPlaceOperationInput, type RestoreOperationInput } from './workflows.js';
export {
  DEFAULT_RETENTION,
  backupInstance,
  backupPolicyOf,
  backupPolicySchedule,
  createRestorePoint,
  deleteBackupOf,
  instanceBackups,
  requestBackup,
  restoreInPlace,
  restoreInstance,
  setBackupPolicy,
  verifyBackups,
  type BackupPolicy,
  type BackupServiceDeps,
  type RestoreRequest,
} from './service.js';
export { MAX_LISTED_SOURCES, backupSources, requireBackupSource, type BackupSource } from './sources.js';
export { BackupError, type BackupErrorCode } from './errors.js';
export { resetFork, type ResetOperationInput } from './reset.js';
export { BACKUP_STATUSES, getBackup, listBackups, type BackupRow, type BackupSourceRow, type BackupStatus } from './sql.js';
