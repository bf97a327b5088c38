// What cannot work when server connections are shared between transactions: state that outlives
// a transaction on the server (LISTEN, session advisory locks, SET without LOCAL, SQL PREPARE,
// cursors WITH HOLD, temporary tables). Found with PostgreSQL's own parser (libpg-query); a cheap
// text test first decides whether a statement could be one, since parsing costs ~50 µs.

import { parseSql } from '../cache/index.js';

/** Advisory lock functions that hold past the transaction (the _xact_ ones are fine). */
const SESSION_LOCK_FUNCTIONS = new Set(['pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared', 'pg_advisory_unlock', 'pg_advisory_unlock_shared', 'pg_advisory_unlock_all']);
/** DECLARE's CURSOR_OPT_HOLD bit (parsenodes.h). */
const CURSOR_OPT_HOLD = 0x0020;
/**
 * Statements that may be one of the above — a statement starting (after comments) with one of
 * these words, or any mention of an advisory lock: only these are parsed.
 */
const MAYBE_SESSION_STATE = /(?:^|;)\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*(?:set|reset|listen|prepare|discard|deallocate|declare|create)\b|advisory/i;
/** Texts remembered with their answer: statements repeat, parsing does not need to. */
const MAX_REMEMBERED = 2_048;

const remembered = new Map<string, SessionStateVerdict>();

/** What a statement does to session state. */
export interface SessionStateVerdict {
  /** Why it cannot run in transaction mode, or undefined. */
  readonly problem?: string;
  /** DISCARD ALL / DEALLOCATE ALL: the server drops every prepared statement. */
  readonly dropsPreparedStatements?: boolean;
}

/**
 * @example
 * ```ts
 * await loadSqlParser(); // the cache's: one parser for both
 * sessionStateOf('listen jobs').problem; // 'LISTEN keeps …; use session mode …'
 * sessionStateOf('set local work_mem = 64000').problem; // undefined
 * ```
 */
export function sessionStateOf(sql: string): SessionStateVerdict {
  if (!MAYBE_SESSION_STATE.test(sql)) return {};
  const known = remembered.get(sql);
  if (known) return known;
  let verdict: SessionStateVerdict = {};
  // A syntax error (not ok) is the server's to report.
  const outcome = parseSql(sql);
  for (const stmt of outcome.ok ? outcome.statements : []) {
    verdict = judge(stmt as Record<string, any>) ?? verdict;
    if (verdict.problem) break;
  }
  if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
  remembered.set(sql, verdict);
  return verdict;
}

const USE_SESSION_MODE = "use session mode for this instance (pool_mode 'session'), or a transaction-scoped form";

function judge(stmt: Record<string, any>): SessionStateVerdict | undefined {
  if (stmt.ListenStmt) return { problem: `LISTEN needs a session of its own, which transaction mode does not keep; ${USE_SESSION_MODE}` };
  const set = stmt.VariableSetStmt;
  if (set && !set.is_local && set.kind !== 'VAR_SET_MULTI') {
    return { problem: `SET without LOCAL would change a server connection other clients share; use SET LOCAL inside a transaction, or ${USE_SESSION_MODE}` };
  }
  if (stmt.PrepareStmt) return { problem: `SQL PREPARE keeps a statement in a session; use the protocol's named prepared statements (they work in transaction mode), or ${USE_SESSION_MODE}` };
  if (stmt.DeclareCursorStmt && (Number(stmt.DeclareCursorStmt.options) & CURSOR_OPT_HOLD) !== 0) return { problem: `a cursor WITH HOLD outlives its transaction; ${USE_SESSION_MODE}` };
  if (stmt.CreateStmt?.relation?.relpersistence === 't' || stmt.CreateTableAsStmt?.into?.rel?.relpersistence === 't') {
    return { problem: `a temporary table lives as long as a session; ${USE_SESSION_MODE}` };
  }
  if (stmt.DiscardStmt?.target === 'DISCARD_ALL' || stmt.DeallocateStmt?.isall) return { dropsPreparedStatements: true };
  const lock = findFunction(stmt, SESSION_LOCK_FUNCTIONS);
  if (lock) return { problem: `${lock} holds a lock past the transaction; use pg_advisory_xact_lock, or ${USE_SESSION_MODE}` };
  return undefined;
}

/** The first call in the tree of a function named in `names`. */
function findFunction(node: unknown, names: ReadonlySet<string>): string | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findFunction(item, names);
      if (found) return found;
    }
    return undefined;
  }
  if (node === null || typeof node !== 'object') return undefined;
  const call = (node as Record<string, any>).FuncCall;
  if (call) {
    const parts = (call.funcname ?? []) as { String?: { sval?: string } }[];
    const name = parts[parts.length - 1]?.String?.sval;
    if (name && names.has(name)) return name;
  }
  for (const value of Object.values(node)) {
    const found = findFunction(value, names);
    if (found) return found;
  }
  return undefined;
}
