// QueryCache: backend responses kept by key, served fresh then stale-while-revalidate, removed by
// the writes (tables), tags and instance changes that make them wrong, bounded in bytes.

import { cacheKeyDigest } from './cache-key.js';
import { EntryIndex, type IndexedEntry } from './entry-index.js';
import { FillTracker } from './fill-tracker.js';
import type { CacheEntryMeta, CacheKey, CacheLookup, FillTicket, QueryCacheOptions, QueryCacheStats, StoreMeta, StoreOutcome } from './interfaces.js';
import { CACHE_ENTRY_OVERHEAD_BYTES, DEFAULT_QUERY_CACHE_MAX_BYTES, DEFAULT_QUERY_CACHE_MAX_ENTRY_BYTES, MAX_CACHE_TTL_MS } from './limits.js';
import { BoundedLru } from './lru.js';

interface Entry extends IndexedEntry {
  readonly value: Buffer;
  readonly meta: CacheEntryMeta;
}

type Counter = 'hits' | 'staleHits' | 'misses' | 'evictions' | 'invalidations' | 'fillsDropped';

function entryBytes(value: Buffer, readTables: readonly string[], tags: readonly string[]): number {
  const names = [...readTables, ...tags].reduce((sum, name) => sum + name.length * 2, 0);
  return value.length + names + CACHE_ENTRY_OVERHEAD_BYTES;
}

function assertDuration(name: 'ttlMs' | 'swrMs', value: number, min: number): void {
  if (!(Number.isSafeInteger(value) && value >= min && value <= MAX_CACHE_TTL_MS)) {
    throw new Error(`QueryCache.store: ${name} must be a whole number from ${min} to ${MAX_CACHE_TTL_MS}, got ${value}`);
  }
}

/**
 * The proxy's query cache. Entries are the raw backend response bytes of a read, keyed by a
 * digest of every {@link CacheKey} field (instance, role, database, SQL, parameters, variant), so
 * no tenant, role or database is ever served another's rows. A fill takes a ticket before its
 * query goes to the backend, so an invalidation that lands while the query runs keeps its
 * (possibly older) result out. Time comes from the injected clock.
 *
 * @example
 * ```ts
 * const cache = new QueryCache();
 * const key = { instanceId: 'ins_1', role: 'app', database: 'shop', sql: 'select * from products' };
 * const hit = cache.lookup(key);
 * if (hit) return hit.value;
 * const ticket = cache.beginFill(key);
 * const response = await backend.run(key.sql);
 * cache.store(key, response, { ticket, readTables: ['public.products'], tags: [], ttlMs: 60_000, swrMs: 0 });
 * // later, after `update products …` has committed:
 * cache.invalidateTables('ins_1', ['public.products']);
 * ```
 */
export class QueryCache {
  readonly #now: () => number;
  readonly #maxEntryBytes: number;
  readonly #entries: BoundedLru<string, Entry>;
  readonly #index = new EntryIndex();
  readonly #fills = new FillTracker();
  readonly #counts: Record<Counter, number> = { hits: 0, staleHits: 0, misses: 0, evictions: 0, invalidations: 0, fillsDropped: 0 };

