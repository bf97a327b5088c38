/**
 * Flag values of the cloud commands that the CLI checks itself before calling the API. Names,
 * flavors and parameter values are checked by the server (one set of rules, one message).
 */
import { UsageError } from '../../errors.js';

/** `--param key=value` values (repeatable) → `{ key: 'value' }`. */
export function parseParameters(raw: readonly string[] | undefined, flag = '--param'): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const pair of raw ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} ${JSON.stringify(pair)} is not name=value; write e.g. ${flag} work_mem=8MB (repeat ${flag} for several)`);
    const name = pair.slice(0, at).trim();
    if (Object.hasOwn(parameters, name)) throw new UsageError(`${flag} ${name} is given twice; give each parameter once`);
    parameters[name] = pair.slice(at + 1);
  }
  return parameters;
}

/** Collects a repeatable flag's values (commander's option argument parser). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Grant privileges a user can get on a database. */
export const PRIVILEGES = ['all', 'read'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** `--privilege` → `all` | `read` (default `all`). */
export function parsePrivilege(raw: string | undefined): Privilege {
  const value = (raw ?? 'all').trim().toLowerCase();
  if (!(PRIVILEGES as readonly string[]).includes(value)) throw new UsageError(`--privilege ${JSON.stringify(raw)} is not valid; valid: ${PRIVILEGES.join(', ')}`);
  return value as Privilege;
}
