// Deterministic fault injection around a store `Database`: lost connections, ambiguous commits, lost notifications, serialization failures, slow statements — all chosen by a seeded PRNG so a failing seed replays.

import { DatabaseUnavailableError } from '@strata/store';
import type {
  Database,
  DatabaseProfile,
  EngineKind,
  NotificationMode,
  QueryOptions,
  QueryResult,
  Row,
  Subscription,
  Transaction,
  TransactionOptions,
} from '@strata/store';
import { realClock, type Clock } from './clock.js';
import { FAULT_KINDS, validatePlan, type FaultKind, type FaultPlan, type FaultRule } from './fault-plan.js';
import { SeededRandom } from './seeded-random.js';

/**
 * One fault the wrapper injected, as recorded in {@link FaultyDatabase.log}.
 *
 * @example
 * ```ts
 * // { kind: 'ambiguousCommit', operation: 17, sql: 'insert into strata.steps (workflow_id, …' }
 * for (const fault of db.log) console.error(fault.kind, fault.operation, fault.sql ?? fault.channel);
 * ```
 */
export interface InjectedFault {
  readonly kind: FaultKind;
  /** 1-based index of the operation it hit (for `droppedDelivery`: of the delivery). */
  readonly operation: number;
  /** The statement (or, for transactions, the first matching statement), shortened. */
  readonly sql?: string;
  /** The notification channel, for `lostNotify` and `droppedDelivery`. */
  readonly channel?: string;
  /** The injected delay, for `slowStatement`. */
  readonly delayMs?: number;
  /** For `serializationBurst`: which failing attempt of the burst this is (1-based) and the burst length. */
  readonly attempt?: number;
  readonly burstLength?: number;
  /** For `queryConnectionLost`: whether the statement ran before the error. */
  readonly phase?: 'before' | 'after';
}

/**
 * Counters of a {@link FaultyDatabase}.
 *
 * @example
 * ```ts
 * const { operations, injected } = db.stats;
 * console.log(`${injected.lostBeforeCommit} of ${operations} operations lost their commit`);
 * ```
 */
export interface FaultStats {
  /** Operations seen (query, exec, notify, transaction, listen, and statements inside transactions). */
  readonly operations: number;
  /** Notifications that reached the wrapper's listeners, dropped or not. */
  readonly deliveries: number;
  /** Entries in the log, per kind (every failed attempt of a burst counts). */
  readonly injected: Readonly<Record<FaultKind, number>>;
}

/**
 * What a connection-error factory is told about the fault it makes an error for.
 *
 * @example
 * ```ts
 * const connectionError = (context: ConnectionErrorContext) =>
 *   new MyUnavailableError(`lost (${context.kind} at operation ${context.operation})`);
 * ```
 */
export interface ConnectionErrorContext {
  readonly kind: 'lostBeforeCommit' | 'ambiguousCommit' | 'queryConnectionLost';
  readonly operation: number;
  readonly sql?: string;
}

/**
 * Options of {@link faultyDatabase}.
 *
 * @example
 * ```ts
 * const options: FaultyDatabaseOptions = { seed: testSeed('ambiguous commits'), faults: { ambiguousCommit: { probability: 0.2 } } };
 * ```
 */
export interface FaultyDatabaseOptions {
  /** Seed of every random choice; the same seed and the same sequence of operations inject the same faults. */
  readonly seed: number;
  /** Which faults to inject. */
  readonly faults: FaultPlan;
  /**
   * Makes the error thrown for a lost connection. Default: the store's `DatabaseUnavailableError`
   * (code `STRATA_DATABASE_UNAVAILABLE`) with {@link pgConnectionLostError} as its cause and
   * `commitUnknown` true for `ambiguousCommit`, as the PostgreSQL driver raises it. Pass
   * `pgConnectionLostError` to get the raw node-postgres shape instead (inside a transaction on
   * PostgreSQL, the store itself then wraps it in a `DatabaseUnavailableError`, as it would a real one).
   */
  readonly connectionError?: (context: ConnectionErrorContext) => Error;
  /** Clock of `slowStatement` delays; pass a `ManualClock` to control them. Default: real timers. */
  readonly clock?: Clock;
}

