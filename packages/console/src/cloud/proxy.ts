// The console's window on the database service: the instances and audit pages read the control
// plane's /v1 API through these routes, server-side, with the API key the person entered. The
// browser talks only to the console's own origin, so the console's Content-Security-Policy
// (connect-src 'self') stays as it is and the control plane needs no CORS.

import type { Context, Env, Hono } from 'hono';
import { ConsoleRequestError } from '../errors.js';
import { readBodyObject } from '../request-body.js';

/** Where the console finds the database service. */
export interface CloudOptions {
  /** The control plane's base URL, e.g. `http://127.0.0.1:7070`; `/v1/...` is appended. */
  readonly apiUrl: string;
}

/** The header the pages send the API key in; the proxy sends it on as `Authorization: Bearer`. */
export const API_KEY_HEADER = 'X-Strata-Api-Key';

/** Longest API key forwarded: real keys are under a hundred characters. */
const API_KEY_LENGTH_MAX = 512;

/** Bound on one call to the control plane: it answers in milliseconds; past this it is hung. */
const UPSTREAM_TIMEOUT_MS = 15_000;

/** Largest answer passed on (a page of audit rows is a few hundred KiB at most). */
const UPSTREAM_BODY_BYTES_MAX = 4 * 1024 * 1024;

/** One path segment of an ID or name: what the API's names and IDs are made of, percent-encoded. */
const SEGMENT = "[A-Za-z0-9._~%:-]{1,200}";

/** One call the pages make: its method, its path, and whether its JSON body is passed on. */
interface AllowedCall {
  readonly method: 'GET' | 'POST';
  readonly path: RegExp;
  readonly forwardsBody?: true;
}

/**
 * The only API calls the pages make, so the console is not a general door to the API: reading
 * instances, their operations, databases, users, log, metrics, backups, restore points, backup
 * policy and replicas, flavors, configuration groups, alerts and alert rules, the tenant's usage and
 * its caps, the audit log;
 * checking the audit chain; and restoring an instance into a new one (the one call with a body).
 */
const ALLOWED: readonly AllowedCall[] = [
  { method: 'GET', path: /^\/v1\/(flavors|tenant|instances|audit|config-groups|alerts|alerts\/rules|usage|usage\/cap)$/ },
  { method: 'GET', path: new RegExp(`^/v1/(instances|config-groups)/${SEGMENT}$`) },
  { method: 'GET', path: new RegExp(`^/v1/instances/${SEGMENT}/(operations|databases|users|log|metrics|backups|restore-points|backup-policy|replicas)$`) },
  { method: 'POST', path: /^\/v1\/audit\/verify$/ },
  { method: 'POST', path: new RegExp(`^/v1/instances/${SEGMENT}/restore$`), forwardsBody: true },
];

/**
 * Mounts `GET /api/cloud` (whether a control plane is configured) and the allowed `/api/cloud/v1/...`
 * calls, forwarded to `options.apiUrl`. Without `options`, the pages learn that none is configured.
 *
 * @example
 * mountCloudRoutes(app, { apiUrl: 'http://127.0.0.1:7070' });
 * // GET /api/cloud/v1/instances with X-Strata-Api-Key: sk_… → GET http://127.0.0.1:7070/v1/instances with Authorization: Bearer sk_…
 */
export function mountCloudRoutes<E extends Env>(app: Hono<E>, options: CloudOptions | undefined): void {
  const base = options?.apiUrl.replace(/\/+$/, '');
  app.get('/api/cloud', (c) => c.json({ configured: base !== undefined }));
  app.on(['GET', 'POST'], '/api/cloud/v1/*', async (c) => {
    if (base === undefined) {
      throw new ConsoleRequestError(404, 'CONSOLE_CLOUD_NOT_CONFIGURED', 'this console is not connected to a control plane; start it with cloud: { apiUrl } (strata console --api-url <url>)');
    }
    const path = c.req.path.slice('/api/cloud'.length);
    const rule = ALLOWED.find((candidate) => candidate.method === c.req.method && candidate.path.test(path));
    if (rule === undefined) {
      throw new ConsoleRequestError(404, 'CONSOLE_NOT_FOUND', `the console does not pass ${c.req.method} ${path} on to the control plane; use the API (or the strata CLI) directly for it`);
    }
    // Parsed and written again: only a JSON object within the console's body limit goes on.
    const body = rule.forwardsBody === true ? JSON.stringify(await readBodyObject(c)) : undefined;
    return forward(c, `${base}${path}${new URL(c.req.url).search}`, body);
  });
}

async function forward<E extends Env>(c: Context<E>, url: string, body: string | undefined): Promise<Response> {
  const apiKey = c.req.header(API_KEY_HEADER)?.trim() ?? '';
  if (apiKey === '' || apiKey.length > API_KEY_LENGTH_MAX || !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new ConsoleRequestError(401, 'CONSOLE_API_KEY_MISSING', 'enter an API key of the database service (strata keys create makes one); the console sends it to the control plane for you');
  }
  let upstream: Response;
  try {
    upstream = await fetch(url, {
      method: c.req.method,
      // A body only where the call takes one (restore); audit verify takes none.
      headers: { Accept: 'application/json', Authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body }),
      redirect: 'manual',
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
  } catch {
    throw new ConsoleRequestError(503, 'CONSOLE_CLOUD_UNREACHABLE', 'the control plane does not answer; is it running? The console keeps trying on every refresh');
  }
  const answer = new Uint8Array(await upstream.arrayBuffer());
  if (answer.byteLength > UPSTREAM_BODY_BYTES_MAX) {
    throw new ConsoleRequestError(503, 'CONSOLE_CLOUD_ANSWER_TOO_LARGE', `the control plane's answer is over ${UPSTREAM_BODY_BYTES_MAX} bytes; ask for fewer rows`);
  }
  const isJson = (upstream.headers.get('content-type') ?? '').includes('application/json');
  if (!isJson) {
    throw new ConsoleRequestError(503, 'CONSOLE_CLOUD_NOT_JSON', `the control plane answered ${upstream.status} without JSON; is the console's cloud apiUrl the control plane's address?`);
  }
  c.header('Cache-Control', 'no-store');
  c.header('Content-Type', 'application/json; charset=utf-8');
  return c.body(answer, upstream.status as 200);
}
