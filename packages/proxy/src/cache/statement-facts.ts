// Walks one parse tree (libpg-query's JSON) and collects what the cache needs to know: the tables
// read and written, and whatever makes a read unfit for caching. Statement types are a closed
// list: a type the walker does not know is assumed to change tables it cannot name.

import { changesSessionState, isVolatileFunction } from './functions.js';
import { MAX_PARSE_TREE_DEPTH } from './limits.js';
import { tableName } from './names.js';
import type { RawStatement } from './sql-parser.js';

type Node = Readonly<Record<string, unknown>>;
/** CTE names visible at a point of the tree (they shadow unqualified table names). */
type Scope = ReadonlySet<string>;

/**
 * What one statement does, as the walker found it.
 *
 * @example
 * ```ts
 * const { reads, writes, volatile, locks } = statementFacts(statement);
 * ```
 */
export interface StatementFacts {
  /** The statement's node type (`SelectStmt`, `InsertStmt`…). */
  readonly type: string;
  readonly reads: Set<string>;
  readonly writes: Set<string>;
  writesUnknownTables: boolean;
  changesSessionState: boolean;
  /** Calls (or SQL value functions) whose result changes between calls or sessions. */
  readonly volatile: Set<string>;
  /** The statement takes row locks (FOR UPDATE / FOR SHARE…). */
  locks: boolean;
  /** The tree nests deeper than {@link MAX_PARSE_TREE_DEPTH}; the walk stopped and assumed the worst. */
  tooDeep: boolean;
}

class ParseTreeTooDeep extends Error {}

// Statements that change no table data, definition or privilege that a cached read depends on.
// Their subtrees are still walked (a DECLARE CURSOR's query reads tables, a CREATE SCHEMA's
// elements may create tables).
const HARMLESS = new Set([
  'TransactionStmt', 'VariableShowStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'LockStmt',
  'DeallocateStmt', 'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt', 'CheckPointStmt',
  'VacuumStmt', 'IndexStmt', 'ReindexStmt', 'ClusterStmt', 'CommentStmt', 'SecLabelStmt',
  'CreateSchemaStmt', 'CreateRoleStmt', 'CreateSeqStmt', 'CreateTrigStmt', 'CreateEventTrigStmt',
  'CreateExtensionStmt', 'CreatedbStmt', 'DropdbStmt', 'CreateDomainStmt', 'CompositeTypeStmt',
  'CreateEnumStmt', 'CreateRangeStmt', 'CreateStatsStmt', 'AlterStatsStmt', 'CreateCastStmt',
  'CreateConversionStmt', 'CreateTableSpaceStmt', 'CreatePublicationStmt', 'AlterPublicationStmt',
  'CreateSubscriptionStmt', 'AlterSubscriptionStmt', 'DropSubscriptionStmt', 'ConstraintsSetStmt',
  'AlterSystemStmt', 'LoadStmt', 'CreateFdwStmt', 'CreateForeignServerStmt', 'CreateUserMappingStmt',
  'CreatePLangStmt', 'CreateAmStmt', 'CreateOpClassStmt', 'CreateOpFamilyStmt', 'CreateTransformStmt',
]);

// DROP of these changes what any read may return or whether it runs at all.
const DROPS_WITHOUT_TABLE = new Set([
  'OBJECT_SCHEMA', 'OBJECT_FUNCTION', 'OBJECT_PROCEDURE', 'OBJECT_ROUTINE', 'OBJECT_AGGREGATE',
  'OBJECT_OPERATOR', 'OBJECT_TYPE', 'OBJECT_DOMAIN', 'OBJECT_EXTENSION', 'OBJECT_COLLATION',
  'OBJECT_CAST', 'OBJECT_FOREIGN_SERVER', 'OBJECT_FDW',
]);
// DROP of these names tables (the whole name)…
const DROPS_OF_TABLES = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE']);
// …and of these an object on a table (the name minus its last part).
const DROPS_ON_TABLES = new Set(['OBJECT_POLICY', 'OBJECT_RULE', 'OBJECT_TRIGGER']);
// GRANT/REVOKE on these lists its objects as table names.
const GRANTS_ON_TABLES = new Set(['OBJECT_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE']);

