// The query cache's bounds, each with the reason for its number.

/**
 * Default bound on the bytes a {@link QueryCache} holds. The proxy is one process serving every
 * instance; 64 MiB holds tens of thousands of typical small results while leaving the proxy's
 * memory dominated by its connections, not its cache.
 *
 * @example
 * ```ts
 * new QueryCache({ maxBytes: DEFAULT_QUERY_CACHE_MAX_BYTES / 4 });
 * ```
 */
export const DEFAULT_QUERY_CACHE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Default bound on one entry. A result over 1 MiB is a report rather than a hot lookup; storing
 * it would evict dozens of small entries that are read far more often.
 *
 * @example
 * ```ts
 * if (response.length > DEFAULT_QUERY_CACHE_MAX_ENTRY_BYTES) return; // not worth buffering
 * ```
 */
export const DEFAULT_QUERY_CACHE_MAX_ENTRY_BYTES = 1024 * 1024;

/**
 * Bytes counted per entry on top of its value: the entry object, its map slot, its digest and
 * its places in the invalidation index. An estimate; it keeps a flood of tiny results bounded too.
 *
 * @example
 * ```ts
 * const entryBytes = value.length + CACHE_ENTRY_OVERHEAD_BYTES;
 * ```
 */
export const CACHE_ENTRY_OVERHEAD_BYTES = 256;

/**
 * The longest a fill may take and still be stored. A read slower than a minute is not one a cache
 * helps, and every pending fill is told about every invalidation of its instance.
 *
 * @example
 * ```ts
 * // a ticket from beginFill at t is refused by store at t + MAX_FILL_DURATION_MS or later
 * ```
 */
export const MAX_FILL_DURATION_MS = 60_000;

/**
 * Fills pending at once, all instances. Each one is a query in flight on a server connection, and
 * the proxy's pools hold far fewer; more than this means tickets are being leaked (begun, never
 * stored or abandoned), and the oldest are dropped.
 *
 * @example
 * ```ts
 * // the 10,001st beginFill drops the oldest pending ticket; its store answers 'ticket-expired'
 * ```
 */
export const MAX_PENDING_FILLS = 10_000;

/**
 * Distinct tables or tags one pending fill remembers as invalidated since it began; past this,
 * the fill is simply superseded (a burst of writes during one read makes its result suspect anyway).
 *
 * @example
 * ```ts
 * // 65 different tables invalidated while a read runs: its store answers 'superseded'
 * ```
 */
export const MAX_INVALIDATIONS_TRACKED_PER_FILL = 64;

/**
 * Longest ttl or swr a hint or a rule may ask for: one day. The cache is invalidated by the writes
 * it sees; a longer bound would let a write it cannot see (a trigger, a function, another client
 * of the database) stay invisible for longer than anyone expects.
 *
 * @example
 * ```ts
 * // a hint with ttl=86401 throws ProxyCacheError STRATA_PROXY_BAD_CACHE_HINT (ttl at most 86400)
 * ```
 */
export const MAX_CACHE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Tags per hint or rule. Each tag is an index entry per cached result; 16 is plenty to name what
 * a query depends on.
 *
 * @example
 * ```ts
 * // tags=a,b,…(17 names) throws ProxyCacheError STRATA_PROXY_BAD_CACHE_HINT
 * ```
 */
export const MAX_CACHE_TAGS = 16;

/**
 * How deep the analyzer follows a parse tree (in nodes). Real queries nest tens of levels; the
 * walk recurses once per level, and a statement nested deeper than this (hundreds of subqueries
 * inside each other) would exhaust the stack instead. Such a statement is treated as a write of
 * tables the parser cannot name, which invalidates too much rather than too little.
 *
 * @example
 * ```ts
 * // 'select … where a in (select … where a in (select … ' nested 1,000 times
 * // → { kind: 'write', writesUnknownTables: true, cacheable: false, reason: 'it nests deeper than …' }
 * ```
 */
export const MAX_PARSE_TREE_DEPTH = 500;

/**
 * Memory the analyzer's memo of SQL text → analysis may hold (SQL counted as UTF-16 plus an
 * estimate per analysis). Parsing costs tens of microseconds and applications repeat a few
 * hundred statements; 16 MiB holds thousands of them.
 *
 * @example
 * ```ts
 * analyzeStatement(sql); // parses; the same sql again is answered from the memo
 * ```
 */
export const ANALYSIS_MEMO_MAX_BYTES = 16 * 1024 * 1024;

/**
 * SQL longer than this is analyzed every time rather than memoized: such statements are bulk
 * INSERTs with inline values, which rarely repeat, and one of them would evict hundreds of the
 * statements that do.
 *
 * @example
 * ```ts
 * analyzeStatement(`insert into t values ${rows}`); // not memoized when over 64 Ki characters
 * ```
 */
export const ANALYSIS_MEMO_MAX_SQL_CHARS = 64 * 1024;
