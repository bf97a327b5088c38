// The console's HTTP surface: the JSON API under /api, the live-update stream, and the web UI.

import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { Serializer, type StrataClient } from '@strata/transact';
import type { Asset } from './assets.js';
import type { ChangeFeed } from './change-feed.js';
import { mountCloudRoutes, type CloudOptions } from './cloud/index.js';
import type { IncomingMessage } from 'node:http';
import { ConsoleRequestError, toErrorResponse } from './errors.js';
import { toPlainJson } from './json.js';
import { HEADER_BYTES_MAX, URL_LENGTH_MAX, headerBytes, headersTooLarge, urlTooLong, type Refusal } from './limits.js';
import { checkIdentifier, parseForkBody, parseListQuery, parseLoginBody, parseRestartBody } from './params.js';
import { readBodyObject } from './request-body.js';
import { credentialOf, sessionCookie, type ConsoleAuthenticator, type ConsolePrincipal } from './security/authentication.js';
import { normalizeHostHeader } from './security/hosts.js';
import { securityHeaders } from './security/headers.js';
import { workflowEvents } from './sql/workflow-events.js';
import { queueCounts } from '@strata/transact';

/** Open live-update streams per console; each is a held connection, so they are bounded. */
export const EVENT_STREAMS_MAX = 100;

/** A comment line on idle streams, so proxies and browsers keep them open. */
const KEEP_ALIVE_INTERVAL_MS = 15_000;

/** The pages of the single-page UI; each answers with index.html and the UI routes in the browser. */
const PAGE_PATHS = ['/', '/workflows', '/workflows/:id', '/queues', '/schedules', '/executors', '/instances', '/instances/:id', '/usage', '/audit', '/login'];

/** Who may reach the console, and how its pages are confined (see `src/security/`). */
export interface ConsoleSecurity {
  /** `Host` header values answered (lower-case, `name:port` or a bare name); others get a 421. */
  readonly allowedHosts: ReadonlySet<string>;
  /** Checks each request's credential; undefined when none is needed (loopback, nothing configured). */
  readonly authenticate: ConsoleAuthenticator | undefined;
  /** The Content-Security-Policy of every answer. */
  readonly contentSecurityPolicy: string;
}

/** Hono variables the middleware sets for the routes. */
type Env = { Variables: { principal: ConsolePrincipal | undefined } };

/** What the routes work with. */
export interface ConsoleContext {
  readonly client: StrataClient;
  readonly feed: ChangeFeed;
  readonly assets: ReadonlyMap<string, Asset>;
  /** Ends the open event streams, so the server can close. */
  readonly streamClosers: Set<() => void>;
  readonly security: ConsoleSecurity;
  /** The database service's control plane, for the instances and audit pages; undefined: not connected. */
  readonly cloud?: CloudOptions | undefined;
}

/**
 * The Hono application of a console.
 *
 * @example
 * const security = { allowedHosts: new Set(['localhost']), authenticate: undefined, contentSecurityPolicy: "default-src 'self'" };
 * const app = createApp({ client, feed, assets, streamClosers: new Set(), security });
 * const res = await app.request('http://localhost/api/workflows?status=ERROR&limit=20');
 */
