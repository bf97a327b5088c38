// Reading a package's error classes from its exports, for tests that every one fits the error model.
import { StoreError, StrataError } from '@strata/store';

/** An error class, concrete or abstract. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** The abstract roots of the error model: no kind of their own and no instances. */
export const ERROR_ROOTS: ReadonlySet<unknown> = new Set([StrataError, StoreError]);

/**
 * Every exported class of `module` whose instances are Errors, with its export name.
 *
 * @example
 * ```ts
 * for (const [name, errorClass] of exportedErrorClasses(await import('@strata/store'))) console.log(name, declaredKind(errorClass));
 * ```
 */
export function exportedErrorClasses(module: Record<string, unknown>): Array<[string, ErrorClass]> {
  return Object.entries(module).filter(
    (entry): entry is [string, ErrorClass] => typeof entry[1] === 'function' && (entry[1] === Error || entry[1].prototype instanceof Error),
  );
}

/** The kind a class declares (a getter on its prototype), read without constructing it. */
export function declaredKind(errorClass: ErrorClass): unknown {
  return (Object.create(errorClass.prototype) as { kind?: unknown }).kind;
}
