// The API application: request IDs, Host check, API keys, bounded JSON bodies, idempotent POSTs,
// typed errors — then the routes of every module, and the OpenAPI document and docs generated from them.

import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Database } from '@strata/store';
import { idempotency } from '../idempotency/idempotency.js';
import { keyAuthenticator } from './auth.js';
import { readJsonBody } from './body.js';
import { DOCS_CONTENT_SECURITY_POLICY, renderDocsPage } from './docs-page.js';
import { ApiError, toErrorResponse } from './errors.js';
import { normalizeHostHeader } from './hosts.js';
import { REQUEST_ID_HEADER, requestIdFor } from './request-id.js';
import { SECURITY_SCHEME, registerSecurityScheme } from './schemas.js';
import { setRequestScope } from './scope.js';
import type { ApiEnv } from './types.js';
import { validationHook } from './validation.js';

/** Where the OpenAPI document is served (no key needed). */
export const OPENAPI_PATH = '/v1/openapi.json';

/** Where the browsable reference is served (no key needed). */
export const DOCS_PATH = '/v1/docs';

/** Headers on every answer: API answers are data, never a page to frame or sniff. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

/** Methods whose requests may carry a body the API reads. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the API app needs. */
export interface ApiAppOptions {
  readonly db: Database;
  /** The `Host` values answered; undefined until the server listens (nothing is answered before). */
  readonly allowedHosts: () => ReadonlySet<string> | undefined;
}

/**
 * The OpenAPIHono app of the control plane with every platform middleware in place; modules add
 * their routes to it, then {@link finishApiApp} adds the document and docs routes.
 *
 * @example
 * const app = createApiApp({ db, allowedHosts: () => new Set(['localhost:8080']) });
 * tenancyModule(app, deps);
 * finishApiApp(app);
 */
export function createApiApp(options: ApiAppOptions): OpenAPIHono<ApiEnv> {
  const { db } = options;
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const authenticate = keyAuthenticator(db);
  registerSecurityScheme(app);

  app.onError((error, c) => {
    const requestId = c.get('requestId') ?? requestIdFor(undefined);
    const { status, body, headers } = toErrorResponse(translateFrameworkError(error), requestId);
    if (status >= 500) console.error(`strata control plane: ${c.req.method} ${JSON.stringify(c.req.path.slice(0, 200))} (request ${requestId}) failed:`, error);
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="strata"');
    return c.json(body, status as 400);
  });
  app.notFound((c) => {
    const requestId = c.get('requestId') ?? requestIdFor(undefined);
    return c.json(toErrorResponse(new ApiError(404, 'not_found', `no route ${c.req.method} ${c.req.path.slice(0, 200)}; the routes are listed at ${DOCS_PATH}`), requestId).body, 404);
  });

  // Outermost: every answer, refusals included, carries the request ID and the security headers.
  app.use('*', async (c, next) => {
    const requestId = requestIdFor(c.req.header(REQUEST_ID_HEADER));
    c.set('requestId', requestId);
    setRequestScope(c, { db });
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  });
  app.use('*', async (c, next) => {
    rejectUnknownHost(c, options.allowedHosts());
    if (!isPublic(c)) c.set('principal', await authenticate(c.req.header('Authorization')));
    if (BODY_METHODS.has(c.req.method)) await readJsonBody(c);
    await next();
  });
  app.use('/v1/*', idempotency(db));
  return app;
}

/**
 * Adds the OpenAPI document (`/v1/openapi.json`, OpenAPI 3.1, generated from every route's
 * schemas) and its HTML rendering (`/v1/docs`). Call after every module has added its routes.
 *
 * @example
 * finishApiApp(app);
 */
export function finishApiApp(app: OpenAPIHono<ApiEnv>): void {
  let document: Record<string, unknown> | undefined;
  let page: string | undefined;
  const documentOf = () =>
    (document ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'Strata control plane API',
        version: '1',
        description: 'Tenants, API keys, quotas, the audit log and the database service. Errors are { "error": { code, message, requestId } }; POSTs accept an Idempotency-Key header.',
      },
      security: [{ [SECURITY_SCHEME]: [] }],
    }) as unknown as Record<string, unknown>);
  app.get(OPENAPI_PATH, (c) => c.json(documentOf()));
  app.get(DOCS_PATH, (c) => {
    page ??= renderDocsPage(documentOf());
    c.header('Content-Security-Policy', DOCS_CONTENT_SECURITY_POLICY);
    return c.html(page);
  });
}

/** The document and its docs page: readable without a key (they describe, they do not reveal). */
function isPublic(c: Context): boolean {
  return (c.req.method === 'GET' || c.req.method === 'HEAD') && (c.req.path === OPENAPI_PATH || c.req.path === DOCS_PATH);
}

/**
 * Refuses a request whose `Host` is not one the API is bound to or was configured with (421):
 * a page that DNS-rebinds its own name to 127.0.0.1 sends its own name, not ours.
 */
function rejectUnknownHost(c: Context, allowed: ReadonlySet<string> | undefined): void {
  const host = normalizeHostHeader(c.req.header('Host'));
  if (host !== undefined && allowed?.has(host) === true) return;
  const shown = host === undefined ? 'no Host header' : `Host ${JSON.stringify(host.slice(0, 100))}`;
  const names = [...(allowed ?? [])].slice(0, 4).join(' or ');
  throw new ApiError(421, 'unknown_host', `this API does not answer ${shown}; use ${names}, or start it with allowedHosts: ['<name>'] for a name of your own (a proxy's)`);
}

/** Hono's own HTTP errors (a body the validator could not parse) as typed API errors. */
function translateFrameworkError(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  const status = (error as { status?: unknown; getResponse?: unknown } | null)?.status;
  if (typeof status === 'number' && typeof (error as { getResponse?: unknown }).getResponse === 'function') {
    if (status === 400) return new ApiError(400, 'invalid_json', `the request body is not valid JSON (${(error as Error).message}); send one JSON object`);
    return new ApiError(status, 'invalid_request', (error as Error).message);
  }
  return error;
}
