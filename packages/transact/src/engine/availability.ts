// Watches whether a database answers, so durable operations pause through an outage and resume.

import { DatabaseUnavailableError, isConnectionError, type Database } from '@strata/store';
import type { Logger } from '../interfaces.js';
import { MAX_TIMER_MS, abortable } from '../timers.js';

/** First pause between probes of a lost database: a restart of a few hundred ms is caught early. */
const PROBE_MIN_DELAY_MS = 50;
/** Longest pause between probes: a long outage costs one cheap query a second. */
const PROBE_MAX_DELAY_MS = 1_000;
/** Most callers waiting for one database at once; past this the wait fails instead of queueing without bound. */
const MAX_WAITERS = 100_000;

/**
 * Tracks one database's availability. A caller whose operation failed with a connection error
 * reports it and waits with {@link whenBack}; one probe loop (`select 1` with capped backoff)
 * runs until the database answers, then every waiter resumes and `onBack` callbacks run (to
 * re-scan what notifications may have missed). Errors that are not connection errors are not
 * its business.
 *
 * @example
 * const availability = new Availability(db, logger, () => signals.resync());
 * for (;;) {
 *   try { return await write(); }
 *   catch (error) { await availability.whenBack(error, signal); } // rethrows non-connection errors
 * }
 */
export class Availability {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #onBack: () => void;
  #down: { readonly sinceMs: number; readonly back: Promise<void> } | undefined;
  #waiters = 0;
  #stopped = false;
  readonly #stop = new AbortController();

  constructor(db: Database, logger: Logger, onBack: () => void) {
    this.#db = db;
    this.#logger = logger;
    this.#onBack = onBack;
  }

  /**
   * Waits until the database answers again after `error`, a connection failure. Rethrows `error`
   * when it is not a connection failure or this monitor was stopped; rejects with the reason of
   * `signal` when it aborts first.
   */
  async whenBack(error: unknown, signal?: AbortSignal): Promise<void> {
    if (!isConnectionError(error) || this.#stopped) throw error;
    if (this.#waiters >= MAX_WAITERS) throw error;
    const back = this.#probe(error);
    this.#waiters++;
    try {
      await abortable(back, signal);
    } finally {
      this.#waiters--;
    }
  }

  /**
   * Runs `operation` until it succeeds, waiting for the database through connection failures
   * (never past `deadlineMs`, when given: then the typed {@link DatabaseUnavailableError}).
   * `operation` must be safe to repeat (idempotent, or a read).
   */
  async retry<T>(operation: () => Promise<T>, signal?: AbortSignal, deadlineMs = Infinity): Promise<T> {
    for (;;) {
      try {
        return await operation();
      } catch (error) {
        if (!isConnectionError(error) || this.#stopped) throw error;
        const leftMs = deadlineMs - Date.now();
        if (leftMs <= 0) throw asTyped(error, this.#db);
        // Past Node's longest timer the loop re-checks the deadline after each return of the database.
        const timeout = leftMs <= MAX_TIMER_MS ? AbortSignal.timeout(leftMs) : undefined;
        const waitSignal = signal && timeout ? AbortSignal.any([signal, timeout]) : (signal ?? timeout);
        try {
          await this.whenBack(error, waitSignal);
        } catch (waitError) {
          if (signal?.aborted) throw signal.reason;
          if (timeout?.aborted) throw asTyped(error, this.#db);
          throw waitError;
        }
      }
    }
  }

  /** Ends the probe loop; waiters are released with their original error. */
  stop(): void {
    this.#stopped = true;
    this.#stop.abort(new DatabaseUnavailableError(this.#db.description, new Error('the engine stopped while waiting for the database')));
  }

  #probe(cause: unknown): Promise<void> {
    if (this.#down) return this.#down.back;
    const sinceMs = Date.now();
    let warned = false;
    const back = (async () => {
      // The first probe goes at once: a single cut connection (the server is fine) costs nothing
      // and is not worth a warning; only a database that stays away is.
      for (let delayMs = 0; ; delayMs = Math.min(PROBE_MAX_DELAY_MS, Math.max(PROBE_MIN_DELAY_MS, delayMs * 2))) {
        await abortable(new Promise((resolve) => setTimeout(resolve, delayMs).unref()), this.#stop.signal);
        try {
          await this.#db.query('select 1');
          return;
        } catch (error) {
          if (!isConnectionError(error)) return; // it answers, if with an error: not an outage
          if (!warned) {
            warned = true;
            this.#logger.warn(`strata: the database ${this.#db.description} is unavailable (${(cause as Error)?.message ?? String(cause)}); workflows pause until it is back`);
          }
        }
      }
    })();
    this.#down = { sinceMs, back };
    back.then(
      () => {
        this.#down = undefined;
        if (warned) this.#logger.info(`strata: the database ${this.#db.description} is back after ${Date.now() - sinceMs} ms; workflows continue`);
        this.#onBack();
      },
      () => {
        this.#down = undefined;
      },
    );
    return back;
  }
}

function asTyped(error: unknown, db: Database): unknown {
  return error instanceof DatabaseUnavailableError ? error : new DatabaseUnavailableError(db.description, error);
}
