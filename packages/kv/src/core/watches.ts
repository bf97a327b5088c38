// Watches: each commit notifies the hashes of the keys it wrote on one channel (LISTEN/NOTIFY, or
// the store's polled table where the engine has no NOTIFY); a watch re-reads its key when a
// notification may concern it and resolves once the value differs from its reference value.

import { AsyncResource } from 'node:async_hooks';
import type { Database, Subscription } from '@strata/store';
import { equalBytes, keyHash, mapKey } from './bytes.js';
import { Deferred } from './deferred.js';
import { MAX_WATCHES } from './limits.js';
import { readValues } from './sql/read.js';
import type { PendingWatch } from './transaction.js';
import type { KeyRange } from './write-buffer.js';
import { KvClosedError, TooManyWatchesError, WatchCancelledError } from '../errors.js';

/** The notification channel of KV commits. */
export const KV_CHANNEL = 'strata_kv';
/** A commit names at most this many keys; past it (or with a cleared range) it says "*", re-check all. */
const MAX_NOTIFIED_KEYS = 200;
/** The payload that tells every watch to re-check. */
const EVERYTHING = '*';

/** The notification payload of a commit that wrote `writeRanges`. */
export function commitPayload(pointKeys: readonly Uint8Array[], clearRanges: readonly KeyRange[]): string {
  if (clearRanges.length > 0 || pointKeys.length > MAX_NOTIFIED_KEYS) return EVERYTHING;
  return [...new Set(pointKeys.map(keyHash))].join(',');
}

interface WatchEntry extends PendingWatch {
  readonly hex: string;
  readonly hash: string;
  readonly deferred: Deferred<void>;
  reference: Uint8Array | undefined;
  armed: boolean;
}

/** The pending watches of one KV database. */
export class WatchRegistry {
  readonly #db: Database;
  readonly #entries = new Set<WatchEntry>();
  readonly #byHash = new Map<string, Set<WatchEntry>>();
  #subscription: Promise<Subscription> | undefined;
  #offRestored: (() => void) | undefined;
  #closed = false;

  constructor(db: Database) {
    this.#db = db;
  }

  /** A watch on `key`, not yet armed (its transaction has not committed). */
  create(key: Uint8Array): PendingWatch {
    if (this.#closed) throw new KvClosedError('watch()');
    if (this.#entries.size >= MAX_WATCHES) throw new TooManyWatchesError(MAX_WATCHES);
    const deferred = new Deferred<void>();
    const entry: WatchEntry = {
      key,
      hex: mapKey(key),
      hash: keyHash(key),
      deferred,
      reference: undefined,
      armed: false,
      promise: deferred.promise,
      cancel: () => this.#settle(entry, new WatchCancelledError()),
    };
    this.#entries.add(entry);
    return entry;
  }

  /** Starts `watch` with `reference`, the key's value as of its transaction's commit. */
  async arm(watch: PendingWatch, reference: Uint8Array | undefined): Promise<void> {
    const entry = watch as WatchEntry;
    if (entry.deferred.settled) return;
    entry.reference = reference;
    entry.armed = true;
    let sameHash = this.#byHash.get(entry.hash);
    if (sameHash === undefined) this.#byHash.set(entry.hash, (sameHash = new Set()));
    sameHash.add(entry);
    try {
      await this.#subscribe();
    } catch (error) {
      this.#settle(entry, error);
      return;
    }
    // A commit between the reference read and the subscription was not heard: look once now.
    await this.#recheck([entry]);
  }

  /** Ends a watch whose transaction did not commit. */
  discard(watch: PendingWatch, reason: unknown): void {
    this.#settle(watch as WatchEntry, reason);
  }

  /** Rejects every pending watch with `KvClosedError` and stops listening. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of [...this.#entries]) this.#settle(entry, new KvClosedError('the watch was pending when the database closed'));
    this.#offRestored?.();
    const subscription = this.#subscription;
    this.#subscription = undefined;
    await subscription?.then((s) => s.close()).catch(() => undefined);
  }

  #subscribe(): Promise<Subscription> {
    // Bound to this (non-transaction) context: PGlite may deliver inside a committing
    // transaction's async context, where a query on the database would be refused.
    const onNotification = AsyncResource.bind((payload: string) => this.#onNotification(payload));
    const onRestored = AsyncResource.bind(() => void this.#recheck([...this.#entries]));
    this.#subscription ??= this.#db.listen(KV_CHANNEL, onNotification).then(
      (subscription) => {
        this.#offRestored = this.#db.onListenRestored?.(onRestored);
        return subscription;
      },
      (error: unknown) => {
        this.#subscription = undefined;
        throw error;
      },
    );
    return this.#subscription;
  }

  #onNotification(payload: string): void {
    if (payload === EVERYTHING) {
      void this.#recheck([...this.#entries]);
      return;
    }
    const concerned: WatchEntry[] = [];
    for (const hash of payload.split(',')) for (const entry of this.#byHash.get(hash) ?? []) concerned.push(entry);
    if (concerned.length > 0) void this.#recheck(concerned);
  }

  /** Re-reads the keys of `entries` and resolves the watches whose value changed. */
  async #recheck(entries: readonly WatchEntry[]): Promise<void> {
    const live = entries.filter((entry) => entry.armed && !entry.deferred.settled);
    if (live.length === 0 || this.#closed) return;
    let values: Map<string, Uint8Array>;
    try {
      values = await readValues(this.#db, [...new Set(live.map((entry) => entry.hex))]);
    } catch {
      return; // The database is away; the restored-listen callback re-checks everything later.
    }
    for (const entry of live) {
      if (!equalBytes(values.get(entry.hex), entry.reference)) this.#settle(entry, undefined);
    }
  }

  #settle(entry: WatchEntry, error: unknown): void {
    if (entry.deferred.settled) return;
    if (error === undefined) entry.deferred.resolve();
    else entry.deferred.reject(error);
    this.#entries.delete(entry);
    const sameHash = this.#byHash.get(entry.hash);
    sameHash?.delete(entry);
    if (sameHash?.size === 0) this.#byHash.delete(entry.hash);
  }
}
