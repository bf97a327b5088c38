// Scale to zero: an instance with no client connection is frozen after one idle time and stopped
// after a longer one; a client connecting cancels both. The next connect wakes it (server/proxy.ts).

import type { InstancePower, PowerTarget } from '../interfaces.js';

/** Defaults of IdleOptions: freeze soon (cheap to undo), stop later (frees memory, slower to undo). */
export const DEFAULT_FREEZE_AFTER_MS = 30_000;
export const DEFAULT_STOP_AFTER_MS = 5 * 60_000;
/** When a suspension was refused (a job holds the instance), it is tried again after this. */
const RETRY_REFUSED_MS = 5_000;

interface IdleState {
  readonly target: PowerTarget;
  clients: number;
  idleSince: number;
  timer: NodeJS.Timeout | undefined;
  tier: 'running' | 'frozen' | 'stopped';
}

/**
 * Counts clients per instance and suspends instances that have none.
 *
 * @example
 * ```ts
 * const idle = new IdleTracker(power, { freezeAfterMs: 30_000, stopAfterMs: 300_000 }, drain);
 * idle.connected(target);    // on a client's connect
 * idle.disconnected(target); // on its close: the timers start at zero clients
 * ```
 */
export class IdleTracker {
  readonly #states = new Map<string, IdleState>();
  #closed = false;

  constructor(
    private readonly power: InstancePower,
    private readonly freezeAfterMs: number,
    private readonly stopAfterMs: number,
    /** Closes the proxy's idle server connections of an instance before it is stopped. */
    private readonly beforeSuspend: (instanceId: string, tier: 'frozen' | 'stopped') => Promise<void>,
    private readonly onError: (instanceId: string, error: unknown) => void,
  ) {}

  /** A client is connecting: no suspension from now on; returns the tier the instance was left in. */
  connected(target: PowerTarget): 'running' | 'frozen' | 'stopped' {
    const state = this.#state(target);
    state.clients += 1;
    clearTimeout(state.timer);
    state.timer = undefined;
    const tier = state.tier;
    state.tier = 'running';
    return tier;
  }

  disconnected(target: PowerTarget): void {
    const state = this.#state(target);
    state.clients -= 1;
    if (state.clients > 0) return;
    state.idleSince = Date.now();
    this.#schedule(state);
  }

  /** The tier the proxy left an instance in ('running' when it never suspended it). */
  tierOf(instanceId: string): 'running' | 'frozen' | 'stopped' {
    return this.#states.get(instanceId)?.tier ?? 'running';
  }

  /** Clients of an instance now. */
  clients(instanceId: string): number {
    return this.#states.get(instanceId)?.clients ?? 0;
  }

  close(): void {
    this.#closed = true;
    for (const state of this.#states.values()) clearTimeout(state.timer);
  }

  #state(target: PowerTarget): IdleState {
    let state = this.#states.get(target.instanceId);
    if (!state) {
      state = { target, clients: 0, idleSince: Date.now(), timer: undefined, tier: 'running' };
      this.#states.set(target.instanceId, state);
    }
    return state;
  }

  #schedule(state: IdleState, delayMs?: number): void {
    if (this.#closed) return;
    const next = state.tier === 'running' && this.freezeAfterMs > 0 ? 'frozen' : state.tier !== 'stopped' && this.stopAfterMs > 0 ? 'stopped' : undefined;
    if (!next) return;
    const due = state.idleSince + (next === 'frozen' ? this.freezeAfterMs : this.stopAfterMs);
    clearTimeout(state.timer);
    state.timer = setTimeout(() => void this.#suspend(state, next), delayMs ?? Math.max(0, due - Date.now()));
    state.timer.unref();
  }

  async #suspend(state: IdleState, tier: 'frozen' | 'stopped'): Promise<void> {
    state.timer = undefined;
    if (state.clients > 0 || this.#closed) return;
    try {
      await this.beforeSuspend(state.target.instanceId, tier);
      if (state.clients > 0) return;
      const done = await this.power.suspend(state.target, tier);
      if (state.clients > 0) return; // a client came meanwhile: its connect woke the instance
      if (done) {
        state.tier = tier;
        this.#schedule(state);
      } else this.#schedule(state, RETRY_REFUSED_MS);
    } catch (error) {
      this.onError(state.target.instanceId, error);
      this.#schedule(state, RETRY_REFUSED_MS);
    }
  }
}