/**
 * A {@link Database} that injects faults; see {@link faultyDatabase}.
 *
 * @example
 * ```ts
 * const db = faultyDatabase(inner, { seed: 1, faults: { lostNotify: { probability: 1 } } });
 * await db.notify('jobs', 'x'); // dropped
 * db.log;       // [{ kind: 'lostNotify', operation: 1, channel: 'jobs' }]
 * db.setEnabled(false); // from here on, a plain pass-through
 * ```
 */
export interface FaultyDatabase extends Database {
  /** The wrapped database (no faults). */
  readonly inner: Database;
  /** The seed the faults are drawn from. */
  readonly seed: number;
  /** Every injected fault, in the order it was injected. */
  readonly log: readonly InjectedFault[];
  /** Operation, delivery and fault counters. */
  readonly stats: FaultStats;
  /** True after `setEnabled(false)`: operations pass through untouched. */
  readonly paused: boolean;
  /** Stops (`false`) or resumes (`true`) injecting; operations are still counted while paused. */
  setEnabled(enabled: boolean): void;
  /** The seed and the log as text, one fault per line, for a failing test's message. */
  formatLog(): string;
}

/** Longest SQL kept in a log entry: enough to tell statements apart, short enough to print a long log. */
const MAX_SQL_SNIPPET_CHARS = 80;

/** What node-postgres says when the server's socket closes under a client (pg/lib/client.js). */
const PG_CONNECTION_LOST_MESSAGE = 'Connection terminated unexpectedly';

/** Errors made by the wrapper, so a test can tell an injected failure from a real one. */
const injectedErrors = new WeakSet<object>();

/**
 * An error shaped like the one node-postgres raises when the server goes away mid-query: a plain
 * `Error` with the message `Connection terminated unexpectedly` and no SQLSTATE. The cause of the
 * default connection error of {@link faultyDatabase}; pass it as `connectionError` to inject the
 * raw driver error instead.
 *
 * @example
 * ```ts
 * pgConnectionLostError().message; // 'Connection terminated unexpectedly'
 * ```
 */
export function pgConnectionLostError(): Error {
  return new Error(PG_CONNECTION_LOST_MESSAGE);
}

/**
 * An error shaped like a PostgreSQL serialization failure from node-postgres: `code: '40001'`,
 * `severity: 'ERROR'` and the server's message. The store's retry treats it as a real conflict.
 *
 * @example
 * ```ts
 * isRetryableConflict(pgSerializationError()); // true (from @strata/store)
 * ```
 */
export function pgSerializationError(): Error & { code: string; severity: string } {
  return Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001', severity: 'ERROR' });
}

/**
 * True when `error` was thrown by a {@link faultyDatabase} as an injected fault (not by the
 * database itself).
 *
 * @example
 * ```ts
 * try { await db.query('select 1'); } catch (error) { if (!isInjectedFault(error)) throw error; }
 * ```
 */
export function isInjectedFault(error: unknown): boolean {
  return typeof error === 'object' && error !== null && injectedErrors.has(error);
}

/**
 * Wraps `inner` in a {@link FaultyDatabase}: every call is forwarded, and the faults of
 * `options.faults` are injected where a seeded PRNG says so. Each fault kind draws from its own
 * stream, so with the same seed and the same sequence of operations the same faults hit the same
 * operations, and `log` comes out equal. Injected connection errors are what the store's
 * PostgreSQL driver throws on a lost server, a `DatabaseUnavailableError` caused by node-postgres's
 * `Connection terminated unexpectedly` (or what `options.connectionError` makes); a burst of serialization
 * failures is thrown from inside the inner transaction's body, so the store's real retry loop
 * handles it.
 *
 * @throws {InvalidFaultPlanError} for an unknown kind or an out-of-range setting.
 *
 * @example
 * ```ts
 * import { openDatabase } from '@strata/store';
 * import { faultyDatabase, testSeed } from '@strata/testing';
 *
 * const db = faultyDatabase(await openDatabase('memory://'), {
 *   seed: testSeed('orders survive lost commits'),
 *   faults: {
 *     lostBeforeCommit: { probability: 0.2, match: /insert into orders/ },
 *     serializationBurst: { probability: 0.1, attempts: 1, attemptsMax: 3 },
 *   },
 * });
 * try {
 *   await db.transaction((tx) => tx.query('insert into orders (id) values ($1)', [1]));
 * } catch (error) {
 *   console.error(db.formatLog()); // seed 123: 1 fault(s) injected: #1 lostBeforeCommit insert into orders …
 * }
 * db.setEnabled(false); // let the test drain without faults
 * ```
 */
