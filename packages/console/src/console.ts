import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Database } from '@strata/store';
import { InvalidArgumentError, StrataClient } from '@strata/transact';
import { createApp } from './app.js';
import { loadAssets } from './assets.js';
import { ChangeFeed } from './change-feed.js';
import { PARSER_HEADER_BYTES_MAX, answerClientErrors } from './limits.js';

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
  /** Interface to listen on. Default `127.0.0.1`: the console can cancel and fork workflows, so it stays local unless asked. */
  readonly host?: string;
}

/** A console that is serving. */
export interface RunningConsole {
  /** Where it listens, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
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

  const assets = await loadAssets();
  const client = await StrataClient.connect({ database: options.database });
  let feed: ChangeFeed | undefined;
  try {
    feed = await ChangeFeed.start(client.database, { minIntervalMs: LIVE_UPDATE_INTERVAL_MS });
    const streamClosers = new Set<() => void>();
    const app = createApp({ client, feed, assets, streamClosers });
    // overrideGlobalObjects: false — the console lives inside apps; it must not swap their global Request/Response.
    const server = createAdaptorServer({ fetch: app.fetch, overrideGlobalObjects: false, serverOptions: { maxHeaderSize: PARSER_HEADER_BYTES_MAX } }) as Server;
    answerClientErrors(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const openFeed = feed;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${shownHost}:${address.port}`,
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
