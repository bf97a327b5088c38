// The errors of backups and restores: one class, a stable code per failure, a message that says what to fix.

import type { ErrorKind } from '@strata/store';
import { PostgresError } from '../errors.js';

/** Stable codes of {@link PgBackupError}. */
export type PgBackupErrorCode =
  /** A stanza name, backup type, target or retention is malformed. */
  | 'PG_BACKUP_INVALID_ARGUMENT'
  /** pgBackRest is missing and cannot be installed. */
  | 'PG_BACKUP_TOOL_NOT_INSTALLED'
  /** The repository has no such stanza, backup set or restore point. */
  | 'PG_BACKUP_NOT_FOUND'
  /** A pgBackRest command failed (its output is in the message). */
  | 'PG_BACKUP_FAILED'
  /** The restore target lies outside what the repository can bring back. */
  | 'PG_BACKUP_TARGET_UNREACHABLE';

const KINDS: Readonly<Record<PgBackupErrorCode, ErrorKind>> = {
  PG_BACKUP_INVALID_ARGUMENT: 'invalid-argument',
  PG_BACKUP_TOOL_NOT_INSTALLED: 'failed-precondition',
  PG_BACKUP_NOT_FOUND: 'not-found',
  PG_BACKUP_FAILED: 'unavailable',
  PG_BACKUP_TARGET_UNREACHABLE: 'failed-precondition',
};

/**
 * Thrown by the backup repository (src/backup/).
 *
 * @example
 * ```ts
 * try { await repository.restore('ins_a', { kind: 'time', time: new Date(0) }, dir); }
 * catch (error) { if (error instanceof PgBackupError && error.code === 'PG_BACKUP_TARGET_UNREACHABLE') console.error(error.message); }
 * ```
 */
export class PgBackupError extends PostgresError {
  declare readonly code: PgBackupErrorCode;
  override get kind(): ErrorKind {
    return KINDS[this.code];
  }
  constructor(code: PgBackupErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
