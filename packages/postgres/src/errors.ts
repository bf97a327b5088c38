// The errors of @strata/postgres: each has a stable `code`, a `kind` (Strata's one error model,
// rooted in @strata/store's StrataError) and a message that says what to do.

import { StrataError, type ErrorKind } from '@strata/store';

/**
 * Base class of every error this package throws itself: catch it to handle them all.
 *
 * @example
 * ```ts
 * try { await startCluster(); }
 * catch (error) { if (error instanceof PostgresError) console.error(error.code, error.kind, error.message); }
 * ```
 */
export abstract class PostgresError extends StrataError {}

/**
 * Thrown when no PostgreSQL server binaries can be found (or installed).
 * The message says what to install.
 *
 * @example
 * ```ts
 * try { await ensurePostgresInstalled(); }
 * catch (error) { if (error instanceof PostgresNotInstalledError) console.error(error.message); }
 * ```
 */
export class PostgresNotInstalledError extends PostgresError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super('POSTGRES_NOT_INSTALLED', message, options);
  }
}

/** Stable codes of {@link PgClusterError}: which step of a cluster's life failed. */
export type PgClusterErrorCode =
  | 'PG_CLUSTER_SETUP_FAILED'
  | 'PG_CLUSTER_INITDB_FAILED'
  | 'PG_CLUSTER_START_FAILED'
  | 'PG_CLUSTER_STOP_FAILED'
  | 'PG_CLUSTER_TERMINATE_FAILED';

/**
 * Thrown when a cluster cannot be set up, started or stopped. The message quotes the failing
 * command's output and the tail of the server log.
 *
 * @example
 * ```ts
 * try { await startCluster({ settings: { shared_buffers: 'lots' } }); }
 * catch (error) { if (error instanceof PgClusterError) console.error(error.code, error.message); }
 * ```
 */
export class PgClusterError extends PostgresError {
  declare readonly code: PgClusterErrorCode;
  /**
   * Setup and initdb failures need the machine changed (a user, a directory, a setting):
   * `failed-precondition`; a server that does not start, stop or answer: `unavailable`.
   */
  override get kind(): ErrorKind {
    return this.code === 'PG_CLUSTER_SETUP_FAILED' || this.code === 'PG_CLUSTER_INITDB_FAILED' ? 'failed-precondition' : 'unavailable';
  }
  constructor(code: PgClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
