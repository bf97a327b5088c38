import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Database } from '@strata/store';
import { InvalidArgumentError, StrataClient } from '@strata/transact';
import { createApp, type ConsoleSecurity } from './app.js';
import { loadAssets } from './assets.js';
import type { CloudOptions } from './cloud/index.js';
import { ChangeFeed } from './change-feed.js';
import { PARSER_HEADER_BYTES_MAX, answerClientErrors } from './limits.js';
import { TOKEN_ENV_VAR, TOKEN_LENGTH_MIN, generateToken, tokenAuthenticator, type ConsoleAuthenticator } from './security/authentication.js';
import { BARE_SECURITY_HEADERS, contentSecurityPolicy } from './security/headers.js';
import { allowedHostsFor, firstExternalIPv4, hostHeaderOf, isLoopbackAddress, isWildcardAddress } from './security/hosts.js';

/** Options of {@link startConsole}. */
export interface ConsoleOptions {
  /**
   * The Strata system database to show: a `postgres://` URL (the console opens and closes it),
   * or a `Database` from `@strata/store` that the caller owns (an embedded PGlite database allows
   * one process, so pass the very object the app uses).
   */
  readonly database: string | Database;
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /**
   * Interface to listen on. Default `127.0.0.1`: the console can cancel and fork workflows, so it
   * stays local unless asked. Beyond loopback every request needs a credential (see `token`).
   */
  readonly host?: string;
  /**
   * More `Host` names the console answers, e.g. a reverse proxy's `console.example.com` (a bare
   * name matches with no port or the console's port; `name:port` matches exactly). The console
   * always answers its bound address with its port, and `localhost:<port>` on loopback; every
   * other Host gets a 421, so a web page cannot reach it by DNS rebinding.
   */
  readonly allowedHosts?: readonly string[];
  /**
   * The built-in credential (at least 16 characters): requests send `Authorization: Bearer <token>`,
   * browsers log in at `/login`. Default: `STRATA_CONSOLE_TOKEN`, or — when bound beyond loopback
   * with neither — a random token printed in the login URL. When set, it is required on loopback too.
   */
  readonly token?: string;
  /**
   * Your own credential check instead of the token (the control plane's API keys, say): called with
   * each request's Bearer token or login cookie, returns who it is or undefined to refuse. When
   * set, every request needs a credential, on loopback too. See {@link ConsoleAuthenticator}.
   */
  readonly authenticate?: ConsoleAuthenticator;
  /**
   * The database service's control plane (`{ apiUrl: 'http://127.0.0.1:7070' }`): the Instances and
   * Audit pages read its API through the console, with the API key the person enters. Default: none.
   */
  readonly cloud?: CloudOptions;
  /** Where the beyond-loopback warning and the login URL go. Default: `console` (stderr). */
  readonly logger?: { warn(message: string): void };
}

/** A console that is serving. */
export interface RunningConsole {
  /** Where it listens, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
  /**
   * Where a browser logs in when the console needs a credential: `<url>/login#token=<token>` with
   * the built-in token (the fragment never reaches a server log or a Referer), `<url>/login` with
   * an `authenticate` hook; undefined when no credential is needed (loopback, nothing configured).
   */
  readonly loginUrl: string | undefined;
  /** Ends open live-update streams, stops listening, and closes the database if the console opened it. */
  close(): Promise<void>;
}

/** Live updates go out at most this often per page (4 a second): fast enough to feel live, slow enough for any load. */
const LIVE_UPDATE_INTERVAL_MS = 250;

const DEFAULT_HOST = '127.0.0.1';

