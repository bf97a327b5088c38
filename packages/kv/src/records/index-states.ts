// Build states of a store's indexes: readable, or building up to a cursor; kept under [3, indexName].

import type { ReadTransaction, Transaction } from '../core/interfaces.js';
import type { Subspace } from '../subspace/subspace.js';
import { pack } from '../tuple/encode.js';
import { unpack } from '../tuple/decode.js';

/**
 * Whether an index can be read. `building`: added to a type that already had records, so writes
 * keep it up to date for records the build has passed, and reads are refused until the build ends.
 */
export type IndexStatus = 'readable' | 'building';

/** An index's state; `cursor` is the last record key the build has indexed (`null`: none yet). */
export type IndexState = { readonly status: 'readable' } | { readonly status: 'building'; readonly cursor: Uint8Array | null };

/**
 * Reads and records index states. A declared index without a stored state is new: complete at
 * once when the store has no records, otherwise `building` from the first record. Writes record
 * that state (in their own transaction); reads compute it without writing.
 */
export class IndexStates {
  readonly #states: Subspace;
  readonly #records: Subspace;
  /** The declared indexes. */
  readonly #indexNames: readonly string[];
  /** States read by a transaction; this class is their only writer and keeps the cache in step. */
  readonly #cache = new WeakMap<object, Promise<Map<string, IndexState>>>();

  constructor(states: Subspace, records: Subspace, indexNames: readonly string[]) {
    this.#states = states;
    this.#records = records;
    this.#indexNames = indexNames;
  }

  /** One index's state, for a read: a missing state is what the next write would record. */
  async forRead(tr: ReadTransaction, indexName: string): Promise<IndexState> {
    const stored = await tr.get(this.#states.pack([indexName]));
    if (stored !== undefined) return decodeState(stored);
    return (await this.#isEmpty(tr)) ? { status: 'readable' } : { status: 'building', cursor: null };
  }

  /** Every declared index's state, for a write, recording the state of indexes seen for the first time. */
  forWrite(tr: Transaction): Promise<Map<string, IndexState>> {
    let states = this.#cache.get(tr);
    if (states === undefined) {
      states = this.#load(tr);
      this.#cache.set(tr, states);
      // A failed read must not stick to the transaction object.
      states.catch(() => this.#cache.delete(tr));
    }
    return states;
  }

  /** Records `state` for the index, in `states` (from {@link forWrite}) and in the transaction. */
  set(tr: Transaction, states: Map<string, IndexState>, indexName: string, state: IndexState): void {
    states.set(indexName, state);
    tr.set(this.#states.pack([indexName]), encodeState(state));
  }

  /** Forgets the index's state (it is new again for the next write). */
  clear(tr: Transaction, indexName: string): void {
    tr.clear(this.#states.pack([indexName]));
    this.#cache.delete(tr);
  }

  async #load(tr: Transaction): Promise<Map<string, IndexState>> {
    const states = new Map<string, IndexState>();
    const { begin, end } = this.#states.range();
    for (const { key, value } of await tr.getRange(begin, end)) {
      const name = this.#states.unpack(key)[0];
      if (typeof name === 'string') states.set(name, decodeState(value));
    }
    const missing = this.#indexNames.filter((name) => !states.has(name));
    if (missing.length > 0) {
      // New indexes of an empty store are complete already; otherwise existing records must be indexed first.
      const initial: IndexState = (await this.#isEmpty(tr)) ? { status: 'readable' } : { status: 'building', cursor: null };
      for (const name of missing) this.set(tr, states, name, initial);
    }
    return states;
  }

  async #isEmpty(tr: ReadTransaction): Promise<boolean> {
    const { begin, end } = this.#records.range();
    return (await tr.getRange(begin, end, { limit: 1 })).length === 0;
  }
}

function encodeState(state: IndexState): Uint8Array {
  return state.status === 'readable' ? pack(['readable']) : pack(['building', state.cursor]);
}

function decodeState(bytes: Uint8Array): IndexState {
  const [status, cursor] = unpack(bytes);
  if (status === 'readable') return { status: 'readable' };
  if (status === 'building' && (cursor === null || cursor instanceof Uint8Array)) return { status: 'building', cursor };
  throw new Error(`invariant broken: an index state holds ${JSON.stringify(status)}; it was not written by this record layer`);
}
