// Who holds an instance awake: each hold has a purpose (for messages) and ends with its release.
import type { Release } from './interfaces.js';

/**
 * A count of holds per instance; an instance with any is not suspended.
 *
 * @example
 * const holds = new Holds();
 * const release = holds.take('ins_a', 'backup');
 * holds.purposes('ins_a'); // ['backup']
 * release();
 */
export class Holds {
  readonly #byInstance = new Map<string, Map<symbol, string>>();

  /** Takes a hold; the returned function releases it (once). */
  take(instanceId: string, purpose: string): Release {
    const token = Symbol(purpose);
    let holds = this.#byInstance.get(instanceId);
    if (holds === undefined) {
      holds = new Map();
      this.#byInstance.set(instanceId, holds);
    }
    holds.set(token, purpose);
    return () => {
      const current = this.#byInstance.get(instanceId);
      if (current === undefined || !current.delete(token)) return;
      if (current.size === 0) this.#byInstance.delete(instanceId);
    };
  }

  /** Whether anything holds the instance. */
  held(instanceId: string): boolean {
    return this.#byInstance.has(instanceId);
  }

  /** What the current holds of the instance are for. */
  purposes(instanceId: string): string[] {
    return [...(this.#byInstance.get(instanceId)?.values() ?? [])];
  }
}
