// The errors of @strata/postgres: each has a stable `code` and a message that says what to do.

/**
 * Base class of every error this package throws itself: catch it to handle them all.
 *
 * @example
 * ```ts
 * try { await startCluster(); }
 * catch (error) { if (error instanceof PostgresError) console.error(error.code, error.message); }
 * ```
 */
export abstract class PostgresError extends Error {
  /** Stable, machine-readable: match on it, not on the message. */
  abstract readonly code: string;
}

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
  readonly code = 'POSTGRES_NOT_INSTALLED';
  override readonly name = 'PostgresNotInstalledError';
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
  override readonly name = 'PgClusterError';
  constructor(
    readonly code: PgClusterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
