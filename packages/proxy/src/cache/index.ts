// The query cache's public surface (only re-exports): statement analysis with PostgreSQL's own
// parser, cache hints and rules, and the cache itself. Examples live on each export's doc comment.
//
// The proxy's query path, in order:
//   at startup        await loadSqlParser()
//   each statement    analysis = analyzeStatement(sql)          (a ProxyCacheError goes to the client)
//   a read            policy = resolveCachePolicy(analysis, instanceRules); with a policy, and
//                     outside a transaction block, in a session that never changed its state:
//                     hit = cache.lookup(key) → serve it; if stale, beginRevalidate(key) and refresh;
//                     miss → ticket = beginFill(key) before sending; store(key, bytes, { ticket,
//                     readTables, ...policy }) after a complete successful response, else abandonFill
//   a write           invalidateTables(instanceId, writtenTables) once it has committed (autocommit:
//                     after the statement; in a transaction: again at COMMIT);
//                     writesUnknownTables → invalidateInstance(instanceId)
//   changesSessionState → that session bypasses the cache until it ends (or DISCARD ALL / RESET)

export { analyzeStatement } from './analyze.js';
export { cacheKeyDigest } from './cache-key.js';
export { ProxyCacheError, type ProxyCacheErrorCode } from './errors.js';
export { parseCacheHint } from './hint.js';
export type {
  CacheEntryMeta,
  CacheHint,
  CacheKey,
  CacheLookup,
  CachePolicy,
  CacheRule,
  FillTicket,
  QueryCacheOptions,
  QueryCacheStats,
  StatementAnalysis,
  StatementKind,
  StoreMeta,
  StoreOutcome,
} from './interfaces.js';
export {
  ANALYSIS_MEMO_MAX_BYTES,
  ANALYSIS_MEMO_MAX_SQL_CHARS,
  CACHE_ENTRY_OVERHEAD_BYTES,
  DEFAULT_QUERY_CACHE_MAX_BYTES,
  DEFAULT_QUERY_CACHE_MAX_ENTRY_BYTES,
  MAX_CACHE_TAGS,
  MAX_CACHE_TTL_MS,
  MAX_FILL_DURATION_MS,
  MAX_INVALIDATIONS_TRACKED_PER_FILL,
  MAX_PARSE_TREE_DEPTH,
  MAX_PENDING_FILLS,
} from './limits.js';
export { QueryCache } from './query-cache.js';
export { resolveCachePolicy, validateCacheRules } from './rules.js';
export { loadSqlParser, parseSql, type ParseOutcome, type RawStatement } from './sql-parser.js';
