// Invariants stated in the code: a violated one stops loudly instead of corrupting state.
import { InvariantError } from './errors.js';

/**
 * Throws {@link InvariantError} unless `condition` holds; `invariant` says what must be true.
 *
 * @example
 * assert(results.length === items.length, 'a group-commit flush returns one result per item');
 */
export function assert(condition: unknown, invariant: string): asserts condition {
  if (!condition) throw new InvariantError(invariant);
}
