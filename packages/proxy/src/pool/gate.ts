// A counting gate with a FIFO wait queue: at most `limit` holders; others wait in order until a
// place frees or their timeout ends. Server connection limits and the wait queue are made of it.

import { ProxyError } from '../errors.js';

/** Waiters one gate keeps: beyond it a request fails at once rather than queueing without bound. */
export const MAX_GATE_WAITERS = 10_000;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * @example
 * ```ts
 * const gate = new Gate(20);
 * await gate.enter(5_000, 'a server connection of ins_x'); // throws 53300 after 5 s in the queue
 * try { … } finally { gate.leave(); }
 * ```
 */
export class Gate {
  #held = 0;
  readonly #waiters: Waiter[] = [];

  constructor(public limit: number) {}

  get held(): number {
    return this.#held;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Takes a place, waiting up to `timeoutMs`. @throws {ProxyError} `STRATA_PROXY_POOL_TIMEOUT` (53300). */
  enter(timeoutMs: number, what: string): Promise<void> {
    if (this.#held < this.limit && this.#waiters.length === 0) {
      this.#held += 1;
      return Promise.resolve();
    }
    if (this.#waiters.length >= MAX_GATE_WAITERS) {
      return Promise.reject(new ProxyError('STRATA_PROXY_POOL_TIMEOUT', '53300', `too many clients are waiting for ${what}; try again later or raise the limit`));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(new ProxyError('STRATA_PROXY_POOL_TIMEOUT', '53300', `timed out after ${timeoutMs} ms waiting for ${what} (all ${this.limit} in use); raise the instance's server connection limit or use fewer concurrent clients`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Gives a place back; the longest waiter gets it. */
  leave(): void {
    const next = this.#waiters.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve();
      return;
    }
    if (this.#held <= 0) throw new Error('Gate.leave without a matching enter');
    this.#held -= 1;
  }

  /** Fails every waiter (the proxy is closing). */
  rejectAll(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}
