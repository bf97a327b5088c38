// Invariants stated in the code: a violated one stops loudly instead of corrupting state.

/** An invariant of the engine does not hold: a bug in Strata, never a user mistake. */
export class InvariantError extends Error {
  readonly code = 'STRATA_INVARIANT';
  constructor(invariant: string) {
    super(`Strata invariant violated: ${invariant}. This is a bug in Strata; please report it with the stack trace`);
    this.name = 'InvariantError';
  }
}

/**
 * Throws {@link InvariantError} unless `condition` holds; `invariant` says what must be true.
 *
 * @example
 * assert(results.length === items.length, 'a group-commit flush returns one result per item');
 */
export function assert(condition: unknown, invariant: string): asserts condition {
  if (!condition) throw new InvariantError(invariant);
}
