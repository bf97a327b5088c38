// SQL of an instance's proxy settings: its pool mode and limits (migration 12) and its cache rules
// (migration 14), columns of strata_cloud.instances that the proxy's directory reads.
import type { Queryable } from '@strata/store';

/** One standing cache rule (the proxy's `CacheRule`), as stored. */
export interface CacheRule {
  readonly tables: readonly string[];
  readonly ttlMs: number;
  readonly swrMs: number;
  readonly tags?: readonly string[];
}

/** How the proxy pools an instance's server connections. */
export type PoolMode = 'session' | 'transaction';

/** An instance's settings in the proxy; null limits: the proxy's defaults. */
export interface ProxySettings {
  readonly poolMode: PoolMode;
  readonly maxClients: number | null;
  readonly maxServerConnections: number | null;
  readonly cacheRules: readonly CacheRule[];
}

/** A change of settings: a field left out keeps its value, a null limit returns to the proxy's default. */
export interface ProxySettingsChange {
  readonly poolMode?: PoolMode;
  readonly maxClients?: number | null;
  readonly maxServerConnections?: number | null;
  readonly cacheRules?: readonly CacheRule[];
}

type SettingsRow = { pool_mode: string; proxy_max_clients: number | string | null; proxy_max_server_connections: number | string | null; cache_rules: unknown };

const COLUMNS = 'pool_mode, proxy_max_clients, proxy_max_server_connections, cache_rules';

const nullableNumber = (value: number | string | null): number | null => (value === null ? null : Number(value));

function toSettings(row: SettingsRow): ProxySettings {
  const rules = typeof row.cache_rules === 'string' ? JSON.parse(row.cache_rules) : row.cache_rules;
  if (!Array.isArray(rules)) throw new Error(`invariant: instances.cache_rules is a JSON array (its check constraint), got ${JSON.stringify(rules)}`);
  return {
    poolMode: row.pool_mode === 'transaction' ? 'transaction' : 'session',
    maxClients: nullableNumber(row.proxy_max_clients),
    maxServerConnections: nullableNumber(row.proxy_max_server_connections),
    cacheRules: rules as CacheRule[],
  };
}

/**
 * The settings of an instance, or undefined when there is no row with that ID.
 *
 * @example
 * const settings = await selectProxySettings(db, 'ins_k3x9p2m7q4r5s6t7');
 * settings?.poolMode; // 'session'
 */
export async function selectProxySettings(db: Queryable, instanceId: string): Promise<ProxySettings | undefined> {
  const { rows } = await db.query<SettingsRow>(`select ${COLUMNS} from strata_cloud.instances where instance_id = $1`, [instanceId]);
  return rows[0] === undefined ? undefined : toSettings(rows[0]);
}

/**
 * Applies a change to an instance's settings (fields left out keep theirs) and returns them as
 * they now are.
 *
 * @example
 * await updateProxySettings(tx, 'ins_k3x9p2m7q4r5s6t7', { poolMode: 'transaction', maxClients: null });
 */
export async function updateProxySettings(tx: Queryable, instanceId: string, change: ProxySettingsChange): Promise<ProxySettings> {
  const { rows } = await tx.query<SettingsRow>(
    `update strata_cloud.instances set
       pool_mode = case when $2::boolean then $3::text else pool_mode end,
       proxy_max_clients = case when $4::boolean then $5::integer else proxy_max_clients end,
       proxy_max_server_connections = case when $6::boolean then $7::integer else proxy_max_server_connections end,
       cache_rules = case when $8::boolean then $9::jsonb else cache_rules end,
       updated_at = now()
     where instance_id = $1
     returning ${COLUMNS}`,
    [
      instanceId,
      change.poolMode !== undefined,
      change.poolMode ?? null,
      change.maxClients !== undefined,
      change.maxClients ?? null,
      change.maxServerConnections !== undefined,
      change.maxServerConnections ?? null,
      change.cacheRules !== undefined,
      JSON.stringify(change.cacheRules ?? []),
    ],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`invariant: instance ${instanceId} was locked by this transaction before its settings changed, so its row is there`);
  return toSettings(row);
}
