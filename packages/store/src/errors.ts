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
