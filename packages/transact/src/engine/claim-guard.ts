// Keeps the search for orphaned workflows apart from the paths that claim workflows and run them.

/**
 * A readers–writer lock over "claim workflows, then start executing them". Claim paths (launch
 * recovery, takeover, a queue's dequeue) hold it shared from before their claim until every
 * claimed workflow's execution has begun; the adoption of orphans after an outage holds it
 * exclusively. So adoption never sees a workflow that a claim path has claimed but not yet
 * started, and never runs one that such a path would then start a second time from a stale
 * history. A waiting exclusive holder goes first: new shared holders queue behind it.
 *
 * @example
 * await guard.shared(async () => run(await claim()));      // many at once
 * await guard.exclusive(async () => adopt(await orphans())); // alone
 */
export class ClaimGuard {
  #shared = 0;
  #exclusive: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  /** Runs `fn` alongside other shared holders, after any exclusive holder (waiting or running). */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    this.#shared++;
    try {
      return await fn();
    } finally {
      this.#shared--;
      if (this.#shared === 0) this.#drained?.();
    }
  }

  /** Runs `fn` alone: after the shared holders in progress finish, with new ones held back. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((resolve) => (release = resolve));
    try {
      if (this.#shared > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      this.#drained = undefined;
      return await fn();
    } finally {
      this.#exclusive = undefined;
      release();
    }
  }
}
