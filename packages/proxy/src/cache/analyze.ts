// analyzeStatement: what a SQL string does, as the cache needs to know it, from PostgreSQL's own
// parser, memoized by text because applications send the same few statements over and over.

import { ProxyCacheError } from './errors.js';
import { parseCacheHint } from './hint.js';
import type { CacheHint, StatementAnalysis, StatementKind } from './interfaces.js';
import { ANALYSIS_MEMO_MAX_BYTES, ANALYSIS_MEMO_MAX_SQL_CHARS, MAX_PARSE_TREE_DEPTH } from './limits.js';
import { BoundedLru } from './lru.js';
import { parseSql } from './sql-parser.js';
import { statementFacts, type StatementFacts } from './statement-facts.js';

// Bytes counted per memoized analysis besides its SQL: the analysis object, its arrays, the map slot.
const MEMO_ENTRY_OVERHEAD_BYTES = 512;

type Memoized = { readonly analysis: StatementAnalysis } | { readonly error: ProxyCacheError };
const memo = new BoundedLru<string, Memoized>(ANALYSIS_MEMO_MAX_BYTES);

interface Findings {
  readonly kind: StatementKind;
  readonly readTables?: readonly string[];
  readonly writtenTables?: readonly string[];
  readonly writesUnknownTables?: boolean;
  readonly changesSessionState?: boolean;
  readonly hint: CacheHint | undefined;
  readonly reason?: string;
}

function freeze({ kind, readTables = [], writtenTables = [], writesUnknownTables = false, changesSessionState = false, hint, reason }: Findings): StatementAnalysis {
  return Object.freeze({
    kind,
    readTables: Object.freeze([...readTables].sort()),
    writtenTables: Object.freeze([...writtenTables].sort()),
    writesUnknownTables,
    changesSessionState,
    ...(hint === undefined ? {} : { hint: Object.freeze({ ...hint, tags: Object.freeze([...hint.tags]) }) }),
    cacheable: reason === undefined,
    ...(reason === undefined ? {} : { reason }),
  });
}

/** Why a read may not be cached, or undefined when it may. */
function readRefusal(facts: readonly StatementFacts[], readTables: ReadonlySet<string>, hint: CacheHint | undefined): string | undefined {
  if (facts.some((f) => f.locks)) return 'SELECT … FOR UPDATE/SHARE locks rows, so it must reach the database';
  const volatile = [...new Set(facts.flatMap((f) => [...f.volatile]))];
  if (volatile.length > 0) {
    return `it calls ${volatile.join(', ')}, whose result changes from call to call or session to session, so it must reach the database`;
  }
  if (hint?.ttlMs === 0) return 'its strata:cache hint has ttl=0 (caching off for this statement)';
  if (readTables.size === 0 && hint === undefined) {
    return 'it reads no table, so no write would ever invalidate it; add a /* strata:cache ttl=<seconds> */ hint to cache it for that long';
  }
  return undefined;
}

function analyze(sql: string): StatementAnalysis {
  const hint = parseCacheHint(sql);
  const parsed = parseSql(sql);
  if (!parsed.ok) return freeze({ kind: 'other', hint, reason: `PostgreSQL's parser rejects it: ${parsed.message}` });
  if (parsed.statements.length === 0) return freeze({ kind: 'other', hint, reason: 'it has no statement (only comments or semicolons)' });

  const facts = parsed.statements.map(statementFacts);
  const readTables = new Set(facts.flatMap((f) => [...f.reads]));
  const writtenTables = new Set(facts.flatMap((f) => [...f.writes]));
  const writesUnknownTables = facts.some((f) => f.writesUnknownTables);
  const changesSessionState = facts.some((f) => f.changesSessionState);
  const common = { readTables: [...readTables], writtenTables: [...writtenTables], writesUnknownTables, changesSessionState, hint };

  if (facts.some((f) => f.tooDeep)) {
    const reason = `it nests deeper than ${MAX_PARSE_TREE_DEPTH} levels, too deep to follow, so it is treated as writing tables the parser cannot name`;
    return freeze({ kind: 'write', ...common, reason });
  }
  if (writtenTables.size > 0 || writesUnknownTables) {
    const what = writtenTables.size > 0 ? [...writtenTables].sort().join(', ') : 'tables the parser cannot name';
    return freeze({ kind: 'write', ...common, reason: `it writes ${what}; only reads are cached` });
  }
  const notReads = [...new Set(facts.filter((f) => f.type !== 'SelectStmt').map((f) => f.type))];
  if (notReads.length > 0) {
    return freeze({ kind: 'other', ...common, reason: `it is not only SELECT statements (${notReads.join(', ')}); only reads are cached` });
  }
  const refusal = readRefusal(facts, readTables, hint);
  return freeze({ kind: 'read', ...common, ...(refusal === undefined ? {} : { reason: refusal }) });
}

/**
 * What a SQL string does, from PostgreSQL's own parser (call {@link loadSqlParser} once first):
 * whether it reads or writes, which tables, its `strata:cache` hint, and whether its result may
 * be cached. A string of several statements (the simple query protocol) is analyzed as a whole:
 * the union of its tables, a write if any statement writes, a read only if all are SELECTs.
 *
 * Answers are memoized by SQL text (bounded by {@link ANALYSIS_MEMO_MAX_BYTES}) and frozen.
 * Throws {@link ProxyCacheError} (`STRATA_PROXY_BAD_CACHE_HINT`) for a malformed hint; SQL the
 * parser rejects is not thrown but answered as `other`, not cacheable, with the parser's message.
 *
 * The analyzer sees names, not the catalog: unqualified names are taken to be in `public`, and
 * what views, triggers, rules, partitions and functions read or write behind a name is unseen.
 *
 * @example
 * ```ts
 * await loadSqlParser();
 * analyzeStatement('with moved as (delete from inbox returning *) insert into archive select * from moved');
 * // { kind: 'write', readTables: [], writtenTables: ['public.archive', 'public.inbox'], cacheable: false, … }
 * analyzeStatement('select * from products /* strata:cache ttl=60 *' + '/').hint; // { ttlMs: 60000, swrMs: 0, tags: [] }
 * ```
 */
export function analyzeStatement(sql: string): StatementAnalysis {
  const memoized = memo.get(sql);
  if (memoized !== undefined) {
    if ('analysis' in memoized) return memoized.analysis;
    throw new ProxyCacheError(memoized.error.code, memoized.error.message);
  }
  let result: Memoized;
  try {
    result = { analysis: analyze(sql) };
  } catch (error) {
    if (!(error instanceof ProxyCacheError)) throw error;
    result = { error };
  }
  if (sql.length <= ANALYSIS_MEMO_MAX_SQL_CHARS) memo.set(sql, result, sql.length * 2 + MEMO_ENTRY_OVERHEAD_BYTES);
  if ('error' in result) throw result.error;
  return result.analysis;
}
