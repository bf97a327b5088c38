// Meter: the proxy's usage counters. The query path only adds to memory; a flusher writes what
// accumulated, per instance and minute, in one upsert statement every second.
import type { Database } from '@strata/store';
import type { UsageDelta, UsageMeter } from '../interfaces.js';
import { MeteringError } from './errors.js';
import { upsertUsage, type UsageRow } from './sql.js';

/** How often accumulated usage is written: a second keeps caps and reports current for one statement a second per proxy. */
export const DEFAULT_FLUSH_INTERVAL_MS = 1_000;
/**
 * Distinct (instance, minute) counters held before a flush is started early. A flush writes one
 * row per counter, so this also bounds a statement (10,000 rows of unnest arrays is ~1 MB); at one
 * flush a second it is reached only with 10,000 instances busy at once, or when flushes fail for
 * minutes (instances × minutes of an outage).
 */
export const MAX_BUFFERED_KEYS = 10_000;
const MINUTE_MS = 60_000;
/** Shortest flush interval accepted: below it the flusher is a busy loop on the system database. */
const MIN_FLUSH_INTERVAL_MS = 10;

/** Options of {@link Meter}. */
export interface MeterOptions {
  /** How often to write. Default {@link DEFAULT_FLUSH_INTERVAL_MS}. */
  readonly flushIntervalMs?: number;
  /** Counters held before a flush starts early. Default {@link MAX_BUFFERED_KEYS}. */
  readonly maxBufferedKeys?: number;
  /** The clock that picks a count's minute (epoch ms). Default `Date.now`. */
  readonly now?: () => number;
  /** Told when a flush fails (the counts are kept for the next one) and when writing works again. Default `console`. */
  readonly logger?: { warn(message: string): void; info?(message: string): void };
}

/** What the meter has done, for health checks and tests. */
export interface MeterStats {
  /** Counters held in memory, not written yet. */
  readonly pendingKeys: number;
  /** Flushes that committed (empty ones not counted). */
  readonly flushes: number;
  /** Flushes that failed; their counts were kept. */
  readonly failedFlushes: number;
  /** Rows written by the committed flushes. */
  readonly rowsWritten: number;
  /** Counts added to an earlier minute of their instance because the bound was reached (see {@link Meter}). */
  readonly foldedAdds: number;
  readonly lastError: unknown;
}

/** One instance's counts in one minute. */
interface Counter {
  readonly minuteMs: number;
  operations: number;
  bytesIn: number;
  bytesOut: number;
  connectionMs: number;
}

/** One instance's counters, and the one the last add went to (the common case is one lookup). */
interface InstanceCounters {
  readonly tenantId: string;
  readonly minutes: Map<number, Counter>;
  latest: Counter;
}

/** The counters of one generation: swapped out whole when a flush starts. */
class Buffer {
  readonly instances = new Map<string, InstanceCounters>();
  keys = 0;
}

function isCount(value: number | undefined): boolean {
  return value === undefined || (Number.isSafeInteger(value) && value >= 0);
}

/**
 * Counts what the proxy's clients use — operations (statements), bytes in and out, connection
 * time — per instance and minute, and writes it to `strata_cloud.usage`.
 *
 * - `add()` is the query path's call: it adds to counters in memory, O(1), with no I/O and no
 *   promise.
 * - A flusher writes the counters every `flushIntervalMs` in ONE statement (an `unnest` upsert
 *   that adds to each minute's row), never on the query path; {@link MAX_BUFFERED_KEYS} counters
 *   start a flush early.
 * - Counts leave memory only once their statement committed. A failed flush (the database is
 *   down, restarting, unreachable) puts its counts back, and the next flush writes them: nothing is
 *   lost and nothing is counted twice. The one accepted risk: a flush whose COMMIT reached the
 *   database but whose answer did not (the connection dropped just after) is taken for failed, and
 *   its counts are written again — counted twice. Making that exact would need an idempotency key
 *   per flush kept beside the usage rows; a proxy losing its connection at that instant is rare and
 *   over-counts by at most one second of one proxy's usage.
 * - While flushes fail the counters grow by one per instance and minute. At `maxBufferedKeys`, a
 *   new minute of an instance that already has counters is added to its newest counter instead
 *   (the instance's and the tenant's totals stay exact, only that minute is off; `stats.foldedAdds`
 *   counts them), so memory stays at `maxBufferedKeys` plus at most one counter per instance first seen
 *   after the bound was reached.
 * - `close()` stops the flusher and flushes what is left.
 *
 * Several proxies may meter the same instances: every flush only adds.
 *
 * @example
 * const meter = new Meter(db);                       // a Database of @strata/store (the system database)
 * meter.add('ten_1', 'ins_1', { operations: 1, bytesIn: 45, bytesOut: 320 });   // on the query path
 * meter.add('ten_1', 'ins_1', { connectionMs: 1_250 });                         // when a connection ends
 * await meter.close();                               // writes what is left
 */