export function createApp({ client, feed, assets, streamClosers, security, cloud }: ConsoleContext): Hono<Env> {
  const app = new Hono<Env>();
  const headers = Object.entries(securityHeaders(security.contentSecurityPolicy));
  const index = assets.get('/')!;
  // Decoding only: reading never serializes, so the value size limit does not apply.
  const serializer = new Serializer();
  const admin = client.workflows;

  app.onError((error, c) => {
    const { status, body, headers } = toErrorResponse(error);
    if (status === 500) console.error(`strata console: ${c.req.method} ${JSON.stringify(c.req.path.slice(0, 200))} failed:`, error);
    for (const [name, value] of Object.entries(headers ?? {})) c.header(name, value);
    return c.json(body, status);
  });
  app.notFound((c) => {
    if (c.req.path === '/api' || c.req.path.startsWith('/api/')) {
      return c.json({ error: { code: 'CONSOLE_NOT_FOUND', message: `no API route ${c.req.method} ${c.req.path}; see packages/console/README.md for the routes` } }, 404);
    }
    if (c.req.path.startsWith('/assets/') || c.req.path.startsWith('/vendor/')) return c.text('Not found', 404);
    // Any other path gets the UI with a 404 status: the page shows its own "not found".
    return serveAsset(c, index, 404);
  });

  // Outermost: every answer, refusals and errors included, carries the security headers.
  app.use('*', async (c, next) => {
    await next();
    for (const [name, value] of headers) c.res.headers.set(name, value);
  });
  app.use('*', async (c, next) => {
    const oversized = oversizedRequest(c);
    if (oversized !== undefined) return c.json(oversized.body, oversized.status);
    rejectUnknownHost(c, security.allowedHosts);
    if (c.req.path.startsWith('/api/')) rejectMalformedUrl(c);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') rejectCrossSite(c);
    if (security.authenticate !== undefined && !isPublic(c)) {
      const credential = credentialOf(c.req.raw.headers);
      const principal = credential === undefined ? undefined : await security.authenticate(credential);
      if (principal === undefined) {
        // A person opening a page is sent to log in; scripts and the pages' own calls get a typed 401.
        if ((c.req.method === 'GET' || c.req.method === 'HEAD') && !c.req.path.startsWith('/api/')) return c.redirect('/login', 303);
        c.header('WWW-Authenticate', 'Bearer realm="strata-console"');
        throw new ConsoleRequestError(401, 'CONSOLE_UNAUTHENTICATED', credential === undefined
          ? 'this console needs a credential: send "Authorization: Bearer <token>", or open the login URL the console printed when it started'
          : 'the credential is not valid for this console; use the token it printed when it started (or STRATA_CONSOLE_TOKEN)');
      }
      c.set('principal', principal);
    }
    await next();
  });

  // Logging in: a browser exchanges the token for an HttpOnly, SameSite=Strict session cookie.
  app.post('/api/login', async (c) => {
    const { token } = parseLoginBody(await readBodyObject(c));
    if (security.authenticate === undefined) return c.json({ authenticated: true, required: false });
    const principal = await security.authenticate(token);
    if (principal === undefined) {
      throw new ConsoleRequestError(401, 'CONSOLE_UNAUTHENTICATED', 'the token is not valid for this console; copy it from the login URL the console printed when it started (or STRATA_CONSOLE_TOKEN)');
    }
    c.header('Set-Cookie', sessionCookie(token));
    c.header('Cache-Control', 'no-store');
    return c.json({ authenticated: true, required: true, principal: principal.id });
  });

  // Workflows
  app.get('/api/workflows', async (c) => {
    const page = await admin.list(parseListQuery(new URL(c.req.url).searchParams));
    return c.json(toPlainJson(page) as object);
  });
  app.get('/api/workflows/:id', async (c) => c.json(toPlainJson(await admin.get(workflowIdOf(c))) as object));
  // Each step carries its failedAttempts; /attempts also has those of a step still retrying.
  app.get('/api/workflows/:id/steps', async (c) => c.json({ steps: toPlainJson(await admin.steps(workflowIdOf(c))) }));
  app.get('/api/workflows/:id/attempts', async (c) => c.json({ attempts: toPlainJson(await admin.failedAttempts(workflowIdOf(c))) }));
  // Who cancelled, resumed, restarted, forked or deleted it, and when (kept after a delete).
  app.get('/api/workflows/:id/actions', async (c) => c.json({ actions: toPlainJson(await admin.operatorActions(workflowIdOf(c))) }));
  app.get('/api/workflows/:id/events', async (c) => {
    const events = await workflowEvents(client.database, workflowIdOf(c));
    return c.json({
      events: events.map(({ key, value, updatedAt }) => ({ key, value: toPlainJson(decoded(value)), updatedAt: updatedAt.toISOString() })),
    });
  });
  app.post('/api/workflows/:id/cancel', async (c) => {
    const id = workflowIdOf(c);
    await admin.cancel(id, { actor: actorOf(c) });
    return c.json(await statusOf(id));
  });
  app.post('/api/workflows/:id/resume', async (c) => {
    const id = workflowIdOf(c);
    await admin.resume(id, { actor: actorOf(c) });
    return c.json(await statusOf(id));
  });
  app.post('/api/workflows/:id/restart', async (c) => {
    const id = workflowIdOf(c);
    const options = parseRestartBody(await readBodyObject(c));
    const workflowId = await admin.restart(id, { ...options, actor: actorOf(c) });
    feed.changed();
    return c.json({ workflowId }, 201);
  });
  app.post('/api/workflows/:id/fork', async (c) => {
    const id = workflowIdOf(c);
    const { fromStep, ...options } = parseForkBody(await readBodyObject(c));
    const workflowId = await admin.fork(id, fromStep, { ...options, actor: actorOf(c) });
    feed.changed();
    return c.json({ workflowId }, 201);
  });
  app.delete('/api/workflows/:id', async (c) => {
    const id = workflowIdOf(c);
    await admin.delete(id, { actor: actorOf(c) });
    feed.changed();
    return c.json({ workflowId: id, deleted: true });
  });

  // Queues, schedules, executors
  app.get('/api/queues', async (c) => {
    const [queues, counts] = await Promise.all([client.queues.list(), queueCounts(client.database)]);
    const declared = new Set(queues.map((queue) => queue.name));
    const none = { queued: 0, running: 0 };
    return c.json({
      queues: [
        ...queues.map((queue) => ({ ...queue, ...(counts.get(queue.name) ?? none) })),
        // Work on a queue no longer in strata.queues (deleted while rows remained) still shows.
        ...[...counts].filter(([name]) => !declared.has(name)).map(([name, count]) => ({
          name, concurrency: null, workerConcurrency: null, partitionConcurrency: null, rateLimit: null, createdAt: null, updatedAt: null, ...count,
        })),
      ],
    });
  });
  app.get('/api/schedules', async (c) => c.json({ schedules: await client.schedules.list() }));
  app.get('/api/executors', async (c) => c.json({ executors: await client.listExecutors() }));
  app.get('/api/info', (c) => c.json({ database: client.database.description, engine: client.database.engine }));

  // Live updates: "changed" whenever Strata signals something, at most a few times a second.
  app.get('/api/events', (c) => {
    if (streamClosers.size >= EVENT_STREAMS_MAX) {
      throw new ConsoleRequestError(503, 'CONSOLE_TOO_MANY_STREAMS', `${EVENT_STREAMS_MAX} pages already follow live updates; close some, or poll GET /api/workflows`);
    }
    return streamSSE(c, async (stream) => {
      let closed = false;
      let changed = false;
      let wake: (() => void) | undefined;
      const close = () => {
        closed = true;
        wake?.();
      };
      const unsubscribe = feed.subscribe(() => {
        changed = true;
        wake?.();
      });
      streamClosers.add(close);
      stream.onAbort(close);
      try {
        await stream.writeSSE({ event: 'ready', data: '{}' });
        while (!closed) {
          if (!changed) {
            let timer: NodeJS.Timeout | undefined;
            await new Promise<void>((resolve) => {
              wake = resolve;
              timer = setTimeout(resolve, KEEP_ALIVE_INTERVAL_MS);
            });
            clearTimeout(timer);
            wake = undefined;
          }
          if (closed) break;
          if (changed) {
            changed = false;
            await stream.writeSSE({ event: 'changed', data: JSON.stringify({ at: new Date().toISOString() }) });
          } else {
            await stream.write(': keep-alive\n\n');
          }
        }
      } finally {
        unsubscribe();
        streamClosers.delete(close);
      }
    });
  });

  // The database service (instances, audit log), read from the control plane's API
  mountCloudRoutes(app, cloud);

  // The web UI
  for (const path of PAGE_PATHS) app.get(path, (c) => serveAsset(c, index));
  app.get('/assets/:file', (c) => serveKnown(c));
  app.get('/vendor/:file', (c) => serveKnown(c));

  return app;

  /** A stored value decoded; text that does not decode (written by hand, say) is shown as it is. */
  function decoded(text: string): unknown {
    try {
      return serializer.deserialize(text);
    } catch {
      return text;
    }
  }

  function serveKnown(c: Context<Env>): Response {
    const asset = assets.get(c.req.path);
    return asset === undefined ? c.text('Not found', 404) : serveAsset(c, asset);
  }

  async function statusOf(workflowId: string) {
    const { status } = await client.status(workflowId);
    feed.changed();
    return { workflowId, status };
  }
}