export function faultyDatabase(inner: Database, options: FaultyDatabaseOptions): FaultyDatabase {
  return new FaultInjectingDatabase(inner, options);
}

/** Per-transaction-call state shared by its attempts. */
interface TransactionState {
  readonly operation: number;
  /** Attempts of a burst still to fail; undefined until the first eligible statement decides. */
  burstRemaining: number | undefined;
  burstLength: number;
  /** Statements of the latest attempt: the one that committed, once inner.transaction resolves. */
  lastStatements: string[];
}

/** Per-attempt state. */
interface AttemptState {
  readonly statements: string[];
  /** The injected serialization failure of this attempt: later statements fail as on an aborted transaction. */
  failure: Error | undefined;
}

class FaultInjectingDatabase implements FaultyDatabase {
  readonly inner: Database;
  readonly seed: number;
  readonly #plan: FaultPlan;
  readonly #clock: Clock;
  readonly #connectionError: (context: ConnectionErrorContext) => Error;
  readonly #streams: Record<FaultKind, SeededRandom>;
  /** Secondary draws (delays, burst lengths, phases), apart so they never shift the yes/no stream. */
  readonly #detailStreams: Record<FaultKind, SeededRandom>;
  readonly #log: InjectedFault[] = [];
  readonly #listenRestored = new Set<() => void>();
  readonly #decided: Record<FaultKind, number>;
  readonly #injected: Record<FaultKind, number>;
  #operations = 0;
  #deliveries = 0;
  #enabled = true;

  constructor(inner: Database, options: FaultyDatabaseOptions) {
    const root = new SeededRandom(options.seed);
    this.inner = inner;
    this.seed = options.seed;
    this.#plan = validatePlan(options.faults);
    this.#clock = options.clock ?? realClock;
    this.#connectionError =
      options.connectionError ??
      ((context) => new DatabaseUnavailableError(inner.description, pgConnectionLostError(), context.kind === 'ambiguousCommit'));
    this.#streams = perKind((kind) => root.fork(kind));
    this.#detailStreams = perKind((kind) => root.fork(`${kind}:detail`));
    this.#decided = perKind(() => 0);
    this.#injected = perKind(() => 0);
  }

  get engine(): EngineKind {
    return this.inner.engine;
  }

  get notificationMode(): NotificationMode {
    return this.inner.notificationMode;
  }

  get profile(): DatabaseProfile {
    return this.inner.profile;
  }

  get description(): string {
    return this.inner.description;
  }

  get log(): readonly InjectedFault[] {
    return this.#log;
  }

  get stats(): FaultStats {
    return { operations: this.#operations, deliveries: this.#deliveries, injected: { ...this.#injected } };
  }

  get paused(): boolean {
    return !this.#enabled;
  }

  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
  }

  formatLog(): string {
    const header = `seed ${this.seed}: ${this.#log.length} fault(s) injected in ${this.#operations} operation(s)`;
    return [header, ...this.#log.map(formatFault)].join('\n');
  }

  async query<R extends Row = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    const operation = this.#nextOperation();
    await this.#maybeSlow(operation, sql);
    const phase = this.#connectionLostPhase(operation, sql);
    if (phase === 'before') throw this.#lostConnection('queryConnectionLost', operation, sql, phase);
    const result = await this.inner.query<R>(sql, params, options);
    if (phase === 'after') throw this.#lostConnection('queryConnectionLost', operation, sql, phase);
    return result;
  }

  async exec(sql: string): Promise<void> {
    const operation = this.#nextOperation();
    await this.#maybeSlow(operation, sql);
    const phase = this.#connectionLostPhase(operation, sql);
    if (phase === 'before') throw this.#lostConnection('queryConnectionLost', operation, sql, phase);
    await this.inner.exec(sql);
    if (phase === 'after') throw this.#lostConnection('queryConnectionLost', operation, sql, phase);
  }

