import { DEFAULT_MAX_TRANSACTION_ATTEMPTS } from './interfaces.js';
import { InvalidArgumentError, TransactionConflictError } from './errors.js';

/** SQLSTATEs that mean "run the transaction again": serialization_failure and deadlock_detected. */
const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01']);

/** First backoff ceiling; doubled per attempt, like FoundationDB's client. */
const BASE_DELAY_MS = 2;
/** Backoff ceiling cap: long enough for a conflicting transaction to finish, short enough to stay interactive. */
const MAX_DELAY_MS = 500;

/** True when `error` is a serialization failure or deadlock that a retry can resolve. */
export function isRetryableConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_SQLSTATES.has(code);
}

/**
 * Runs `attemptFn` until it succeeds, retrying only retryable conflicts, with full-jitter
 * exponential backoff and at most `maxAttempts` runs in total.
 */
export async function retryConflicts<T>(
  attemptFn: (attempt: number) => Promise<T>,
  maxAttempts: number = DEFAULT_MAX_TRANSACTION_ATTEMPTS,
): Promise<T> {
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidArgumentError(`maxAttempts must be a whole number of at least 1, got ${String(maxAttempts)}`);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptFn(attempt);
    } catch (error) {
      if (!isRetryableConflict(error)) throw error;
      if (attempt >= maxAttempts) throw new TransactionConflictError(attempt, error);
      const ceilingMs = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceilingMs));
    }
  }
}

/**
 * SQL that starts a transaction with the given options; with `idleTimeoutMs`, also the server's
 * bound on the transaction's idle time, in the same message (one round trip).
 */
export function beginStatement(isolation: string, readOnly: boolean, idleTimeoutMs?: number): string {
  const begin = `begin isolation level ${isolation}${readOnly ? ' read only' : ''}`;
  return idleTimeoutMs === undefined ? begin : `${begin}; set local idle_in_transaction_session_timeout = ${idleTimeoutMs}`;
}
