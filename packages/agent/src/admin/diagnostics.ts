// Read-only views of an instance: the tail of its server log and its parameter catalogue (pg_settings).
import { settingsCatalogue as readCatalogue, type ManagedCluster } from '@strata/postgres';
import { serverMajorVersion } from '../jobs/server-version.js';
import type { AdminResults, CatalogueSetting } from './actions.js';
import { AdminError } from './errors.js';

/**
 * Most log lines one call returns: enough to see a crash and what led to it, small enough
 * (~100 KiB at typical line lengths) to travel as one job output through the system database.
 */
export const MAX_ADMIN_LOG_LINES = 1_000;

/**
 * The last `lines` lines of the instance's server log, oldest first.
 *
 * @throws {AdminError} `invalid_log_lines` when `lines` is not an integer in 1..{@link MAX_ADMIN_LOG_LINES}.
 *
 * @example
 * const { lines } = await logTail(cluster, 50);
 */
export async function logTail(cluster: Pick<ManagedCluster, 'logTail'>, lines: number): Promise<AdminResults['logTail']> {
  if (!Number.isInteger(lines) || lines < 1 || lines > MAX_ADMIN_LOG_LINES) {
    throw new AdminError('invalid_log_lines', `lines must be an integer from 1 to ${MAX_ADMIN_LOG_LINES}, got ${JSON.stringify(lines)}`);
  }
  return { lines: (await cluster.logTail(lines)).slice(-lines) };
}

/**
 * The server's own parameter catalogue: each setting's type, unit, bounds, enum values, whether
 * it needs a restart, its context and its built-in default. The control plane validates
 * configuration groups against it (and caches it per major version).
 *
 * @example
 * const { majorVersion, settings } = await settingsCatalogue(cluster);
 * settings.find((s) => s.name === 'work_mem'); // { vartype: 'integer', unit: 'kB', min: 64, max: 2147483647, … }
 */
export async function settingsCatalogue(cluster: ManagedCluster): Promise<AdminResults['settingsCatalogue']> {
  const [majorVersion, settings, extra] = [
    await serverMajorVersion(cluster),
    await readCatalogue(cluster),
    await cluster.query<{ name: string; boot_val: string | null; context: string }>('select name, boot_val, context from pg_settings'),
  ];
  const byName = new Map(extra.map((row) => [row.name, row]));
  const merged: CatalogueSetting[] = settings.map((setting) => ({
    ...setting,
    defaultValue: byName.get(setting.name)?.boot_val ?? null,
    context: byName.get(setting.name)?.context ?? 'internal',
  }));
  return { majorVersion, settings: merged };
}
