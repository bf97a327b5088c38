// createControlPlane: the system database, its migrations, the Strata engine, the API with every
// module, the first start's bootstrap, and the listening server — composed, nothing more.

import type { Database } from '@strata/store';
import { DEFAULT_EMBEDDED_DIR, loadMigrations, migrate, openDatabase } from '@strata/store';
import { Strata, StrataClient } from '@strata/transact';
import { auditModule } from './audit/routes.js';
import { createApiApp, finishApiApp } from './http/app.js';
import { allowedHostsFor, hostHeaderOf, isHostName, isLoopbackAddress } from './http/hosts.js';
import { listen } from './http/listen.js';
import type { ApiModule } from './http/types.js';
import { assertStrictBodies } from './http/validation.js';
import { startNodeLiveness } from './instances/liveness.js';
import { bootstrap } from './tenancy/bootstrap.js';
import { tenancyModule } from './tenancy/routes.js';

/** The migrations component of the control plane's tables (schema `strata_cloud`). */
export const MIGRATION_COMPONENT = 'control-plane';

/** Executor ID and application version of the control plane's engine, unless configured. */
const DEFAULT_EXECUTOR_ID = 'control-plane';

/** Options of {@link createControlPlane}. */
export interface ControlPlaneOptions {
  /** The system database: a PGlite directory (default `./.strata`), a `postgres://` URL, or a `Database` the caller owns. */
  readonly database?: string | Database;
  /** Where to listen. Default `127.0.0.1`, port 0 (a free one). Beyond loopback every call still needs a key; put TLS in front. */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** Route modules (instances, instance admin, …); tenants, keys and audit are always there. */
  readonly modules?: readonly ApiModule[];
  /** `Host` names answered besides the loopback ones, e.g. a proxy's `api.example.com`. */
  readonly allowedHosts?: readonly string[];
  /** Executor ID and app version of the engine. Default `control-plane`. */
  readonly executorId?: string;
  /** Where the first start's admin key is printed. Default `console`. */
  readonly logger?: { info(message: string): void; warn(message: string): void };
}

/** A running control plane. */
export interface ControlPlane {
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly strata: Strata;
  readonly client: StrataClient;
  readonly db: Database;
  /** The platform admin key when this start created it (the first start on an empty schema); shown once. */
  readonly bootstrapKey: string | undefined;
  /** Stops listening, shuts the engine down, and closes the database if it opened it. */
  close(): Promise<void>;
}

/**
 * Starts the control plane: opens the system database, applies its migrations, creates a Strata
 * engine for the modules' workflows, mounts the API (tenants, keys, audit and `modules`), launches
 * the engine, bootstraps an empty schema (platform tenant + first admin key, printed once) and listens.
 *
 * @example
 * const cp = await createControlPlane({ database: './.strata', listen: { port: 8080 }, modules: [instancesModule] });
 * if (cp.bootstrapKey) console.log(`admin key: ${cp.bootstrapKey}`);
 * // curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/tenant
 * await cp.close();
 */
export async function createControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const host = options.listen?.host ?? '127.0.0.1';
  const port = options.listen?.port ?? 0;
  const extraHosts = options.allowedHosts ?? [];
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new TypeError(`listen.port must be a whole number from 0 to 65535, got ${String(port)}`);
  if (!Array.isArray(extraHosts) || !extraHosts.every((name) => typeof name === 'string' && isHostName(name))) {
    throw new TypeError(`allowedHosts must be host names such as ["api.example.com"] or ["api.internal:8080"], got ${JSON.stringify(extraHosts)}`);
  }
  const logger = options.logger ?? { info: (message: string) => console.log(message), warn: (message: string) => console.warn(message) };
  const executorId = options.executorId ?? DEFAULT_EXECUTOR_ID;
  const ownsDatabase = typeof options.database !== 'object';
  const db = typeof options.database === 'object' ? options.database : await openDatabase(options.database ?? DEFAULT_EMBEDDED_DIR);
  const cleanups: Array<() => Promise<void>> = ownsDatabase ? [() => db.close()] : [];
  try {
    await migrate(db, MIGRATION_COMPONENT, loadMigrations(new URL('../migrations/', import.meta.url)));
    const strata = new Strata({ database: db, executorId, appVersion: executorId });
    const client = await StrataClient.connect({ database: db });
    cleanups.unshift(() => client.close());
    let allowedHosts: ReadonlySet<string> | undefined;
    const app = createApiApp({ db, allowedHosts: () => allowedHosts });
    const deps = { db, strata, client };
    for (const module of [tenancyModule, auditModule, ...(options.modules ?? [])]) module(app, deps);
    finishApiApp(app);
    assertStrictBodies(app);
    await strata.launch();
    cleanups.unshift(() => strata.shutdown());
    // Instances of nodes that stop heartbeating show as UNKNOWN until they return (src/instances/).
    const liveness = startNodeLiveness(db, { logger });
    cleanups.unshift(() => liveness.stop());
    const bootstrapped = await bootstrap(db);
    const server = await listen(app.fetch, { host, port });
    cleanups.unshift(() => server.close());
    allowedHosts = allowedHostsFor({ boundAddress: server.address.address, port: server.address.port, extraHosts });
    const url = `http://${hostHeaderOf(server.address.address, server.address.port)}`;
    if (bootstrapped !== undefined) {
      logger.info(`strata control plane: first start — created the platform tenant ${bootstrapped.tenantId} and its admin key (shown once, keep it): ${bootstrapped.token}`);
    }
    if (!isLoopbackAddress(server.address.address)) {
      logger.warn(`strata control plane: listening on ${url}, beyond loopback; every call needs an API key, but keys travel in clear text without TLS — put a TLS proxy in front`);
    }
    let closing: Promise<void> | undefined;
    return {
      url,
      strata,
      client,
      db,
      bootstrapKey: bootstrapped?.token,
      close: () => (closing ??= runAll(cleanups)),
    };
  } catch (error) {
    await runAll(cleanups).catch(() => {});
    throw error;
  }
}

/** Runs every cleanup in order, even after one fails; rethrows the first failure. */
async function runAll(cleanups: ReadonlyArray<() => Promise<void>>): Promise<void> {
  let first: unknown;
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch (error) {
      first ??= error;
    }
  }
  if (first !== undefined) throw first;
}
