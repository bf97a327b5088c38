// Scale to zero: an instance with nothing using it (no session; in transaction mode no
// transaction) is frozen after one idle time and stopped after a longer one. Marking an instance
// busy and idle is two counter updates on the query path; one sweep a few times per idle time
// finds the instances due (no timer per transaction). The next use wakes it (server/proxy.ts).

import type { InstancePower, PowerTarget } from '../interfaces.js';

/** Defaults of IdleOptions: freeze soon (cheap to undo), stop later (frees memory, slower to undo). */
export const DEFAULT_FREEZE_AFTER_MS = 30_000;
export const DEFAULT_STOP_AFTER_MS = 5 * 60_000;
/** When a suspension was refused (a job holds the instance), it is tried again after this. */
const RETRY_REFUSED_MS = 5_000;
/** Sweeps per shortest idle time: an instance is suspended at most a quarter of it late. */
const SWEEPS_PER_IDLE_TIME = 4;
/**
 * How often a suspension is asserted again while nothing uses the instance: something else (an
 * agent's job, an operator) may have woken it, and the proxy would otherwise believe it asleep.
 * The power control answers a suspension that already holds at once.
 */
export const DEFAULT_REASSERT_AFTER_MS = 30_000;
/** The sweep's shortest and longest period. */
const MIN_SWEEP_MS = 10;
const MAX_SWEEP_MS = 1_000;

type Tier = 'running' | 'frozen' | 'stopped';

interface IdleState {
  readonly target: PowerTarget;
  /** Sessions or transactions using it now. */
  users: number;
  /** When it was last left with no user (performance.now()). */
  idleSince: number;
  tier: Tier;
  /** The tier a suspension being made now goes to. */
  suspending: 'frozen' | 'stopped' | undefined;
  /** No suspension is tried before this (after a refused one, or until it is asserted again). */
  notBefore: number;
}

/**
 * Counts what uses each instance and suspends instances nothing used for a while.
 *
 * @example
 * ```ts
 * const idle = new IdleTracker(power, 30_000, 300_000, closeIdleConnections, logError);
 * idle.connected(target);    // a session or a transaction begins
 * idle.disconnected(target); // it ends: at zero users the idle time starts
 * ```
 */
export class IdleTracker {
  readonly #states = new Map<string, IdleState>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(
    private readonly power: InstancePower,
    private readonly freezeAfterMs: number,
    private readonly stopAfterMs: number,
    /** Closes the proxy's idle server connections of an instance before it is suspended. */
    private readonly beforeSuspend: (instanceId: string, tier: 'frozen' | 'stopped') => Promise<void>,
    private readonly onError: (instanceId: string, error: unknown) => void,
    private readonly reassertAfterMs = DEFAULT_REASSERT_AFTER_MS,
  ) {
    const shortest = Math.min(...[freezeAfterMs, stopAfterMs].filter((ms) => ms > 0), MAX_SWEEP_MS * SWEEPS_PER_IDLE_TIME);
    const periodMs = Math.max(MIN_SWEEP_MS, Math.min(MAX_SWEEP_MS, Math.floor(shortest / SWEEPS_PER_IDLE_TIME)));
    this.#sweep = setInterval(() => this.#sweepOnce(), periodMs);
    this.#sweep.unref();
  }

  /**
   * Something starts using the instance: no suspension from now on. Returns the tier the proxy
   * left it in — or is putting it in now: the caller must wake it then (the power control runs
   * that wake after the suspension).
   */
  connected(target: PowerTarget): Tier {
    const state = this.#state(target);
    state.users += 1;
    const tier = state.suspending ?? state.tier;
    state.tier = 'running';
    state.notBefore = 0;
    return tier;
  }

  /** What used it ends: at zero users its idle time starts. */
  disconnected(target: PowerTarget): void {
    const state = this.#state(target);
    state.users -= 1;
    if (state.users === 0) state.idleSince = performance.now();
  }

  /** The tier the proxy left an instance in ('running' when it never suspended it). */
  tierOf(instanceId: string): Tier {
    return this.#states.get(instanceId)?.tier ?? 'running';
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
  }

  #state(target: PowerTarget): IdleState {
    let state = this.#states.get(target.instanceId);
    if (!state) {
      state = { target, users: 0, idleSince: performance.now(), tier: 'running', suspending: undefined, notBefore: 0 };
      this.#states.set(target.instanceId, state);
    }
    return state;
  }

  #sweepOnce(): void {
    const now = performance.now();
    for (const state of this.#states.values()) {
      if (state.users > 0 || state.suspending || now < state.notBefore) continue;
      const idleMs = now - state.idleSince;
      let next: 'frozen' | 'stopped' | undefined;
      if (state.tier !== 'stopped' && this.stopAfterMs > 0 && idleMs >= this.stopAfterMs) next = 'stopped';
      else if (state.tier === 'running' && this.freezeAfterMs > 0 && idleMs >= this.freezeAfterMs) next = 'frozen';
      else if (state.tier !== 'running') next = state.tier; // asserted again (notBefore spaces these out)
      if (next) void this.#suspend(state, next);
    }
  }

  async #suspend(state: IdleState, tier: 'frozen' | 'stopped'): Promise<void> {
    state.suspending = tier;
    try {
      await this.beforeSuspend(state.target.instanceId, tier);
      if (state.users > 0 || this.#closed) return;
      const done = await this.power.suspend(state.target, tier);
      // A user that came meanwhile woke it (the power control runs a wake after a suspend).
      if (state.users > 0) return;
      if (done) {
        state.tier = tier;
        state.notBefore = performance.now() + this.reassertAfterMs;
      } else state.notBefore = performance.now() + RETRY_REFUSED_MS;
    } catch (error) {
      this.onError(state.target.instanceId, error);
      state.notBefore = performance.now() + RETRY_REFUSED_MS;
    } finally {
      state.suspending = undefined;
    }
  }
}