export class Meter implements UsageMeter {
  readonly #db: Database;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #logger: NonNullable<MeterOptions['logger']>;
  readonly #timer: NodeJS.Timeout;
  #buffer = new Buffer();
  /** The flush running now (settled: none). */
  #running: Promise<void> = Promise.resolve();
  /** A flush asked for while one runs; it starts when that one ends and serves every caller that asked meanwhile. */
  #queued: Promise<void> | undefined;
  #earlyFlushScheduled = false;
  #closing: Promise<void> | undefined;
  #failing = false;
  #flushes = 0;
  #failedFlushes = 0;
  #rowsWritten = 0;
  #foldedAdds = 0;
  #lastError: unknown = undefined;

  /**
   * Starts the flusher on `db` (the system database, with the control plane's migrations).
   *
   * @throws {MeteringError} `STRATA_METER_INVALID_CONFIG` for a flush interval under 10 ms or a bound under 1.
   */
  constructor(db: Database, options: MeterOptions = {}) {
    const flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    const maxKeys = options.maxBufferedKeys ?? MAX_BUFFERED_KEYS;
    if (!Number.isFinite(flushIntervalMs) || flushIntervalMs < MIN_FLUSH_INTERVAL_MS) {
      throw new MeteringError('STRATA_METER_INVALID_CONFIG', `flushIntervalMs must be at least ${MIN_FLUSH_INTERVAL_MS} ms, got ${String(flushIntervalMs)}`);
    }
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new MeteringError('STRATA_METER_INVALID_CONFIG', `maxBufferedKeys must be a whole number of at least 1, got ${String(maxKeys)}`);
    this.#db = db;
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? console;
    this.#timer = setInterval(() => this.#flushInBackground(), flushIntervalMs);
    // The proxy's listeners keep the process alive; the meter alone must not.
    this.#timer.unref();
  }

