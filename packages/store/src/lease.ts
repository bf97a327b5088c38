// A named lock held as a lease row with a fencing token: the portable profile's stand-in for advisory locks.
import { hostname } from 'node:os';
import type { Database, Queryable } from './interfaces.js';
import { LeaseLostError } from './errors.js';
import { isProcessAlive, processStartTicks } from './process.js';
import { isUniqueViolation } from './sqlstate.js';

/** Who holds a lease: a process, named so that another process of the same machine can tell it died. */
interface Holder {
  readonly host: string;
  readonly pid: number;
  /** The pid's start time (pids are reused); undefined where there is no /proc. */
  readonly start?: string | undefined;
}

/** Creates the leases table; every statement alone, since some engines run no DDL batch in one transaction. */
const LEASES_DDL = [
  'create schema if not exists strata',
  `create table if not exists strata.leases (
     name text primary key,
     holder text not null,
     fence bigint not null,
     expires_at timestamptz not null
   )`,
];

/** First and longest pause between tries for a lease another holder has. */
const WAIT_MIN_MS = 25;
const WAIT_MAX_MS = 500;

/** A held lease. `check(tx)` fences a transaction by it; `release()` lets the next holder in at once. */
export interface Lease {
  readonly name: string;
  /** Increases at every new holder: a write checked against it fails once another holder took the lease. */
  readonly fence: number;
  /**
   * Locks the lease row in `tx` and throws {@link LeaseLostError} unless this lease still holds it
   * unexpired: the transaction then commits only while the lease is held (a takeover updates the
   * same row, so it waits for this transaction, or this one sees the takeover).
   */
  check(tx: Queryable): Promise<void>;
  /** Stops renewing and gives the lease up (a lost lease is not an error here). */
  release(): Promise<void>;
}

/**
 * Takes the lease `name` for this process, waiting while another holder's lease is unexpired, and
 * renews it every third of `ttlMs` until released. A holder that pauses past `ttlMs` loses the
 * lease to the next one, whose fence is higher; one that died on this machine loses it at once
 * (a process restarted after a SIGKILL does not wait out its predecessor's lease). Either way
 * the old holder's fenced transactions fail from then on.
 *
 * @example
 * const lease = await acquireLease(db, 'strata.migrations', 30_000);
 * try {
 *   await db.transaction(async (tx) => {
 *     await lease.check(tx);
 *     await tx.query('create table t (id int)');
 *   });
 * } finally {
 *   await lease.release();
 * }
 */
export async function acquireLease(db: Pick<Database, 'query' | 'exec'>, name: string, ttlMs: number): Promise<Lease> {
  for (const ddl of LEASES_DDL) await createConcurrently(db, ddl);
  const me = JSON.stringify({ host: hostname(), pid: process.pid, start: processStartTicks(process.pid) } satisfies Holder);
  let waitMs = WAIT_MIN_MS;
  for (;;) {
    const { rows } = await db.query<{ fence: string }>(
      `insert into strata.leases (name, holder, fence, expires_at) values ($1, $2, 1, now() + $3 * interval '1 millisecond')
       on conflict (name) do update set holder = excluded.holder, fence = strata.leases.fence + 1, expires_at = excluded.expires_at
        where strata.leases.expires_at < now()
       returning fence::text as fence`,
      [name, me, ttlMs],
    );
    const fence = rows[0]?.fence ?? (await takeFromDeadHolder(db, name, me, ttlMs));
    if (fence !== undefined) return heldLease(db, name, Number(fence), ttlMs);
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    waitMs = Math.min(WAIT_MAX_MS, waitMs * 2);
  }
}

/** Takes the lease over (its fence up by one) when its holder was a process of this machine that is gone; else undefined. */
async function takeFromDeadHolder(db: Pick<Database, 'query'>, name: string, me: string, ttlMs: number): Promise<string | undefined> {
  const { rows } = await db.query<{ holder: string; fence: string }>('select holder, fence::text as fence from strata.leases where name = $1', [name]);
  const row = rows[0];
  if (row === undefined || !holderIsDead(row.holder)) return undefined;
  const taken = await db.query<{ fence: string }>(
    `update strata.leases set holder = $3, fence = fence + 1, expires_at = now() + $4 * interval '1 millisecond'
      where name = $1 and fence = $2 returning fence::text as fence`,
    [name, row.fence, me, ttlMs],
  );
  return taken.rows[0]?.fence;
}

/** True when `holder` names a process of this machine that no longer runs (its pid is gone, or now another process's). */
function holderIsDead(holder: string): boolean {
  let parsed: Partial<Holder>;
  try {
    parsed = JSON.parse(holder) as Partial<Holder>;
  } catch {
    return false; // not ours to judge: wait for the lease to expire
  }
  if (parsed.host !== hostname() || typeof parsed.pid !== 'number') return false;
  if (!isProcessAlive(parsed.pid)) return true;
  return parsed.start !== undefined && processStartTicks(parsed.pid) !== parsed.start;
}

function heldLease(db: Pick<Database, 'query'>, name: string, fence: number, ttlMs: number): Lease {
  const renew = () =>
    db
      .query(`update strata.leases set expires_at = now() + $3 * interval '1 millisecond' where name = $1 and fence = $2 and expires_at >= now()`, [name, fence, ttlMs])
      .catch(() => undefined); // a failed renewal only risks losing the lease, which check() catches
  let renewing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renew();
  }, Math.max(1, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    name,
    fence,
    async check(tx) {
      const { rows } = await tx.query(`select 1 from strata.leases where name = $1 and fence = $2 and expires_at >= now() for update`, [name, fence]);
      if (rows.length === 0) throw new LeaseLostError(name, fence);
    },
    async release() {
      clearInterval(timer);
      await renewing;
      await db.query(`update strata.leases set expires_at = '-infinity' where name = $1 and fence = $2`, [name, fence]).catch(() => undefined);
    },
  };
}

/**
 * Runs `create … if not exists`, tolerating a concurrent creator: PostgreSQL may still report the
 * catalog row's unique violation (or 42P06/42P07) when two sessions create the same object at once.
 */
export async function createConcurrently(db: Pick<Queryable, 'exec'>, ddl: string): Promise<void> {
  try {
    await db.exec(ddl);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (!isUniqueViolation(error) && code !== '42P06' && code !== '42P07') throw error;
  }
}
