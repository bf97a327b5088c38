// Public types of the key-value core: the transaction API (FoundationDB's, in TypeScript), watches
// and the database handle. Layers (tuple, subspace, directory, records) code against these only.

import type { KeySelector } from './key-selector.js';

/** One key-value pair of a range read. */
export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** Options of {@link ReadTransaction.getRange}. */
export interface RangeOptions {
  /** Return at most this many pairs (a whole number ≥ 1); default: all of the range. */
  readonly limit?: number;
  /** Return the pairs in descending key order, starting at the end of the range. */
  readonly reverse?: boolean;
}

/**
 * The reads of a transaction. Reads see the transaction's own writes (read-your-writes) on top
 * of a consistent snapshot of the database taken when the attempt began.
 */
export interface ReadTransaction {
  /**
   * The value of `key`, or `undefined` when it has none. Adds a read conflict on `key` (except
   * through `tr.snapshot`).
   *
   * @example
   * const bytes = await tr.get(pack(['user', 42]));
   */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;

  /**
   * The pairs with `begin <= key < end`, in key order (descending with `reverse`), at most
   * `limit` of them. `begin` and `end` may be key selectors. Adds a read conflict on the part of
   * the range it looked at (up to the last key returned when `limit` cut it short).
   *
   * @example
   * const { begin, end } = users.range();
   * const firstTen = await tr.getRange(begin, end, { limit: 10 });
   * const last = await tr.getRange(begin, end, { limit: 1, reverse: true });
   * const after = await tr.getRange(KeySelector.firstGreaterThan(cursor), end, { limit: 100 });
   */
  getRange(begin: Uint8Array | KeySelector, end: Uint8Array | KeySelector, options?: RangeOptions): Promise<KeyValue[]>;
}

/**
 * A watch: `promise` resolves once the key's value differs from its value when the transaction
 * that set the watch committed. It rejects with `WatchCancelledError` after `cancel()`, with
 * `KvClosedError` when the database closes first, or with the transaction's error when that
 * transaction did not commit.
 */
export interface Watch {
  readonly promise: Promise<void>;
  /** Stops waiting; `promise` rejects with `WatchCancelledError`. No effect once settled. */
  cancel(): void;
}

/**
 * A transaction in progress, passed to the body given to {@link KvDatabase.transact}. Writes are
 * buffered and sent in one commit; nothing is visible to others until the body returns and the
 * commit succeeds. The body may run more than once (conflicts, lost connections), so it must be
 * idempotent: derive every write from what it reads in `tr`, and do side effects after `transact`
 * returns.
 */
export interface Transaction extends ReadTransaction {
  /**
   * Reads that add no read conflicts: a concurrent write to what they read does not make this
   * transaction retry. Use for data whose staleness is harmless (a cache, a hint, a scan of
   * append-only keys).
   *
   * @example
   * const hint = await tr.snapshot.get(pack(['stats', 'approxCount']));
   */
  readonly snapshot: ReadTransaction;

  /**
   * Sets `key` to `value`.
   *
   * @example
   * tr.set(pack(['user', 42]), new TextEncoder().encode('Ada'));
   */
  set(key: Uint8Array, value: Uint8Array): void;

  /**
   * Removes `key` (no effect when absent).
   *
   * @example
   * tr.clear(pack(['session', token]));
   */
  clear(key: Uint8Array): void;

  /**
   * Removes every key with `begin <= key < end`.
   *
   * @example
   * const { begin, end } = users.range(); tr.clearRange(begin, end);
   */
  clearRange(begin: Uint8Array, end: Uint8Array): void;

