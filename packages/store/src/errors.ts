/**
 * Typed errors of the store layer. Every error has a stable `code` to branch on and a message
 * that says what to do about it.
 */

/** Base class of every error the store layer throws itself. */
export class StoreError extends Error {
  /** Stable identifier, e.g. `STRATA_INVALID_DATABASE_URL`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The database URL or path given to `openDatabase` cannot be used. */
export class InvalidDatabaseUrlError extends StoreError {
  constructor(message: string) {
    super('STRATA_INVALID_DATABASE_URL', message);
  }
}

/** The PostgreSQL server could not be reached or refused the connection. */
export class DatabaseUnreachableError extends StoreError {
  constructor(message: string, cause?: unknown) {
    super('STRATA_DATABASE_UNREACHABLE', message, { cause });
  }
}

/**
 * The database stopped answering while in use: the server restarted or went away, or the
 * connection was cut (`pg_terminate_backend`, a network failure). Retryable: the same call may
 * succeed once the database is back. `commitUnknown` is true when the connection was lost while
 * a COMMIT was on its way, so the transaction may or may not have committed; an idempotent
 * transaction body can simply be run again.
 *
 * @example
 * try {
 *   await db.query('select 1');
 * } catch (error) {
 *   if (error instanceof DatabaseUnavailableError) await new Promise((r) => setTimeout(r, 1_000)); // and retry
 *   else throw error;
 * }
 */
export class DatabaseUnavailableError extends StoreError {
  /** True: the same call may succeed once the database is back. */
  readonly retryable = true;
  /** The connection was lost during COMMIT: the transaction may have committed. */
  readonly commitUnknown: boolean;
  constructor(description: string, cause: unknown, commitUnknown = false) {
    super(
      'STRATA_DATABASE_UNAVAILABLE',
      `the database ${description} is unavailable (${describeCause(cause)})` +
        (commitUnknown ? '; the connection was lost during COMMIT, so the transaction may or may not have committed' : '') +
        '; retry once the database is back (Strata\'s engine waits for it by itself)',
      { cause },
    );
    this.commitUnknown = commitUnknown;
  }
}

/** Another process has the embedded (PGlite) directory open. */
export class DatabaseLockedError extends StoreError {
  constructor(message: string) {
    super('STRATA_DATABASE_LOCKED', message);
  }
}

/** The database was used after `close()`. */
export class DatabaseClosedError extends StoreError {
  constructor(description: string) {
    super('STRATA_DATABASE_CLOSED', `the database ${description} is closed; open a new one with openDatabase()`);
  }
}

/** A transaction kept hitting serialization failures or deadlocks until its attempt bound. */
export class TransactionConflictError extends StoreError {
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(
      'STRATA_TRANSACTION_CONFLICT',
      `the transaction conflicted with concurrent transactions ${attempts} times in a row ` +
        `(last: ${describeCause(cause)}); reduce contention on the rows it touches or raise maxAttempts`,
      { cause },
    );
    this.attempts = attempts;
  }
}

/**
 * The transaction was rolled back instead of committed: a statement in it failed and the body
 * caught the error and went on, so the server had already aborted it. Nothing it wrote was kept.
 */
export class TransactionAbortedError extends StoreError {
  constructor() {
    super(
      'STRATA_TRANSACTION_ABORTED',
      'the transaction was rolled back, not committed: a statement inside it failed and the error was caught, which aborts the whole transaction in PostgreSQL. Let the error propagate, or use a savepoint around the statement that may fail',
    );
  }
}

/** A migration set is malformed, or an applied migration was edited after release. */
export class MigrationError extends StoreError {
  constructor(message: string, cause?: unknown) {
    super('STRATA_MIGRATION', message, { cause });
  }
}

/** An argument to a store function is invalid. */
export class InvalidArgumentError extends StoreError {
  constructor(message: string) {
    super('STRATA_INVALID_ARGUMENT', message);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${cause.message}` : cause.message;
  }
  return String(cause);
}

/**
 * The embedded database's storage cannot take writes: base class of {@link DiskFullError} and
 * {@link StorageReadOnlyError}, for code that treats both alike.
 */
export class StorageUnavailableError extends StoreError {
  /** The embedded database directory concerned. */
  readonly directory: string;
  constructor(code: string, directory: string, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.directory = directory;
  }
}

/** The disk holding the embedded database is full (ENOSPC, SQLSTATE 53100). */
export class DiskFullError extends StorageUnavailableError {
  constructor(directory: string, message: string, cause?: unknown) {
    super('STRATA_DISK_FULL', directory, message, cause);
  }
}

/** The embedded database directory cannot be written: a read-only file system (EROFS) or no permission (EACCES). */
export class StorageReadOnlyError extends StorageUnavailableError {
  constructor(directory: string, message: string, cause?: unknown) {
    super('STRATA_STORAGE_READ_ONLY', directory, message, cause);
  }
}

/**
 * The embedded engine stopped after a fatal error (a PostgreSQL PANIC) and must not run again in
 * this process; close the database and open it again, which recovers from its write-ahead log.
 */
export class DatabaseCrashedError extends StoreError {
  constructor(message: string, cause?: unknown) {
    super('STRATA_DATABASE_CRASHED', message, { cause });
  }
}
