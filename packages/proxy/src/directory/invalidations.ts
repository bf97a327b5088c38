// InvalidationFeed: the cache invalidations by tag that the control plane's API records
// (strata_cloud.cache_invalidations, its migration 14), read by increasing id every pollMs and handed
// to the proxy's query cache — so `POST /v1/instances/{instance}/cache/invalidate` reaches every proxy.

import type { Queryable } from '@strata/store';
import { RepeatedRead } from '../background/repeated-read.js';

/** How often new invalidations are read: an invalidation is applied within this (plus one read). */
export const DEFAULT_INVALIDATION_POLL_MS = 250;
/** Shortest poll accepted: below it the feed is a busy loop on the system database. */
const MIN_POLL_MS = 10;
/**
 * Rows read per poll. A full read polls again at once, so a burst is worked through in bounded
 * steps instead of one unbounded result; at 250 ms that is 4,000 invalidations a second.
 */
export const MAX_INVALIDATIONS_PER_POLL = 1_000;
/**
 * How long an id skipped by the cursor is looked for again. Ids are taken when a row is inserted
 * and become visible when its transaction commits, so row 11 can be read before row 10 commits;
 * the control plane's insert transaction lasts milliseconds, and 10 s covers a slow commit. A
 * skipped id that never appears (a rolled-back insert) is forgotten after this.
 */
export const MISSING_ID_GRACE_MS = 10_000;
/**
 * Skipped ids remembered at once. Real gaps are a few ids (concurrent inserts, rollbacks, the
 * sequence's jump after a crash); past this the lowest are forgotten first, with a warning.
 */
export const MAX_MISSING_IDS = 1_000;

/** Options of {@link InvalidationFeed}. */
export interface InvalidationFeedOptions {
  /** How often to read new invalidations. Default {@link DEFAULT_INVALIDATION_POLL_MS}. */
  readonly pollMs?: number;
  /** Told when a read fails (retried at the next poll), when reading works again, and when a callback throws. Default `console`. */
  readonly logger?: { warn(message: string): void; info?(message: string): void };
}

/** What the feed has done, for health checks and tests. */
export interface InvalidationFeedStats {
  readonly polls: number;
  readonly failedPolls: number;
  /** Rows handed to the callback. */
  readonly delivered: number;
  /** The highest id read (the starting point before any row is read); null before the first successful poll. */
  readonly lastId: bigint | null;
  /** Ids below `lastId` that were skipped and are still looked for. */
  readonly missingIds: number;
  readonly lastError: unknown;
}

type InvalidationRow = { id: string; instance_id: string; tags: unknown };

const START_SQL = `select coalesce(max(id), 0)::text as id from strata_cloud.cache_invalidations`;
// New rows, and the skipped ids that may have committed since (the primary key serves both arms).
// Ordered by the bigint column, not the text output column of the same name.
const READ_SQL = `
select c.id::text as id, c.instance_id, c.tags from strata_cloud.cache_invalidations c
 where c.id > $1::bigint or c.id = any($2::bigint[])
 order by c.id limit ${MAX_INVALIDATIONS_PER_POLL}`;

/**
 * Reads the cache invalidations the control plane records and calls `onInvalidate(instanceId,
 * tags)` once per row, in id order (a row that commits after a higher one is delivered when it
 * appears, up to {@link MISSING_ID_GRACE_MS} later). It starts from the newest row there is when
 * it first reads, so invalidations recorded before the proxy started are not replayed (its cache
 * was empty then).
 *
 * Reads run every `pollMs` (the first at once; `await feed.poll()` to know the starting point is
 * read), at most {@link MAX_INVALIDATIONS_PER_POLL} rows each. A read that fails is logged and
 * retried at the next poll from the same place, so nothing is lost while the database is away —
 * unless it stays away past the control plane's retention of invalidations (an hour). A callback
 * that throws is logged and its row counts as delivered.
 *
 * @example
 * ```ts
 * const cache = new QueryCache();
 * const feed = new InvalidationFeed(db, (instanceId, tags) => cache.invalidateTags(instanceId, tags));
 * await feed.poll();  // from here on, POST /v1/instances/{instance}/cache/invalidate reaches this cache
 * // …
 * await feed.close();
 * ```
 */
export class InvalidationFeed {
  readonly #db: Queryable;
  readonly #onInvalidate: (instanceId: string, tags: string[]) => void;
  readonly #pollMs: number;
  readonly #logger: NonNullable<InvalidationFeedOptions['logger']>;
  #timer: NodeJS.Timeout | undefined;
  readonly #reads: RepeatedRead;
  /** The highest id read; undefined until the starting point is read. */
  #lastId: bigint | undefined;
  /** Skipped ids → when to stop looking for them (ms); insertion order is id order within a poll. */
  readonly #missing = new Map<bigint, number>();
  /** Whether the last read filled its bound (then the next one runs at once). */
  #full = false;
  #delivered = 0;

