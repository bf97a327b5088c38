// A small seeded PRNG (mulberry32, seeded through splitmix32) so a test's random choices replay exactly from one number.

/** Seeds are unsigned 32-bit integers: what mulberry32 keeps as its whole state. */
export const MAX_SEED = 0xffff_ffff;

/**
 * A deterministic pseudo-random stream: the same seed yields the same numbers, on every machine
 * and Node version (pure 32-bit integer arithmetic, no `Math.random`). Not for cryptography.
 *
 * Streams for independent concerns come from {@link SeededRandom.fork}, so drawing more numbers
 * for one concern never shifts the numbers another concern sees.
 *
 * @example
 * ```ts
 * const random = new SeededRandom(42);
 * random.next();        // a float in [0, 1), the same one every run with seed 42
 * random.int(1, 6);     // a whole number from 1 to 6 inclusive
 * random.chance(0.25);  // true about a quarter of the time
 * const other = random.fork('notifications'); // an independent stream, also fixed by 42
 * ```
 */
export class SeededRandom {
  /** The seed this stream started from. */
  readonly seed: number;
  #state: number;

  /** @param seed a whole number in [0, 2^32 - 1]. */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new RangeError(`a seed must be a whole number from 0 to ${MAX_SEED}, got ${String(seed)}`);
    }
    this.seed = seed;
    // splitmix32 spreads nearby seeds (1, 2, 3 …) apart before mulberry32 takes over.
    this.#state = splitmix32(seed);
  }

  /**
   * The next float in [0, 1) (mulberry32).
   *
   * @example
   * ```ts
   * new SeededRandom(7).next() === new SeededRandom(7).next(); // true
   * ```
   */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /**
   * A whole number from `min` to `max`, both inclusive.
   *
   * @example
   * ```ts
   * new SeededRandom(1).int(10, 20); // 10 … 20
   * ```
   */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new RangeError(`int(min, max) needs whole numbers with min <= max, got ${min} and ${max}`);
    }
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /**
   * True with probability `probability` (0 never, 1 always). Always draws one number, so the
   * stream advances the same way whatever the probability.
   *
   * @example
   * ```ts
   * new SeededRandom(3).chance(1); // true
   * ```
   */
  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /**
   * An independent stream derived from this stream's seed and `label` (not from its position), so
   * forks with the same label are equal whenever they are made.
   *
   * @example
   * ```ts
   * const a = new SeededRandom(9).fork('slow');
   * const b = new SeededRandom(9).fork('slow');
   * a.next() === b.next(); // true
   * ```
   */
  fork(label: string): SeededRandom {
    let hash = this.seed ^ 0x811c9dc5; // FNV-1a over the label, starting from the seed
    for (let i = 0; i < label.length; i++) {
      hash ^= label.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    return new SeededRandom(splitmix32(hash >>> 0));
  }
}

/** One splitmix32 step: a well-mixed 32-bit value from any 32-bit input. */
function splitmix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