  async notify(channel: string, payload: string): Promise<void> {
    const operation = this.#nextOperation();
    if (this.#decide('lostNotify', operation, [channel])) {
      this.#record({ kind: 'lostNotify', operation, channel });
      return;
    }
    await this.inner.notify(channel, payload);
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const state: TransactionState = { operation: this.#nextOperation(), burstRemaining: undefined, burstLength: 0, lastStatements: [] };
    const result = await this.inner.transaction(async (tx) => {
      const attempt: AttemptState = { statements: [], failure: undefined };
      state.lastStatements = attempt.statements;
      const value = await fn(this.#wrapTransaction(tx, state, attempt));
      // The server would have aborted the transaction; a body that swallowed the failure must not commit.
      if (attempt.failure !== undefined) throw attempt.failure;
      if (this.#decide('lostBeforeCommit', state.operation, attempt.statements)) {
        throw this.#lostConnection('lostBeforeCommit', state.operation, firstMatch(this.#plan.lostBeforeCommit, attempt.statements));
      }
      return value;
    }, options);
    if (this.#decide('ambiguousCommit', state.operation, state.lastStatements)) {
      throw this.#lostConnection('ambiguousCommit', state.operation, firstMatch(this.#plan.ambiguousCommit, state.lastStatements));
    }
    return result;
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<Subscription> {
    this.#nextOperation();
    return this.inner.listen(channel, (payload) => {
      const delivery = ++this.#deliveries;
      if (this.#decide('droppedDelivery', delivery, [channel])) {
        this.#record({ kind: 'droppedDelivery', operation: delivery, channel });
        if (this.#plan.droppedDelivery?.signalRestored === true) queueMicrotask(() => this.#signalListenRestored());
        return;
      }
      handler(payload);
    });
  }

  onListenRestored(callback: () => void): () => void {
    this.#listenRestored.add(callback);
    const offInner = this.inner.onListenRestored?.(callback);
    return () => {
      this.#listenRestored.delete(callback);
      offInner?.();
    };
  }

  #signalListenRestored(): void {
    for (const callback of this.#listenRestored) {
      try {
        callback();
      } catch {
        // Like the store's drivers: one callback's failure must not keep the others from re-checking.
      }
    }
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  #wrapTransaction(tx: Transaction, state: TransactionState, attempt: AttemptState): Transaction {
    const beforeStatement = async (sql: string): Promise<number> => {
      const operation = this.#nextOperation();
      if (attempt.failure !== undefined) throw abortedTransactionError();
      attempt.statements.push(sql);
      this.#maybeSerializationFailure(operation, sql, state, attempt);
      await this.#maybeSlow(operation, sql);
      return operation;
    };
    return {
      isolation: tx.isolation,
      attempt: tx.attempt,
      query: async (sql, params, options) => {
        await beforeStatement(sql);
        return tx.query(sql, params, options);
      },
      exec: async (sql) => {
        await beforeStatement(sql);
        return tx.exec(sql);
      },
      notify: async (channel, payload) => {
        const operation = this.#nextOperation();
        if (this.#decide('lostNotify', operation, [channel])) {
          this.#record({ kind: 'lostNotify', operation, channel });
          return;
        }
        return tx.notify(channel, payload);
      },
    };
  }

  /** Throws 40001 in place of `sql` while the transaction's burst lasts (one per attempt). */
  #maybeSerializationFailure(operation: number, sql: string, state: TransactionState, attempt: AttemptState): void {
    const rule = this.#plan.serializationBurst;
    if (rule === undefined || (rule.match !== undefined && !rule.match.test(sql))) return;
    if (state.burstRemaining === undefined) {
      // The first eligible statement of the call decides whether this transaction gets a burst.
      const hit = this.#decide('serializationBurst', state.operation, [sql]);
      const minAttempts = rule.attempts ?? 1;
      state.burstLength = hit ? this.#detailStreams.serializationBurst.int(minAttempts, rule.attemptsMax ?? minAttempts) : 0;
      state.burstRemaining = state.burstLength;
    }
    if (state.burstRemaining === 0 || !this.#enabled) return;
    state.burstRemaining--;
    const error = pgSerializationError();
    injectedErrors.add(error);
    attempt.failure = error;
    this.#record({
      kind: 'serializationBurst',
      operation,
      sql: snippet(sql),
      attempt: state.burstLength - state.burstRemaining,
      burstLength: state.burstLength,
    });
    throw error;
  }

  async #maybeSlow(operation: number, sql: string): Promise<void> {
    const rule = this.#plan.slowStatement;
    if (rule === undefined || !this.#decide('slowStatement', operation, [sql])) return;
    const delayMs = this.#detailStreams.slowStatement.int(rule.minDelayMs ?? 0, rule.maxDelayMs);
    this.#record({ kind: 'slowStatement', operation, sql: snippet(sql), delayMs });
    await this.#clock.sleep(delayMs);
  }

  /** Whether a statement outside a transaction loses its connection, and when. */
  #connectionLostPhase(operation: number, sql: string): 'before' | 'after' | undefined {
    const rule = this.#plan.queryConnectionLost;
    if (rule === undefined || !this.#decide('queryConnectionLost', operation, [sql])) return undefined;
    const phase = rule.phase ?? 'before';
    if (phase !== 'either') return phase;
    return this.#detailStreams.queryConnectionLost.chance(0.5) ? 'after' : 'before';
  }

  #lostConnection(kind: ConnectionErrorContext['kind'], operation: number, sql: string | undefined, phase?: 'before' | 'after'): Error {
    const shortSql = sql === undefined ? undefined : snippet(sql);
    this.#record({ kind, operation, ...(shortSql === undefined ? {} : { sql: shortSql }), ...(phase === undefined ? {} : { phase }) });
    const error = this.#connectionError({ kind, operation, ...(shortSql === undefined ? {} : { sql: shortSql }) });
    injectedErrors.add(error);
    return error;
  }

