// The only way a tenant's names and verifiers get into SQL: checked against a strict pattern first, then quoted.
import { quoteIdent, quoteLiteral } from '../jobs/tenant-roles.js';
import { AdminError } from './errors.js';

/**
 * Database and user names a tenant may use: lower-case, unquoted-style PostgreSQL identifiers of
 * at most 63 bytes (NAMEDATALEN - 1), so the name a tenant types is the name `psql` shows.
 */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Prefixes the platform and PostgreSQL keep for their own roles and databases. */
const RESERVED_PREFIXES = ['strata_', 'pg_'] as const;

/**
 * Names PostgreSQL treats specially as roles (`public`, `current_user`, …) or that the platform
 * uses itself (`postgres` is a system database; `template0`/`template1` are templates).
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'postgres',
  'template0',
  'template1',
  'public',
  'none',
  'current_user',
  'current_role',
  'session_user',
  'strata',
]);

/** Databases every cluster has and the platform needs; they are never dropped. */
export const SYSTEM_DATABASES: ReadonlySet<string> = new Set(['postgres', 'template0', 'template1']);

/**
 * A PostgreSQL SCRAM-SHA-256 verifier: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
 * with base64 parts; nothing else (a plaintext or MD5 password) is ever sent to an instance.
 */
const VERIFIER_PATTERN = /^SCRAM-SHA-256\$[1-9][0-9]{0,6}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$/;

/** A verifier is well under this (4096 iterations, 16-byte salt, two 32-byte keys: ~130 characters). */
const MAX_VERIFIER_LENGTH = 512;

/**
 * Checks a tenant's database or user name and returns it quoted for SQL.
 *
 * @throws {AdminError} `invalid_identifier` when it is not `^[a-z_][a-z0-9_]{0,62}$`,
 * `reserved_identifier` when it starts with `strata_` or `pg_` or is a reserved name.
 *
 * @example
 * checkIdentifier('database', 'app');        // '"app"'
 * checkIdentifier('user', 'Robert; drop');   // throws AdminError invalid_identifier
 */
export function checkIdentifier(what: 'database' | 'user', name: unknown): string {
  if (typeof name !== 'string' || !IDENTIFIER_PATTERN.test(name)) {
    throw new AdminError(
      'invalid_identifier',
      `${what} name ${JSON.stringify(name)} is not allowed: use 1 to 63 lower-case letters, digits and underscores, starting with a letter or underscore`,
    );
  }
  if (RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix)) || RESERVED_NAMES.has(name)) {
    throw new AdminError(
      'reserved_identifier',
      `${what} name "${name}" is reserved by the platform (names starting with strata_ or pg_, and ${[...RESERVED_NAMES].join(', ')}); choose another`,
    );
  }
  return quoteIdent(name);
}

/**
 * Checks a SCRAM-SHA-256 verifier and returns it as a SQL string literal (the one place a
 * password-like value enters a statement: `ALTER ROLE … PASSWORD` takes no parameters).
 *
 * @throws {AdminError} `invalid_verifier` for anything that is not a SCRAM-SHA-256 verifier.
 *
 * @example
 * checkVerifier(scramVerifier('s3cret'));  // "'SCRAM-SHA-256$4096:…'"
 * checkVerifier('s3cret');                 // throws: plaintext is never accepted
 */
export function checkVerifier(verifier: unknown): string {
  if (typeof verifier !== 'string' || verifier.length > MAX_VERIFIER_LENGTH || !VERIFIER_PATTERN.test(verifier)) {
    throw new AdminError('invalid_verifier', 'the password must reach the agent as a SCRAM-SHA-256 verifier (scramVerifier(password)), never in plaintext');
  }
  return quoteLiteral(verifier);
}
