// The KV database handle: opens the store and its tables, and runs transactions with
// FoundationDB's contract (optimistic, serializable, retried, with idempotent commits).

import { randomBytes } from 'node:crypto';
import {
  DatabaseUnavailableError,
  InvalidArgumentError,
  TransactionConflictError,
  isConnectionError,
  isRetryableConflict,
  loadMigrations,
  migrate,
  openDatabase,
  StrataError,
  type Database,
  type Migratable,
} from '@strata/store';
import { mapKey } from './bytes.js';
import type { KvDatabase, TransactOptions, Transaction } from './interfaces.js';
import { KvTransaction, type PendingWatch } from './transaction.js';
import { findCommit, lockCommits } from './sql/commit.js';
import { GroupCommitter } from './group-commit.js';
import { readValues, readVersion } from './sql/read.js';
import { versionstampOf } from './versionstamp.js';
import { WatchRegistry } from './watches.js';
import { CommitUnknownError, KvClosedError, NoCommitVersionError, NotCommittedError } from '../errors.js';

/**
 * Default bound on runs of a transaction body. FoundationDB retries without bound; a bound turns
 * a livelock into an error. 100 lets 64 clients read-modify-write one hot key and all commit.
 */
export const DEFAULT_MAX_ATTEMPTS = 100;
/** First backoff ceiling after a conflict; doubled per attempt (full jitter), as FoundationDB's client does. */
const BASE_BACKOFF_MS = 1;
/** Backoff ceiling cap: a conflict loser waits at most this long before its next run. */
const MAX_BACKOFF_MS = 100;
/** Tries at finding out whether a commit whose acknowledgement was lost committed, while the database is away. */
const MAX_COMMIT_LOOKUPS = 20;
/** Wait between those tries. */
const COMMIT_LOOKUP_DELAY_MS = 250;
/** Bytes of a commit id: random, so two clients never pick the same. */
const COMMIT_ID_BYTES = 16;

/** Isolation of the SQL transactions that hold a KV transaction's snapshot. */
export type SnapshotIsolation = 'repeatable read' | 'serializable';

/** Options of {@link openKv}. */
export interface OpenKvOptions {
  /** A store database, or a URL/path to open one (`memory://`, a directory, `postgres://…`); an opened one is closed by `close()`. */
  readonly database: Database | string;
  /**
   * Isolation of the read-only SQL transaction that holds each attempt's snapshot: `'repeatable
   * read'` (default) or `'serializable'`. Either way KV transactions are serializable; that comes
   * from the KV's own conflict check, not from the SQL isolation.
   */
  readonly isolation?: SnapshotIsolation;
  /** Default bound on runs of a body; default {@link DEFAULT_MAX_ATTEMPTS}. */
  readonly maxAttempts?: number;
  /** Clock of the 5 s duration limit, in milliseconds; default `Date.now`. For tests. */
  readonly now?: () => number;
  /**
   * Called between the body and its commit; a test seam that lets a deterministic simulation
   * commit other transactions exactly there (a conflict on demand).
   */
  readonly beforeCommit?: () => Promise<void>;
}

/** Thrown inside an attempt to run the body again; never escapes `transact`. */
class RetryAttempt extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RetryAttempt';
  }
}

/**
 * Opens a KV database on a store database (creating its tables on first use).
 *
 * @example
 * import { openKv, pack } from '@strata/kv';
 * const kv = await openKv({ database: './.strata' });            // embedded
 * // const kv = await openKv({ database: 'postgres://localhost/app' });
 * const hits = pack(['hits']);
 * await kv.transact(async (tr) => tr.add(hits, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)));
 * await kv.close();
 */
export async function openKv(options: OpenKvOptions): Promise<KvDatabase> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('openKv() takes an options object: { database }');
  const isolation = options.isolation ?? 'repeatable read';
  if (isolation !== 'repeatable read' && isolation !== 'serializable') {
    throw new InvalidArgumentError(`isolation must be 'repeatable read' or 'serializable', got ${JSON.stringify(isolation)}`);
  }
  const maxAttempts = checkAttempts(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  const owned = typeof options.database === 'string';
  if (!owned && (options.database === null || typeof options.database !== 'object')) {
    throw new InvalidArgumentError('openKv() needs database: a store Database, or a URL or directory to open one');
  }
  const db = typeof options.database === 'string' ? await openDatabase(options.database) : options.database;
  try {
    await migrateKv(db);
  } catch (error) {
    if (owned) await db.close();
    throw error;
  }
  return new KvStore(db, owned, { isolation, maxAttempts, now: options.now ?? Date.now, beforeCommit: options.beforeCommit });
}

/**
 * Creates or updates the KV tables in `db` (the `kv` component's numbered migrations). `openKv`
 * calls it; call it yourself before `kvIn` on a database no `openKv` has opened.
 *
 * @example
 * await migrateKv(db);
 */
export async function migrateKv(db: Migratable): Promise<void> {
  await migrate(db, 'kv', loadMigrations(new URL('../../migrations/', import.meta.url)));
}

interface Settings {
  readonly isolation: SnapshotIsolation;
  readonly maxAttempts: number;
  readonly now: () => number;
  readonly beforeCommit: (() => Promise<void>) | undefined;
}

/** What one attempt's read phase produced. */
interface ReadPhase<T> {
  readonly value: T;
  readonly readVersion: number;
  /** Reference values of the watches, for a transaction that wrote nothing. */
  readonly references?: Map<string, Uint8Array>;
}

class KvStore implements KvDatabase {
  readonly #db: Database;
  readonly #owned: boolean;
  readonly #settings: Settings;
  readonly #watches: WatchRegistry;
  readonly #committer: GroupCommitter;
  #closed = false;

