// The query cache on a session's path (both pool modes): a simple query that a hint or a rule
// makes cacheable is answered from the cache when fresh (no server, no wake), served stale and
// refreshed in the background within its stale-while-revalidate time, or sent on and its answer
// kept. Writes through the proxy invalidate the tables they touch once they committed.

import { analyzeStatement, resolveCachePolicy, type CacheKey, type CachePolicy, type CacheRule, type FillTicket, type QueryCache, type StatementAnalysis } from '../cache/index.js';
import { readyForQuery } from '../protocol/messages.js';

/** What the proxy shares between sessions for caching. */
export interface CacheHub {
  readonly cache: QueryCache;
  /** Instances whose cache was ever filled: only their statements are analysed for writes. */
  readonly inUse: Set<string>;
}

/** One session's view of an instance's cache. */
export interface CacheScope {
  readonly hub: CacheHub;
  readonly instanceId: string;
  readonly role: string;
  readonly database: string;
  /** Startup parameters that shape the answer's bytes (encoding, DateStyle, TimeZone…). */
  readonly variant: string;
  /** The instance's cache rules (read per statement: they change through the API). */
  readonly rules: () => readonly CacheRule[];
}

/** What to do with a simple query. */
export type CacheDecision =
  | { readonly kind: 'forward' }
  | { readonly kind: 'answer'; readonly bytes: Buffer; readonly revalidate?: Revalidation }
  | { readonly kind: 'refuse'; readonly sqlstate: string; readonly message: string };

/** A stale entry to refresh: run `sql` on a server and {@link CachePath.finishRevalidation} with the answer. */
export interface Revalidation {
  readonly sql: string;
  readonly key: CacheKey;
  readonly ticket: FillTicket;
  readonly policy: CachePolicy;
  readonly readTables: readonly string[];
}

/** Longest answer kept while it is filled (beyond it the fill is dropped): the cache's own entry bound decides storage. */
const MAX_CAPTURE_BYTES = 8 * 1024 * 1024;
/** Text that marks a cache hint; statements without it are analysed only where caching is in use. */
const HINT_MARK = 'strata:cache';

interface Fill {
  readonly key: CacheKey;
  readonly ticket: FillTicket;
  readonly policy: CachePolicy;
  readonly readTables: readonly string[];
  readonly parts: Buffer[];
  bytes: number;
  failed: boolean;
}

/**
 * @example
 * ```ts
 * const path = new CachePath(scope);
 * const decision = path.query(sql, status);       // 'answer' → write decision.bytes, forward nothing
 * path.capture(frameBytes); path.ready('I');      // after forwarding: the answer, then its ReadyForQuery
 * ```
 */
export class CachePath {
  /** The session changed its state (SET, SET ROLE…): its answers may differ from others'. */
  #bypass = false;
  #fill: Fill | undefined;
  readonly #pendingTables = new Set<string>();
  #pendingEverything = false;
  /** Writes of the session's named statements (extended protocol), by name; '' is the unnamed one. */
  readonly #statementWrites = new Map<string, StatementAnalysis>();

  constructor(readonly scope: CacheScope) {}

  /** Whether an answer is being captured for the cache now. */
  get filling(): boolean {
    return this.#fill !== undefined;
  }

