import { StoreError, isConnectionError } from '@strata/store';
import { InvalidArgumentError, StrataError } from '@strata/transact';

/** HTTP statuses the API answers errors with. */
export type ErrorStatus = 400 | 403 | 404 | 408 | 409 | 413 | 414 | 431 | 500 | 503;

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

/** Which HTTP status each of transact's error codes means for an API caller. */
const STATUS_BY_CODE: Readonly<Record<string, ErrorStatus>> = {
  STRATA_WORKFLOW_NOT_FOUND: 404,
  STRATA_UNKNOWN_QUEUE: 404,
  STRATA_UNKNOWN_SCHEDULE: 404,
  STRATA_WORKFLOW_STATE: 409,
  STRATA_QUEUE_STATE: 409,
  STRATA_WORKFLOW_CONFLICT: 409,
  STRATA_DUPLICATE_ENQUEUE: 409,
  STRATA_DUPLICATE_SCHEDULE: 409,
  // restart/fork of a workflow whose name no executor registers (any more): nothing could run it.
  STRATA_UNKNOWN_WORKFLOW: 409,
  STRATA_NOT_SERIALIZABLE: 400,
  STRATA_PAYLOAD_TOO_LARGE: 413,
  STRATA_ENGINE_STATE: 503,
  STRATA_SYSTEM_DATABASE: 503,
  // From the store layer: the database is busy or the console is closing, not the request wrong.
  STRATA_DATABASE_CLOSED: 503,
  STRATA_TRANSACTION_CONFLICT: 503,
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
 * request errors as they are, an unreachable database a 503, Strata's typed errors by class and
 * `code`, a value the database refuses a 400, anything else a 500.
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
  if (error instanceof InvalidArgumentError) return answer(400, error.code, error.message);
  if (error instanceof StrataError || error instanceof StoreError) return answer(STATUS_BY_CODE[error.code] ?? 500, error.code, error.message);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && DATA_EXCEPTION.test(code)) {
    return answer(400, 'CONSOLE_INVALID_PARAMETER', `the database cannot take a value of this request: ${message} (SQLSTATE ${code}); check the IDs, filters and cursor you sent`);
  }
  return answer(500, 'CONSOLE_INTERNAL', `the console failed to answer: ${message}`);
}

function answer(status: ErrorStatus, code: string, message: string): { status: ErrorStatus; body: ErrorBody } {
  return { status, body: { error: { code, message } } };
}