  /**
   * Adds `delta` to the value of `key`, both little-endian unsigned integers of `delta`'s width
   * (a missing value counts as 0; wraps around). Conflicts with no other atomic operation.
   *
   * @example
   * tr.add(pack(['counter']), encodeInt64LE(1n)); // 64 clients doing this never conflict
   */
  add(key: Uint8Array, delta: Uint8Array): void;
  /** Sets `key` to the smaller of its value and `param` (little-endian unsigned; missing → `param`). */
  min(key: Uint8Array, param: Uint8Array): void;
  /** Sets `key` to the larger of its value and `param` (little-endian unsigned; missing → `param`). */
  max(key: Uint8Array, param: Uint8Array): void;
  /** Bitwise AND of the value (resized to `param`'s width) with `param`; missing → `param`. */
  bitAnd(key: Uint8Array, param: Uint8Array): void;
  /** Bitwise OR of the value (resized to `param`'s width, missing → zeros) with `param`. */
  bitOr(key: Uint8Array, param: Uint8Array): void;
  /** Bitwise XOR of the value (resized to `param`'s width, missing → zeros) with `param`. */
  bitXor(key: Uint8Array, param: Uint8Array): void;
  /** Appends `param` to the value if the result fits the value size limit; otherwise leaves it. */
  appendIfFits(key: Uint8Array, param: Uint8Array): void;
  /** Clears `key` if its value equals `param`. */
  compareAndClear(key: Uint8Array, param: Uint8Array): void;

  /**
   * Sets a key whose 10 bytes at `offset` are replaced at commit with the commit's versionstamp
   * (8-byte big-endian commit version + 2-byte batch order), so keys made this way sort in
   * commit order. Use `Subspace.packWithVersionstamp` to make `key` and `offset`.
   *
   * @example
   * const { key, offset } = log.packWithVersionstamp([Versionstamp.incomplete()]);
   * tr.setVersionstampedKey(key, offset, event);
   */
  setVersionstampedKey(key: Uint8Array, offset: number, value: Uint8Array): void;
  /**
   * Sets `key` to `value` with its 10 bytes at `offset` replaced at commit by the versionstamp.
   *
   * @example
   * tr.setVersionstampedValue(pack(['lastWriter']), new Uint8Array(10), 0);
   */
  setVersionstampedValue(key: Uint8Array, value: Uint8Array, offset: number): void;

  /**
   * The 10-byte versionstamp this transaction commits with; resolves after the commit. Rejects
   * with `NoCommitVersionError` when the transaction writes nothing or does not commit.
   *
   * @example
   * let stamp!: Promise<Uint8Array>;
   * await kv.transact(async (tr) => { tr.set(key, value); stamp = tr.getVersionstamp(); });
   * console.log(await stamp);
   */
  getVersionstamp(): Promise<Uint8Array>;

  /**
   * Watches `key`: see {@link Watch}. The watch starts when the transaction commits.
   *
   * @example
   * const watch = await kv.transact(async (tr) => tr.watch(pack(['config'])));
   * await watch.promise; // someone changed the config
   */
  watch(key: Uint8Array): Watch;
}

/** Options of one {@link KvDatabase.transact} call. */
export interface TransactOptions {
  /** Runs of the body at most (conflicts, lost connections). Default `DEFAULT_MAX_ATTEMPTS`. */
  readonly maxAttempts?: number;
}

/**
 * A key-value database: FoundationDB's programming model over a Strata store database.
 *
 * @example
 * const kv = await openKv({ database: 'memory://' });
 * await kv.transact(async (tr) => tr.set(pack(['hello']), pack(['world'])));
 * await kv.close();
 */
export interface KvDatabase {
  /**
   * Runs `fn` in a serializable transaction and commits its writes, retrying it on conflicts
   * and on commits whose outcome is unknown (so `fn` may run more than once: keep it idempotent,
   * with side effects after `transact` returns). Returns what `fn` returned on the run that
   * committed.
   *
   * @example
   * await kv.transact(async (tr) => {
   *   const from = decode(await tr.get(alice)); const to = decode(await tr.get(bob));
   *   tr.set(alice, encode(from - 10)); tr.set(bob, encode(to + 10));
   * });
   */
  transact<T>(fn: (tr: Transaction) => Promise<T>, options?: TransactOptions): Promise<T>;

  /** Closes the KV database (and the store database if `openKv` opened it); pending watches reject. */
  close(): Promise<void>;
}
