// A wake storm's bound: at most N server starts at once, the rest waiting in a FIFO queue.

/**
 * Lets at most `maxConcurrent` operations run at once; later ones wait in call order. The queue
 * is bounded by `maxQueued`: its callers (one pending start per instance, since concurrent wakes
 * of an instance share one) can never exceed it, so passing it is a broken invariant and throws.
 *
 * @example
 * const gate = new StartGate(8, 10_000);
 * await gate.run(() => cluster.start());
 * gate.stats(); // { inFlight: 0, peakInFlight: 1, queued: 0, peakQueued: 0, runs: 1 }
 */
export class StartGate {
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  readonly #queue: Array<() => void> = [];
  #inFlight = 0;
  #peakInFlight = 0;
  #peakQueued = 0;
  #runs = 0;

  constructor(maxConcurrent: number, maxQueued: number) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be a whole number ≥ 1, got ${String(maxConcurrent)}`);
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new RangeError(`maxQueued must be a whole number ≥ 0, got ${String(maxQueued)}`);
    this.#maxConcurrent = maxConcurrent;
    this.#maxQueued = maxQueued;
  }

  /** Runs `operation` once a slot is free (at once when one is). */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    await this.#enter();
    try {
      return await operation();
    } finally {
      this.#leave();
    }
  }

  /** Now and the most so far: running, waiting; and how many ran. */
  stats(): { inFlight: number; peakInFlight: number; queued: number; peakQueued: number; runs: number } {
    return { inFlight: this.#inFlight, peakInFlight: this.#peakInFlight, queued: this.#queue.length, peakQueued: this.#peakQueued, runs: this.#runs };
  }

  #enter(): Promise<void> {
    this.#runs += 1;
    if (this.#inFlight < this.#maxConcurrent) {
      this.#inFlight += 1;
      this.#peakInFlight = Math.max(this.#peakInFlight, this.#inFlight);
      return Promise.resolve();
    }
    if (this.#queue.length >= this.#maxQueued) {
      throw new Error(`invariant: ${this.#queue.length} starts already wait (the bound is ${this.#maxQueued}, one per instance of the node)`);
    }
    return new Promise((resolve) => {
      this.#queue.push(resolve);
      this.#peakQueued = Math.max(this.#peakQueued, this.#queue.length);
    });
  }

  #leave(): void {
    const next = this.#queue.shift();
    // The slot passes straight to the next in line: inFlight stays as it is.
    if (next !== undefined) next();
    else this.#inFlight -= 1;
  }
}
