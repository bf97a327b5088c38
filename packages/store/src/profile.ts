// Capability profiles: what an engine can do that Strata's SQL would otherwise rely on, and the
// two profiles Strata runs with (native PostgreSQL, and portable for distributed SQL engines).
import { InvalidArgumentError } from './errors.js';

/**
 * What an engine offers beyond plain SQL. Every `false` has a fallback in Strata that is slower
 * but keeps every guarantee; the portable profile turns them all off.
 */
export interface Capabilities {
  /** LISTEN/NOTIFY. Without it, notifications are rows of `strata.notifications`, polled. */
  readonly listenNotify: boolean;
  /** `FOR UPDATE SKIP LOCKED`. Without it, work is claimed by one atomic `UPDATE … RETURNING` that re-checks the row's state. */
  readonly skipLocked: boolean;
  /** Session and transaction advisory locks. Without them, a lease row in `strata.leases` with a fencing token. */
  readonly advisoryLocks: boolean;
  /**
   * Isolation levels other than SERIALIZABLE. Without them every transaction runs SERIALIZABLE,
   * and every statement, in a transaction or alone, is retried on a serialization failure (40001).
   */
  readonly weakIsolation: boolean;
  /** Several DDL statements in one transaction. Without it, migrations run one statement per transaction, with their progress recorded. */
  readonly transactionalDdl: boolean;
}

/** The name of a profile: `'native'` (PostgreSQL, PGlite) or `'portable'` (distributed SQL engines). */
export type ProfileName = 'native' | 'portable';

/** A capability profile: its name and what it allows. */
export interface DatabaseProfile {
  readonly name: ProfileName;
  readonly capabilities: Capabilities;
}

/** What to ask `openDatabase` for: a profile, or `'auto'` (portable on CockroachDB and YugabyteDB, native elsewhere). */
export type ProfileRequest = ProfileName | 'auto';

/** Everything PostgreSQL has: the default on PostgreSQL and PGlite. */
export const NATIVE_PROFILE: DatabaseProfile = Object.freeze({
  name: 'native',
  capabilities: Object.freeze({ listenNotify: true, skipLocked: true, advisoryLocks: true, weakIsolation: true, transactionalDdl: true }),
});

/** Nothing beyond what CockroachDB and YugabyteDB both offer: every fallback on. */
export const PORTABLE_PROFILE: DatabaseProfile = Object.freeze({
  name: 'portable',
  capabilities: Object.freeze({ listenNotify: false, skipLocked: false, advisoryLocks: false, weakIsolation: false, transactionalDdl: false }),
});

/**
 * The environment variable that sets the profile when `openDatabase` is given none:
 * `native`, `portable` or `auto`. CI sets `portable` to run the transact suite on every fallback.
 */
export const PROFILE_ENV = 'STRATA_DATABASE_PROFILE';

/**
 * The requested profile: `given`, else the environment's {@link PROFILE_ENV}, else `'auto'`.
 *
 * @throws {InvalidArgumentError} for anything but `'native'`, `'portable'` or `'auto'`.
 * @example
 * profileRequest(undefined, { STRATA_DATABASE_PROFILE: 'portable' }); // 'portable'
 */
export function profileRequest(given: unknown, env: NodeJS.ProcessEnv = process.env): ProfileRequest {
  const fromEnv = env[PROFILE_ENV];
  const value = given ?? (fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv);
  if (!isProfileRequest(value)) {
    const where = given === undefined ? `${PROFILE_ENV}=${JSON.stringify(fromEnv)}` : `profile ${JSON.stringify(given)}`;
    throw new InvalidArgumentError(`${where} is not a database profile: use 'native', 'portable' or 'auto'`);
  }
  return value;
}

/**
 * True for `'native'`, `'portable'` and `'auto'`: what `openDatabase`'s `profile` accepts.
 *
 * @example
 * isProfileRequest('portable'); // true
 * isProfileRequest('fast'); // false
 */
export function isProfileRequest(value: unknown): value is ProfileRequest {
  return value === 'native' || value === 'portable' || value === 'auto';
}

/**
 * The profile for a server, from `select version()`: portable for CockroachDB and YugabyteDB
 * (whatever `requested` is, unless it names a profile), native for PostgreSQL.
 *
 * @example
 * profileFor('auto', 'CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, …)').name; // 'portable'
 * profileFor('auto', 'PostgreSQL 15.10 (Debian 15.10-0+deb12u1) on x86_64…').name; // 'native'
 */
export function profileFor(requested: ProfileRequest, serverVersion: string): DatabaseProfile {
  if (requested === 'native') return NATIVE_PROFILE;
  if (requested === 'portable') return PORTABLE_PROFILE;
  return /cockroachdb|-yb-|yugabyte/i.test(serverVersion) ? PORTABLE_PROFILE : NATIVE_PROFILE;
}
