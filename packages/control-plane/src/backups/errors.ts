// BackupError: the typed errors of the backup API (HTTP status, stable code, what to do).

/** Codes of {@link BackupError}. */
export type BackupErrorCode =
  | 'backups_unavailable'
  | 'backup_running'
  | 'backup_not_found'
  | 'invalid_state'
  | 'no_backup'
  | 'invalid_time'
  | 'before_first_backup'
  | 'after_deletion'
  | 'instance_deleted'
  | 'restore_point_taken'
  | 'restore_point_not_found'
  | 'invalid_schedule'
  | 'invalid_request'
  | 'is_replica'
  | 'not_a_fork'
  /** The last full backup of a live instance: every other backup and the restore window build on it. */
  | 'last_full_backup';

/**
 * A backup request that cannot be done, with its HTTP status and a stable code.
 *
 * @example
 * throw new BackupError(409, 'no_backup', 'instance orders-db has no completed backup yet; take one with POST /v1/instances/orders-db/backups');
 */
export class BackupError extends Error {
  override readonly name = 'BackupError';
  readonly status: number;
  readonly code: BackupErrorCode;

  constructor(status: number, code: BackupErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