const SQL_VALUE_FUNCTIONS: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
};

function asNode(value: unknown): Node | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Node) : undefined;
}

function asList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A RangeVar, wrapped (`{ RangeVar: {...} }`, where the field is a generic node) or not. */
function rangeVar(value: unknown): Node | undefined {
  const node = asNode(value);
  const inner = asNode(node?.RangeVar) ?? node;
  return typeof inner?.relname === 'string' ? inner : undefined;
}

function rangeVarName(node: Node): string {
  return tableName(typeof node.schemaname === 'string' ? node.schemaname : undefined, node.relname as string);
}

/** The strings of a name list (`[{ String: { sval } }, …]`), as in DROP's objects and function names. */
function nameParts(value: unknown): string[] {
  const items = asNode(value)?.List !== undefined ? asList(asNode(asNode(value)?.List)?.items) : asList(value);
  const parts: string[] = [];
  for (const item of items) {
    const sval = asNode(asNode(item)?.String)?.sval;
    if (typeof sval === 'string') parts.push(sval);
  }
  return parts;
}

function qualifiedName(parts: readonly string[]): string | undefined {
  const table = parts.at(-1);
  if (table === undefined) return undefined;
  return tableName(parts.length >= 2 ? parts.at(-2) : undefined, table);
}

/** Whether an EXPLAIN has ANALYZE: only an explicit false/off/no counts as not running (when unsure, it runs). */
function explainRuns(node: Node): boolean {
  return asList(node.options).some((option) => {
    const elem = asNode(asNode(option)?.DefElem);
    if (elem?.defname !== 'analyze') return false;
    const value = asNode(asNode(elem.arg)?.String)?.sval;
    return !(typeof value === 'string' && ['false', 'off', 'no'].includes(value.toLowerCase()));
  });
}

type Handler = (walker: Walker, node: Node, scope: Scope) => void;

class Walker {
  #depth: number;

  constructor(
    readonly facts: StatementFacts,
    depth = 0,
  ) {
    this.#depth = depth;
  }

  any(value: unknown, scope: Scope): void {
    if (Array.isArray(value)) {
      for (const item of value) this.any(item, scope);
      return;
    }
    const node = asNode(value);
    if (node !== undefined) this.node(node, scope);
  }

  /** A node's fields (an unwrapped node: `{ relation, whereClause, … }`), minus `skip`. */
  node(node: Node, scope: Scope, skip: readonly string[] = []): void {
    this.#depth += 1;
    try {
      this.#fields(node, scope, skip);
    } finally {
      this.#depth -= 1;
    }
  }

  #fields(node: Node, scope: Scope, skip: readonly string[]): void {
    if (this.#depth > MAX_PARSE_TREE_DEPTH) throw new ParseTreeTooDeep();
    if (typeof node.relname === 'string') {
      this.read(node, scope);
      return;
    }
    const withClause = asNode(node.withClause);
    const inner = withClause === undefined ? scope : this.with(withClause, scope);
    for (const [key, child] of Object.entries(node)) {
      if (key === 'withClause' || skip.includes(key)) continue;
      const handler = HANDLERS[key];
      const body = asNode(child);
      if (handler !== undefined && body !== undefined) {
        handler(this, body, inner);
        continue;
      }
      if (/^[A-Z]/.test(key) && key.endsWith('Stmt') && !HARMLESS.has(key)) this.facts.writesUnknownTables = true;
      this.any(child, inner);
    }
  }

  read(node: Node, scope: Scope): void {
    // An unqualified name that a WITH query of an enclosing statement defines is that query.
    if (node.schemaname === undefined && scope.has(node.relname as string)) return;
    this.facts.reads.add(rangeVarName(node));
  }

  write(value: unknown): void {
    const node = rangeVar(value);
    if (node === undefined) return;
    this.facts.writes.add(rangeVarName(node));
    // A temporary table shadows permanent ones for this session only.
    if (node.relpersistence === 't') this.facts.changesSessionState = true;
  }

