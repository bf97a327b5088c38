import type { Database, Subscription } from '@strata/store';

/**
 * Strata's notification channel: workflows finishing or being cancelled, enqueues, messages,
 * events, queue and schedule changes (docs/transact.md, "Push, not poll").
 */
export const STRATA_SIGNAL_CHANNEL = 'strata_signals';

/**
 * "Something changed" for the console's pages: one subscription to Strata's channel per
 * console, fanned out to every open page at most once per `minIntervalMs` (a busy system sends
 * thousands of signals a second; a page only needs to know it should look again).
 *
 * @example
 * const feed = await ChangeFeed.start(db, { minIntervalMs: 250 });
 * const unsubscribe = feed.subscribe(() => console.log('changed'));
 */
export class ChangeFeed {
  readonly #minIntervalMs: number;
  readonly #subscribers = new Set<() => void>();
  #subscription: Subscription | undefined;
  #lastEmitMs = 0;
  #timer: NodeJS.Timeout | undefined;

  private constructor(minIntervalMs: number) {
    this.#minIntervalMs = minIntervalMs;
  }

  static async start(db: Database, options: { readonly minIntervalMs: number }): Promise<ChangeFeed> {
    const feed = new ChangeFeed(options.minIntervalMs);
    feed.#subscription = await db.listen(STRATA_SIGNAL_CHANNEL, () => feed.#changed());
    return feed;
  }

  /** Open pages. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** Calls `onChange` after changes (throttled) until the returned function is called. */
  subscribe(onChange: () => void): () => void {
    this.#subscribers.add(onChange);
    return () => this.#subscribers.delete(onChange);
  }

  /** Also a change: the console's own actions (cancel, fork, …) show at once. */
  changed(): void {
    this.#changed();
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#subscribers.clear();
    await this.#subscription?.close();
    this.#subscription = undefined;
  }

  #changed(): void {
    if (this.#timer !== undefined || this.#subscription === undefined) return; // an emit is already due
    const waitMs = this.#lastEmitMs + this.#minIntervalMs - Date.now();
    if (waitMs <= 0) {
      this.#emit();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#emit();
    }, waitMs);
  }

  #emit(): void {
    this.#lastEmitMs = Date.now();
    for (const subscriber of this.#subscribers) subscriber();
  }
}