  /**
   * Starts reading from `db` (the system database, with the control plane's migrations).
   *
   * @throws {RangeError} for a `pollMs` under 10 ms.
   */
  constructor(db: Queryable, onInvalidate: (instanceId: string, tags: string[]) => void, options: InvalidationFeedOptions = {}) {
    const pollMs = options.pollMs ?? DEFAULT_INVALIDATION_POLL_MS;
    if (!Number.isFinite(pollMs) || pollMs < MIN_POLL_MS) throw new RangeError(`pollMs must be at least ${MIN_POLL_MS} ms, got ${String(pollMs)}`);
    this.#db = db;
    this.#onInvalidate = onInvalidate;
    this.#pollMs = pollMs;
    this.#logger = options.logger ?? console;
    this.#reads = new RepeatedRead(() => this.#read(), this.#logger, {
      failed: (error) => `strata proxy: reading cache invalidations failed; retried every ${pollMs} ms from the same place: ${error.message}`,
      recovered: 'strata proxy: reading cache invalidations works again',
    });
    this.#schedule(0);
  }

  /**
   * Reads now (joining a read that is running): the first successful one reads the starting point,
   * later ones deliver what was recorded since. Rejects when the read fails.
   *
   * @example
   * ```ts
   * await feed.poll(); // invalidations committed before this call have been delivered
   * ```
   */
  poll(): Promise<void> {
    return this.#reads.run();
  }

  /** Stops reading (waits for a read that is running). */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#reads.close();
  }

  /** What the feed has done so far. */
  get stats(): InvalidationFeedStats {
    return {
      polls: this.#reads.successes,
      failedPolls: this.#reads.failures,
      delivered: this.#delivered,
      lastId: this.#lastId ?? null,
      missingIds: this.#missing.size,
      lastError: this.#reads.lastError,
    };
  }

  #schedule(delayMs: number): void {
    if (this.#reads.closed) return;
    this.#timer = setTimeout(() => {
      this.poll()
        .catch(() => {})
        .finally(() => this.#schedule(this.#full ? 0 : this.#pollMs));
    }, delayMs);
    this.#timer.unref();
  }

  async #read(): Promise<void> {
    let rows: InvalidationRow[] | undefined;
    if (this.#lastId === undefined) {
      const { rows: start } = await this.#db.query<{ id: string }>(START_SQL);
      this.#lastId = BigInt(start[0]?.id ?? '0');
    } else {
      const missing = [...this.#missing.keys()].map(String);
      ({ rows } = await this.#db.query<InvalidationRow>(READ_SQL, [this.#lastId.toString(), missing], { prepare: true }));
    }
    this.#full = rows !== undefined && rows.length >= MAX_INVALIDATIONS_PER_POLL;
    const now = Date.now();
    for (const row of rows ?? []) this.#deliver(row, now);
    for (const [id, until] of this.#missing) if (until <= now) this.#missing.delete(id);
  }

  #deliver(row: InvalidationRow, now: number): void {
    const lastId = this.#lastId;
    if (lastId === undefined) throw new Error('invariant: rows are read only after the starting point');
    const id = BigInt(row.id);
    if (id > lastId) {
      this.#rememberSkipped(lastId + 1n, id - 1n, now);
      this.#lastId = id;
    } else if (!this.#missing.delete(id)) {
      throw new Error(`invariant: invalidation ${id} is at or below the cursor (${lastId}) only when it was a skipped id looked for again`);
    }
    const tags = row.tags;
    if (!Array.isArray(tags)) throw new Error(`invariant: cache_invalidations.tags is a text[], got ${JSON.stringify(tags)} for invalidation ${id}`);
    this.#delivered++;
    try {
      this.#onInvalidate(row.instance_id, tags as string[]);
    } catch (error) {
      this.#logger.warn(`strata proxy: applying cache invalidation ${id} of instance ${row.instance_id} (tags ${tags.join(', ')}) failed: ${(error as Error).message}`);
    }
  }

  /** Remembers the ids from `first` to `last` (a gap the cursor jumped), the highest when they are too many. */
  #rememberSkipped(first: bigint, last: bigint, now: number): void {
    if (last < first) return;
    const count = last - first + 1n;
    const bound = BigInt(MAX_MISSING_IDS);
    if (count > bound) {
      this.#logger.warn(`strata proxy: cache invalidation ids jumped by ${count}; only the last ${MAX_MISSING_IDS} skipped ids are looked for again`);
      first = last - bound + 1n;
    }
    for (let id = first; id <= last; id++) {
      if (this.#missing.size >= MAX_MISSING_IDS) this.#missing.delete(this.#missing.keys().next().value as bigint);
      this.#missing.set(id, now + MISSING_ID_GRACE_MS);
    }
  }
}
