/**
 * The glue between commander and a command's implementation: an action receives a
 * {@link Session} built from the global options, then its own arguments and options.
 */
import type { Session } from './session.js';

/** What a command body returns: an exit code, or nothing for 0. */
export type ActionResult = Promise<number | void>;

/** Turns a command body into a commander action. */
export interface Host {
  // Commander hands actions untyped arguments; each body declares the types its command defines.
  run<A extends any[]>(body: (session: Session, ...args: A) => ActionResult): (...args: any[]) => Promise<void>;
}
