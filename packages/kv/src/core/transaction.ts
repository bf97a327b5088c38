// One attempt of a KV transaction: reads at the attempt's snapshot merged with its buffered writes,
// the conflict ranges and size it accumulates, and the watches and versionstamp it promises.

import type { Queryable } from '@strata/store';
import type { AtomicOp } from './atomic.js';
import { compareKeys, keyAfter } from './bytes.js';
import type { KeyValue, RangeOptions, ReadTransaction, Transaction, Watch } from './interfaces.js';
import { KeySelector } from './key-selector.js';
import { MAX_TRANSACTION_DURATION_MS, SizeBudget, checkKey, checkRangeKey, checkValue } from './limits.js';
import { mergedGet, mergedRange, resolveSelector } from './merged-reads.js';
import { WriteBuffer, type KeyRange } from './write-buffer.js';
import { InvalidKeyError, TransactionFinishedError, TransactionTooOldError } from '../errors.js';
import { VERSIONSTAMP_BYTES } from './versionstamp.js';
import { Deferred } from './deferred.js';

/** What a transaction attempt needs from the database handle that runs it. */
export interface AttemptContext {
  /** The SQL transaction holding the attempt's snapshot. */
  readonly sql: Queryable;
  /** Milliseconds now (injectable for the duration limit's tests). */
  readonly now: () => number;
  /** When the attempt began, by `now`. */
  readonly startedAtMs: number;
  /** Registers a watch once the attempt has committed (the database's watch registry). */
  readonly newWatch: (key: Uint8Array) => PendingWatch;
}

/** A watch made in a body, armed when its transaction commits. */
export interface PendingWatch extends Watch {
  readonly key: Uint8Array;
}

/** The lifecycle of an attempt. */
type AttemptState = 'active' | 'committing' | 'finished';

/**
 * One attempt of a transaction (see {@link Transaction}). The database handle makes one per run
 * of the body and commits it with the fields below.
 */
export class KvTransaction implements Transaction {
  readonly snapshot: ReadTransaction;
  readonly buffer = new WriteBuffer();
  readonly readConflicts: KeyRange[] = [];
  readonly watches: PendingWatch[] = [];
  readonly versionstamp = new Deferred<Uint8Array>();
  readonly #context: AttemptContext;
  readonly #budget = new SizeBudget();
  #state: AttemptState = 'active';

  constructor(context: AttemptContext) {
    this.#context = context;
    this.snapshot = {
      get: (key) => this.#get(key, true),
      getRange: (begin, end, options) => this.#getRange(begin, end, options, true),
    };
  }

  /** Bytes counted against the transaction size limit so far. */
  get sizeBytes(): number {
    return this.#budget.bytes;
  }

  /** Stops accepting operations: the attempt is being committed. */
  beginCommit(): void {
    this.#assertUsable('commit');
    this.#state = 'committing';
  }

  /** Ends the attempt; every later use fails with `TransactionFinishedError`. */
  finish(): void {
    this.#state = 'finished';
  }

  /** Throws `TransactionTooOldError` when the attempt has run past the duration limit. */
  checkDuration(): void {
    const elapsedMs = this.#context.now() - this.#context.startedAtMs;
    if (elapsedMs > MAX_TRANSACTION_DURATION_MS) throw new TransactionTooOldError(MAX_TRANSACTION_DURATION_MS, elapsedMs);
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#get(key, false);
  }

  getRange(begin: Uint8Array | KeySelector, end: Uint8Array | KeySelector, options?: RangeOptions): Promise<KeyValue[]> {
    return this.#getRange(begin, end, options, false);
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.#assertUsable('set()');
    checkKey(key);
    checkValue(value);
    this.#budget.add(key.length + value.length);
    this.buffer.set(key, value);
  }

  clear(key: Uint8Array): void {
    this.#assertUsable('clear()');
    checkKey(key);
    this.#budget.add(key.length);
    this.buffer.clear(key);
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    this.#assertUsable('clearRange()');
    checkRangeKey(begin, 'the range begin');
    checkRangeKey(end, 'the range end');
    this.#budget.add(begin.length + end.length);
    this.buffer.clearRange(begin, end);
  }