/** Paths anyone may load: the login page and the UI's code (no data in either), and the login exchange. */
function isPublic(c: Context<Env>): boolean {
  const { method, path } = c.req;
  if (method === 'POST') return path === '/api/login';
  if (method !== 'GET' && method !== 'HEAD') return false;
  return path === '/login' || path.startsWith('/assets/') || path.startsWith('/vendor/');
}

/**
 * Refuses a request whose `Host` header is not one the console is bound to or was configured
 * with: a page that DNS-rebinds its own name to 127.0.0.1 sends its name, not ours.
 */
function rejectUnknownHost(c: Context<Env>, allowedHosts: ReadonlySet<string>): void {
  const host = normalizeHostHeader(c.req.header('Host'));
  if (host !== undefined && allowedHosts.has(host)) return;
  const shown = host === undefined ? 'no Host header' : `Host ${JSON.stringify(host.slice(0, 100))}`;
  throw new ConsoleRequestError(421, 'CONSOLE_UNKNOWN_HOST', `this console does not answer ${shown}; use ${[...allowedHosts].slice(0, 4).join(' or ')}, or start it with allowedHosts: ['<name>'] for a name of your own (a proxy's)`);
}

function serveAsset(c: Context<Env>, asset: Asset, status: 200 | 404 = 200): Response {
  // Revalidate every time (an ETag round trip on 127.0.0.1 is cheap), so an upgraded console never runs stale code.
  c.header('Cache-Control', 'no-cache');
  c.header('ETag', asset.etag);
  if (status === 200 && c.req.header('If-None-Match') === asset.etag) return c.body(null, 304);
  c.header('Content-Type', asset.contentType);
  return c.body(asset.body as Uint8Array<ArrayBuffer>, status);
}