  /** Draws the yes/no of one eligible operation from `kind`'s stream; ineligible ones draw nothing. */
  #decide(kind: FaultKind, index: number, subjects: readonly string[]): boolean {
    const rule = this.#plan[kind];
    if (rule === undefined || !this.#enabled) return false;
    if (index <= (rule.afterOperations ?? 0)) return false;
    if (rule.maxCount !== undefined && this.#decided[kind] >= rule.maxCount) return false;
    const match = rule.match;
    if (match !== undefined && !subjects.some((subject) => match.test(subject))) return false;
    if (!this.#streams[kind].chance(rule.probability)) return false;
    this.#decided[kind]++;
    return true;
  }

  #record(fault: InjectedFault): void {
    this.#log.push(fault);
    this.#injected[fault.kind]++;
  }

  #nextOperation(): number {
    return ++this.#operations;
  }
}

/** What PostgreSQL answers to a statement after an error aborted the transaction (SQLSTATE 25P02). */
function abortedTransactionError(): Error {
  return Object.assign(new Error('current transaction is aborted, commands ignored until end of transaction block'), {
    code: '25P02',
    severity: 'ERROR',
  });
}

function perKind<V>(make: (kind: FaultKind) => V): Record<FaultKind, V> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, make(kind)])) as Record<FaultKind, V>;
}

/** The first statement the rule matched (the first statement when it has no `match`). */
function firstMatch(rule: FaultRule | undefined, statements: readonly string[]): string | undefined {
  const match = rule?.match;
  return match === undefined ? statements[0] : statements.find((sql) => match.test(sql));
}

function snippet(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length <= MAX_SQL_SNIPPET_CHARS ? flat : `${flat.slice(0, MAX_SQL_SNIPPET_CHARS - 1)}…`;
}

function formatFault(fault: InjectedFault): string {
  const details = [
    fault.channel === undefined ? undefined : `channel ${fault.channel}`,
    fault.delayMs === undefined ? undefined : `${fault.delayMs} ms`,
    fault.attempt === undefined ? undefined : `attempt ${fault.attempt}/${fault.burstLength}`,
    fault.phase === undefined ? undefined : `${fault.phase} the statement ran`,
    fault.sql,
  ].filter((part) => part !== undefined);
  return `  #${fault.operation} ${fault.kind}: ${details.join('; ')}`;
}
