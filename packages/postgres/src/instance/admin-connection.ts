// Queries as the instance's superuser over its private unix socket (the only way strata_admin
// may connect).

import pg from 'pg';
import { errorMessage } from '../commands.js';
import { PgInstanceError } from './errors.js';
import { INSTANCE_SUPERUSER } from './template.js';

/** A running server answers a socket connection at once; past this it is hung or overloaded. */
const ADMIN_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Runs one statement as strata_admin over the socket in `socketDir`, on a fresh connection.
 * A connection failure is `PG_INSTANCE_UNAVAILABLE`; an error of the statement itself is
 * PostgreSQL's own (pg's DatabaseError, with its SQLSTATE in `code`), so callers can tell a
 * duplicate role (42710) from a server that is down.
 */
export async function adminQuery<R extends Record<string, unknown>>(
  socketDir: string,
  port: number,
  sql: string,
  params: readonly unknown[],
  database: string,
): Promise<R[]> {
  const client = new pg.Client({ host: socketDir, port, user: INSTANCE_SUPERUSER, database, connectionTimeoutMillis: ADMIN_CONNECT_TIMEOUT_MS });
  // A server-side disconnect would otherwise be an unhandled 'error' event.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new PgInstanceError('PG_INSTANCE_UNAVAILABLE', `could not connect to the instance on ${socketDir} (port ${port}, database ${JSON.stringify(database)}): ${errorMessage(error)}; start it first, or check its log (logTail)`, { cause: error });
  }
  try {
    return (await client.query<R>(sql, [...params])).rows;
  } finally {
    await client.end().catch(() => {});
  }
}
