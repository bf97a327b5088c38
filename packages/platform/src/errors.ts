// Every error class of @strata/platform: a StrataError with a stable `code`, a `kind`, and a message that says what to do.
import { StrataError, type ErrorKind } from '@strata/store';

/** Every code of {@link PlatformError} with its kind (what a caller can do about it). */
export const PLATFORM_ERROR_KINDS = {
  /** A bad option (a port out of range, an empty data directory) or a directory the server user cannot reach. */
  STRATA_PLATFORM_INVALID_CONFIG: 'invalid-argument',
  /** Another process holds the data directory's system database. */
  STRATA_PLATFORM_ALREADY_RUNNING: 'failed-precondition',
  /** The API refused a call of the demo's setup, or the demo instance did not answer in time. */
  STRATA_PLATFORM_DEMO_FAILED: 'unavailable',
  /** `demo.json` is not a demo state file. */
  STRATA_PLATFORM_DEMO_UNRECOVERABLE: 'failed-precondition',
} as const satisfies Record<string, ErrorKind>;

/** The code of a {@link PlatformError}. */
export type PlatformErrorCode = keyof typeof PLATFORM_ERROR_KINDS;

/**
 * An error of the one-process platform.
 *
 * @example
 * try { await startPlatform({ dataDir }); }
 * catch (error) { if (error instanceof PlatformError && error.code === 'STRATA_PLATFORM_ALREADY_RUNNING') console.error(error.message); }
 */
export class PlatformError extends StrataError {
  declare readonly code: PlatformErrorCode;

  override get kind(): ErrorKind {
    return PLATFORM_ERROR_KINDS[this.code];
  }

  constructor(code: PlatformErrorCode, message: string) {
    super(code, message);
  }
}