  constructor(db: Database, owned: boolean, settings: Settings) {
    this.#db = db;
    this.#owned = owned;
    this.#settings = settings;
    this.#watches = new WatchRegistry(db);
    this.#committer = new GroupCommitter(db);
  }

  async transact<T>(fn: (tr: Transaction) => Promise<T>, options: TransactOptions = {}): Promise<T> {
    if (this.#closed) throw new KvClosedError('transact()');
    if (typeof fn !== 'function') throw new InvalidArgumentError('transact() needs a function async (tr) => …');
    const maxAttempts = checkAttempts(options.maxAttempts ?? this.#settings.maxAttempts);
    let lastCause: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (this.#closed) throw new KvClosedError('transact()');
      try {
        return await this.#attempt(fn);
      } catch (error) {
        if (!isRetryable(error)) throw error;
        lastCause = error;
        if (attempt < maxAttempts) await sleep(Math.random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1)));
      }
    }
    throw new NotCommittedError(maxAttempts, lastCause);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watches.close();
    if (this.#owned) await this.#db.close();
  }

  /** One run of the body and, if it wrote, its commit. */
  async #attempt<T>(fn: (tr: Transaction) => Promise<T>): Promise<T> {
    let tr: KvTransaction | undefined;
    try {
      const read = await this.#db.transaction(
        async (sql): Promise<ReadPhase<T>> => {
          const snapshotVersion = await readVersion(sql);
          const now = this.#settings.now;
          const attemptTr = new KvTransaction({ sql, now, startedAtMs: now(), newWatch: (key) => this.#watches.create(key) });
          tr = attemptTr;
          const value = await fn(attemptTr);
          attemptTr.beginCommit();
          if (!attemptTr.buffer.isEmpty || attemptTr.watches.length === 0) return { value, readVersion: snapshotVersion };
          return { value, readVersion: snapshotVersion, references: await readValues(sql, attemptTr.watches.map((w) => mapKey(w.key))) };
        },
        { isolation: this.#settings.isolation, readOnly: true, maxAttempts: 1 },
      );
      const committed = tr as KvTransaction | undefined;
      if (committed === undefined) throw new Error('invariant: the read phase made a transaction');
      if (committed.buffer.isEmpty) {
        committed.finish();
        committed.versionstamp.reject(new NoCommitVersionError('it wrote nothing, and a read-only transaction commits without a version'));
        await this.#arm(committed.watches, read.references ?? new Map());
        return read.value;
      }
      await this.#settings.beforeCommit?.();
      const { version, references } = await this.#commit(committed, read.readVersion);
      committed.finish();
      committed.versionstamp.resolve(versionstampOf(version));
      await this.#arm(committed.watches, references);
      return read.value;
    } catch (error) {
      const failed = tr as KvTransaction | undefined;
      if (failed !== undefined) {
        failed.finish();
        const reason = isRetryable(error) ? new NoCommitVersionError('this run of the body did not commit and was retried; ask the tr of the run that commits') : error;
        failed.versionstamp.reject(reason);
        for (const watch of failed.watches) this.#watches.discard(watch, reason);
      }
      throw error;
    }
  }

  /** Commits `tr`'s writes (in the next group commit) if nothing it read changed since `snapshotVersion`. */
  async #commit(tr: KvTransaction, snapshotVersion: number): Promise<{ version: number; references: Map<string, Uint8Array> }> {
    tr.checkDuration();
    const commitId = randomBytes(COMMIT_ID_BYTES);
    try {
      const outcome = await this.#committer.commit(tr, snapshotVersion, commitId);
      if (outcome.kind === 'conflict') throw new RetryAttempt(outcome.reason);
      return outcome;
    } catch (error) {
      if (!(error instanceof DatabaseUnavailableError && error.commitUnknown)) throw error;
      const version = await this.#lookUpCommit(commitId, error);
      if (version === undefined) throw new RetryAttempt('the commit whose acknowledgement was lost did not happen');
      // It committed; the watches' reference values are read now (a later change is still seen).
      const references = tr.watches.length > 0 ? await readValues(this.#db, tr.watches.map((w) => mapKey(w.key))) : new Map<string, Uint8Array>();
      return { version, references };
    }
  }

  /** The version `commitId` committed as (undefined: it did not), asked under the commit lock so an in-flight commit ends first. */
  async #lookUpCommit(commitId: Uint8Array, lost: unknown): Promise<number | undefined> {
    let lastError: unknown = lost;
    for (let attempt = 1; attempt <= MAX_COMMIT_LOOKUPS; attempt++) {
      try {
        return await this.#db.transaction(async (sql) => {
          await lockCommits(sql);
          return findCommit(sql, commitId);
        });
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        lastError = error;
        await sleep(COMMIT_LOOKUP_DELAY_MS);
      }
    }
    throw new CommitUnknownError(lastError);
  }

  async #arm(watches: readonly PendingWatch[], references: ReadonlyMap<string, Uint8Array>): Promise<void> {
    await Promise.all(watches.map((watch) => this.#watches.arm(watch, references.get(mapKey(watch.key)))));
  }
}

/**
 * True for failures that another run of the body may not have: conflicts and lost connections
 * (a commit whose acknowledgement was lost never gets here: the commit path looks it up first).
 * The KV's own errors (limits, misuse, an unknown commit) are final.
 */
function isRetryable(error: unknown): boolean {
  if (error instanceof RetryAttempt || error instanceof TransactionConflictError || isRetryableConflict(error)) return true;
  if (error instanceof StrataError && error.code.startsWith('STRATA_KV_')) return false;
  return isConnectionError(error);
}

function checkAttempts(maxAttempts: number): number {
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidArgumentError(`maxAttempts must be a whole number of at least 1, got ${String(maxAttempts)}`);
  }
  return maxAttempts;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
