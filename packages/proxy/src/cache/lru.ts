// A map bounded by the total weight of its values, evicting the least recently used.

/**
 * A least-recently-used map bounded by total weight (bytes, usually): `set` evicts the least
 * recently used entries until the new one fits, and refuses an entry heavier than the whole bound.
 * A `Map` keeps insertion order, so re-inserting on use makes its first key the eviction candidate.
 *
 * @example
 * ```ts
 * const lru = new BoundedLru<string, Buffer>(1024, (key) => console.log('evicted', key));
 * lru.set('a', Buffer.alloc(600), 600);
 * lru.set('b', Buffer.alloc(600), 600); // evicts 'a'
 * lru.get('b')?.length; // 600
 * ```
 */
export class BoundedLru<K, V> {
  readonly #entries = new Map<K, { readonly value: V; readonly weight: number }>();
  readonly #maxWeight: number;
  readonly #onEvict: ((key: K, value: V) => void) | undefined;
  #weight = 0;

  /** `onEvict` is called for entries removed to make room (not for `delete` or replacement). */
  constructor(maxWeight: number, onEvict?: (key: K, value: V) => void) {
    if (!(Number.isSafeInteger(maxWeight) && maxWeight > 0)) throw new Error(`BoundedLru: maxWeight must be a positive integer, got ${maxWeight}`);
    this.#maxWeight = maxWeight;
    this.#onEvict = onEvict;
  }

  /** The value, marked most recently used. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` as most recently used; false (and nothing stored) when `weight` exceeds the bound. */
  set(key: K, value: V, weight: number): boolean {
    if (!(Number.isSafeInteger(weight) && weight >= 0)) throw new Error(`BoundedLru: weight must be a non-negative integer, got ${weight}`);
    this.delete(key);
    if (weight > this.#maxWeight) return false;
    while (this.#weight + weight > this.#maxWeight) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) throw new Error('BoundedLru: weight accounting is off (over the bound with no entries)');
      const evicted = this.delete(oldest.value);
      this.#onEvict?.(oldest.value, evicted as V);
    }
    this.#entries.set(key, { value, weight });
    this.#weight += weight;
    return true;
  }

  /** Removes an entry; returns its value. */
  delete(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#weight -= entry.weight;
    return entry.value;
  }

  get size(): number {
    return this.#entries.size;
  }

  get weight(): number {
    return this.#weight;
  }
}