  /** Every table a subtree names counts as written (ALTER TABLE's commands: INHERIT, ATTACH…). */
  writeAllIn(value: unknown, scope: Scope): void {
    const sub = new Walker(newFacts(this.facts.type), this.#depth);
    sub.any(value, scope);
    for (const table of [...sub.facts.reads, ...sub.facts.writes]) this.facts.writes.add(table);
  }

  /** A subtree that is stored, not run now (PREPARE, EXPLAIN without ANALYZE): its tables only. */
  notExecuted(value: unknown, scope: Scope): void {
    const sub = new Walker(newFacts(this.facts.type), this.#depth);
    sub.any(value, scope);
    for (const table of [...sub.facts.reads, ...sub.facts.writes]) this.facts.reads.add(table);
  }

  unknownWrites(): void {
    this.facts.writesUnknownTables = true;
  }

  /** Walks a WITH clause's queries and returns the scope its statement sees. */
  with(withClause: Node, scope: Scope): Scope {
    const ctes = asList(withClause.ctes).flatMap((item) => {
      const cte = asNode(asNode(item)?.CommonTableExpr);
      return cte === undefined ? [] : [cte];
    });
    const names = ctes.map((cte) => String(cte.ctename));
    const all = new Set([...scope, ...names]);
    if (withClause.recursive === true) {
      for (const cte of ctes) this.node(cte, all);
    } else {
      // A non-recursive WITH query sees only the queries before it: `with t as (select * from t)` reads table t.
      const visible = new Set(scope);
      ctes.forEach((cte, index) => {
        this.node(cte, visible);
        visible.add(names[index] as string);
      });
    }
    return all;
  }
}

function newFacts(type: string): StatementFacts {
  return { type, reads: new Set(), writes: new Set(), writesUnknownTables: false, changesSessionState: false, volatile: new Set(), locks: false, tooDeep: false };
}

const writesRelation: Handler = (walker, node, scope) => {
  walker.write(node.relation);
  walker.node(node, scope, ['relation']);
};

const unknownWrites: Handler = (walker, node, scope) => {
  walker.unknownWrites();
  walker.node(node, scope);
};

const HANDLERS: Readonly<Record<string, Handler>> = {
  // Data.
  SelectStmt: (walker, node, scope) => {
    walker.write(asNode(node.intoClause)?.rel);
    walker.node(node, scope, ['intoClause']);
  },
  InsertStmt: writesRelation,
  UpdateStmt: writesRelation,
  DeleteStmt: writesRelation,
  MergeStmt: writesRelation,
  TruncateStmt: (walker, node) => asList(node.relations).forEach((relation) => walker.write(relation)),
  CopyStmt: (walker, node, scope) => {
    if (node.is_from === true) walker.write(node.relation);
    walker.node(node, scope, node.is_from === true ? ['relation'] : []);
  },
  RefreshMatViewStmt: writesRelation,

  // Definitions and privileges of tables.
  CreateStmt: writesRelation,
  CreateForeignTableStmt: (walker, node) => walker.write(asNode(node.base)?.relation),
  CreateTableAsStmt: (walker, node, scope) => {
    walker.write(asNode(node.into)?.rel);
    walker.node(node, scope, ['into']);
  },
  ViewStmt: (walker, node, scope) => {
    walker.write(node.view);
    walker.node(node, scope, ['view']);
  },
  AlterTableStmt: (walker, node, scope) => {
    walker.write(node.relation);
    walker.writeAllIn(node.cmds, scope);
  },
  AlterSeqStmt: (walker, node) => walker.write(node.sequence),
  RuleStmt: (walker, node, scope) => {
    walker.write(node.relation);
    walker.notExecuted(node.actions, scope);
  },
  CreatePolicyStmt: (walker, node) => walker.write(node.table),
  AlterPolicyStmt: (walker, node) => walker.write(node.table),
  RenameStmt: (walker, node) => (rangeVar(node.relation) === undefined ? walker.unknownWrites() : walker.write(node.relation)),
  AlterObjectSchemaStmt: (walker, node) =>
    rangeVar(node.relation) === undefined ? walker.unknownWrites() : walker.write(node.relation),
  DropStmt: (walker, node) => {
    const type = String(node.removeType);
    if (node.behavior === 'DROP_CASCADE' || DROPS_WITHOUT_TABLE.has(type)) walker.unknownWrites();
    for (const object of asList(node.objects)) {
      const parts = nameParts(object);
      const name = DROPS_OF_TABLES.has(type) ? qualifiedName(parts) : DROPS_ON_TABLES.has(type) ? qualifiedName(parts.slice(0, -1)) : undefined;
      if (name !== undefined) walker.facts.writes.add(name);
    }
  },
  GrantStmt: (walker, node) => {
    if (node.targtype !== 'ACL_TARGET_OBJECT' || !GRANTS_ON_TABLES.has(String(node.objtype))) walker.unknownWrites();
    else asList(node.objects).forEach((object) => walker.write(object));
  },
  CreateFunctionStmt: (walker, node, scope) => {
    // A replaced function may be called by any cached read; a new one by none yet.
    if (node.replace === true) walker.unknownWrites();
    walker.notExecuted(node.sql_body, scope);
  },
  DefineStmt: (walker, node) => {
    if (node.replace === true) walker.unknownWrites();
  },

  // Code the parser cannot see into, and changes to roles, which change what every query may read.
  DoStmt: unknownWrites,
  CallStmt: unknownWrites,
  ExecuteStmt: unknownWrites,
  GrantRoleStmt: unknownWrites,
  AlterRoleStmt: unknownWrites,
  AlterRoleSetStmt: unknownWrites,
  DropRoleStmt: unknownWrites,
  DropOwnedStmt: unknownWrites,
  ReassignOwnedStmt: unknownWrites,
  AlterDatabaseSetStmt: unknownWrites,

  // The session.
  VariableSetStmt: (walker) => {
    walker.facts.changesSessionState = true;
  },
  DiscardStmt: (walker) => {
    walker.facts.changesSessionState = true;
  },
  PrepareStmt: (walker, node, scope) => walker.notExecuted(node.query, scope),
  ExplainStmt: (walker, node, scope) => {
    // EXPLAIN ANALYZE runs its statement (and its writes); plain EXPLAIN only plans it.
    if (explainRuns(node)) walker.any(node.query, scope);
    else walker.notExecuted(node.query, scope);
  },

  // What makes a read unfit for caching.
  FuncCall: (walker, node, scope) => {
    const name = nameParts(node.funcname).at(-1);
    if (name !== undefined && isVolatileFunction(name)) walker.facts.volatile.add(`${name}()`);
    if (name !== undefined && changesSessionState(name)) walker.facts.changesSessionState = true;
    walker.node(node, scope, ['funcname']);
  },
  SQLValueFunction: (walker, node) => {
    walker.facts.volatile.add(SQL_VALUE_FUNCTIONS[String(node.op)] ?? String(node.op));
  },
  // Its lockedRels are aliases, not tables: not walked.
  LockingClause: (walker) => {
    walker.facts.locks = true;
  },
  RangeTableSample: (walker, node, scope) => {
    if (node.repeatable === undefined) walker.facts.volatile.add('TABLESAMPLE without REPEATABLE');
    walker.node(node, scope);
  },
};

/**
 * What one top-level statement (a `RawStmt`'s node) does.
 *
 * @example
 * ```ts
 * const facts = statementFacts({ SelectStmt: { fromClause: [{ RangeVar: { relname: 't' } }] } });
 * // facts.reads: Set { 'public.t' }
 * ```
 */
export function statementFacts(statement: RawStatement): StatementFacts {
  const entries = Object.entries(statement);
  const [type, body] = entries[0] ?? ['', undefined];
  if (entries.length !== 1 || asNode(body) === undefined) {
    throw new Error(`a parse tree statement is one node ({ Type: {...} }); libpg-query gave ${JSON.stringify(Object.keys(statement))}`);
  }
  const walker = new Walker(newFacts(type));
  try {
    walker.node(statement, new Set());
  } catch (error) {
    if (!(error instanceof ParseTreeTooDeep)) throw error;
    // What was not walked may write anything: invalidating too much is safe, too little is not.
    walker.facts.tooDeep = true;
    walker.facts.writesUnknownTables = true;
  }
  return walker.facts;
}
