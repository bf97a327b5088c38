/**
 * @strata/store — one Database interface over embedded PGlite and PostgreSQL, with automatic
 * retry of serialization conflicts, transactional notifications (LISTEN/NOTIFY or a polled
 * table) and numbered SQL migrations.
 */
export type {
  Database,
  EngineKind,
  IsolationLevel,
  NotificationMode,
  QueryOptions,
  QueryResult,
  Queryable,
  Row,
  Subscription,
  Transaction,
  TransactionOptions,
} from './interfaces.js';
export { DEFAULT_MAX_TRANSACTION_ATTEMPTS, SERIALIZABLE_MAX_TRANSACTION_ATTEMPTS } from './interfaces.js';
export {
  DatabaseClosedError,
  DatabaseCrashedError,
  DatabaseLockedError,
  DiskFullError,
  StorageReadOnlyError,
  StorageUnavailableError,
  DatabaseUnavailableError,
  DatabaseUnreachableError,
  InvalidArgumentError,
  InvalidDatabaseUrlError,
  MigrationError,
  MigrationChangedError,
  StoreError,
  StrataError,
  ERROR_KINDS,
  errorKindOf,
  type ErrorKind,
  TransactionAbortedError,
  TransactionConflictError,
  LeaseLostError,
} from './errors.js';
export {
  NATIVE_PROFILE,
  PORTABLE_PROFILE,
  PROFILE_ENV,
  isProfileRequest,
  profileFor,
  type Capabilities,
  type DatabaseProfile,
  type ProfileName,
  type ProfileRequest,
} from './profile.js';
export { acquireLease, type Lease } from './lease.js';
export { splitStatements } from './sql-split.js';
export { openDatabase, redact, DEFAULT_EMBEDDED_DIR, type OpenDatabaseOptions } from './open.js';
export { loadMigrations, migrate, migrationChecksum, type Migratable, type Migration, type MigrationReport } from './migrate.js';
export { isRetryableConflict } from './retry.js';
export { isConnectionError } from './connection-errors.js';
export { isUniqueViolation, isForeignKeyViolation } from './sqlstate.js';
export { isProcessAlive } from './process.js';
export { watchLauncher } from './launcher.js';