  constructor(options: QueryCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
    const maxBytes = options.maxBytes ?? DEFAULT_QUERY_CACHE_MAX_BYTES;
    this.#maxEntryBytes = Math.min(options.maxEntryBytes ?? DEFAULT_QUERY_CACHE_MAX_ENTRY_BYTES, maxBytes);
    this.#entries = new BoundedLru(maxBytes, (digest, entry) => {
      this.#index.remove(digest, entry);
      this.#counts.evictions += 1;
    });
  }

  /**
   * The cached response for `key`: `fresh` within its ttl, `stale` within ttl + swr (serve it and
   * refresh it after {@link beginRevalidate}), `undefined` otherwise (a miss; an expired entry is
   * removed).
   *
   * @example
   * ```ts
   * const hit = cache.lookup(key);
   * if (hit?.state === 'stale') { const ticket = cache.beginRevalidate(key); if (ticket) refresh(key, ticket); }
   * ```
   */
  lookup(key: CacheKey): CacheLookup | undefined {
    const digest = cacheKeyDigest(key);
    const entry = this.#entries.get(digest);
    if (entry === undefined) {
      this.#counts.misses += 1;
      return undefined;
    }
    const ageMs = this.#now() - entry.meta.storedAtMs;
    if (ageMs < entry.meta.ttlMs) {
      this.#counts.hits += 1;
      return { state: 'fresh', value: entry.value, meta: entry.meta };
    }
    if (ageMs < entry.meta.ttlMs + entry.meta.swrMs) {
      this.#counts.staleHits += 1;
      return { state: 'stale', value: entry.value, meta: entry.meta };
    }
    this.#remove(digest);
    this.#counts.misses += 1;
    return undefined;
  }

  /**
   * A ticket for filling `key` after a miss. Take it before the query goes to the backend, and
   * pass it to {@link store} (or {@link abandonFill} when the query fails).
   *
   * @example
   * ```ts
   * const ticket = cache.beginFill(key);
   * try { cache.store(key, await backend.run(key.sql), { ticket, ...policy, readTables }); }
   * catch (error) { cache.abandonFill(ticket); throw error; }
   * ```
   */
  beginFill(key: CacheKey): FillTicket {
    const ticket = this.#fills.begin(cacheKeyDigest(key), key.instanceId, this.#now(), false);
    if (ticket === undefined) throw new Error('QueryCache.beginFill: the fill tracker refused a plain fill (only revalidations are limited to one per key)');
    return ticket;
  }

  /**
   * A ticket for refreshing a stale entry in the background, or `undefined` when a refresh of
   * this key is already running (so only one query goes to the backend).
   *
   * @example
   * ```ts
   * const ticket = cache.beginRevalidate(key);
   * if (ticket) void backend.run(key.sql).then((bytes) => cache.store(key, bytes, { ticket, ...meta }), () => cache.abandonFill(ticket));
   * ```
   */
  beginRevalidate(key: CacheKey): FillTicket | undefined {
    return this.#fills.begin(cacheKeyDigest(key), key.instanceId, this.#now(), true);
  }

  /**
   * Ends a fill that will not be stored (the query failed, the result was not cacheable).
   *
   * @example
   * ```ts
   * if (!responseIsCacheable) cache.abandonFill(ticket);
   * ```
   */
  abandonFill(ticket: FillTicket): void {
    this.#fills.abandon(ticket);
  }

  /**
   * Stores the backend's response for `key` (a copy of `value`) and ends its fill. Dropped, with
   * the reason, when the fill was superseded by an invalidation of a table it read, a tag it
   * carries or its instance; when its ticket expired; or when it is larger than the entry bound.
   * The entry's age counts from when the fill began.
   *
   * @example
   * ```ts
   * const outcome = cache.store(key, response, { ticket, readTables: analysis.readTables, ...policy });
   * if (outcome !== 'stored') log.debug(`not cached: ${outcome}`);
   * ```
   */
  store(key: CacheKey, value: Buffer, meta: StoreMeta): StoreOutcome {
    assertDuration('ttlMs', meta.ttlMs, 1);
    assertDuration('swrMs', meta.swrMs, 0);
    const digest = cacheKeyDigest(key);
    const refusal = this.#fills.finish(meta.ticket, digest, meta.readTables, meta.tags, this.#now());
    if (refusal !== undefined) {
      this.#counts.fillsDropped += 1;
      return refusal;
    }
    const bytes = entryBytes(value, meta.readTables, meta.tags);
    if (bytes > this.#maxEntryBytes) return 'too-large';
    const entryMeta: CacheEntryMeta = Object.freeze({
      readTables: Object.freeze([...meta.readTables]),
      tags: Object.freeze([...meta.tags]),
      storedAtMs: meta.ticket.startedAtMs,
      ttlMs: meta.ttlMs,
      swrMs: meta.swrMs,
    });
    // The caller's buffer may be a slice of a reused socket buffer: keep a copy of our own.
    const entry: Entry = { instanceId: key.instanceId, readTables: entryMeta.readTables, tags: entryMeta.tags, value: Buffer.from(value), meta: entryMeta };
    this.#remove(digest);
    const stored = this.#entries.set(digest, entry, bytes);
    if (!stored) throw new Error(`QueryCache.store: an entry of ${bytes} bytes within the entry bound did not fit the cache`);
    this.#index.add(digest, entry);
    return 'stored';
  }

  /**
   * Removes the instance's entries that read any of `tables` (as {@link StatementAnalysis}
   * names them), and supersedes its pending fills that read them. Call it after a write has
   * committed: after the statement in autocommit, and again at COMMIT for the tables written in a
   * transaction (reads between the statement and the commit still saw the old rows). Returns the
   * number of entries removed.
   *
   * @example
   * ```ts
   * if (analysis.kind === 'write') cache.invalidateTables(instanceId, analysis.writtenTables);
   * ```
   */
  invalidateTables(instanceId: string, tables: readonly string[]): number {
    this.#fills.invalidateTables(instanceId, tables);
    return this.#invalidate(this.#index.byTables(instanceId, tables));
  }

  /**
   * Removes the instance's entries that carry any of `tags`, and supersedes its pending fills
   * that carry them. Returns the number of entries removed.
   *
   * @example
   * ```ts
   * cache.invalidateTags('ins_1', ['products']); // after a price import the cache cannot see
   * ```
   */
  invalidateTags(instanceId: string, tags: readonly string[]): number {
    this.#fills.invalidateTags(instanceId, tags);
    return this.#invalidate(this.#index.byTags(instanceId, tags));
  }

  /**
   * Removes all the instance's entries and supersedes all its pending fills: after a statement
   * with `writesUnknownTables`, a restore, a role change. Returns the number of entries removed.
   *
   * @example
   * ```ts
   * if (analysis.writesUnknownTables) cache.invalidateInstance(instanceId);
   * ```
   */
  invalidateInstance(instanceId: string): number {
    this.#fills.invalidateInstance(instanceId);
    return this.#invalidate(this.#index.byInstance(instanceId));
  }

  /**
   * The cache's counters.
   *
   * @example
   * ```ts
   * const { hits, misses, bytes } = cache.stats();
   * ```
   */
  stats(): QueryCacheStats {
    return { ...this.#counts, bytes: this.#entries.weight, entries: this.#entries.size };
  }

  #invalidate(digests: readonly string[]): number {
    for (const digest of digests) this.#remove(digest);
    this.#counts.invalidations += digests.length;
    return digests.length;
  }

  #remove(digest: string): void {
    const entry = this.#entries.delete(digest);
    if (entry !== undefined) this.#index.remove(digest, entry);
  }
}
