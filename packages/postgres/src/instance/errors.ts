// The errors of the instance runtime: one class, a stable code per failure, a message that says
// what to fix. Bad input is refused with PG_INSTANCE_INVALID_* before anything is touched.

import type { ErrorKind } from '@strata/store';
import { PostgresError } from '../errors.js';

/** Stable codes of {@link PgInstanceError}. */
export type PgInstanceErrorCode =
  /** A spec, limit, password or argument is malformed (relative path, port out of range, …). */
  | 'PG_INSTANCE_INVALID_ARGUMENT'
  /** A setting name is not a GUC name, is managed by Strata itself, or its value is rejected. */
  | 'PG_INSTANCE_INVALID_SETTING'
  /** The data directory exists but is not a PostgreSQL instance made by Strata (or is missing). */
  | 'PG_INSTANCE_NOT_AN_INSTANCE'
  /** initdb of the template failed. */
  | 'PG_INSTANCE_TEMPLATE_FAILED'
  /** Copying the template or writing the instance's files failed. */
  | 'PG_INSTANCE_CREATE_FAILED'
  | 'PG_INSTANCE_START_FAILED'
  | 'PG_INSTANCE_STOP_FAILED'
  /** The server does not answer on its socket (stopped, crashed, or starting). */
  | 'PG_INSTANCE_UNAVAILABLE'
  /** The cgroup controllers exist but refused the limits. */
  | 'PG_INSTANCE_LIMITS_FAILED'
  /** Freezing needs the cgroup v1 freezer, writable (root on Linux); suspend by stopping instead. */
  | 'PG_INSTANCE_FREEZER_UNAVAILABLE'
  /** The freezer group did not settle (FROZEN or THAWED) in time, or too many processes to move. */
  | 'PG_INSTANCE_FREEZE_FAILED'
  | 'PG_INSTANCE_DESTROY_FAILED';

const KINDS: Readonly<Record<PgInstanceErrorCode, ErrorKind>> = {
  PG_INSTANCE_INVALID_ARGUMENT: 'invalid-argument',
  PG_INSTANCE_INVALID_SETTING: 'invalid-argument',
  PG_INSTANCE_NOT_AN_INSTANCE: 'failed-precondition',
  PG_INSTANCE_TEMPLATE_FAILED: 'failed-precondition',
  PG_INSTANCE_CREATE_FAILED: 'failed-precondition',
  PG_INSTANCE_START_FAILED: 'unavailable',
  PG_INSTANCE_STOP_FAILED: 'unavailable',
  PG_INSTANCE_UNAVAILABLE: 'unavailable',
  PG_INSTANCE_LIMITS_FAILED: 'failed-precondition',
  PG_INSTANCE_FREEZER_UNAVAILABLE: 'failed-precondition',
  PG_INSTANCE_FREEZE_FAILED: 'unavailable',
  PG_INSTANCE_DESTROY_FAILED: 'unavailable',
};

/**
 * Thrown by the managed-instance runtime ({@link ManagedCluster}, {@link ensureTemplate},
 * {@link WarmPool}, {@link scramVerifier}). `code` says which step failed; the message says
 * what to fix and, for a server that did not start, quotes its log.
 *
 * @example
 * ```ts
 * try { await ManagedCluster.create(template, { dataDir: 'relative', socketDir: '/s', port: 5433, settings: {} }); }
 * catch (error) { if (error instanceof PgInstanceError) console.error(error.code); } // PG_INSTANCE_INVALID_ARGUMENT
 * ```
 */
export class PgInstanceError extends PostgresError {
  declare readonly code: PgInstanceErrorCode;
  /** Bad input: `invalid-argument`; a machine that must change: `failed-precondition`; a server that does not answer: `unavailable`. */
  override get kind(): ErrorKind {
    return KINDS[this.code];
  }
  constructor(code: PgInstanceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
