// One connection as the instance's superuser over its private socket, for several statements in
// a row: each connection to a new server costs a backend start (tens of ms on a busy host),
// which a provision should pay once, not once per statement.
import pg from 'pg';
import { INSTANCE_SUPERUSER, type ManagedCluster } from '@strata/postgres';

/** A new server answers a socket connection at once; past this it is hung or overloaded (the job's step retries). */
const ADMIN_SESSION_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A session as strata_admin on one database of an instance; `close()` ends it.
 *
 * @example
 * const session = await AdminSession.open(cluster, 'postgres');
 * try { await session.query('create role app login'); } finally { session.close(); }
 */
export class AdminSession {
  readonly #client: pg.Client;
  #ended = false;

  private constructor(client: pg.Client) {
    this.#client = client;
    client.on('end', () => {
      this.#ended = true;
    });
  }

  /** False once the connection ended (closed here, or by the server: a restart, a terminated backend). */
  get alive(): boolean {
    return !this.#ended;
  }

  /** Connects to `database` of the instance over its socket directory. */
  static async open(cluster: ManagedCluster, database: string): Promise<AdminSession> {
    const client = new pg.Client({ host: cluster.spec.socketDir, port: cluster.spec.port, user: INSTANCE_SUPERUSER, database, connectionTimeoutMillis: ADMIN_SESSION_CONNECT_TIMEOUT_MS });
    // A server-side disconnect (a restart) would otherwise be an unhandled 'error' event; `alive` tells it.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return new AdminSession(client);
  }

  /** Runs `sql` (several statements, without parameters, run as one implicit transaction) and returns the last one's rows. */
  async query<R extends Record<string, unknown>>(sql: string): Promise<R[]> {
    const result = (await this.#client.query(sql)) as unknown as pg.QueryResult<R> | pg.QueryResult<R>[];
    return Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows;
  }

  /**
   * Ends the session without waiting for the server to close it (a backend's exit takes several
   * ms on a slow host, and nothing here depends on it).
   */
  close(): void {
    this.#ended = true;
    this.#client.end().catch(() => {});
  }
}
