import { errorKindOf, isConnectionError, type ErrorKind } from '@strata/store';

/** HTTP statuses the API answers errors with. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 414 | 421 | 431 | 500 | 503;

/** The body of every error answer: `{ "error": { "code": "…", "message": "what to fix" } }`. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/**
 * A request the console refuses before it reaches Strata (a malformed query parameter or body, an
 * unknown route). Its `code` is stable; its message says what to send instead.
 */
export class ConsoleRequestError extends Error {
  override readonly name = 'ConsoleRequestError';
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one mapping from a Strata error's kind to the HTTP status the API answers it with (see
 * `ErrorKind` in `@strata/store` and docs/errors.md). A failed precondition is 409 Conflict, not
 * 412: 412 is about the request's own `If-*` headers, which this API does not use; what failed is
 * the resource's state (cancelling a finished workflow), which 409 names.
 */
export const STATUS_BY_KIND: Readonly<Record<ErrorKind, ErrorStatus>> = {
  'invalid-argument': 400,
  'not-found': 404,
  conflict: 409,
  'failed-precondition': 409,
  unavailable: 503,
  internal: 500,
};

/** The code of every "the database cannot be reached" answer, whichever layer noticed. */
export const DATABASE_UNAVAILABLE_CODE = 'STRATA_DATABASE_UNAVAILABLE';

/** How many `cause` links the classifier follows: wrappers are one or two deep. */
const CAUSE_DEPTH_MAX = 5;

/** Seconds a client should wait before asking again while the database is unreachable. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Whether `error` says the database cannot be reached (refused, reset, shut down, connection
 * ended), here or in its `cause` chain or an AggregateError's errors, rather than that the
 * request was wrong.
 *
 * @example
 * isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })); // true
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > CAUSE_DEPTH_MAX) return false;
  // The store's classifier decides each link; the console also looks through causes and any inner error.
  if (isConnectionError(error)) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable((error as { cause?: unknown }).cause, depth + 1);
}

/**
 * SQLSTATE class 22 (data exception): a value PostgreSQL cannot take, such as NUL in text
 * (22021), an out-of-range number or an invalid date. In a management API the values come from
 * the request, so it is the request that must change.
 */
const DATA_EXCEPTION = /^22[0-9A-Z]{3}$/;

/**
 * The HTTP status and body for an error thrown while answering a request: the console's own
 * request errors as they are, an unreachable database a 503, Strata's typed errors by their kind
 * ({@link STATUS_BY_KIND}), a value the database refuses a 400, anything else a 500.
 */
export function toErrorResponse(error: unknown): { status: ErrorStatus; body: ErrorBody; headers?: Record<string, string> } {
  if (error instanceof ConsoleRequestError) return answer(error.status, error.code, error.message);
  const message = error instanceof Error ? error.message : String(error);
  if (isDatabaseUnavailable(error)) {
    return {
      ...answer(503, DATABASE_UNAVAILABLE_CODE, `the system database cannot be reached (${message}); retry once it is back — the console reconnects by itself`),
      headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
    };
  }
  const kind = errorKindOf(error);
  if (kind !== undefined) {
    const status = STATUS_BY_KIND[kind];
    const typed = answer(status, (error as { code: string }).code, message);
    return status === 503 ? { ...typed, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } } : typed;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && DATA_EXCEPTION.test(code)) {
    return answer(400, 'CONSOLE_INVALID_PARAMETER', `the database cannot take a value of this request: ${message} (SQLSTATE ${code}); check the IDs, filters and cursor you sent`);
  }
  return answer(500, 'CONSOLE_INTERNAL', `the console failed to answer: ${message}`);
}

function answer(status: ErrorStatus, code: string, message: string): { status: ErrorStatus; body: ErrorBody } {
  return { status, body: { error: { code, message } } };
}
