// Background refreshes of stale cache entries: the query runs on a server connection of its own
// (a pooled one in transaction mode, a fresh one in session mode) while the client already has the
// stale answer, and the fresh answer replaces it.

import type { ServerConnection } from '../backend/connect.js';
import { cstring, message } from '../protocol/messages.js';
import { MessageReader, type Frame } from '../protocol/framing.js';
import type { CachePath, Revalidation } from './cache-path.js';
import type { PooledServer, ServerPool } from './transaction/server-pool.js';

const READY_FOR_QUERY = 0x5a;
const ERROR = 0x45;
/** An answer larger than this is not refreshed into the cache (the cache would not keep it either). */
const MAX_REFRESH_BYTES = 8 * 1024 * 1024;

/** Collects one simple query's answer up to its ReadyForQuery; undefined when it failed. */
function collector(done: (answer: Buffer | undefined) => void): (frames: Frame[]) => void {
  const parts: Buffer[] = [];
  let bytes = 0;
  let failed = false;
  return (frames) => {
    for (const frame of frames) {
      if (frame.type === READY_FOR_QUERY) return done(failed ? undefined : Buffer.concat(parts, bytes));
      if (frame.type === ERROR) failed = true;
      bytes += frame.bytes.length;
      if (bytes > MAX_REFRESH_BYTES) failed = true;
      else parts.push(Buffer.from(frame.bytes));
    }
  };
}

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
    server.owner = collector(resolve);
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
  const reader = new MessageReader(MAX_REFRESH_BYTES + 1024);
  const answer = await new Promise<Buffer | undefined>((resolve) => {
    const collect = collector(resolve);
    conn.socket.on('data', (chunk: Buffer) => {
      try {
        collect(reader.push(chunk));
      } catch {
        resolve(undefined);
      }
    });
    conn.socket.on('close', () => resolve(undefined));
    conn.socket.on('error', () => resolve(undefined));
    conn.socket.write(message('Q', cstring(job.sql)));
  });
  conn.socket.end(message('X'));
  path.finishRevalidation(job, answer);
}
