/**
 * Typed errors of Strata, rooted here so every layer shares them. Every error has a stable `code`
 * to branch on, a `kind` that says what a caller can do about it, and a message that says what to
 * do. `@strata/transact` re-exports {@link StrataError} and {@link InvalidArgumentError}, so they
 * can be imported from either package.
 */

/**
 * What a caller can do about an error; a closed set, so code (and the console, the CLI, the HTTP
 * API) can handle every error by its kind without knowing each class.
 *
 * | kind | what it means to the caller | console (HTTP) | CLI exit |
 * | --- | --- | --- | --- |
 * | `invalid-argument` | the call itself is wrong (a bad value, option or name); change it, retrying as is never helps | 400 | 2 |
 * | `not-found` | the thing named (a workflow, queue, schedule, registered workflow name) does not exist | 404 | 3 |
 * | `conflict` | the call collided with existing or concurrent state (a duplicate, a reused ID, a serialization conflict that outlasted its retries); re-read and decide | 409 | 4 |
 * | `failed-precondition` | the call is valid but the system is not in a state that allows it (a finished workflow cancelled, a locked directory, an edited migration); change the state first | 409 | 4 |
 * | `unavailable` | the database or engine cannot serve now (unreachable, closed, shutting down, disk full); the same call may succeed later | 503 | 5 |
 * | `internal` | a bug or broken invariant in Strata; report it | 500 | 1 |
 *
 * @example
 * try {
 *   await client.workflows.cancel(id);
 * } catch (error) {
 *   if (error instanceof StrataError && error.kind === 'not-found') console.log(`no workflow ${id}`);
 *   else throw error;
 * }
 */
export type ErrorKind = 'invalid-argument' | 'not-found' | 'conflict' | 'failed-precondition' | 'unavailable' | 'internal';

/** Every {@link ErrorKind}, in the order of the table above; for exhaustive mappings and tests. */
export const ERROR_KINDS: readonly ErrorKind[] = ['invalid-argument', 'not-found', 'conflict', 'failed-precondition', 'unavailable', 'internal'];

/**
 * Root of every error Strata throws itself (store, transact and the layers above). Each concrete
 * class declares its {@link ErrorKind} as a getter on its prototype (so the kind is a property of
 * the class, not of one instance, and a stored error's JSON is unchanged); a class without one
 * does not compile.
 *
 * @example
 * class QuotaExceededError extends StrataError {
 *   override get kind(): ErrorKind { return 'failed-precondition'; }
 *   constructor(tenant: string) {
 *     super('STRATA_QUOTA_EXCEEDED', `tenant "${tenant}" is over its quota; raise it or delete data`);
 *   }
 * }
 */
export abstract class StrataError extends Error {
  /** Stable identifier, e.g. `STRATA_INVALID_DATABASE_URL`. */
  readonly code: string;
  /** What a caller can do about it; see {@link ErrorKind}. */
  abstract get kind(): ErrorKind;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The {@link ErrorKind} of any thrown value: a {@link StrataError}'s own, or the `kind` of an
 * error that carries a string `code` and a known kind (a StrataError from a second copy of the
 * package, where `instanceof` fails); `undefined` for anything else (a driver's or the
 * application's error). The console and the CLI map kinds to statuses and exit codes with it.
 *
 * @example
 * errorKindOf(new InvalidArgumentError('limit must be at least 1')); // 'invalid-argument'
 * errorKindOf(new Error('boom')); // undefined
 */
export function errorKindOf(error: unknown): ErrorKind | undefined {
  if (error instanceof StrataError) return error.kind;
  if (error === null || typeof error !== 'object') return undefined;
  const { code, kind } = error as { code?: unknown; kind?: unknown };
  return typeof code === 'string' && (ERROR_KINDS as readonly unknown[]).includes(kind) ? (kind as ErrorKind) : undefined;
}

/** Base class of every error the store layer throws itself (kept so `instanceof StoreError` goes on working). */
export abstract class StoreError extends StrataError {}

/** The database URL or path given to `openDatabase` cannot be used. */
export class InvalidDatabaseUrlError extends StoreError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(message: string) {
    super('STRATA_INVALID_DATABASE_URL', message);
  }
}

/** The PostgreSQL server could not be reached or refused the connection. */
export class DatabaseUnreachableError extends StoreError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
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
  override get kind(): ErrorKind {
    return 'unavailable';
  }
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
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(message: string) {
    super('STRATA_DATABASE_LOCKED', message);
  }
}

/** The database was used after `close()`. */
export class DatabaseClosedError extends StoreError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(description: string) {
    super('STRATA_DATABASE_CLOSED', `the database ${description} is closed; open a new one with openDatabase()`);
  }
}

/** A transaction kept hitting serialization failures or deadlocks until its attempt bound. */
export class TransactionConflictError extends StoreError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
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
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor() {
    super(
      'STRATA_TRANSACTION_ABORTED',
      'the transaction was rolled back, not committed: a statement inside it failed and the error was caught, which aborts the whole transaction in PostgreSQL. Let the error propagate, or use a savepoint around the statement that may fail',
    );
  }
}

/**
 * Thrown when a lease was lost before the work under it finished: its holder paused past the
 * lease's expiry (or the row was taken over), so another holder may be doing the same work.
 * Nothing fenced by the lease was committed after the loss; run the work again.
 */
export class LeaseLostError extends StoreError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(name: string, fence: number) {
    super(
      'STRATA_LEASE_LOST',
      `the lease "${name}" (fence ${fence}) expired or was taken over before the work under it finished; nothing was committed under it after that — run it again`,
    );
  }
}

/** A migration set is malformed or failed, or the database is newer than the code (see also {@link MigrationChangedError}). */
export class MigrationError extends StoreError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(message: string, cause?: unknown, code = 'STRATA_MIGRATION') {
    super(code, message, { cause });
  }
}

/**
 * A migration the database has applied no longer matches its file: it was renamed, or its text
 * changed (its SHA-256 differs from the one recorded when it was applied). The database was left
 * as it was. Applied migrations are history: restore the file and put the change in a new one.
 *
 * @example
 * try {
 *   await migrate(db, 'shop', loadMigrations(new URL('./migrations/', import.meta.url)));
 * } catch (error) {
 *   if (error instanceof MigrationChangedError) console.error(`restore ${error.component} migration ${error.version}`);
 *   throw error;
 * }
 */
export class MigrationChangedError extends MigrationError {
  /** The component whose migration changed, e.g. `transact`. */
  readonly component: string;
  /** The changed migration's version. */
  readonly version: number;
  constructor(component: string, version: number, message: string) {
    super(message, undefined, 'STRATA_MIGRATION_CHANGED');
    this.component = component;
    this.version = version;
  }
}

/**
 * A public API of any Strata layer was called with an argument of the wrong type or range; the
 * one class for it (`@strata/transact` re-exports this one).
 *
 * @example
 * throw new InvalidArgumentError('poolSize must be a whole number from 1 to 100, got 0');
 */
export class InvalidArgumentError extends StoreError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  /** `code` narrows the refusal for subclasses and callers (`STRATA_INVALID_SCHEDULE`, `STRATA_EMPTY_FILTER`, …). */
  constructor(message: string, code = 'STRATA_INVALID_ARGUMENT') {
    super(code, message);
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
  override get kind(): ErrorKind {
    return 'unavailable';
  }
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
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(message: string, cause?: unknown) {
    super('STRATA_DATABASE_CRASHED', message, { cause });
  }
}
