import type { DatabaseProfile } from './profile.js';

/**
 * Public types of the store layer. Drivers implement {@link Database}; upper layers (transact,
 * cloud) depend only on these types, never on a driver.
 */

/** A result row: column name to value, as the driver decoded it. */
export type Row = Record<string, unknown>;

/** What a query returns. */
export interface QueryResult<R extends Row = Row> {
  /** The rows, in the order the server returned them. */
  readonly rows: R[];
  /** Rows returned or affected (INSERT/UPDATE/DELETE count). */
  readonly rowCount: number;
}

/** Options for one query. */
export interface QueryOptions {
  /**
   * Keep the statement prepared on the connection and reuse the plan on later calls with the
   * same text (PostgreSQL named statements). Use for fixed SQL on hot paths; leave off for SQL
   * that is built dynamically, since every distinct text would stay prepared.
   */
  readonly prepare?: boolean;
}

/** Anything SQL can be sent to: a database or an open transaction. */
export interface Queryable {
  /**
   * Runs one parameterized statement (`$1`, `$2`, …).
   *
   * @example
   * const { rows } = await db.query<{ n: number }>('select $1::int + 1 as n', [41]);
   * rows[0]?.n; // 42
   */
  query<R extends Row = Row>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;

  /**
   * Runs a script of one or more statements without parameters (migrations, DDL).
   *
   * @example
   * await db.exec('create table t (id int); insert into t values (1);');
   */
  exec(sql: string): Promise<void>;

  /**
   * Sends `payload` to every listener of `channel`. Inside a transaction it is delivered only
   * if and when the transaction commits, on every driver and in polling mode too.
   *
   * @example
   * await db.transaction(async (tx) => {
   *   await tx.query('insert into jobs (id) values ($1)', [id]);
   *   await tx.notify('jobs', id); // listeners hear of it after the commit
   * });
   */
  notify(channel: string, payload: string): Promise<void>;
}

/** A transaction in progress; only valid inside the callback given to {@link Database.transaction}. */
export interface Transaction extends Queryable {
  /** The isolation level this transaction runs at. */
  readonly isolation: IsolationLevel;
  /** 1 on the first try, 2 after the first serialization conflict, and so on. */
  readonly attempt: number;
}

/** SQL isolation levels, as PostgreSQL spells them. */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/** Options for {@link Database.transaction}. */
export interface TransactionOptions {
  /**
   * Isolation level; default `'read committed'`. Everything in Strata also works at `'serializable'`.
   * On the portable profile every transaction runs `'serializable'`, whatever is asked for.
   */
  readonly isolation?: IsolationLevel;
  /** Open the transaction READ ONLY. */
  readonly readOnly?: boolean;
  /**
   * How many times the body may run in total when the database reports a serialization
   * failure (SQLSTATE 40001) or a deadlock (40P01). Default {@link DEFAULT_MAX_TRANSACTION_ATTEMPTS}
   * ({@link SERIALIZABLE_MAX_TRANSACTION_ATTEMPTS} on the portable profile).
   */
  readonly maxAttempts?: number;
  /**
   * On a PostgreSQL server: the server ends the transaction (and its session) when it sits idle
   * between two statements for longer than this, so a client that was cut off or died
   * mid-transaction does not keep its locks until TCP gives up, which takes hours
   * (`SET LOCAL idle_in_transaction_session_timeout`, sent with BEGIN: no extra round trip).
   * A transaction ended this way fails with a connection error. Ignored by embedded PGlite (one
   * process, no network in between). Whole milliseconds, at least 1.
   *
   * @example
   * await db.transaction(async (tx) => { ... }, { idleTimeoutMs: 10_000 });
   */
  readonly idleTimeoutMs?: number;
}

/** Default bound on transaction attempts: conflicts past ten tries mean a hot spot to fix, not bad luck. */
export const DEFAULT_MAX_TRANSACTION_ATTEMPTS = 10;

/**
 * The default bound where every transaction is SERIALIZABLE (the portable profile), for
 * transactions and lone statements alike: there even writes to different rows conflict when
 * their reads overlap, so many concurrent writers retry often (measured: batches of workflow ends
 * with 256 workflows in flight exhausted ten attempts), and a write path that gave up would
 * leave its work undone. With the backoff capped at 500 ms, 100 attempts take up to ~25 s.
 */
export const SERIALIZABLE_MAX_TRANSACTION_ATTEMPTS = 100;

/** A LISTEN subscription; `close()` stops delivery to its handler. */
export interface Subscription {
  close(): Promise<void>;
}

/** How a database delivers notifications: server LISTEN/NOTIFY, or a polled table. */
export type NotificationMode = 'listen' | 'poll';

/** The engine behind a {@link Database}. */
export type EngineKind = 'pglite' | 'postgres';

/**
 * One interface over every engine Strata runs on. Get one with `openDatabase`.
 *
 * @example
 * import { openDatabase } from '@strata/store';
 * const db = await openDatabase('./.strata');           // embedded PGlite
 * // const db = await openDatabase('postgres://localhost/app'); // a PostgreSQL server
 * await db.transaction(async (tx) => {
 *   await tx.query('update accounts set balance = balance - 10 where id = $1', [1]);
 *   await tx.query('update accounts set balance = balance + 10 where id = $1', [2]);
 * }, { isolation: 'serializable' });
 * await db.close();
 */
export interface Database extends Queryable {
  /** Which engine this is. */
  readonly engine: EngineKind;
  /** How notifications are delivered on this database. */
  readonly notificationMode: NotificationMode;
  /**
   * What the engine can do that Strata's SQL relies on (see {@link DatabaseProfile}): upper layers
   * pick their statements by it, e.g. a claim without `SKIP LOCKED` on the portable profile.
   *
   * @example
   * if (!db.profile.capabilities.skipLocked) { ... } // claim with UPDATE … RETURNING instead
   */
  readonly profile: DatabaseProfile;
  /** A redacted description (URL without password, or the PGlite directory) for messages. */
  readonly description: string;

  /**
   * Runs `fn` in a transaction and commits it. Serialization failures and deadlocks are
   * retried automatically with jittered exponential backoff, so `fn` may run more than once and
   * must only touch the database through `tx` (keep side effects out of it). Any other error
   * rolls back and is rethrown.
   *
   * @example
   * const total = await db.transaction(async (tx) => {
   *   const { rows } = await tx.query<{ sum: string }>('select sum(amount)::text as sum from orders');
   *   return Number(rows[0]?.sum ?? 0);
   * }, { isolation: 'serializable' });
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;

  /**
   * Calls `handler` with the payload of every notification on `channel` until the returned
   * subscription is closed. Channel names are lower-case SQL identifiers.
   *
   * @example
   * const sub = await db.listen('orders', (payload) => console.log('order', payload));
   * await db.notify('orders', '42');
   * await sub.close();
   */
  listen(channel: string, handler: (payload: string) => void): Promise<Subscription>;

  /**
   * Calls `callback` each time the connection that listens was lost and is listening again:
   * notifications sent in between were not delivered, so listeners should re-check the state
   * they wait on. Engines whose notifications cannot be lost (embedded, polled) never call it.
   * Returns a function that removes the callback. Optional: a wrapper may leave it out.
   *
   * @example
   * const off = db.onListenRestored?.(() => recheckEverything());
   */
  onListenRestored?(callback: () => void): () => void;

  /** Closes connections and subscriptions. Calls after close fail with `DatabaseClosedError`. */
  close(): Promise<void>;
}
