import { createHash } from 'node:crypto';
import pg from 'pg';
import type { QueryOptions, QueryResult, Row, Subscription } from './interfaces.js';
import { DatabaseUnavailableError, DatabaseUnreachableError, TransactionAbortedError } from './errors.js';
import { asUnavailable, isConnectionError } from './connection-errors.js';
import { PrimaryLocator, isReadOnlyError, type MultiHostTarget } from './multi-host.js';
import { SqlDatabase, type DriverSettings, type RawConnection } from './sql-database.js';

/** Reconnect delays for the LISTEN connection: quick first, capped so a long outage costs little. */
const LISTEN_RECONNECT_MIN_MS = 50;
const LISTEN_RECONNECT_MAX_MS = 5_000;

/** Settings of the PostgreSQL driver. */
export interface PostgresSettings extends DriverSettings {
  readonly url: string;
  readonly description: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  /** Set for a multi-host URL: connections go to the host its `target_session_attrs` accepts. */
  readonly multiHost?: MultiHostTarget | undefined;
  /** True for an embedded database served by another process: PGlite behind a socket, which enforces no idle timeout. */
  readonly served?: boolean;
}

type Handler = (payload: string) => void;

/** A PostgreSQL server (or a wire-compatible engine) through a `pg` connection pool. */
export class PostgresDatabase extends SqlDatabase {
  readonly engine = 'postgres' as const;
  readonly description: string;
  protected override readonly idleTimeouts: boolean;
  readonly #pool: pg.Pool;
  readonly #settings: PostgresSettings;
  readonly #locator: PrimaryLocator | undefined;
  readonly #Client: typeof pg.Client;
  readonly #handlers = new Map<string, Set<Handler>>();
  #listenClient: pg.Client | undefined;
  #listenConnecting: Promise<pg.Client> | undefined;
  #reconnectDelayMs = LISTEN_RECONNECT_MIN_MS;
  #reconnectTimer: NodeJS.Timeout | undefined;