  add(key: Uint8Array, delta: Uint8Array): void {
    this.#atomic('add', key, delta);
  }
  min(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('min', key, param);
  }
  max(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('max', key, param);
  }
  bitAnd(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('bitAnd', key, param);
  }
  bitOr(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('bitOr', key, param);
  }
  bitXor(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('bitXor', key, param);
  }
  appendIfFits(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('appendIfFits', key, param);
  }
  compareAndClear(key: Uint8Array, param: Uint8Array): void {
    this.#atomic('compareAndClear', key, param);
  }

  setVersionstampedKey(key: Uint8Array, offset: number, value: Uint8Array): void {
    this.#assertUsable('setVersionstampedKey()');
    checkKey(key);
    checkValue(value);
    checkOffset(offset, key.length, 'key');
    this.#budget.add(key.length + value.length);
    this.buffer.setStampedKey({ key, offset, value });
  }

  setVersionstampedValue(key: Uint8Array, value: Uint8Array, offset: number): void {
    this.#assertUsable('setVersionstampedValue()');
    checkKey(key);
    checkValue(value);
    checkOffset(offset, value.length, 'value');
    this.#budget.add(key.length + value.length);
    this.buffer.setStampedValue(key, value, offset);
  }

  getVersionstamp(): Promise<Uint8Array> {
    this.#assertUsable('getVersionstamp()');
    return this.versionstamp.promise;
  }

  watch(key: Uint8Array): Watch {
    this.#assertUsable('watch()');
    checkKey(key);
    const watch = this.#context.newWatch(key);
    this.watches.push(watch);
    return watch;
  }

  async #get(key: Uint8Array, snapshot: boolean): Promise<Uint8Array | undefined> {
    this.#assertUsable('get()');
    checkKey(key);
    if (!snapshot) this.#addReadConflict({ begin: key, end: keyAfter(key) }, key.length);
    const { value } = await mergedGet(this.#context.sql, this.buffer, key);
    return value;
  }

  async #getRange(
    begin: Uint8Array | KeySelector,
    end: Uint8Array | KeySelector,
    options: RangeOptions = {},
    snapshot: boolean,
  ): Promise<KeyValue[]> {
    this.#assertUsable('getRange()');
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (limit !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(limit) && limit >= 1)) {
      throw new InvalidKeyError(`getRange's limit must be a whole number of at least 1, got ${String(options.limit)}`);
    }
    const reverse = options.reverse === true;
    const from = await this.#resolve(begin, 'the range begin', snapshot);
    const to = await this.#resolve(end, 'the range end', snapshot);
    const rows = await mergedRange(this.#context.sql, this.buffer, from, to, reverse, limit);
    if (!snapshot && compareKeys(from, to) < 0) {
      const last = rows.at(-1);
      const cut = rows.length === limit && last !== undefined;
      const range: KeyRange = !cut ? { begin: from, end: to } : reverse ? { begin: last.key, end: to } : { begin: from, end: keyAfter(last.key) };
      this.#addReadConflict(range, range.begin.length + range.end.length);
    }
    this.#assertUsable('getRange()');
    return rows;
  }

  async #resolve(bound: Uint8Array | KeySelector, what: string, snapshot: boolean): Promise<Uint8Array> {
    if (!(bound instanceof KeySelector)) {
      checkRangeKey(bound, what);
      return bound;
    }
    const resolved = await resolveSelector(this.#context.sql, this.buffer, bound);
    if (!snapshot) this.#addReadConflict(resolved.scanned, resolved.scanned.begin.length + resolved.scanned.end.length);
    return resolved.key;
  }

  #atomic(op: AtomicOp, key: Uint8Array, param: Uint8Array): void {
    this.#assertUsable(`${op}()`);
    checkKey(key);
    checkValue(param, 'the parameter');
    this.#budget.add(key.length + param.length);
    this.buffer.atomic(key, { op, param });
  }

  #addReadConflict(range: KeyRange, bytes: number): void {
    this.#budget.add(bytes);
    this.readConflicts.push(range);
  }

  #assertUsable(what: string): void {
    if (this.#state !== 'active') throw new TransactionFinishedError(what);
    this.checkDuration();
  }
}

function checkOffset(offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + VERSIONSTAMP_BYTES > length) {
    throw new InvalidKeyError(
      `the versionstamp offset must leave room for ${VERSIONSTAMP_BYTES} bytes inside the ${what} (0 to ${length - VERSIONSTAMP_BYTES}), got ${String(offset)}`,
    );
  }
}
