// Operations on one key (an instance) one at a time, in call order; different keys run side by side.

/**
 * A promise chain per key. An operation that fails does not stop the ones queued after it.
 *
 * @example
 * const lanes = new SerialLanes();
 * await Promise.all([lanes.run('ins_a', suspend), lanes.run('ins_a', wake)]); // suspend, then wake
 */
export class SerialLanes {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `operation` after every earlier one of `key` has ended. */
  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(operation);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    // Idle keys are forgotten, so the map holds only keys with work in flight.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Resolves once every operation of `key` queued so far has ended. */
  idle(key: string): Promise<void> {
    return this.#tails.get(key) ?? Promise.resolve();
  }

  /** Resolves once every operation queued so far, of every key, has ended. */
  async drain(): Promise<void> {
    await Promise.all([...this.#tails.values()]);
  }
}
