// Every error class of @strata/platform: a stable `code` and a message that says what to do.

/** Codes of {@link PlatformError}. */
export type PlatformErrorCode =
  | 'STRATA_PLATFORM_INVALID_CONFIG'
  | 'STRATA_PLATFORM_ALREADY_RUNNING'
  | 'STRATA_PLATFORM_DEMO_FAILED'
  | 'STRATA_PLATFORM_DEMO_UNRECOVERABLE';

/**
 * An error of the one-process platform.
 *
 * @example
 * try { await startPlatform({ dataDir }); }
 * catch (error) { if (error instanceof PlatformError && error.code === 'STRATA_PLATFORM_ALREADY_RUNNING') console.error(error.message); }
 */
export class PlatformError extends Error {
  override readonly name = 'PlatformError';
  readonly code: PlatformErrorCode;

  constructor(code: PlatformErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
