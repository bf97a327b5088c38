// A promise with its resolve and reject at hand, for results settled after the body returns.

/** A promise settled from outside; marked handled, so one nobody awaits never crashes the process. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  readonly #resolve: (value: T) => void;
  readonly #reject: (reason: unknown) => void;
  #settled = false;

  constructor() {
    const settle: { resolve?: (value: T) => void; reject?: (reason: unknown) => void } = {};
    this.promise = new Promise<T>((resolve, reject) => {
      settle.resolve = resolve;
      settle.reject = reject;
    });
    if (settle.resolve === undefined || settle.reject === undefined) throw new Error('invariant: a Promise executor runs synchronously');
    this.#resolve = settle.resolve;
    this.#reject = settle.reject;
    // An unobserved rejection (a versionstamp nobody asked for) must not be an unhandled rejection.
    this.promise.catch(() => undefined);
  }

  /** True once resolved or rejected. */
  get settled(): boolean {
    return this.#settled;
  }

  resolve(value: T): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(value);
  }

  reject(reason: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(reason);
  }
}
