import { StoreError } from '@strata/store';
import { InvalidArgumentError, StrataError } from '@strata/transact';

/** HTTP statuses the API answers errors with. */
export type ErrorStatus = 400 | 403 | 404 | 409 | 413 | 500 | 503;

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
  // From the store layer: the database is gone or busy, not the request wrong.
  STRATA_DATABASE_UNREACHABLE: 503,
  STRATA_DATABASE_CLOSED: 503,
  STRATA_TRANSACTION_CONFLICT: 503,
};

/** Connection failures the pg driver reports as plain errors (errno codes, SQLSTATE class 08, shutdown 57P0x). */
const UNAVAILABLE_CODE = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|08\w{3}|57P0\d)$/;

/**
 * The HTTP status and body for an error thrown while answering a request: the console's own
 * request errors as they are, Strata's typed errors by class and `code`, anything else a 500.
 */
export function toErrorResponse(error: unknown): { status: ErrorStatus; body: ErrorBody } {
  if (error instanceof ConsoleRequestError) return answer(error.status, error.code, error.message);
  if (error instanceof InvalidArgumentError) return answer(400, error.code, error.message);
  if (error instanceof StrataError || error instanceof StoreError) return answer(STATUS_BY_CODE[error.code] ?? 500, error.code, error.message);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODE.test(code)) {
    return answer(503, 'CONSOLE_DATABASE_UNAVAILABLE', `the system database is unavailable (${code}: ${message}); the console answers again once it is back`);
  }
  return answer(500, 'CONSOLE_INTERNAL', `the console failed to answer: ${message}`);
}

function answer(status: ErrorStatus, code: string, message: string): { status: ErrorStatus; body: ErrorBody } {
  return { status, body: { error: { code, message } } };
}
