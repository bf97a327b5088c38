// The server's own parameter catalogue (pg_settings), in the shape configuration groups are
// validated against.

import type { ManagedCluster } from './managed-cluster.js';

/**
 * One PostgreSQL parameter as the running server describes it.
 *
 * @example
 * ```ts
 * // { name: 'work_mem', vartype: 'integer', unit: 'kB', min: 64, max: 2147483647, enumValues: null, restartRequired: false }
 * ```
 */
export interface SettingInfo {
  readonly name: string;
  readonly vartype: 'bool' | 'enum' | 'integer' | 'real' | 'string';
  /** The unit of `min`/`max` and of a bare number (`kB`, `8kB`, `ms`, `s`, …); null when unitless. */
  readonly unit: string | null;
  readonly min: number | null;
  readonly max: number | null;
  /** The allowed values of an `enum` setting; null for the others. */
  readonly enumValues: string[] | null;
  /** Changing it takes a server restart (pg_settings.context = 'postmaster'). */
  readonly restartRequired: boolean;
}

interface SettingRow extends Record<string, unknown> {
  name: string;
  vartype: SettingInfo['vartype'];
  unit: string | null;
  min_val: string | null;
  max_val: string | null;
  enumvals: string[] | null;
  context: string;
}

/**
 * Every parameter of the running server, sorted by name, from pg_settings.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_UNAVAILABLE` when the server is not running.
 *
 * @example
 * ```ts
 * const catalogue = await settingsCatalogue(cluster);
 * const sharedBuffers = catalogue.find((setting) => setting.name === 'shared_buffers'); // restartRequired: true
 * ```
 */
export async function settingsCatalogue(cluster: ManagedCluster): Promise<SettingInfo[]> {
  const rows = await cluster.query<SettingRow>('select name, vartype, unit, min_val, max_val, enumvals, context from pg_settings order by name');
  return rows.map((row) => ({
    name: row.name,
    vartype: row.vartype,
    unit: row.unit,
    min: row.min_val === null ? null : Number(row.min_val),
    max: row.max_val === null ? null : Number(row.max_val),
    enumValues: row.enumvals,
    restartRequired: row.context === 'postmaster',
  }));
}
