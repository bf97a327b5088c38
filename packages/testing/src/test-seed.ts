// Seeds for seeded tests: fresh per run, printed, and replayed from STRATA_TEST_SEED.

import { randomInt } from 'node:crypto';
import { MAX_SEED } from './seeded-random.js';

/**
 * Thrown by {@link testSeed} when `STRATA_TEST_SEED` is not a whole number in the seed range.
 *
 * @example
 * ```ts
 * testSeed('crash', { env: { STRATA_TEST_SEED: 'abc' } }); // throws InvalidTestSeedError
 * ```
 */
export class InvalidTestSeedError extends Error {
  readonly code = 'STRATA_INVALID_TEST_SEED';
  override readonly name = 'InvalidTestSeedError';
}

/** Env var that replays a seed in {@link testSeed}. */
export const TEST_SEED_ENV = 'STRATA_TEST_SEED';

/**
 * The seed for a seeded test: `STRATA_TEST_SEED` when it is set (to replay a failure), otherwise
 * a fresh random one. Either way it prints `seed for <name>: <n> (replay with STRATA_TEST_SEED=<n>)`
 * to stderr, so a failing run's output says how to replay it.
 *
 * @example
 * ```ts
 * test('steps survive lost commits', async () => {
 *   const seed = testSeed('steps survive lost commits');
 *   const db = faultyDatabase(inner, { seed, faults: { lostBeforeCommit: { probability: 0.1 } } });
 *   // ...
 * });
 * // STRATA_TEST_SEED=123456 node --import tsx --test --test-name-pattern='lost commits' file.test.ts
 * ```
 */
export function testSeed(
  name: string,
  options: { readonly env?: NodeJS.ProcessEnv; readonly write?: (line: string) => void } = {},
): number {
  const env = options.env ?? process.env;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const replay = env[TEST_SEED_ENV];
  let seed: number;
  if (replay !== undefined && replay.trim() !== '') {
    seed = Number(replay.trim());
    if (!/^\d+$/.test(replay.trim()) || seed > MAX_SEED) {
      throw new InvalidTestSeedError(
        `${TEST_SEED_ENV}=${JSON.stringify(replay)} is not a seed: use a whole number from 0 to ${MAX_SEED}, as printed by a failing test ("seed for …")`,
      );
    }
  } else {
    seed = randomInt(MAX_SEED + 1);
  }
  write(`seed for ${name}: ${seed} (replay with ${TEST_SEED_ENV}=${seed})\n`);
  return seed;
}
