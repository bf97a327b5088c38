// The query cache's public types: what the analyzer says about a statement, hints and rules, the
// cache's key, its entries and its counters.

/**
 * What a statement does, as far as the cache is concerned:
 * - `read`: only SELECT statements (candidates for the cache);
 * - `write`: changes table data, a table's definition or who may read it (invalidates);
 * - `other`: anything else (BEGIN, SET, LISTEN, CREATE INDEX, a statement the parser rejects…).
 */
export type StatementKind = 'read' | 'write' | 'other';

/**
 * How long to keep a result: the time it is served fresh, then the time it is still served
 * (stale) while one background query refreshes it, and the tags it can be invalidated by.
 *
 * @example
 * ```ts
 * const hint: CacheHint = { ttlMs: 60_000, swrMs: 30_000, tags: ['products'] };
 * ```
 */
export interface CacheHint {
  readonly ttlMs: number;
  readonly swrMs: number;
  readonly tags: readonly string[];
}

/**
 * What {@link analyzeStatement} found in one SQL string (one or more statements, as sent in a
 * simple Query message or a Parse message).
 *
 * Table names are `schema.table` as PostgreSQL's parser folds them: unquoted names lower-case,
 * quoted names as written, unqualified names in `public` (the analyzer assumes the default
 * search_path; a session that changes it reports {@link changesSessionState}).
 *
 * @example
 * ```ts
 * analyzeStatement('select * from Orders o join shop."Items" i using (id)');
 * // { kind: 'read', readTables: ['public.orders', 'shop.Items'], writtenTables: [],
 * //   writesUnknownTables: false, changesSessionState: false, cacheable: true }
 * ```
 */
export interface StatementAnalysis {
  readonly kind: StatementKind;
  /** Tables the statement reads, sorted (for a write: the tables it reads besides its targets). */
  readonly readTables: readonly string[];
  /** Tables whose data, definition or privileges the statement changes, sorted. */
  readonly writtenTables: readonly string[];
  /**
   * The statement may change tables the parser cannot name (CALL, DO, EXECUTE, role and schema
   * changes, a replaced function): invalidate the whole instance after it.
   */
  readonly writesUnknownTables: boolean;
  /**
   * The statement changes what later statements of the same session see (SET, RESET, SET ROLE,
   * DISCARD, set_config(), a temporary table): the session's results then depend on more than
   * the cache key, so the session must stop using the cache.
   */
  readonly changesSessionState: boolean;
  /** The `strata:cache` hint in the statement's comments, if any. */
  readonly hint?: CacheHint;
  /**
   * May the result be cached: a read without side effects or session-dependent functions, of at
   * least one table (or with a hint). Whether it is cached is {@link resolveCachePolicy}'s answer.
   */
  readonly cacheable: boolean;
  /** Why it is not cacheable (set exactly when `cacheable` is false). */
  readonly reason?: string;
}

/**
 * An instance's standing cache rule: a cacheable read whose tables are all among `tables` is
 * cached for `ttlMs` (then served stale for `swrMs`) without a hint in the SQL.
 *
 * `tables` holds `schema.table` names as {@link StatementAnalysis} reports them; a name without a
 * schema is in `public`; `schema.*` covers every table of a schema and `*` every table.
 *
 * @example
 * ```ts
 * const rule: CacheRule = { tables: ['products', 'public.categories'], ttlMs: 30_000, swrMs: 60_000, tags: ['catalog'] };
 * ```
 */
export interface CacheRule {
  readonly tables: readonly string[];
  readonly ttlMs: number;
  readonly swrMs: number;
  readonly tags?: readonly string[];
}

/**
 * How one statement's result is cached: from its hint, or from the first rule that covers it.
 *
 * @example
 * ```ts
 * const policy = resolveCachePolicy(analysis, rules);
 * if (policy) cache.store(key, response, { ticket, readTables: analysis.readTables, ...policy });
 * ```
 */
export interface CachePolicy extends CacheHint {
  readonly source: 'hint' | 'rule';
}

/**
 * Everything a cached response depends on. Every field is part of the key's digest, so a result
 * cached for one instance, role, database or parameter list is never served to another.
 *
 * @example
 * ```ts
 * const key: CacheKey = {
 *   instanceId: 'ins_1', role: 'app', database: 'shop',
 *   sql: 'select * from products where id = $1', params: [Buffer.from('42')],
 *   variant: 'formats=0;TimeZone=UTC',
 * };
 * ```
 */
export interface CacheKey {
  readonly instanceId: string;
  readonly role: string;
  readonly database: string;
  readonly sql: string;
  /** Bound parameter values (null for SQL NULL); absent for the simple query protocol. */
  readonly params?: readonly (Buffer | null)[];
  /**
   * Anything else the response bytes depend on, encoded by the proxy: parameter types and format
   * codes, result format codes, reported session settings (TimeZone, DateStyle, client_encoding…).
   * Absent and `''` are the same.
   */
  readonly variant?: string;
}