  private constructor(pool: pg.Pool, settings: PostgresSettings, Client: typeof pg.Client, locator: PrimaryLocator | undefined) {
    super(settings);
    this.#pool = pool;
    this.#settings = settings;
    this.description = settings.description;
    this.idleTimeouts = settings.served !== true;
    this.#Client = Client;
    this.#locator = locator;
    // LISTEN must follow the primary too: NOTIFY is only sent there.
    locator?.onChange(() => {
      if (this.#listenClient) this.#lostListenConnection(this.#listenClient);
    });
  }

  /**
   * Connects and checks the server answers; throws {@link DatabaseUnreachableError} if not.
   * `settingsFor` picks the driver settings (profile, notifications) from the server's
   * `version()`; where SERIALIZABLE is the only isolation, every connection starts with it as
   * its default, so a lone statement runs as the engine would run it.
   */
  static async open(
    connection: Omit<PostgresSettings, keyof DriverSettings>,
    settingsFor: (serverVersion: string) => DriverSettings,
  ): Promise<PostgresDatabase> {
    // The connect timeout bounds opening a connection, not waiting for a busy pool: pg-pool's own
    // connectionTimeoutMillis also fails queries queued behind a burst (thousands of waiters).
    const connectTimeoutMs = connection.connectTimeoutMs;
    const locator = connection.multiHost && new PrimaryLocator(connection.multiHost, connectTimeoutMs, connection.description);
    const connect = async (serializableOnly: boolean) => {
      const options = serializableOnly ? '-c default_transaction_isolation=serializable' : undefined;
      class TimedClient extends pg.Client {
        constructor(config?: pg.ClientConfig) {
          super({ ...config, connectionTimeoutMillis: connectTimeoutMs, ...(options === undefined ? {} : { options }) });
        }
      }
      const Client = locator?.clientClass(TimedClient) ?? TimedClient;
      const url = connection.multiHost?.urlFor(0) ?? connection.url;
      const pool = new pg.Pool({ connectionString: url, max: connection.poolSize, Client });
      // An idle client's network error must not crash the process; the pool replaces the client.
      pool.on('error', () => {});
      // Nor a checked-out client's: every client always has a listener (runTransaction adds one
      // that marks the client broken), so a late 'error' after release is never uncaught either.
      pool.on('connect', (client) => client.on('error', () => {}));
      try {
        const { rows } = await pool.query<{ version: string }>('select version() as version');
        return { pool, Client, version: rows[0]?.version ?? '' };
      } catch (error) {
        await pool.end().catch(() => {});
        throw unreachable(connection.description, error);
      }
    };
    let opened = await connect(false);
    let driver: DriverSettings;
    try {
      driver = settingsFor(opened.version);
    } catch (error) {
      await opened.pool.end().catch(() => {});
      throw error;
    }
    if (!driver.profile.capabilities.weakIsolation) {
      await opened.pool.end().catch(() => {});
      opened = await connect(true);
    }
    return new PostgresDatabase(opened.pool, { ...connection, ...driver }, opened.Client, locator);
  }

  protected async runQuery<R extends Row>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<QueryResult<R>> {
    try {
      const result = await this.#pool.query<R>(toConfig(sql, params, options));
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  protected async runExec(sql: string): Promise<void> {
    try {
      await this.#pool.query(sql);
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  protected async runTransaction<T>(begin: string, body: (connection: RawConnection) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw asUnavailable(error, this.description);
    }
    let broken: Error | undefined;
    let committing = false;
    // A checked-out client has no pool listener: without ours, a connection lost between two
    // statements (while the body's own code runs) is an uncaught 'error' that kills the process.
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    try {
      const connection: RawConnection = {
        query: async <R extends Row>(sql: string, params: readonly unknown[], options: QueryOptions) => {
          const result = await client.query<R>(toConfig(sql, params, options));
          return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
        },
        exec: async (sql) => {
          await client.query(sql);
        },
      };
      const control = async (sql: string) => {
        try {
          return await client.query(sql);
        } catch (error) {
          if (!isServerError(error) || this.#followsPrimary(error, begin)) broken ??= error as Error;
          throw error;
        }
      };
      await control(begin);
      let result: T;
      try {
        result = await body(connection);
      } catch (error) {
        if (this.#followsPrimary(error, begin)) broken ??= error as Error; // a standby's connection is not reused
        await client.query('rollback').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      }
      committing = true;
      // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, not an error.
      if ((await control('commit')).command === 'ROLLBACK') throw new TransactionAbortedError();
      return result;
    } catch (error) {
      throw this.#unavailable(error, committing, begin);
    } finally {
      client.off('error', onError);
      // A connection whose state is unknown is destroyed rather than returned to the pool.
      client.release(broken);
    }
  }

  /**
   * With a multi-host URL, a lost connection or a write refused as read-only (the primary was
   * demoted) sends the next connection looking for the new primary, and the read-only refusal
   * becomes a retryable {@link DatabaseUnavailableError}: nothing was written.
   */
  #unavailable(error: unknown, committing = false, begin = ''): unknown {
    if (this.#locator !== undefined && isConnectionError(error)) this.#locator.suspect();
    if (this.#followsPrimary(error, begin)) return new DatabaseUnavailableError(this.description, error);
    return asUnavailable(error, this.description, committing);
  }

  /** True for a read-only refusal on a multi-host URL, outside a transaction the caller made read-only. */
  #followsPrimary(error: unknown, begin: string): boolean {
    if (this.#locator === undefined || !isReadOnlyError(error) || begin.includes(' read only')) return false;
    this.#locator.suspect();
    return true;
  }

  protected async listenNative(channel: string, handler: Handler): Promise<Subscription> {
    let set = this.#handlers.get(channel);
    const first = !set;
    if (!set) this.#handlers.set(channel, (set = new Set()));
    set.add(handler);
    if (first) {
      const client = await this.#listenConnection();
      await client.query(`listen ${channel}`);
    }
    return {
      close: async () => {
        set!.delete(handler);
        if (set!.size > 0 || this.#handlers.get(channel) !== set) return;
        this.#handlers.delete(channel);
        if (this.#listenClient && !this.closed) await this.#listenClient.query(`unlisten ${channel}`).catch(() => {});
      },
    };
  }

  protected async closeDriver(): Promise<void> {
    clearTimeout(this.#reconnectTimer);
    const client = this.#listenClient;
    this.#listenClient = undefined;
    await client?.end().catch(() => {});
    await this.#pool.end();
  }

  /** The dedicated LISTEN connection (not from the pool: it must stay attached to its channels). */
  #listenConnection(): Promise<pg.Client> {
    if (this.#listenClient) return Promise.resolve(this.#listenClient);
    this.#listenConnecting ??= (async () => {
      const client = new this.#Client({ connectionString: this.#settings.multiHost?.urlFor(0) ?? this.#settings.url, connectionTimeoutMillis: this.#settings.connectTimeoutMs });
      client.on('notification', (message) => {
        for (const handler of this.#handlers.get(message.channel) ?? []) handler(message.payload ?? '');
      });
      client.on('error', () => this.#lostListenConnection(client));
      client.on('end', () => this.#lostListenConnection(client));
      try {
        await client.connect();
        for (const channel of this.#handlers.keys()) await client.query(`listen ${channel}`);
      } catch (error) {
        await client.end().catch(() => {});
        throw unreachable(this.description, error);
      } finally {
        this.#listenConnecting = undefined;
      }
      this.#listenClient = client;
      this.#reconnectDelayMs = LISTEN_RECONNECT_MIN_MS;
      return client;
    })();
    return this.#listenConnecting;
  }

  /** Reconnects the LISTEN connection with capped exponential backoff; waiters re-check state meanwhile. */
  #lostListenConnection(client: pg.Client): void {
    if (this.#listenClient !== client || this.closed) return;
    this.#listenClient = undefined;
    client.end().catch(() => {});
    const retry = () => {
      if (this.closed || this.#handlers.size === 0) return;
      this.#listenConnection().then(() => this.listenRestored(), () => {
        this.#reconnectDelayMs = Math.min(LISTEN_RECONNECT_MAX_MS, this.#reconnectDelayMs * 2);
        this.#reconnectTimer = setTimeout(retry, this.#reconnectDelayMs);
        this.#reconnectTimer.unref();
      });
    };
    this.#reconnectTimer = setTimeout(retry, this.#reconnectDelayMs);
    this.#reconnectTimer.unref();
  }
}

/** Prepared statement names by SQL text: hashing the text on every call showed in profiles. */
const statementNames = new Map<string, string>();
/** Programs prepare a fixed set of statements; past this, names are hashed per call, not kept. */
const MAX_STATEMENT_NAMES = 10_000;

function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `strata_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
    if (statementNames.size < MAX_STATEMENT_NAMES) statementNames.set(sql, name);
  }
  return name;
}

function toConfig(sql: string, params: readonly unknown[], options: QueryOptions): pg.QueryConfig {
  const config: pg.QueryConfig = { text: sql, values: params as unknown[] };
  if (options.prepare) config.name = statementName(sql);
  return config;
}

function isServerError(error: unknown): boolean {
  return typeof (error as { code?: unknown } | null)?.code === 'string' && typeof (error as { severity?: unknown }).severity === 'string';
}

function unreachable(description: string, error: unknown): DatabaseUnreachableError {
  const reason = error instanceof Error ? error.message || (error as NodeJS.ErrnoException).code || error.name : String(error);
  return new DatabaseUnreachableError(
    `could not connect to ${description}: ${reason}. Check that the server is running and that the URL's host, port, user, password and database name are right`,
    error,
  );
}
