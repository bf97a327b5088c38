// The typed errors of the admin actions: codes the HTTP API returns as they are, each with its status.
import { StrataError, type ErrorKind } from '@strata/store';

/**
 * Every code of {@link AdminError} with the HTTP status the control plane answers it with. The
 * codes are the API's own (`{ "error": { "code": "invalid_identifier", … } }`): an error thrown
 * by the agent reaches the control plane through the job's recorded error (name, message, code),
 * where `instanceof` no longer holds, so the mapping is by code.
 */
export const ADMIN_ERROR_STATUS = {
  /** A database or user name that is not a plain lower-case PostgreSQL identifier. */
  invalid_identifier: 400,
  /** A name the platform keeps for itself (`strata_*`, `pg_*`, `postgres`, `public`, …). */
  reserved_identifier: 400,
  /** A password verifier that is not a SCRAM-SHA-256 verifier. */
  invalid_verifier: 400,
  /** `postgres`, `template0` and `template1` cannot be dropped. */
  system_database: 400,
  /** A grant's privilege other than 'all' or 'read'. */
  invalid_privilege: 400,
  /** A line count outside 1..MAX_ADMIN_LOG_LINES. */
  invalid_log_lines: 400,
  database_not_found: 404,
  user_not_found: 404,
  /** The instance has no cluster on this node (not provisioned yet, or deleted). */
  instance_not_on_node: 409,
} as const;

/** The code of an {@link AdminError}. */
export type AdminErrorCode = keyof typeof ADMIN_ERROR_STATUS;

/**
 * An admin action refused or failed for a reason the caller can fix; nothing was changed.
 *
 * @example
 * try { checkIdentifier('database', 'Bad-Name'); }
 * catch (error) { if (error instanceof AdminError) console.error(error.code, ADMIN_ERROR_STATUS[error.code], error.message); }
 */
export class AdminError extends StrataError {
  declare readonly code: AdminErrorCode;

  override get kind(): ErrorKind {
    const status = ADMIN_ERROR_STATUS[this.code];
    if (status === 404) return 'not-found';
    if (status === 409) return 'failed-precondition';
    return 'invalid-argument';
  }

  constructor(code: AdminErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * Whether `code` is one of {@link ADMIN_ERROR_STATUS}'s codes (for errors read back from a job's
 * record, which are plain `Error`s carrying the code).
 *
 * @example
 * if (isAdminErrorCode(error.code)) return httpError(ADMIN_ERROR_STATUS[error.code], error.code, error.message);
 */
export function isAdminErrorCode(code: unknown): code is AdminErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ADMIN_ERROR_STATUS, code);
}