/**
 * Proof that a fill (a miss or a revalidation going to the backend) began before any
 * invalidation it must respect; {@link QueryCache.store} drops a fill whose ticket was superseded.
 *
 * @example
 * ```ts
 * const ticket = cache.beginFill(key);
 * const response = await backend.query(key.sql);
 * cache.store(key, response, { ticket, readTables, ttlMs, swrMs, tags });
 * ```
 */
export interface FillTicket {
  readonly id: number;
  /** When the fill began (the injected clock); the stored entry's age counts from here. */
  readonly startedAtMs: number;
}

/**
 * What {@link QueryCache.store} is told besides the bytes.
 *
 * @example
 * ```ts
 * const meta: StoreMeta = { ticket, readTables: ['public.products'], tags: [], ttlMs: 60_000, swrMs: 0 };
 * ```
 */
export interface StoreMeta {
  readonly ticket: FillTicket;
  readonly readTables: readonly string[];
  readonly tags: readonly string[];
  readonly ttlMs: number;
  readonly swrMs: number;
}

/**
 * What happened to a {@link QueryCache.store}:
 * - `stored`;
 * - `superseded`: a table it read, one of its tags or its instance was invalidated after its
 *   ticket was issued, so the bytes may predate that write;
 * - `ticket-expired`: the ticket was already used, abandoned, or outlived
 *   {@link MAX_FILL_DURATION_MS} / {@link MAX_PENDING_FILLS};
 * - `too-large`: the entry exceeds the cache's entry bound.
 */
export type StoreOutcome = 'stored' | 'superseded' | 'ticket-expired' | 'too-large';

/**
 * A stored entry's metadata.
 *
 * @example
 * ```ts
 * const hit = cache.lookup(key);
 * if (hit) console.log(`age ${now() - hit.meta.storedAtMs} ms of ${hit.meta.ttlMs}`);
 * ```
 */
export interface CacheEntryMeta {
  readonly readTables: readonly string[];
  readonly tags: readonly string[];
  /** When the fill that produced it began (the snapshot's time, by the injected clock). */
  readonly storedAtMs: number;
  readonly ttlMs: number;
  readonly swrMs: number;
}

/**
 * A hit: `fresh` (younger than its ttl) or `stale` (past its ttl, within its swr window: serve
 * it, and refresh it in the background after {@link QueryCache.beginRevalidate}). `value` is the
 * cache's own copy: read it, do not change it.
 *
 * @example
 * ```ts
 * const hit = cache.lookup(key);
 * if (hit?.state === 'stale') revalidateInBackground(key);
 * if (hit) client.write(hit.value);
 * ```
 */
export interface CacheLookup {
  readonly state: 'fresh' | 'stale';
  readonly value: Buffer;
  readonly meta: CacheEntryMeta;
}

/**
 * The cache's counters since it was made (`bytes` and `entries` are current).
 *
 * @example
 * ```ts
 * const { hits, staleHits, misses } = cache.stats();
 * const hitRatio = (hits + staleHits) / Math.max(1, hits + staleHits + misses);
 * ```
 */
export interface QueryCacheStats {
  /** Lookups answered fresh. */
  readonly hits: number;
  /** Lookups answered stale (within swr). */
  readonly staleHits: number;
  /** Lookups with no usable entry (none, or expired past ttl + swr). */
  readonly misses: number;
  /** Entries removed to stay within the byte bound. */
  readonly evictions: number;
  /** Entries removed by invalidateTables / invalidateTags / invalidateInstance. */
  readonly invalidations: number;
  /** Stores dropped because their ticket was superseded or expired. */
  readonly fillsDropped: number;
  /** Bytes held now (values plus a fixed per-entry overhead). */
  readonly bytes: number;
  /** Entries held now. */
  readonly entries: number;
}

/**
 * Options of a {@link QueryCache}; every field has a default.
 *
 * @example
 * ```ts
 * let nowMs = 0;
 * const cache = new QueryCache({ now: () => nowMs, maxBytes: 1024 * 1024 });
 * ```
 */
export interface QueryCacheOptions {
  /** The clock, in milliseconds. Default `Date.now`. */
  readonly now?: () => number;
  /** Bound on all entries' bytes. Default {@link DEFAULT_QUERY_CACHE_MAX_BYTES}. */
  readonly maxBytes?: number;
  /** Bound on one entry's bytes. Default {@link DEFAULT_QUERY_CACHE_MAX_ENTRY_BYTES}. */
  readonly maxEntryBytes?: number;
}
