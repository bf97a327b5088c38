// Backups of managed instances with pgBackRest: WAL archiving, full/diff/incr backups, retention,
// verify, restore and point-in-time restore into new data directories. Re-exports only.

export { BACKUP_PROCESS_MAX, MAX_RETENTION, type BackupRetention, type StanzaServer } from './config.js';
export { PgBackupError, type PgBackupErrorCode } from './errors.js';
export type { BackupSet, StanzaInfo } from './info.js';
export { PGBACKREST_BIN, ensurePgBackRestInstalled } from './install.js';
export { BACKUP_ID_ANNOTATION, BACKUP_TYPES, BackupRepository, assertRestorePointName, restorableFrom, type BackupType, type RestoreTarget } from './repository.js';
