// Names and IDs: instance names (DNS labels), database and user names, instance and operation IDs.
import { randomBytes } from 'node:crypto';

/** Instance names are DNS labels, so they can become host names later. */
export const INSTANCE_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Database and user names: lower-case SQL identifiers, no quoting needed anywhere. */
export const SQL_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Names PostgreSQL or the platform keep for themselves. */
const RESERVED_SQL_NAMES = new Set(['postgres', 'template0', 'template1', 'strata_admin', 'public', 'none', 'current_user', 'session_user', 'current_role']);

/** Why an instance name is not valid, or undefined when it is. */
export function instanceNameProblem(name: string): string | undefined {
  if (INSTANCE_NAME_PATTERN.test(name)) return undefined;
  return `instance name ${JSON.stringify(name)} is not a DNS label: use 1-63 lower-case letters, digits and dashes, starting with a letter and not ending with a dash (e.g. "orders-db")`;
}

/** Why a database or user name is not valid, or undefined when it is. */
export function sqlNameProblem(name: string, what: 'database' | 'user'): string | undefined {
  if (!SQL_NAME_PATTERN.test(name)) return `${what} name ${JSON.stringify(name)} must be 1-63 lower-case letters, digits and underscores, not starting with a digit (e.g. "app")`;
  if (RESERVED_SQL_NAMES.has(name) || name.startsWith('pg_')) return `${what} name ${JSON.stringify(name)} is reserved; choose another`;
  return undefined;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `count` random base32 characters (lower case). */
function randomBase32(count: number): string {
  const bytes = randomBytes(count);
  let out = '';
  for (const byte of bytes) out += BASE32[byte & 31];
  return out;
}

/**
 * A new instance ID: `ins_` and 16 random base32 characters (80 bits).
 *
 * @example
 * newInstanceId(); // 'ins_k3x9…'
 */
export function newInstanceId(): string {
  return `ins_${randomBase32(16)}`;
}

/**
 * A new backup ID: `bak_` and 16 random base32 characters.
 *
 * @example
 * newBackupId(); // 'bak_q2m7…'
 */
export function newBackupId(): string {
  return `bak_${randomBase32(16)}`;
}

/** The workflow ID of a new operation on an instance: `<instanceId>.<kind>.<random>`. */
export function newOperationId(instanceId: string, kind: string): string {
  return `${instanceId}.${kind}.${randomBase32(8)}`;
}