/** How long close() lets requests in flight finish before it drops their connections. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Starts the Strata console: a web UI and a JSON API (under `/api`) over a Strata system
 * database, to list, filter and inspect workflows and their steps, cancel, resume, restart, fork
 * and delete them, and see queues, schedules and executors, live. It needs no executor: it works
 * on the tables, through a {@link StrataClient}.
 *
 * @example
 * import { startConsole } from '@strata/console';
 * const console_ = await startConsole({ database: process.env.DATABASE_URL!, port: 4000 });
 * console.log(`console: ${console_.url}`);   // console: http://127.0.0.1:4000
 * // … later
 * await console_.close();
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  if (typeof options !== 'object' || options === null || options.database === undefined) {
    throw new InvalidArgumentError('startConsole() needs { database: "postgres://…" or a Database }');
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError(`port must be a whole number from 0 to 65535, got ${String(port)}`);
  const host = options.host ?? DEFAULT_HOST;
  if (typeof host !== 'string' || host === '') throw new InvalidArgumentError(`host must be an interface name or address such as "127.0.0.1", got ${JSON.stringify(host)}`);
  const extraHosts = options.allowedHosts ?? [];
  if (!Array.isArray(extraHosts) || !extraHosts.every((name) => typeof name === 'string' && /^[a-z0-9.\-\[\]:]+$/i.test(name))) {
    throw new InvalidArgumentError(`allowedHosts must be host names such as ["console.example.com"] or ["console.internal:4000"], got ${JSON.stringify(extraHosts)}`);
  }
  const configuredToken = options.token ?? (process.env[TOKEN_ENV_VAR] || undefined);
  if (configuredToken !== undefined && (typeof configuredToken !== 'string' || configuredToken.length < TOKEN_LENGTH_MIN || /\s/.test(configuredToken))) {
    throw new InvalidArgumentError(`the console token (${options.token !== undefined ? 'option token' : TOKEN_ENV_VAR}) must be at least ${TOKEN_LENGTH_MIN} characters without spaces; generate one with: openssl rand -base64 32`);
  }
  if (options.cloud !== undefined && !isHttpUrl(options.cloud?.apiUrl)) {
    throw new InvalidArgumentError(`cloud.apiUrl must be the control plane's http:// or https:// URL, e.g. "http://127.0.0.1:7070", got ${JSON.stringify(options.cloud?.apiUrl)}`);
  }
  if (options.authenticate !== undefined && typeof options.authenticate !== 'function') {
    throw new InvalidArgumentError('authenticate must be a function (credential) => principal | undefined');
  }

  const assets = await loadAssets();
  const client = await StrataClient.connect({ database: options.database });
  let feed: ChangeFeed | undefined;
  try {
    feed = await ChangeFeed.start(client.database, { minIntervalMs: LIVE_UPDATE_INTERVAL_MS });
    const streamClosers = new Set<() => void>();
    // The allowed hosts need the port, known once listening; until then nothing is answered.
    let app: ReturnType<typeof createApp> | undefined;
    const fetch = (request: Request, env: object) => (app === undefined ? new Response(null, { status: 503 }) : app.fetch(request, env));
    // overrideGlobalObjects: false — the console lives inside apps; it must not swap their global Request/Response.
    const server = createAdaptorServer({
      fetch,
      overrideGlobalObjects: false,
      serverOptions: { maxHeaderSize: PARSER_HEADER_BYTES_MAX, requireHostHeader: false },
      createServer: ((serverOptions: ServerOptions, listener: RequestListener) => createServer(serverOptions, refuseWithoutHost(listener))) as never,
    }) as Server;
    answerClientErrors(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const loopback = isLoopbackAddress(address.address);
    // Bound to every interface, the URL to show is one a person elsewhere can open.
    const shownAddress = isWildcardAddress(address.address) ? (firstExternalIPv4() ?? '127.0.0.1') : address.address;
    const url = `http://${hostHeaderOf(shownAddress, address.port)}`;
    const token = configuredToken ?? (!loopback && options.authenticate === undefined ? generateToken() : undefined);
    const authenticate = options.authenticate ?? (token === undefined ? undefined : tokenAuthenticator(token));
    const security: ConsoleSecurity = {
      allowedHosts: allowedHostsFor({ boundAddress: address.address, requestedHost: host, port: address.port, extraHosts }),
      authenticate,
      contentSecurityPolicy: contentSecurityPolicy(Buffer.from(assets.get('/')!.body).toString('utf8')),
    };
    app = createApp({ client, feed, assets, streamClosers, security, cloud: options.cloud });
    const loginUrl = authenticate === undefined ? undefined : options.authenticate !== undefined ? `${url}/login` : `${url}/login#token=${encodeURIComponent(token!)}`;
    if (!loopback) {
      const logger = options.logger ?? console;
      logger.warn(
        `strata console: listening on ${hostHeaderOf(address.address, address.port)}, beyond loopback: anyone who reaches it with the credential can read, cancel and delete workflows. ` +
          `Serve it over TLS (a reverse proxy) on untrusted networks. Log in at ${loginUrl}`,
      );
    }
    const openFeed = feed;
    let closing: Promise<void> | undefined;
    return {
      url,
      loginUrl,
      close: () => {
        closing ??= (async () => {
          for (const close of [...streamClosers]) close();
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            if (!('closeIdleConnections' in server)) return;
            // Idle keep-alive connections would hold close() open; nothing is in flight on them.
            server.closeIdleConnections();
            // Requests still in flight get a moment to finish, then their connections go too.
            setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
          });
          await openFeed.close();
          await client.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await feed?.close().catch(() => {});
    await client.close().catch(() => {});
    throw error;
  }
}

/**
 * A request without a `Host` header (HTTP/1.0, or hand-written) gets the same typed 421 as a
 * foreign Host: the console answers only the hosts it knows. (Node's own check would answer a
 * bare 400 without a body.)
 */
function refuseWithoutHost(listener: RequestListener): RequestListener {
  return (request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.host !== undefined && request.headers.host !== '') {
      listener(request, response);
      return;
    }
    const body = JSON.stringify({ error: { code: 'CONSOLE_UNKNOWN_HOST', message: 'this console answers only requests that name it in a Host header; send HTTP/1.1 with Host: <the console\'s address and port>' } });
    response.writeHead(421, { ...BARE_SECURITY_HEADERS, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    response.end(body);
  };
}

/** Whether `value` is an absolute http(s) URL. */
function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