  /**
   * Adds `delta` to the instance's counters of the current minute: memory only, O(1), no I/O.
   *
   * @throws {MeteringError} `STRATA_METER_INVALID_USAGE` for a count that is not a whole number ≥ 0
   * (round connection times before adding them); `STRATA_METER_CLOSED` after `close()` — close the
   * proxy's listeners and connections first.
   *
   * @example
   * meter.add(session.tenantId, session.instanceId, { operations: 1, bytesIn: message.length });
   */
  add(tenantId: string, instanceId: string, delta: UsageDelta): void {
    if (this.#closing !== undefined) throw new MeteringError('STRATA_METER_CLOSED', `the meter is closed; usage of ${instanceId} was not counted — close the proxy's connections before the meter`);
    if (!isCount(delta.operations) || !isCount(delta.bytesIn) || !isCount(delta.bytesOut) || !isCount(delta.connectionMs)) {
      throw new MeteringError('STRATA_METER_INVALID_USAGE', `usage counts are whole numbers ≥ 0 (round connection times); got ${JSON.stringify(delta)} for ${instanceId}`);
    }
    const minuteMs = Math.floor(this.#now() / MINUTE_MS) * MINUTE_MS;
    const counter = this.#counterOf(this.#buffer, tenantId, instanceId, minuteMs);
    counter.operations += delta.operations ?? 0;
    counter.bytesIn += delta.bytesIn ?? 0;
    counter.bytesOut += delta.bytesOut ?? 0;
    counter.connectionMs += delta.connectionMs ?? 0;
    if (this.#buffer.keys >= this.#maxKeys) this.#scheduleEarlyFlush();
  }

  /**
   * Writes every count added before this call (waiting for a flush that is running); rejects when
   * the statement fails — the counts are kept, and the flusher writes them later.
   *
   * @example
   * meter.add('ten_1', 'ins_1', { operations: 1 });
   * await meter.flush(); // the row of this minute has it
   */
  flush(): Promise<void> {
    if (this.#queued !== undefined) return this.#queued;
    const queued = this.#running.then(
      () => this.#flushOnce(),
      () => this.#flushOnce(),
    );
    this.#queued = queued;
    this.#running = queued;
    return queued;
  }

  /**
   * Stops the flusher and writes what is left; calls after the first return the same promise.
   *
   * @throws {MeteringError} `STRATA_METER_FLUSH_FAILED` when the last flush fails: its counts are
   * kept (`stats.pendingKeys` counters) and `flush()` may be called again; they are lost if the
   * process ends first.
   *
   * @example
   * await proxy.close();
   * await meter.close();
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      try {
        await this.flush();
      } catch (error) {
        throw new MeteringError('STRATA_METER_FLUSH_FAILED', `the meter's last flush failed, ${this.#buffer.keys} usage counters were not written: ${(error as Error).message}`, { cause: error });
      }
    })();
    return this.#closing;
  }

  /** What the meter has done so far. */
  get stats(): MeterStats {
    return { pendingKeys: this.#buffer.keys, flushes: this.#flushes, failedFlushes: this.#failedFlushes, rowsWritten: this.#rowsWritten, foldedAdds: this.#foldedAdds, lastError: this.#lastError };
  }

  /** The counter of (instance, minute) in `buffer`, made if need be, within the bound (see the class). */
  #counterOf(buffer: Buffer, tenantId: string, instanceId: string, minuteMs: number): Counter {
    let instance = buffer.instances.get(instanceId);
    if (instance === undefined) {
      const counter: Counter = { minuteMs, operations: 0, bytesIn: 0, bytesOut: 0, connectionMs: 0 };
      instance = { tenantId, minutes: new Map([[minuteMs, counter]]), latest: counter };
      buffer.instances.set(instanceId, instance);
      buffer.keys++;
      return counter;
    }
    if (instance.latest.minuteMs === minuteMs) return instance.latest;
    let counter = instance.minutes.get(minuteMs);
    if (counter === undefined) {
      if (buffer.keys >= this.#maxKeys) {
        this.#foldedAdds++;
        return instance.latest;
      }
      counter = { minuteMs, operations: 0, bytesIn: 0, bytesOut: 0, connectionMs: 0 };
      instance.minutes.set(minuteMs, counter);
      buffer.keys++;
    }
    if (counter.minuteMs > instance.latest.minuteMs) instance.latest = counter;
    return counter;
  }

  #scheduleEarlyFlush(): void {
    if (this.#earlyFlushScheduled) return;
    this.#earlyFlushScheduled = true;
    // Off the query path: the caller of add() returns first.
    setImmediate(() => {
      this.#earlyFlushScheduled = false;
      this.#flushInBackground();
    });
  }

  /** A flush of the flusher's own: its failure is reported (once per run of failures), not thrown. */
  #flushInBackground(): void {
    this.flush().catch(() => {});
  }

  async #flushOnce(): Promise<void> {
    this.#queued = undefined;
    const batch = this.#buffer;
    if (batch.keys === 0) return;
    // Adds from here on go to a new generation; this one is written, or put back.
    this.#buffer = new Buffer();
    const rows: UsageRow[] = [];
    for (const [instanceId, instance] of batch.instances) {
      for (const counter of instance.minutes.values()) {
        rows.push({ instanceId, tenantId: instance.tenantId, minuteMs: counter.minuteMs, operations: counter.operations, bytesIn: counter.bytesIn, bytesOut: counter.bytesOut, connectionMs: counter.connectionMs });
      }
    }
    if (rows.length !== batch.keys) throw new Error(`invariant: a generation of ${batch.keys} counters holds ${rows.length}`);
    try {
      await upsertUsage(this.#db, rows);
    } catch (error) {
      this.#putBack(batch);
      this.#failedFlushes++;
      this.#lastError = error;
      if (!this.#failing) {
        this.#failing = true;
        this.#logger.warn(`strata proxy: writing usage failed, ${this.#buffer.keys} counters are kept and retried at each flush: ${(error as Error).message}`);
      }
      throw error;
    }
    this.#flushes++;
    this.#rowsWritten += rows.length;
    if (this.#failing) {
      this.#failing = false;
      this.#logger.info?.(`strata proxy: writing usage works again (${rows.length} rows written)`);
    }
  }

  /** Adds a failed generation's counts back to the current one, minute by minute. */
  #putBack(batch: Buffer): void {
    for (const [instanceId, instance] of batch.instances) {
      for (const counter of instance.minutes.values()) {
        const into = this.#counterOf(this.#buffer, instance.tenantId, instanceId, counter.minuteMs);
        into.operations += counter.operations;
        into.bytesIn += counter.bytesIn;
        into.bytesOut += counter.bytesOut;
        into.connectionMs += counter.connectionMs;
      }
    }
  }
}
