// Wake-ups of waiting code: local waiters by signal key, and the database's notifications between processes.
import type { Database, Queryable, Subscription } from '@strata/store';
import { CapacityExceededError } from '../errors.js';
import { abortable } from '../timers.js';
import type { SignalKey } from './keys.js';

/**
 * Most registrations of local waiters at once (a waiting recv, getEvent, result or stream read
 * holds one or two). Far above what one process runs: reaching it means waits leak or the
 * process took more work than it can hold, so a new wait fails (CapacityExceededError) instead
 * of memory growing without limit.
 */
export const MAX_SIGNAL_WAITERS = 1_000_000;

/** The one notification channel of the engine; payloads are signal keys. */
export const SIGNAL_CHANNEL = 'strata_signals';

/**
 * The channel a write statement on `db` may notify on itself (`pg_notify` in the statement, sent
 * with its commit), or null when it must not: `db` is a transaction (notify through it, at its
 * commit) or a polled database (whose notifications are rows: send them after the write).
 */
export function inStatementChannel(db: Queryable & Partial<Pick<Database, 'notificationMode'>>): string | null {
  return db.notificationMode === 'listen' ? SIGNAL_CHANNEL : null;
}

/**
 * Wake-ups of waiting code. Keys (see keys.ts) name what changed: `w:<id>` a workflow finished, `c:<id>` a
 * workflow was cancelled, `m:<id>` a message arrived, `e:<id>:<key>` an event was set,
 * `s:<id>:<key>` a stream grew. Local changes wake local waiters at once; other processes hear of
 * them through the database's notifications.
 */
export class Signals {
  readonly #db: Database;
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #listeners = new Set<(key: string) => void>();
  readonly #announcing = new Set<string>();
  #stopped = false;
  #subscription: Subscription | undefined;
  #offRestored: (() => void) | undefined;
  readonly #resyncListeners = new Set<() => void>();
  readonly #maxWaiters: number;
  /** Registrations in #waiters now. */
  #waiterCount = 0;

  constructor(db: Database, maxWaiters = MAX_SIGNAL_WAITERS) {
    this.#db = db;
    this.#maxWaiters = maxWaiters;
  }

  /** How many waiter registrations are held now (one per key of each armed wait). */
  get waiterCount(): number {
    return this.#waiterCount;
  }

  async start(): Promise<void> {
    this.#subscription = await this.#db.listen(SIGNAL_CHANNEL, (key) => this.wake(key));
    // Notifications sent while the listening connection was down are lost: everyone re-checks.
    this.#offRestored = this.#db.onListenRestored?.(() => this.resync());
  }

  /**
   * Wakes every local waiter and tells `onResync` listeners to re-scan (queues, schedules): called
   * when the LISTEN connection is back and when the database is back after an outage.
   */
  resync(): void {
    if (this.#stopped) return;
    this.wakeAll();
    for (const listener of this.#resyncListeners) listener();
  }

  /** Calls `listener` at every {@link resync}. */
  onResync(listener: () => void): () => void {
    this.#resyncListeners.add(listener);
    return () => this.#resyncListeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.#offRestored?.();
    this.#stopped = true;
    await this.#subscription?.close();
    this.#subscription = undefined;
  }

  /** Wakes local waiters of `key` and tells other processes. Call after the change committed. */
  async publish(key: SignalKey): Promise<void> {
    this.wake(key);
    await this.#db.notify(SIGNAL_CHANNEL, key);
  }

  /**
   * Tells other processes about `key` once per turn of the event loop, however often it is called
   * meanwhile (local waiters are woken by the caller). For frequent, idempotent keys such as
   * "a queue has room".
   */
  announceSoon(key: SignalKey, onError: (error: unknown) => void): void {
    if (this.#announcing.has(key)) return;
    this.#announcing.add(key);
    setImmediate(() => {
      this.#announcing.delete(key);
      if (!this.#stopped) this.#db.notify(SIGNAL_CHANNEL, key).catch(onError);
    });
  }

  /** Wakes local waiters of `key`. */
  wake(key: string): void {
    const set = this.#waiters.get(key);
    if (set) {
      this.#waiters.delete(key);
      this.#waiterCount -= set.size;
      for (const resolve of set) resolve();
    }
    for (const listener of this.#listeners) listener(key);
  }

  /**
   * Wakes every local waiter, so each re-checks the state it waits on: after a database outage or
   * a lost LISTEN connection, notifications may have been missed.
   */
  wakeAll(): void {
    const sets = [...this.#waiters.values()];
    this.#waiters.clear();
    this.#waiterCount = 0;
    for (const set of sets) for (const resolve of set) resolve();
  }

  /** Calls `listener` with every key woken (used for cancellation of running workflows). */
  onWake(listener: (key: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Calls `check` until it returns a value: first at once, then at every wake-up of `keys`, and at
   * least every `safetyPollMs` in case a notification was lost. Returns undefined once
   * `deadlineMs` (epoch ms; Infinity for none) has passed; rejects when `signal` aborts.
   */
  async waitFor<T>(
    keys: readonly SignalKey[],
    check: () => Promise<T | undefined>,
    deadlineMs: number,
    safetyPollMs: number,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    for (;;) {
      // Armed before the check, so a change committed between the check and the wait still wakes it.
      const armed = this.arm(keys, Math.min(deadlineMs - Date.now(), safetyPollMs));
      try {
        const value = await check();
        if (value !== undefined) return value;
        if (Date.now() >= deadlineMs) return undefined;
        await abortable(armed.fired, signal);
      } finally {
        armed.cancel();
      }
    }
  }

  /**
   * Registers interest in `keys` now, before the caller checks the state, so no wake-up between
   * the check and the wait is lost. The returned promise resolves at the first wake-up of any key
   * or after `timeoutMs`; `cancel()` drops the registration.
   */
  arm(keys: readonly SignalKey[], timeoutMs: number): { readonly fired: Promise<void>; cancel(): void } {
    if (this.#waiterCount + keys.length > this.#maxWaiters) {
      throw new CapacityExceededError('the signal waiters of this process', this.#maxWaiters, 'MAX_SIGNAL_WAITERS');
    }
    let resolveFn!: () => void;
    const fired = new Promise<void>((resolve) => (resolveFn = resolve));
    let timer: NodeJS.Timeout | undefined;
    const cancel = () => {
      clearTimeout(timer);
      for (const key of keys) {
        const set = this.#waiters.get(key);
        if (set?.delete(done)) this.#waiterCount--;
        if (set?.size === 0) this.#waiters.delete(key);
      }
    };
    const done = () => {
      cancel();
      resolveFn();
    };
    for (const key of keys) {
      let set = this.#waiters.get(key);
      if (!set) this.#waiters.set(key, (set = new Set()));
      if (!set.has(done)) this.#waiterCount++;
      set.add(done);
    }
    if (Number.isFinite(timeoutMs)) timer = setTimeout(done, Math.max(0, timeoutMs));
    return { fired, cancel };
  }
}
