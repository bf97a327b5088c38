// The proxy-settings API's reads and changes, free of HTTP: an instance's pool mode, limits and
// cache rules, and cache invalidations by tag.
import type { Database } from '@strata/store';
import { requireInstance, type InstanceRow } from '../instances/index.js';
import type { RecordInTransaction } from '../http/index.js';
import { insertInvalidation, pruneInvalidations } from './sql/invalidations.js';
import { selectProxySettings, updateProxySettings, type ProxySettings, type ProxySettingsChange } from './sql/settings.js';

/** One failing field of a settings change, in the shape of the API's schema errors (`body.maxServerConnections`). */
export interface ProxySettingsIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * A settings change that passed the schema but cannot apply to this instance: `400
 * invalid_request` with `details.issues`, like a schema error.
 *
 * @example
 * throw new ProxySettingsError([{ path: 'body.maxServerConnections', message: 'at most 20 …' }]);
 */
export class ProxySettingsError extends Error {
  override readonly name = 'ProxySettingsError';
  readonly status = 400;
  readonly code = 'invalid_request';
  constructor(readonly issues: readonly ProxySettingsIssue[]) {
    super(`the settings cannot apply to this instance — ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`);
  }
}

/** What a change would break on this instance, beyond the schema's bounds. */
function problemsOf(instance: InstanceRow, change: ProxySettingsChange): ProxySettingsIssue[] {
  const issues: ProxySettingsIssue[] = [];
  // The server refuses connections past its max_connections: more in the proxy's pool would only fail.
  if (typeof change.maxServerConnections === 'number' && change.maxServerConnections > instance.maxConnections) {
    issues.push({
      path: 'body.maxServerConnections',
      message: `maxServerConnections is ${change.maxServerConnections}, but instance ${instance.name} (flavor ${instance.flavor}) takes at most ${instance.maxConnections} connections; choose at most ${instance.maxConnections}, or resize it to a larger flavor first`,
    });
  }
  return issues;
}

/**
 * An instance's settings in the proxy, by ID or name, in the tenant.
 *
 * @throws {InstanceError} `404 not_found` for no such instance in this tenant (another tenant's included).
 * @example
 * const settings = await proxySettingsOf(db, 'ten_1', 'orders-db');
 * // { poolMode: 'session', maxClients: null, maxServerConnections: null, cacheRules: [] }
 */
export async function proxySettingsOf(db: Database, tenantId: string, ref: string): Promise<ProxySettings> {
  const instance = await requireInstance(db, tenantId, ref);
  const settings = await selectProxySettings(db, instance.instanceId);
  if (settings === undefined) throw new Error(`invariant: instance ${instance.instanceId} was just read, and instance rows are never deleted`);
  return settings;
}

/**
 * Changes an instance's settings (fields left out keep theirs; a null limit returns to the proxy's
 * default) under the instance's row lock, recording the audit row in the same commit. The proxy
 * reads them for each new connection (its directory caches an instance for a second); connections
 * already open keep the pool mode they started with.
 *
 * @throws {InstanceError} `404 not_found`; {@link ProxySettingsError} `400` for limits the instance cannot take.
 * @example
 * await changeProxySettings(db, 'ten_1', 'orders-db', { poolMode: 'transaction', maxServerConnections: 10 });
 */
export async function changeProxySettings(db: Database, tenantId: string, ref: string, change: ProxySettingsChange, record?: RecordInTransaction): Promise<ProxySettings> {
  return db.transaction(async (tx) => {
    const instance = await requireInstance(tx, tenantId, ref, true);
    const issues = problemsOf(instance, change);
    if (issues.length > 0) throw new ProxySettingsError(issues);
    const settings = await updateProxySettings(tx, instance.instanceId, change);
    await record?.(tx);
    return settings;
  });
}

/**
 * Records an invalidation of the instance's cached results carrying any of `tags` (every proxy
 * applies it within its poll interval), and prunes invalidation rows past their retention in the
 * same commit. Returns the invalidation's id.
 *
 * @throws {InstanceError} `404 not_found`.
 * @example
 * const { invalidationId } = await invalidateCache(db, 'ten_1', 'orders-db', ['catalog']); // '42'
 */
export async function invalidateCache(db: Database, tenantId: string, ref: string, tags: readonly string[], record?: RecordInTransaction): Promise<{ readonly invalidationId: string; readonly instanceId: string }> {
  return db.transaction(async (tx) => {
    const instance = await requireInstance(tx, tenantId, ref);
    const invalidationId = await insertInvalidation(tx, instance.instanceId, [...new Set(tags)]);
    await pruneInvalidations(tx);
    await record?.(tx);
    return { invalidationId, instanceId: instance.instanceId };
  });
}
