// Typed errors of metering: a stable code, and a message that says what to do.

/** The metering error codes. */
export type MeteringErrorCode = 'STRATA_METER_CLOSED' | 'STRATA_METER_INVALID_USAGE' | 'STRATA_METER_FLUSH_FAILED' | 'STRATA_METER_INVALID_CONFIG';

/**
 * An error of the meter or the cap guard.
 *
 * @example
 * try {
 *   await meter.close();
 * } catch (error) {
 *   if (error instanceof MeteringError && error.code === 'STRATA_METER_FLUSH_FAILED') console.error(error.message);
 * }
 */
export class MeteringError extends Error {
  override readonly name = 'MeteringError';
  constructor(
    readonly code: MeteringErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
