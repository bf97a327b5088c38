// What the proxy needs to know of an instance to let a client in: where it runs, its tenant and
// their status, its pool mode and limits, and the SCRAM verifier of each login role — read from the
// control plane's tables (strata_cloud.instances, instance_users, tenants), briefly cached.

import type { Queryable } from '@strata/store';
import { parseVerifier, type ScramVerifier } from '../auth/scram.js';
import { validateCacheRules, type CacheRule } from '../cache/index.js';

/** One instance as the proxy sees it. */
export interface InstanceEntry {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly tenantStatus: 'active' | 'suspended';
  /** The tenant's quota of connections (tenants.max_connections): client connections through the proxy. */
  readonly tenantMaxConnections: number;
  /** The control plane's status: only ACTIVE, RESTART_REQUIRED and RESIZE instances take connections. */
  readonly status: string;
  readonly nodeId: string;
  readonly host: string | null;
  readonly port: number | null;
  readonly poolMode: 'session' | 'transaction';
  readonly maxClients: number | null;
  readonly maxServerConnections: number | null;
  /** The instance's query cache rules (validated; [] when none or invalid). */
  readonly cacheRules: readonly CacheRule[];
  /** Role name → verifier (roles the API made). */
  readonly verifiers: ReadonlyMap<string, ScramVerifier>;
}

/** How the proxy finds instances (the SQL one below; tests may give their own). */
export interface Directory {
  /** The instance, or undefined when there is none with that ID (deleted ones included). */
  lookup(instanceId: string): Promise<InstanceEntry | undefined>;
  /** Forgets a cached entry (after a failed login, so a changed password is seen at once). */
  forget(instanceId: string): void;
}

/** How long an entry is reused: a password change or a suspension is seen within this. */
export const DIRECTORY_TTL_MS = 1_000;
/** Entries kept: one per instance that was connected to in the last TTL; beyond it the oldest go. */
const MAX_CACHED_ENTRIES = 10_000;

const LOOKUP_SQL = `
select i.instance_id, i.tenant_id, coalesce(t.status, 'active') as tenant_status, coalesce(t.max_connections, 0) as tenant_max_connections, i.status, i.node_id, i.host, i.port,
       i.pool_mode, i.proxy_max_clients, i.proxy_max_server_connections,
       -- Read through to_jsonb so a system database without the column (older schema) still answers.
       coalesce(to_jsonb(i) -> 'cache_rules', '[]'::jsonb) as cache_rules,
       coalesce((select json_agg(json_build_array(u.name, u.verifier)) from strata_cloud.instance_users u where u.instance_id = i.instance_id), '[]') as users
  from strata_cloud.instances i
  left join strata_cloud.tenants t on t.tenant_id = i.tenant_id
 where i.instance_id = $1 and i.status <> 'DELETED'`;

/**
 * The control plane's tables as a {@link Directory}, with a {@link DIRECTORY_TTL_MS} cache.
 *
 * @example
 * ```ts
 * const directory = new SqlDirectory(db);
 * const entry = await directory.lookup('ins_k3x9p2m7q4r5s6t7');
 * entry?.verifiers.get('app');
 * ```
 */
export class SqlDirectory implements Directory {
  readonly #cache = new Map<string, { entry: InstanceEntry | undefined; at: number }>();
  readonly #inflight = new Map<string, Promise<InstanceEntry | undefined>>();

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = DIRECTORY_TTL_MS,
  ) {}

  lookup(instanceId: string): Promise<InstanceEntry | undefined> {
    const cached = this.#cache.get(instanceId);
    if (cached && Date.now() - cached.at < this.ttlMs) return Promise.resolve(cached.entry);
    let pending = this.#inflight.get(instanceId);
    if (!pending) {
      pending = this.#load(instanceId).finally(() => this.#inflight.delete(instanceId));
      this.#inflight.set(instanceId, pending);
    }
    return pending;
  }

  forget(instanceId: string): void {
    this.#cache.delete(instanceId);
  }

  async #load(instanceId: string): Promise<InstanceEntry | undefined> {
    const { rows } = await this.db.query(LOOKUP_SQL, [instanceId], { prepare: true });
    const row = rows[0];
    let entry: InstanceEntry | undefined;
    if (row) {
      const verifiers = new Map<string, ScramVerifier>();
      const users = (typeof row.users === 'string' ? JSON.parse(row.users) : row.users) as [string, string][];
      for (const [name, text] of users) {
        const verifier = parseVerifier(text);
        if (verifier) verifiers.set(name, verifier);
      }
      entry = {
        instanceId: row.instance_id as string,
        tenantId: row.tenant_id as string,
        tenantStatus: row.tenant_status === 'suspended' ? 'suspended' : 'active',
        tenantMaxConnections: Number(row.tenant_max_connections),
        status: row.status as string,
        nodeId: row.node_id as string,
        host: (row.host as string | null) ?? null,
        port: row.port === null || row.port === undefined ? null : Number(row.port),
        poolMode: row.pool_mode === 'transaction' ? 'transaction' : 'session',
        maxClients: row.proxy_max_clients === null || row.proxy_max_clients === undefined ? null : Number(row.proxy_max_clients),
        maxServerConnections: row.proxy_max_server_connections === null || row.proxy_max_server_connections === undefined ? null : Number(row.proxy_max_server_connections),
        verifiers,
        cacheRules: rulesOf(row.cache_rules),
      };
    }
    if (this.#cache.size >= MAX_CACHED_ENTRIES) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(instanceId, { entry, at: Date.now() });
    return entry;
  }
}

/** Stored rules, validated as the proxy applies them; invalid ones are ignored (the API validates on write). */
function rulesOf(value: unknown): readonly CacheRule[] {
  const rules = typeof value === 'string' ? JSON.parse(value) : value;
  if (!Array.isArray(rules) || rules.length === 0) return [];
  try {
    return validateCacheRules(rules as CacheRule[]);
  } catch {
    return [];
  }
}
