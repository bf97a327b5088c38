// A read of the system database that a proxy repeats in the background (cap states, cache
// invalidations): one at a time — a caller joins the read that is running — with failures
// counted, the first of an outage logged once, and the recovery logged.

/** Where a repeated read logs. */
export interface RepeatedReadLogger {
  warn(message: string): void;
  info?(message: string): void;
}

/**
 * @example
 * ```ts
 * const reads = new RepeatedRead(() => readCaps(), console, { failed: (error) => `reading caps failed: ${error.message}`, recovered: 'reading caps works again' });
 * setInterval(() => reads.run().catch(() => {}), 1_000);
 * await reads.run();   // rejects when this read fails
 * await reads.close(); // waits for a read that is running
 * ```
 */
export class RepeatedRead {
  #reading: Promise<void> | undefined;
  #closed = false;
  #failing = false;
  #successes = 0;
  #failures = 0;
  #lastError: unknown = undefined;

  constructor(
    private readonly read: () => Promise<void>,
    private readonly logger: RepeatedReadLogger,
    private readonly messages: { readonly failed: (error: Error) => string; readonly recovered: string },
  ) {}

  get successes(): number {
    return this.#successes;
  }

  get failures(): number {
    return this.#failures;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Reads now, or joins the read that is running; resolves at once after {@link RepeatedRead.close}. */
  run(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#reading ??= this.#attempt().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /** No reads from now on; waits for the one that is running. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#reading?.catch(() => {});
  }

  async #attempt(): Promise<void> {
    try {
      await this.read();
    } catch (error) {
      this.#failures++;
      this.#lastError = error;
      if (!this.#failing) {
        this.#failing = true;
        this.logger.warn(this.messages.failed(error as Error));
      }
      throw error;
    }
    this.#successes++;
    if (this.#failing) {
      this.#failing = false;
      this.logger.info?.(this.messages.recovered);
    }
  }
}
