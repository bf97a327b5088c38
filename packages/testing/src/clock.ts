// An injectable clock: real timers in production code paths, a manual one that tests advance by hand.

/** An opaque timer handle returned by {@link Clock.setTimeout}; only good for passing to `clearTimeout`. */
export type TimerHandle = object;

/**
 * Time and timers, behind an interface so code under test can be given a {@link ManualClock}
 * instead of wall time.
 *
 * @example
 * ```ts
 * async function pause(clock: Clock = realClock): Promise<number> {
 *   const startedAtMs = clock.now();
 *   await clock.sleep(50);
 *   return clock.now() - startedAtMs;
 * }
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch (real) or since the clock's start value (manual). */
  now(): number;
  /** Calls `callback` once, `delayMs` from now. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer that has not fired; a no-op for fired or unknown handles. */
  clearTimeout(handle: TimerHandle): void;
  /** Resolves `delayMs` from now. */
  sleep(delayMs: number): Promise<void>;
}

/**
 * The wall clock: `Date.now()` and Node's own timers.
 *
 * @example
 * ```ts
 * await realClock.sleep(10); // about 10 ms of real time
 * ```
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  sleep: (delayMs) => new Promise((resolve) => setTimeout(resolve, delayMs)),
};

interface ManualTimer {
  readonly dueAtMs: number;
  /** Creation order: breaks ties between timers due at the same instant, as Node does. */
  readonly sequence: number;
  readonly callback: () => void;
}

/** Bound on timers fired by one advance(): a timer that re-arms itself at 0 ms would loop forever. */
const MAX_TIMERS_PER_ADVANCE = 100_000;

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer that falls due, in due
 * order (ties in creation order), setting `now()` to each timer's due time as it fires; timers
 * that callbacks schedule inside the window fire in the same call.
 *
 * Callbacks run synchronously inside `advance`; code waiting on `sleep()` resumes on the next
 * microtask, so `await` something (or use {@link ManualClock.waitForTimers}) before asserting.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const order: string[] = [];
 * clock.setTimeout(() => order.push('b'), 20);
 * clock.setTimeout(() => order.push('a'), 10);
 * clock.advance(15); // order: ['a'], clock.now() === 15
 * clock.advance(5);  // order: ['a', 'b'], clock.now() === 20
 * ```
 */
export class ManualClock implements Clock {
  #nowMs: number;
  #sequence = 0;
  readonly #timers = new Map<TimerHandle, ManualTimer>();
  readonly #waiters: Array<{ count: number; resolve: () => void }> = [];

  /** @param startMs what `now()` returns before the first advance; default 0. */
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  /**
   * The clock's current time in milliseconds.
   *
   * @example
   * ```ts
   * new ManualClock(1_000).now(); // 1000
   * ```
   */
  now(): number {
    return this.#nowMs;
  }

  /**
   * Schedules `callback` at `now() + delayMs` (negative delays count as 0, like Node).
   *
   * @example
   * ```ts
   * const handle = clock.setTimeout(() => console.log('due'), 100);
   * ```
   */
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = {};
    const dueAtMs = this.#nowMs + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0);
    this.#timers.set(handle, { dueAtMs, sequence: this.#sequence++, callback });
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i]!;
      if (this.#timers.size >= waiter.count) {
        this.#waiters.splice(i, 1);
        waiter.resolve();
      }
    }
    return handle;
  }

  /**
   * Cancels a pending timer.
   *
   * @example
   * ```ts
   * clock.clearTimeout(clock.setTimeout(() => {}, 5)); // never fires
   * ```
   */
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /**
   * Resolves once the clock has been advanced by `delayMs`.
   *
   * @example
   * ```ts
   * const slept = clock.sleep(30);
   * clock.advance(30);
   * await slept;
   * ```
   */
  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, delayMs));
  }

  /**
   * Moves time forward by `deltaMs`, firing due timers in order. Returns how many fired.
   *
   * @example
   * ```ts
   * clock.setTimeout(() => {}, 10);
   * clock.advance(10); // 1
   * ```
   */
  advance(deltaMs: number): number {
    if (!Number.isFinite(deltaMs) || deltaMs < 0) {
      throw new RangeError(`advance() needs a finite, non-negative number of ms, got ${String(deltaMs)}`);
    }
    const targetMs = this.#nowMs + deltaMs;
    let fired = 0;
    for (;;) {
      const next = this.#nextDue();
      if (next === undefined || next[1].dueAtMs > targetMs) break;
      if (fired >= MAX_TIMERS_PER_ADVANCE) {
        throw new Error(`advance(${deltaMs}) fired ${MAX_TIMERS_PER_ADVANCE} timers; a timer keeps re-arming itself at 0 ms`);
      }
      this.#timers.delete(next[0]);
      this.#nowMs = Math.max(this.#nowMs, next[1].dueAtMs);
      fired++;
      next[1].callback();
    }
    this.#nowMs = targetMs;
    return fired;
  }

  /**
   * Moves time to the earliest pending timer and fires it (and any due at the same instant).
   * Returns how many fired; 0 when nothing is pending.
   *
   * @example
   * ```ts
   * const slept = clock.sleep(250);
   * clock.advanceToNext(); // 1; clock.now() grew by 250
   * await slept;
   * ```
   */
  advanceToNext(): number {
    const next = this.#nextDue();
    if (next === undefined) return 0;
    return this.advance(Math.max(0, next[1].dueAtMs - this.#nowMs));
  }

  /**
   * How many timers are scheduled and not yet fired or cleared.
   *
   * @example
   * ```ts
   * clock.sleep(5);
   * clock.pendingTimers; // 1
   * ```
   */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Resolves once at least `count` timers are pending: lets a test wait, without polling, until
   * code under test has reached its `sleep`.
   *
   * @example
   * ```ts
   * const query = slowDb.query('select 1');
   * await clock.waitForTimers(1); // the injected delay is armed
   * clock.advanceToNext();
   * await query;
   * ```
   */
  waitForTimers(count = 1): Promise<void> {
    if (this.#timers.size >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  #nextDue(): [TimerHandle, ManualTimer] | undefined {
    let best: [TimerHandle, ManualTimer] | undefined;
    for (const entry of this.#timers) {
      const timer = entry[1];
      if (best === undefined || timer.dueAtMs < best[1].dueAtMs || (timer.dueAtMs === best[1].dueAtMs && timer.sequence < best[1].sequence)) {
        best = entry;
      }
    }
    return best;
  }
}
