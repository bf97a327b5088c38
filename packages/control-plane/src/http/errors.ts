// The API's one error shape: a status, a stable snake_case code, a message that says what to fix.

import { errorKindOf, isConnectionError } from '@strata/store';

/** The body of every error answer. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly requestId: string;
    readonly details?: unknown;
  };
}

/**
 * A refusal with an HTTP status and a stable `code`; route handlers throw it and the API answers
 * `{ "error": { code, message, requestId, details? } }` with that status.
 *
 * @example
 * throw new ApiError(409, 'name_taken', `an instance named "${name}" exists; pick another name or delete it first`);
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/**
 * The same answer as a missing resource, for a resource that exists in another tenant: its
 * existence must not leak.
 *
 * @example
 * if (row === undefined || row.tenant_id !== principal.tenantId) throw notFound('API key', keyId);
 */
export function notFound(what: string, id: string): ApiError {
  return new ApiError(404, 'not_found', `no ${what} ${JSON.stringify(id.slice(0, 200))} in this tenant; list them to see which exist`);
}

/** Seconds a client should wait before retrying while the system database is unreachable. */
const RETRY_AFTER_SECONDS = 5;

/** SQLSTATE class 22 (data exception): a value from the request the database cannot take. */
const DATA_EXCEPTION = /^22[0-9A-Z]{3}$/;

/** Status codes of Strata's typed error kinds (see `ErrorKind` in @strata/store). */
const STATUS_BY_KIND = {
  'invalid-argument': 400,
  'not-found': 404,
  conflict: 409,
  'failed-precondition': 409,
  unavailable: 503,
  internal: 500,
} as const;

/**
 * The status, body and headers of the answer to `error`: an {@link ApiError} as it is, an
 * unreachable database 503, Strata's typed errors by their kind, a value the database refuses 400,
 * anything else 500 (whose message is logged, not sent).
 *
 * @example
 * const { status, body } = toErrorResponse(new ApiError(403, 'forbidden', '…'), 'req_1'); // 403
 */
export function toErrorResponse(error: unknown, requestId: string): { status: number; body: ErrorBody; headers: Record<string, string> } {
  const answer = (status: number, code: string, message: string, details?: unknown, headers: Record<string, string> = {}) => ({
    status,
    body: { error: { code, message, requestId, ...(details === undefined ? {} : { details }) } },
    headers,
  });
  if (error instanceof ApiError) return answer(error.status, error.code, error.message, error.details);
  const message = error instanceof Error ? error.message : String(error);
  if (isConnectionError(error) || isConnectionError((error as { cause?: unknown } | null)?.cause)) {
    return answer(503, 'database_unavailable', `the system database cannot be reached (${message}); retry in a few seconds`, undefined, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
  }
  const kind = errorKindOf(error);
  if (kind !== undefined && kind !== 'internal') {
    const code = String((error as { code?: unknown }).code ?? kind).toLowerCase();
    return answer(STATUS_BY_KIND[kind], code, message);
  }
  const sqlState = (error as { code?: unknown } | null)?.code;
  if (typeof sqlState === 'string' && DATA_EXCEPTION.test(sqlState)) {
    return answer(400, 'invalid_request', `the database cannot take a value of this request: ${message} (SQLSTATE ${sqlState}); check the values you sent`);
  }
  return answer(500, 'internal', `the control plane failed to answer (request ${requestId}); the server log has the cause — retry, and report it if it persists`);
}
