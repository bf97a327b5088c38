// PostgreSQL's own parser and scanner (libpg-query, compiled to WebAssembly), behind the two calls
// the analyzer needs; the module must be loaded once before either is used.

import { loadModule, parseSync, scanSync } from 'libpg-query';

let loaded = false;

/**
 * Loads PostgreSQL's parser (a WebAssembly module, about 1 MB). Call it once at startup, before
 * {@link analyzeStatement}; later calls resolve at once.
 *
 * @example
 * ```ts
 * await loadSqlParser();
 * analyzeStatement('select 1');
 * ```
 */
export async function loadSqlParser(): Promise<void> {
  await loadModule();
  loaded = true;
}

function assertLoaded(): void {
  if (!loaded) throw new Error('the SQL parser is not loaded: await loadSqlParser() once before analyzeStatement()');
}

/**
 * One raw statement of a parse tree: the node, as libpg-query's JSON.
 *
 * @example
 * ```ts
 * const statement: RawStatement = { SelectStmt: { fromClause: [{ RangeVar: { relname: 't' } }] } };
 * ```
 */
export type RawStatement = Readonly<Record<string, unknown>>;

/**
 * The parse result: statements, or the parser's error message.
 *
 * @example
 * ```ts
 * const outcome: ParseOutcome = parseSql(sql);
 * if (!outcome.ok) console.log(outcome.message);
 * ```
 */
export type ParseOutcome = { readonly ok: true; readonly statements: readonly RawStatement[] } | { readonly ok: false; readonly message: string };

/**
 * Parses SQL with PostgreSQL's grammar; an error is a value (the statement is then not cacheable).
 *
 * @example
 * ```ts
 * parseSql('select 1; select 2'); // { ok: true, statements: [{ SelectStmt: … }, { SelectStmt: … }] }
 * parseSql('selec 1');            // { ok: false, message: 'syntax error at or near "selec"' }
 * ```
 */
export function parseSql(sql: string): ParseOutcome {
  assertLoaded();
  // libpg-query refuses the empty string, which PostgreSQL treats as no statement.
  if (sql === '') return { ok: true, statements: [] };
  try {
    const result = parseSync(sql) as { stmts?: readonly { stmt?: RawStatement }[] };
    const statements: RawStatement[] = [];
    for (const raw of result.stmts ?? []) if (raw.stmt !== undefined) statements.push(raw.stmt);
    return { ok: true, statements };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * A comment as PostgreSQL's scanner finds it (a block comment or a `--` line comment), delimiters included.
 *
 * @example
 * ```ts
 * const comment: SqlComment = { text: '-- strata:cache ttl=5', block: false };
 * ```
 */
export interface SqlComment {
  readonly text: string;
  readonly block: boolean;
}

/**
 * The comments of a SQL string, found by PostgreSQL's scanner, so text inside string literals,
 * quoted identifiers and dollar-quoted bodies is never taken for a comment. `undefined` when the
 * scanner rejects the text (an unterminated literal or comment: the parser rejects it too).
 *
 * @example
 * ```ts
 * scanComments("select '-- not a comment' -- a comment"); // [{ text: '-- a comment', block: false }]
 * ```
 */
export function scanComments(sql: string): readonly SqlComment[] | undefined {
  assertLoaded();
  if (sql.trim() === '') return [];
  let tokens: readonly { readonly tokenName: string; readonly text: string }[];
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    return undefined;
  }
  const comments: SqlComment[] = [];
  for (const token of tokens) {
    if (token.tokenName === 'C_COMMENT') comments.push({ text: token.text, block: true });
    else if (token.tokenName === 'SQL_COMMENT') comments.push({ text: token.text, block: false });
  }
  return comments;
}
