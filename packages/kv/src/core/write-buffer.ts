// A transaction's buffered writes: what each key it wrote now holds (for read-your-writes), the
// ranges it cleared, its conflict ranges, and the final writes its commit applies.

import { applyAll, applyAtomic, type AtomicMutation } from './atomic.js';
import { compareKeys, keyAfter, mapKey } from './bytes.js';
import { AccessedUnreadableError } from '../errors.js';

/** A half-open key range `[begin, end)`. */
export interface KeyRange {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
}

/** What this transaction has made of one key. */
export type BufferedEntry =
  /** Set (`value`) or cleared (`undefined`): the key's value no longer depends on the database. */
  | { readonly kind: 'known'; readonly value: Uint8Array | undefined }
  /** Atomic operations on whatever value the database holds at commit. */
  | { readonly kind: 'atomic'; readonly mutations: readonly AtomicMutation[] }
  /** A value with a versionstamp at `offset`, filled in at commit. */
  | { readonly kind: 'stamped'; readonly value: Uint8Array; readonly offset: number };

/** A key written with `setVersionstampedKey`. */
export interface StampedKey {
  readonly key: Uint8Array;
  readonly offset: number;
  readonly value: Uint8Array;
}

interface Slot {
  readonly key: Uint8Array;
  entry: BufferedEntry;
}

/**
 * The write side of one transaction attempt. Keys it wrote are in `#slots` (latest state);
 * `#clears` are the ranges it cleared, which hide database rows not overwritten later.
 */
export class WriteBuffer {
  readonly #slots = new Map<string, Slot>();
  readonly #clears: KeyRange[] = [];
  readonly #stampedKeys: StampedKey[] = [];

  /** True when the transaction wrote nothing (and so commits without a commit version). */
  get isEmpty(): boolean {
    return this.#slots.size === 0 && this.#clears.length === 0 && this.#stampedKeys.length === 0;
  }

  /** The buffered state of `key`, if this transaction wrote it. */
  entry(key: Uint8Array): BufferedEntry | undefined {
    return this.#slots.get(mapKey(key))?.entry;
  }

  /** True when `key` lies in a range this transaction cleared (and it was not written since). */
  clearedByRange(key: Uint8Array): KeyRange | undefined {
    for (const range of this.#clears) {
      if (compareKeys(range.begin, key) <= 0 && compareKeys(key, range.end) < 0) return range;
    }
    return undefined;
  }

  /** Written keys with `begin <= key < end`, in key order (descending with `reverse`). */
  entriesIn(begin: Uint8Array, end: Uint8Array, reverse: boolean): Array<{ key: Uint8Array; entry: BufferedEntry }> {
    const inside: Slot[] = [];
    for (const slot of this.#slots.values()) {
      if (compareKeys(begin, slot.key) <= 0 && compareKeys(slot.key, end) < 0) inside.push(slot);
    }
    inside.sort((a, b) => (reverse ? compareKeys(b.key, a.key) : compareKeys(a.key, b.key)));
    return inside.map((slot) => ({ key: slot.key, entry: slot.entry }));
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.#put(key, { kind: 'known', value });
  }

  clear(key: Uint8Array): void {
    this.#put(key, { kind: 'known', value: undefined });
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    if (compareKeys(begin, end) >= 0) return;
    for (const slot of this.#slots.values()) {
      if (compareKeys(begin, slot.key) <= 0 && compareKeys(slot.key, end) < 0) slot.entry = { kind: 'known', value: undefined };
    }
    this.#clears.push({ begin, end });
  }

  atomic(key: Uint8Array, mutation: AtomicMutation): void {
    const entry = this.entry(key);
    if (entry?.kind === 'stamped') throw new AccessedUnreadableError();
    if (entry?.kind === 'known') this.#put(key, { kind: 'known', value: applyAtomic(entry.value, mutation) });
    else if (entry?.kind === 'atomic') this.#put(key, { kind: 'atomic', mutations: [...entry.mutations, mutation] });
    else if (this.clearedByRange(key)) this.#put(key, { kind: 'known', value: applyAtomic(undefined, mutation) });
    else this.#put(key, { kind: 'atomic', mutations: [mutation] });
  }

  setStampedValue(key: Uint8Array, value: Uint8Array, offset: number): void {
    this.#put(key, { kind: 'stamped', value, offset });
  }

  setStampedKey(stamped: StampedKey): void {
    this.#stampedKeys.push(stamped);
  }

  /** Keys whose new value depends on the database's value at commit (atomic operations). */
  atomicKeys(): string[] {
    const keys: string[] = [];
    for (const [hex, slot] of this.#slots) if (slot.entry.kind === 'atomic') keys.push(hex);
    return keys;
  }

  /**
   * The final writes of the commit: `bases` are the committed values of the atomic keys (read
   * under the commit lock), `stamp` the commit's 10-byte versionstamp.
   */
  commitWrites(bases: ReadonlyMap<string, Uint8Array>, stamp: Uint8Array): {
    clearRanges: KeyRange[];
    deletes: Uint8Array[];
    sets: Array<{ key: Uint8Array; value: Uint8Array }>;
    writeRanges: KeyRange[];
  } {
    const deletes: Uint8Array[] = [];
    const writeRanges: KeyRange[] = [...this.#clears];
    const sets = new Map<string, { key: Uint8Array; value: Uint8Array }>();
    for (const [hex, slot] of this.#slots) {
      const { entry, key } = slot;
      const value =
        entry.kind === 'known' ? entry.value : entry.kind === 'atomic' ? applyAll(bases.get(hex), entry.mutations) : stampAt(entry.value, entry.offset, stamp);
      if (value === undefined) deletes.push(key);
      else sets.set(hex, { key, value });
      writeRanges.push({ begin: key, end: keyAfter(key) });
    }
    for (const stamped of this.#stampedKeys) {
      const key = stampAt(stamped.key, stamped.offset, stamp);
      sets.set(mapKey(key), { key, value: stamped.value });
      writeRanges.push({ begin: key, end: keyAfter(key) });
    }
    return { clearRanges: [...this.#clears], deletes, sets: [...sets.values()], writeRanges };
  }

  #put(key: Uint8Array, entry: BufferedEntry): void {
    const hex = mapKey(key);
    const slot = this.#slots.get(hex);
    if (slot === undefined) this.#slots.set(hex, { key, entry });
    else slot.entry = entry;
  }
}

/** A copy of `bytes` with `stamp` written at `offset`. */
export function stampAt(bytes: Uint8Array, offset: number, stamp: Uint8Array): Uint8Array {
  const out = bytes.slice();
  out.set(stamp, offset);
  return out;
}
