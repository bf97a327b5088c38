// The errors of streaming replication: one class, a stable code per failure, a message that says what to fix.

import type { ErrorKind } from '@strata/store';
import { PostgresError } from '../errors.js';

/** Stable codes of {@link PgReplicationError}. */
export type PgReplicationErrorCode =
  /** A standby name or path is malformed. */
  | 'PG_REPLICATION_INVALID_ARGUMENT'
  /** The operation needs a standby (promote, follow) and the server is a primary, or the reverse. */
  | 'PG_REPLICATION_WRONG_ROLE'
  /** pg_basebackup or a replication statement failed (its output is in the message). */
  | 'PG_REPLICATION_FAILED'
  /** The standby did not reach the awaited state in time. */
  | 'PG_REPLICATION_TIMEOUT';

const KINDS: Readonly<Record<PgReplicationErrorCode, ErrorKind>> = {
  PG_REPLICATION_INVALID_ARGUMENT: 'invalid-argument',
  PG_REPLICATION_WRONG_ROLE: 'failed-precondition',
  PG_REPLICATION_FAILED: 'unavailable',
  PG_REPLICATION_TIMEOUT: 'unavailable',
};

/**
 * Thrown by the replication functions (src/replication/).
 *
 * @example
 * ```ts
 * try { await promoteStandby(cluster); }
 * catch (error) { if (error instanceof PgReplicationError && error.code === 'PG_REPLICATION_WRONG_ROLE') console.error(error.message); }
 * ```
 */
export class PgReplicationError extends PostgresError {
  declare readonly code: PgReplicationErrorCode;
  override get kind(): ErrorKind {
    return KINDS[this.code];
  }
  constructor(code: PgReplicationErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
