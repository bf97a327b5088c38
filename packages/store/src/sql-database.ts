import type {
  Database,
  EngineKind,
  IsolationLevel,
  NotificationMode,
  QueryOptions,
  QueryResult,
  Queryable,
  Row,
  Subscription,
  Transaction,
  TransactionOptions,
} from './interfaces.js';
import { DEFAULT_MAX_TRANSACTION_ATTEMPTS, SERIALIZABLE_MAX_TRANSACTION_ATTEMPTS } from './interfaces.js';
import { DatabaseClosedError, InvalidArgumentError } from './errors.js';
import { beginStatement, retryConflicts } from './retry.js';
import { PollingNotifier, insertNotification } from './polling-notifier.js';
import type { DatabaseProfile } from './profile.js';

const ISOLATION_LEVELS: ReadonlySet<string> = new Set(['read committed', 'repeatable read', 'serializable']);
/** Channel names are spliced into LISTEN, so they must be plain identifiers; 63 is PostgreSQL's NAMEDATALEN - 1. */
const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws unless `channel` is a lower-case identifier usable with LISTEN. */
export function assertChannel(channel: string): void {
  if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) {
    throw new InvalidArgumentError(
      `notification channel ${JSON.stringify(channel)} is invalid: use 1-63 lower-case letters, digits or _ , starting with a letter or _`,
    );
  }
}

/** The raw statements one connection can run; what a driver supplies. */
export interface RawConnection {
  query<R extends Row>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<QueryResult<R>>;
  exec(sql: string): Promise<void>;
}

/** Settings common to every driver. */
export interface DriverSettings {
  readonly notificationMode: NotificationMode;
  readonly pollIntervalMs: number;
  /** The capability profile; without weak isolation every transaction is SERIALIZABLE and every statement retries 40001. */
  readonly profile: DatabaseProfile;
}

/**
 * The part of a {@link Database} that is the same on every engine: conflict retry, transactional
 * notify in either notification mode, argument checks and the closed state. Drivers extend it
 * with the engine-specific pieces.
 */
export abstract class SqlDatabase implements Database {
  abstract readonly engine: EngineKind;
  abstract readonly description: string;
  readonly notificationMode: NotificationMode;
  readonly profile: DatabaseProfile;
  /** Whether the engine enforces `idleTimeoutMs` (a server does; embedded PGlite has no network to be cut off from). */
  protected readonly idleTimeouts: boolean = false;
  #poller: PollingNotifier | undefined;
  #closed = false;
  readonly #listenRestored = new Set<() => void>();

  protected constructor(settings: DriverSettings) {
    this.notificationMode = settings.notificationMode;
    this.profile = settings.profile;
    if (settings.notificationMode === 'poll') {
      this.#poller = new PollingNotifier(this, settings.pollIntervalMs);
    }
  }

  /** Runs one statement outside any transaction. */
  protected abstract runQuery<R extends Row>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<QueryResult<R>>;
  /** Runs a multi-statement script outside any transaction. */
  protected abstract runExec(sql: string): Promise<void>;
  /** One attempt: BEGIN with `begin`, run `body` on the transaction's connection, COMMIT (ROLLBACK on error). */
  protected abstract runTransaction<T>(begin: string, body: (connection: RawConnection) => Promise<T>): Promise<T>;
  /** LISTEN on the server. */
  protected abstract listenNative(channel: string, handler: (payload: string) => void): Promise<Subscription>;
  /** Releases the driver's connections. */
  protected abstract closeDriver(): Promise<void>;

  async query<R extends Row = Row>(sql: string, params: readonly unknown[] = [], options: QueryOptions = {}): Promise<QueryResult<R>> {
    this.#assertOpen();
    return this.#statement(() => this.runQuery<R>(sql, params, options));
  }

  async exec(sql: string): Promise<void> {
    this.#assertOpen();
    return this.#statement(() => this.runExec(sql));
  }

  async notify(channel: string, payload: string): Promise<void> {
    assertChannel(channel);
    this.#assertOpen();
    await this.#statement(() => notifyOn(this.notificationMode, (sql, params) => this.runQuery(sql, params, { prepare: true }), channel, payload));
    this.#poller?.pollSoon();
  }

