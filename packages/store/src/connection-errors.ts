// Which driver errors mean "the connection or the server failed", not "the statement failed".

import { DatabaseUnavailableError } from './errors.js';

/**
 * Node socket errors, the server's shutdown and crash SQLSTATEs (57P01 admin_shutdown, 57P02
 * crash_shutdown, 57P03 cannot_connect_now), and Strata's own closed/unreachable codes. Class 08
 * (connection_exception) is matched by prefix.
 */
const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  'STRATA_DATABASE_UNREACHABLE',
  'STRATA_DATABASE_UNAVAILABLE',
]);

/** node-postgres reports a lost connection with these messages and no code. */
const CONNECTION_ERROR_MESSAGE =
  /Connection terminated|connection (is )?closed|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect|connection timeout|Connection ended unexpectedly|terminating connection due to/i;

/**
 * True for errors that mean the database connection or server failed (and a retry once it is
 * back may succeed), not that the statement itself was wrong.
 *
 * @example
 * try { await db.query('select 1'); } catch (error) { if (isConnectionError(error)) scheduleRetry(); else throw error; }
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'))) return true;
  const aggregate = (error as { errors?: unknown } | null)?.errors; // happy-eyeballs connects report an AggregateError
  if (Array.isArray(aggregate) && aggregate.length > 0 && aggregate.every(isConnectionError)) return true;
  const message = (error as Error | null)?.message ?? '';
  return typeof message === 'string' && CONNECTION_ERROR_MESSAGE.test(message);
}

/** `error` as a {@link DatabaseUnavailableError} when it is a connection failure; otherwise itself. */
export function asUnavailable(error: unknown, description: string, commitUnknown = false): unknown {
  if (error instanceof DatabaseUnavailableError || !isConnectionError(error)) return error;
  return new DatabaseUnavailableError(description, error, commitUnknown);
}
