import type { Queryable, Subscription } from './interfaces.js';

/** Notifications are wake-up hints; rows older than this are pruned (listeners re-check state anyway). */
const RETENTION_MS = 60_000;
/** How often the poller prunes old rows. */
const PRUNE_INTERVAL_MS = 10_000;
/** Rows read per poll; bounds memory when a burst was sent. */
const POLL_BATCH_LIMIT = 1_000;
/**
 * Sequence values commit out of order, so each poll re-reads a short window behind the newest row
 * it saw (and behind any open transaction), skipping what it already delivered.
 */
const REREAD_WINDOW_MS = 2_000;

/** Inserts one notification row; used inside the sender's transaction so delivery follows commit. */
export async function insertNotification(
  run: (sql: string, params: readonly unknown[]) => Promise<unknown>,
  channel: string,
  payload: string,
): Promise<void> {
  await run('insert into strata.notifications (channel, payload) values ($1, $2)', [channel, payload]);
}

type Handler = (payload: string) => void;

/**
 * LISTEN/NOTIFY for engines that lack it (CockroachDB, or when configured): notify inserts into
 * `strata.notifications` and one timer per database polls for new rows.
 */
export class PollingNotifier {
  readonly #db: Pick<Queryable, 'query'>;
  readonly #intervalMs: number;
  readonly #handlers = new Map<string, Set<Handler>>();
  /** id -> time it was first seen, for the re-read window. */
  readonly #seen = new Map<string, number>();
  #sinceIso: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #lastPruneMs = 0;
  #stopped = false;

  constructor(db: Pick<Queryable, 'query'>, intervalMs: number) {
    this.#db = db;
    this.#intervalMs = intervalMs;
  }

  async subscribe(channel: string, handler: Handler): Promise<Subscription> {
    if (this.#sinceIso === undefined) {
      const { rows } = await this.#db.query<{ now: string }>(`select (now() - interval '${REREAD_WINDOW_MS} milliseconds')::text as now`);
      this.#sinceIso = rows[0]!.now;
    }
    let set = this.#handlers.get(channel);
    if (!set) this.#handlers.set(channel, (set = new Set()));
    set.add(handler);
    this.#schedule();
    return {
      close: async () => {
        set!.delete(handler);
        if (set!.size === 0) this.#handlers.delete(channel);
      },
    };
  }

  /** Polls now instead of at the next tick (this process just sent something). */
  pollSoon(): void {
    if (this.#handlers.size === 0 || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped || this.#handlers.size === 0) return;
    if (this.#polling) return;
    this.#polling = this.#poll().catch(() => {
      // A failed poll is retried at the next tick; notifications are hints, waiters re-check state.
    });
    await this.#polling;
    this.#polling = undefined;
    this.#schedule();
  }

  async #poll(): Promise<void> {
    const channels = [...this.#handlers.keys()];
    const { rows } = await this.#db.query<{ id: string; channel: string; payload: string; created_at: string }>(
      `select id::text as id, channel, payload, created_at::text as created_at from strata.notifications
        where created_at >= $1::timestamptz and channel = any($2::text[]) and id <> all($3::bigint[])
        order by id limit ${POLL_BATCH_LIMIT}`,
      [this.#sinceIso, channels, [...this.#seen.keys()]],
      { prepare: true },
    );
    const nowMs = Date.now();
    for (const row of rows) {
      if (this.#seen.has(row.id)) continue;
      this.#seen.set(row.id, nowMs);
      for (const handler of this.#handlers.get(row.channel) ?? []) handler(row.payload);
    }
    const newest = rows.at(-1);
    if (newest) this.#sinceIso = await this.#cursorAfter(newest.created_at);
    for (const [id, seenMs] of this.#seen) if (nowMs - seenMs > RETENTION_MS) this.#seen.delete(id);
    if (nowMs - this.#lastPruneMs > PRUNE_INTERVAL_MS) {
      this.#lastPruneMs = nowMs;
      await this.#db.query(`delete from strata.notifications where created_at < now() - interval '${RETENTION_MS} milliseconds'`);
    }
  }

  /**
   * Where the next poll starts. A row's created_at is its transaction's start, and it becomes
   * visible only at commit, so the cursor stays behind the start of the oldest transaction still
   * open (within the retention period), and a short window behind the newest row seen.
   */
  async #cursorAfter(newestIso: string): Promise<string> {
    const window = `interval '${REREAD_WINDOW_MS} milliseconds'`;
    try {
      const { rows } = await this.#db.query<{ t: string }>(
        `select greatest(now() - interval '${RETENTION_MS} milliseconds',
                         least($1::timestamptz - ${window},
                               coalesce((select min(xact_start) from pg_stat_activity
                                          where datname = current_database() and pid <> pg_backend_pid()), 'infinity'::timestamptz)))::text as t`,
        [newestIso],
      );
      return rows[0]!.t;
    } catch {
      // Engines without pg_stat_activity: fall back to the fixed window.
      const { rows } = await this.#db.query<{ t: string }>(`select ($1::timestamptz - ${window})::text as t`, [newestIso]);
      return rows[0]!.t;
    }
  }
}