  /**
   * A statement outside any transaction. Where SERIALIZABLE is the only isolation, a lone
   * statement is a transaction of its own that the engine may abort with 40001 (it committed
   * nothing then), so it is retried like a transaction; elsewhere it runs once.
   */
  #statement<T>(run: () => Promise<T>): Promise<T> {
    return this.profile.capabilities.weakIsolation ? run() : retryConflicts(run, this.#defaultAttempts);
  }

  /** The attempts a transaction (or, without weak isolation, a lone statement) gets unless told otherwise. */
  get #defaultAttempts(): number {
    return this.profile.capabilities.weakIsolation ? DEFAULT_MAX_TRANSACTION_ATTEMPTS : SERIALIZABLE_MAX_TRANSACTION_ATTEMPTS;
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.#assertOpen();
    const requested: IsolationLevel = options.isolation ?? 'read committed';
    if (!ISOLATION_LEVELS.has(requested)) {
      throw new InvalidArgumentError(
        `isolation ${JSON.stringify(requested)} is not one of 'read committed', 'repeatable read', 'serializable'`,
      );
    }
    // Serializable is at least as strong as what was asked for; conflicts are retried below.
    const isolation: IsolationLevel = this.profile.capabilities.weakIsolation ? requested : 'serializable';
    if (typeof fn !== 'function') throw new InvalidArgumentError('transaction() needs a function (tx) => Promise<T>');
    const { idleTimeoutMs } = options;
    if (idleTimeoutMs !== undefined && (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 1)) {
      throw new InvalidArgumentError(`idleTimeoutMs must be a whole number of milliseconds of at least 1, got ${String(idleTimeoutMs)}`);
    }
    const begin = beginStatement(isolation, options.readOnly === true, this.idleTimeouts ? idleTimeoutMs : undefined);
    const mode = this.notificationMode;
    let notified = false;
    const result = await retryConflicts(
      (attempt) =>
        this.runTransaction(begin, (connection) => {
          const tx: Transaction = {
            isolation,
            attempt,
            query: (sql, params = [], queryOptions = {}) => connection.query(sql, params, queryOptions),
            exec: (sql) => connection.exec(sql),
            notify: async (channel, payload) => {
              assertChannel(channel);
              notified = true;
              await notifyOn(mode, (sql, params) => connection.query(sql, params, { prepare: true }), channel, payload);
            },
          };
          return fn(tx);
        }),
      options.maxAttempts ?? this.#defaultAttempts,
    );
    if (notified) this.#poller?.pollSoon();
    return result;
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<Subscription> {
    assertChannel(channel);
    if (typeof handler !== 'function') throw new InvalidArgumentError('listen() needs a handler function (payload) => void');
    this.#assertOpen();
    if (this.#poller) return this.#poller.subscribe(channel, handler);
    return this.listenNative(channel, handler);
  }

  onListenRestored(callback: () => void): () => void {
    this.#listenRestored.add(callback);
    return () => this.#listenRestored.delete(callback);
  }

  /** Drivers call this when their listening connection is back after a loss. */
  protected listenRestored(): void {
    for (const callback of this.#listenRestored) {
      try {
        callback();
      } catch {
        // A callback's failure must not stop the others; it only triggers re-checks.
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#poller?.stop();
    await this.closeDriver();
  }

  /** True once close() was called. */
  protected get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new DatabaseClosedError(this.description);
  }
}

async function notifyOn(
  mode: NotificationMode,
  run: (sql: string, params: readonly unknown[]) => Promise<unknown>,
  channel: string,
  payload: string,
): Promise<void> {
  if (typeof payload !== 'string') throw new InvalidArgumentError('notify() payload must be a string');
  if (mode === 'poll') await insertNotification(run, channel, payload);
  else await run('select pg_notify($1, $2)', [channel, payload]);
}

/** Read-only view used by the polling notifier and migrations. */
export type QueryableDatabase = Pick<Queryable, 'query' | 'exec'>;