  /** Decides a simple query; `status` is the session's transaction status before it. */
  query(sql: string, status: 'I' | 'T' | 'E'): CacheDecision {
    const { hub, instanceId } = this.scope;
    const hinted = sql.includes(HINT_MARK);
    const rules = this.scope.rules();
    if (!hinted && rules.length === 0 && !hub.inUse.has(instanceId)) return { kind: 'forward' };
    let analysis: StatementAnalysis;
    try {
      analysis = analyzeStatement(sql);
    } catch (error) {
      const problem = error as { sqlstate?: string; message: string };
      if (problem.sqlstate) return { kind: 'refuse', sqlstate: problem.sqlstate, message: problem.message };
      throw error;
    }
    this.#noteWrites(analysis);
    if (analysis.changesSessionState) this.#bypass = true;
    if (status !== 'I' || this.#bypass || this.#fill) return { kind: 'forward' };
    const policy = resolveCachePolicy(analysis, rules);
    if (!policy || policy.ttlMs <= 0) return { kind: 'forward' };
    const key = this.#key(sql);
    const hit = hub.cache.lookup(key);
    if (hit) {
      const bytes = Buffer.concat([hit.value, readyForQuery('I')]);
      if (hit.state === 'fresh') return { kind: 'answer', bytes };
      const ticket = hub.cache.beginRevalidate(key);
      return ticket ? { kind: 'answer', bytes, revalidate: { sql, key, ticket, policy, readTables: analysis.readTables } } : { kind: 'answer', bytes };
    }
    hub.inUse.add(instanceId);
    this.#fill = { key, ticket: hub.cache.beginFill(key), policy, readTables: analysis.readTables, parts: [], bytes: 0, failed: false };
    return { kind: 'forward' };
  }

  /** A Parse (extended protocol): remembers what its statement writes, when caching is in use. */
  parse(name: string, sql: string): void {
    const { hub, instanceId } = this.scope;
    if (!hub.inUse.has(instanceId) && this.scope.rules().length === 0) return;
    let analysis: StatementAnalysis;
    try {
      analysis = analyzeStatement(sql);
    } catch {
      return;
    }
    if (analysis.changesSessionState) this.#bypass = true;
    if (analysis.kind === 'write' || analysis.writesUnknownTables) this.#statementWrites.set(name, analysis);
    else this.#statementWrites.delete(name);
  }

  /** A Bind of statement `name`: its writes will be invalidated once they commit. */
  bind(name: string): void {
    const analysis = this.#statementWrites.get(name);
    if (analysis) this.#noteWrites(analysis);
  }

  /** Bytes of the answer to the query being filled (everything before its ReadyForQuery). */
  capture(bytes: Buffer): void {
    const fill = this.#fill;
    if (!fill || fill.failed) return;
    fill.bytes += bytes.length;
    if (fill.bytes > MAX_CAPTURE_BYTES) {
      fill.failed = true;
      fill.parts.length = 0;
      return;
    }
    fill.parts.push(Buffer.from(bytes));
  }

  /** The answer had an error: it is not kept. */
  failed(): void {
    if (this.#fill) this.#fill.failed = true;
  }

  /** ReadyForQuery: a filled answer is stored; at "idle" the session's committed writes invalidate. */
  ready(status: 'I' | 'T' | 'E'): void {
    const fill = this.#fill;
    this.#fill = undefined;
    const { cache } = this.scope.hub;
    if (fill) {
      if (fill.failed) cache.abandonFill(fill.ticket);
      else cache.store(fill.key, Buffer.concat(fill.parts, fill.bytes), { ticket: fill.ticket, readTables: fill.readTables, tags: fill.policy.tags, ttlMs: fill.policy.ttlMs, swrMs: fill.policy.swrMs });
    }
    if (status === 'I') this.#invalidate();
  }

  /** Stores a background refresh's answer (undefined: it failed). */
  finishRevalidation(job: Revalidation, answer: Buffer | undefined): void {
    const { cache } = this.scope.hub;
    if (answer === undefined) cache.abandonFill(job.ticket);
    else cache.store(job.key, answer, { ticket: job.ticket, readTables: job.readTables, tags: job.policy.tags, ttlMs: job.policy.ttlMs, swrMs: job.policy.swrMs });
  }

  /** The session ends: writes it committed are invalidated, a fill in progress dropped. */
  close(): void {
    if (this.#fill) this.scope.hub.cache.abandonFill(this.#fill.ticket);
    this.#fill = undefined;
    this.#invalidate();
  }

  #noteWrites(analysis: StatementAnalysis): void {
    if (analysis.writesUnknownTables) this.#pendingEverything = true;
    for (const table of analysis.writtenTables) this.#pendingTables.add(table);
  }

  #invalidate(): void {
    const { cache } = this.scope.hub;
    if (this.#pendingEverything) cache.invalidateInstance(this.scope.instanceId);
    else if (this.#pendingTables.size > 0) cache.invalidateTables(this.scope.instanceId, [...this.#pendingTables]);
    this.#pendingEverything = false;
    this.#pendingTables.clear();
  }

  #key(sql: string): CacheKey {
    return { instanceId: this.scope.instanceId, role: this.scope.role, database: this.scope.database, sql, variant: this.scope.variant };
  }
}
