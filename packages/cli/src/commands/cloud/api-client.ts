/**
 * The HTTP client of the database service's API (`/v1`): bearer API key, JSON in and out, and the
 * one mapping from an HTTP error answer to the CLI's exit codes.
 */
import { randomUUID } from 'node:crypto';
import { CliError, ExitCode, type ExitCodeValue } from '../../errors.js';

/** Bound on one API call: the control plane answers in milliseconds; past this it is hung. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The error body every API error carries (see the control plane's README). */
interface ErrorBody {
  readonly error?: { readonly code?: unknown; readonly message?: unknown; readonly requestId?: unknown; readonly details?: unknown };
}

/**
 * An HTTP error answer of the API, carrying its status, stable `code`, the server's message and
 * the request ID to quote in a bug report. Its exit code follows {@link exitCodeForStatus}.
 *
 * @example
 * try { await api.get('/v1/instances/nope'); }
 * catch (error) { if (error instanceof ApiCallError && error.status === 404) … }
 */
export class ApiCallError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  constructor(status: number, code: string, message: string, requestId: string | undefined) {
    super(message, exitCodeForStatus(status));
    this.name = 'ApiCallError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/**
 * The exit code an HTTP status means: 400/413/422 usage (2; the request must change), 404 not
 * found (3), 409 state (4), 5xx unavailable (5), everything else (401, 403) failed (1).
 *
 * @example
 * exitCodeForStatus(409); // 4
 */
export function exitCodeForStatus(status: number): ExitCodeValue {
  if (status === 400 || status === 413 || status === 422) return ExitCode.usage;
  if (status === 404) return ExitCode.notFound;
  if (status === 409) return ExitCode.state;
  if (status >= 500) return ExitCode.unavailable;
  return ExitCode.failed;
}

/** What the API client needs: where the API is and the key to send. */
export interface ApiClientOptions {
  /** e.g. `http://127.0.0.1:7070`; `/v1/...` paths are resolved against it. */
  readonly baseUrl: string;
  /** The API key (`sk_…`), sent as `Authorization: Bearer <key>`. */
  readonly apiKey: string;
}

/**
 * Calls the API. Paths are `/v1/...`; path parameters must already be encoded (see {@link segment}).
 *
 * @example
 * const api = new ApiClient({ baseUrl: 'http://127.0.0.1:7070', apiKey: process.env.STRATA_API_KEY! });
 * const { instances } = await api.get<{ instances: unknown[] }>('/v1/instances');
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #apiKey: string;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** A POST with an `Idempotency-Key`, so a retried call (a lost answer) never acts twice; no `body`: an empty one. */
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body, { 'Idempotency-Key': randomUUID() });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body);
  }

  /** One call; a non-2xx answer throws {@link ApiCallError}, no answer a {@link CliError} with exit 5. */
  async request<T>(method: string, path: string, body?: unknown, extraHeaders: Readonly<Record<string, string>> = {}): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${this.#apiKey}`, ...extraHeaders };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new CliError(
        `the control plane at ${this.baseUrl} does not answer (${reason}); is it running? Give its address with --api-url or STRATA_API_URL`,
        ExitCode.unavailable,
      );
    }
    const text = await response.text();
    let data: unknown = undefined;
    if (text !== '') {
      try {
        data = JSON.parse(text);
      } catch {
        if (response.ok) throw new CliError(`${method} ${path} answered ${response.status} with a body that is not JSON; is ${this.baseUrl} the control plane's API?`, ExitCode.failed);
      }
    }
    if (!response.ok) throw errorOf(response.status, data, method, path);
    return data as T;
  }
}

/** A path segment (an instance name, a user name) encoded for a URL. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

function errorOf(status: number, data: unknown, method: string, path: string): ApiCallError {
  const error = (data as ErrorBody | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${status}`;
  const requestId = typeof error?.requestId === 'string' ? error.requestId : undefined;
  let message = typeof error?.message === 'string' ? error.message : `${method} ${path} failed with HTTP ${status}`;
  if (status === 401) message = `${message} (the API key was refused: give a valid one with --api-key or STRATA_API_KEY; strata keys create makes one)`;
  if (status === 403) message = `${message} (this API key's role does not allow it: use a key with the member or admin role)`;
  return new ApiCallError(status, code, `${message} [${code}${requestId !== undefined ? `, request ${requestId}` : ''}]`, requestId);
}
