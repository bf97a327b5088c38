// Background refreshes of stale cache entries: the query runs on a server connection of its own
// (a pooled one in transaction mode, a fresh one in session mode) while the client already has the
// stale answer, and the fresh answer replaces it.

import type { ServerConnection } from '../backend/connect.js';
import { answerCollector, simpleQuery } from '../backend/simple-query.js';
import { cstring, message } from '../protocol/messages.js';
import type { CachePath, Revalidation } from './cache-path.js';
import type { PooledServer, ServerPool } from './transaction/server-pool.js';

/** An answer larger than this is not refreshed into the cache (the cache would not keep it either). */
const MAX_REFRESH_BYTES = 8 * 1024 * 1024;
/** A refresh that takes longer is given up (the stale entry expires by its own time). */
const MAX_REFRESH_MS = 60_000;

/**
 * Refreshes on a pooled connection (given back afterwards).
 *
 * @example
 * ```ts
 * void revalidateOnPool(pool, poolKey, open, path, job);
 * ```
 */
export async function revalidateOnPool(pool: ServerPool, key: string, open: () => Promise<ServerConnection>, path: CachePath, job: Revalidation): Promise<void> {
  let server: PooledServer;
  try {
    server = await pool.acquire(key, open);
  } catch {
    return path.finishRevalidation(job, undefined);
  }
  const answer = await new Promise<Buffer | undefined>((resolve) => {
    server.owner = answerCollector(MAX_REFRESH_BYTES, (result) => resolve(result.answer));
    server.onLost = () => resolve(undefined);
    server.conn.socket.write(message('Q', cstring(job.sql)));
  });
  if (!server.closed) pool.release(server);
  path.finishRevalidation(job, answer);
}

/**
 * Refreshes on a connection of its own, closed afterwards.
 *
 * @example
 * ```ts
 * void revalidateOnce(() => connectBackend(target), path, job);
 * ```
 */
export async function revalidateOnce(open: () => Promise<ServerConnection>, path: CachePath, job: Revalidation): Promise<void> {
  let conn: ServerConnection;
  try {
    conn = await open();
  } catch {
    return path.finishRevalidation(job, undefined);
  }
  const answer = (await simpleQuery(conn, job.sql, MAX_REFRESH_BYTES, MAX_REFRESH_MS))?.answer;
  conn.socket.end(message('X'));
  path.finishRevalidation(job, answer);
}