/** Who acts without a credential: a console nobody needs to sign in to (loopback, nothing configured). */
export const LOOPBACK_ACTOR = 'console@loopback';

/**
 * The actor of an operator action done through the console: the signed-in principal's ID (the
 * built-in token's is `console-token`; an `authenticate` hook's is its own), else
 * {@link LOOPBACK_ACTOR}.
 */
function actorOf(c: Context<Env>): string {
  return c.get('principal')?.id ?? LOOPBACK_ACTOR;
}

/** The `:id` of a workflow route, refused with a 400 when no stored workflow ID could be it. */
function workflowIdOf(c: Context<Env>): string {
  return checkIdentifier(c.req.param('id') ?? '', 'the workflow ID in the path');
}

/** The node:http request under a Hono request, when served by `@hono/node-server`. */
function incomingOf(c: Context<Env>): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/** A 414 or 431 for a request over {@link URL_LENGTH_MAX} or {@link HEADER_BYTES_MAX}, else undefined. */
function oversizedRequest(c: Context<Env>): Refusal | undefined {
  const incoming = incomingOf(c);
  const target = incoming?.url ?? (({ pathname, search }) => pathname + search)(new URL(c.req.url));
  if (Buffer.byteLength(target) > URL_LENGTH_MAX) return urlTooLong(Buffer.byteLength(target));
  let bytes = 0;
  if (incoming !== undefined) bytes = headerBytes(incoming);
  else c.req.raw.headers.forEach((value, name) => void (bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 4));
  return bytes > HEADER_BYTES_MAX ? headersTooLarge(bytes) : undefined;
}

/**
 * Refuses an API URL whose percent-encoding is not UTF-8 (`%ED%A0%80`, `%E0%A4%A`): decoded
 * leniently it would name a different workflow or filter than the one meant.
 */
function rejectMalformedUrl(c: Context<Env>): void {
  const { pathname, search } = new URL(c.req.url);
  for (const segment of pathname.split('/')) {
    if (!decodes(segment)) throw new ConsoleRequestError(400, 'CONSOLE_INVALID_PARAMETER', `the URL path segment ${JSON.stringify(segment.slice(0, 64))} is not percent-encoded UTF-8; encode IDs with encodeURIComponent`);
  }
  for (const pair of search.slice(1).split('&')) {
    if (!decodes(pair.replace(/\+/g, ' '))) throw new ConsoleRequestError(400, 'CONSOLE_INVALID_PARAMETER', `the query parameter ${JSON.stringify(pair.slice(0, 64))} is not percent-encoded UTF-8; encode values with encodeURIComponent`);
  }
}

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses state-changing requests sent by another web site's page (a form or a no-cors fetch
 * to 127.0.0.1 would otherwise cancel workflows): browsers label them with `Sec-Fetch-Site`
 * or an `Origin` whose host is not the one the request was sent to (the Host, already checked
 * against the allowed hosts; the scheme may differ behind a TLS proxy). Scripts and the CLI send
 * neither; beyond loopback they still need the credential.
 */
function rejectCrossSite(c: Context<Env>): void {
  const site = c.req.header('Sec-Fetch-Site');
  const origin = c.req.header('Origin');
  if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && originHost(origin) !== normalizeHostHeader(c.req.header('Host')))) {
    throw new ConsoleRequestError(403, 'CONSOLE_CROSS_SITE', 'state-changing requests must come from the console\'s own pages or from a script, not from another web site');
  }
}

/** The `host[:port]` of an Origin header, or undefined for `null` and anything unparsable. */
function originHost(origin: string): string | undefined {
  try {
    const { protocol, host } = new URL(origin);
    return protocol === 'http:' || protocol === 'https:' ? normalizeHostHeader(host) : undefined;
  } catch {
    return undefined;
  }
}
