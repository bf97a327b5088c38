// The bounds of an instance's proxy settings, each with the reason for its number. The cache's
// bounds are the proxy's own (packages/proxy/src/cache/limits.ts): this package does not depend
// on the proxy, so they are repeated here and must change together.

/** Rules per instance: the proxy tries them in order for every cacheable read, so a short list. */
export const MAX_CACHE_RULES = 32;

/** Table patterns per rule: a rule covers a read only when it covers every table the read touches. */
export const MAX_RULE_TABLES = 64;

/** Longest ttl or swr of a rule: one day (the proxy's MAX_CACHE_TTL_MS). */
export const MAX_CACHE_TTL_MS = 86_400_000;

/** Tags per rule or per invalidation (the proxy's MAX_CACHE_TAGS). */
export const MAX_CACHE_TAGS = 16;

/** A tag: one short lower-case word (the proxy's TAG_PATTERN). */
export const CACHE_TAG_PATTERN = /^[a-z0-9_:.-]{1,64}$/;

/**
 * A rule's table pattern: `*`, `table`, `schema.table` or `schema.*`, names as PostgreSQL folds
 * them (unquoted names lower-case; no quotes, spaces or dots inside a name; at most 63 characters,
 * PostgreSQL's identifier length).
 */
export const CACHE_TABLE_PATTERN = /^(\*|[^\s."*]{1,63}(\.([^\s."*]{1,63}|\*))?)$/;

/**
 * Highest client limit of an instance: the proxy's default bound on all its clients (its
 * `maxClients`, 10,000); a per-instance limit above it could never be reached.
 */
export const MAX_PROXY_CLIENTS = 10_000;

/**
 * How long invalidation rows are kept. A proxy reads new rows within a fraction of a second; an
 * hour covers a proxy that could not reach the system database for a while, and keeps the table
 * to the last hour's requests.
 */
export const INVALIDATION_RETENTION_MS = 60 * 60 * 1000;

/**
 * Old invalidation rows deleted per insert, at most: each insert adds one row, so this keeps up
 * with any rate while bounding the work one request does.
 */
export const INVALIDATION_PRUNE_BATCH = 1_000;
