// startProxy: the listener and each connection's way from accept to a pool — bounds on
// connections that have not authenticated, the handshake, tenant and instance checks, limits,
// waking a suspended instance, and usage taken from live sessions once a second.

import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { ProxyError } from '../errors.js';
import { BackendError, connectBackend, type ServerConnection } from '../backend/connect.js';
import { SqlDirectory, type Directory, type InstanceEntry } from '../directory/directory.js';
import type { ProxyOptions } from '../interfaces.js';
import { authenticationOk, authenticationSaslFinal, backendKeyData, errorResponse, parameterStatus, readyForQuery } from '../protocol/messages.js';
import { Gate } from '../pool/gate.js';
import { spliceSession } from '../pool/session.js';
import type { ClientSession } from '../pool/session-types.js';
import { CachePath, type CacheHub } from '../pool/cache-path.js';
import { revalidateOnce, revalidateOnPool } from '../pool/revalidate.js';
import { loadSqlParser, QueryCache, type QueryCacheStats } from '../cache/index.js';
import { InvalidationFeed } from '../directory/invalidations.js';
import { TransactionClient } from '../pool/transaction/client.js';
import { ServerPool } from '../pool/transaction/server-pool.js';
import { SessionServers } from '../pool/session-servers.js';
import { loadOrCreateCertificate, secureContextOf } from '../tls/certificate.js';
import { CancelRegistry, type CancelTarget } from './cancel.js';
import { handshake, type AuthenticatedClient } from './handshake.js';
import { DEFAULT_FREEZE_AFTER_MS, DEFAULT_STOP_AFTER_MS, IdleTracker } from './idle.js';

/** Defaults of ProxyLimits, each sized for one small host. */
export const DEFAULT_LIMITS = {
  maxClientsPerInstance: 200,
  maxServerConnectionsPerInstance: 20,
  poolWaitTimeoutMs: 10_000,
  maxUnauthenticatedPerSource: 64,
  maxUnauthenticated: 1_024,
  authTimeoutMs: 15_000,
  maxClients: 10_000,
} as const;

/** Usage of live sessions is taken this often (the meter writes it in its own batches). */
const USAGE_TICK_MS = 1_000;
/** Instance statuses that take connections (the server runs, or is being changed in place). */
const CONNECTABLE = new Set(['ACTIVE', 'RESTART_REQUIRED', 'RESIZE']);

/** Startup parameters that do not open server connections of their own in transaction mode (they are cosmetic). */
const COSMETIC_PARAMETERS = new Set(['application_name', 'fallback_application_name']);

/** The parameters transaction-mode server connections are opened with (clients with other ones get other connections). */
function serverParameters(parameters: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(parameters).sort()) if (!COSMETIC_PARAMETERS.has(name)) out[name] = parameters[name]!;
  return out;
}

/** What a client is told once it is in: SASL final, AuthenticationOk, the server's parameters, the proxy's cancel key, ReadyForQuery. */
function helloOf(serverFinal: string, parameters: ReadonlyArray<readonly [string, string]>, key: { processId: number; secretKey: number }): Buffer[] {
  return [authenticationSaslFinal(serverFinal), authenticationOk(), ...parameters.map(([name, value]) => parameterStatus(name, value)), backendKeyData(key.processId, key.secretKey), readyForQuery('I')];
}

/** A running proxy. */
export interface RunningProxy {
  readonly host: string;
  readonly port: number;
  /** Counts now: clients, unauthenticated connections, and per instance clients and server connections. */
  stats(): ProxyStats;
  /** Drops cached answers of an instance that carry one of `tags`; returns how many. */
  invalidateTags(instanceId: string, tags: readonly string[]): number;
  /** The query cache's counters (undefined when the cache is off). */
  cacheStats(): QueryCacheStats | undefined;
  /** Stops accepting, ends every session, closes what it opened. */
  close(): Promise<void>;
}

/** What {@link RunningProxy.stats} returns. */
export interface ProxyStats {
  readonly clients: number;
  readonly unauthenticated: number;
  readonly instances: Readonly<Record<string, { readonly clients: number; readonly serverConnections: number; readonly waiting: number }>>;
  readonly wakes: number;
}

interface LiveSession {
  readonly tenantId: string;
  readonly instanceId: string;
  readonly session: ClientSession;
  lastTickAt: number;
}

/**
 * Starts the proxy: one port for every instance of every tenant.
 *
 * @example
 * ```ts
 * import { startProxy } from '@strata/proxy';
 * const proxy = await startProxy({ database: systemDb, port: 6432, tls: { dir: '/var/lib/strata/proxy' }, power: agent.power });
 * // psql "postgres://app.ins_k3x9p2m7q4r5s6t7:secret@127.0.0.1:6432/app?sslmode=require"
 * await proxy.close();
 * ```
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const directory: Directory | undefined = options.directory ?? (options.database ? new SqlDirectory(options.database) : undefined);
  if (!directory) throw new ProxyError('STRATA_PROXY_INVALID_CONFIG', '58000', 'startProxy needs the system database (database) or a directory of instances (directory)');
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) throw new ProxyError('STRATA_PROXY_INVALID_CONFIG', '58000', `limits.${name} must be a whole number above 0, got ${String(value)}`);
  }
  const logger = options.logger ?? console;
  let tls: SecureContext | undefined;
  if (options.tls) tls = secureContextOf('cert' in options.tls ? options.tls : await loadOrCreateCertificate(options.tls.dir, options.tls.hostNames));
  if (options.requireTls && !tls) throw new ProxyError('STRATA_PROXY_INVALID_CONFIG', '58000', 'requireTls needs tls (a certificate, or a directory to generate one in)');

  await loadSqlParser();
  const hub: CacheHub | undefined = options.cache === false ? undefined : { cache: new QueryCache(options.cache ?? {}), inUse: new Set() };
  // Invalidations by tag through the API (POST /v1/instances/{id}/cache/invalidate) reach every proxy through this table.
  const feed = hub && options.database ? new InvalidationFeed(options.database, (instanceId, tags) => hub.cache.invalidateTags(instanceId, tags), { logger }) : undefined;
  await feed?.poll().catch((error: unknown) => logger.warn('strata proxy: cannot read cache invalidations yet (retried every poll):', error));
  const mockSecret = randomBytes(32);
  const pools = new Map<string, ServerPool>();
  const sessionServers = new SessionServers();
  /** ParameterStatus values of a pool key's server connections, told to its transaction-mode clients at login. */
  const poolParameters = new Map<string, ReadonlyArray<readonly [string, string]>>();
  const cancels = new CancelRegistry();
  const sockets = new Set<Socket>();
  const unauthenticatedBySource = new Map<string, number>();
  let unauthenticated = 0;
  let clients = 0;
  let wakes = 0;
  const sessions = new Set<LiveSession>();
  const serverGates = new Map<string, Gate>();
  const tenantClients = new Map<string, number>();
  const idle = options.power
    ? new IdleTracker(options.power, options.idle?.freezeAfterMs ?? DEFAULT_FREEZE_AFTER_MS, options.idle?.stopAfterMs ?? DEFAULT_STOP_AFTER_MS, async (instanceId, tier) => {
          // A frozen server keeps its connections (thawing is instant); a stopped one loses them.
          if (tier === 'stopped') {
            pools.get(instanceId)?.closeIdle();
            sessionServers.closeIdle(instanceId);
          }
        }, (instanceId, error) => logger.warn(`strata proxy: could not suspend ${instanceId}:`, error), options.idle?.reassertAfterMs)
    : undefined;
  const instanceClients = new Map<string, number>();

  const poolOf = (entry: InstanceEntry): ServerPool => {
    let pool = pools.get(entry.instanceId);
    if (!pool) {
      const instanceId = entry.instanceId;
      pool = new ServerPool(instanceId, () => serverGates.get(instanceId)?.limit ?? limits.maxServerConnectionsPerInstance, limits.poolWaitTimeoutMs);
      pools.set(instanceId, pool);
    }
    return pool;
  };

  const gateOf = (entry: InstanceEntry): Gate => {
    const limit = entry.maxServerConnections ?? limits.maxServerConnectionsPerInstance;
    let gate = serverGates.get(entry.instanceId);
    if (!gate) serverGates.set(entry.instanceId, (gate = new Gate(limit)));
    gate.limit = limit;
    return gate;
  };

  const takeUsage = (live: LiveSession, now: number) => {
    const usage = live.session.takeUsage();
    const connectionMs = Math.max(0, Math.round(now - live.lastTickAt));
    live.lastTickAt = now;
    options.meter?.add(live.tenantId, live.instanceId, { ...usage, connectionMs });
  };
  const usageTimer = setInterval(() => {
    const now = performance.now();
    for (const live of sessions) takeUsage(live, now);
  }, USAGE_TICK_MS);
  usageTimer.unref();

  const fatal = (socket: Socket, error: unknown) => {
    const problem = error instanceof ProxyError ? error : new ProxyError('STRATA_PROXY_PROTOCOL', '08006', `connection failed: ${(error as Error)?.message ?? String(error)}`);
    if (!(error instanceof ProxyError)) logger.warn('strata proxy: connection failed', error);
    if (!socket.destroyed && socket.writable) {
      socket.end(errorResponse({ severity: 'FATAL', sqlstate: problem.sqlstate, message: problem.message, ...(problem instanceof BackendError && problem.detail ? { detail: problem.detail } : {}) }));
      // A client that keeps its side open must not hold the socket: close it once the FATAL is out.
      socket.once('finish', () => socket.destroy());
    } else socket.destroy();
  };

  /** Runs an authenticated client to the end of its session. */
  const serve = async (client: AuthenticatedClient): Promise<void> => {
    const { entry, route } = client;
    if (entry.tenantStatus === 'suspended') throw new ProxyError('STRATA_PROXY_TENANT_SUSPENDED', '57P03', `the tenant of instance ${entry.instanceId} is suspended; its platform admin can resume it (strata tenants resume ${entry.tenantId})`);
    if (!CONNECTABLE.has(entry.status)) throw new ProxyError('STRATA_PROXY_INSTANCE_UNAVAILABLE', '57P03', entry.status === 'STOPPED' ? `instance ${entry.instanceId} is stopped; start it (strata instances start ${entry.instanceId}) and connect again` : `instance ${entry.instanceId} is ${entry.status} and takes no connections now; try again when it is ACTIVE`);
    if (entry.host === null || entry.port === null) throw new ProxyError('STRATA_PROXY_INSTANCE_UNAVAILABLE', '57P03', `instance ${entry.instanceId} has no server address yet; try again when it is ACTIVE`);
    const maxClients = entry.maxClients ?? limits.maxClientsPerInstance;
    if ((instanceClients.get(entry.instanceId) ?? 0) >= maxClients) throw new ProxyError('STRATA_PROXY_TOO_MANY_CLIENTS', '53300', `too many connections for instance ${entry.instanceId} (its limit is ${maxClients}); close idle connections or raise the instance's client limit`);
    if (entry.tenantMaxConnections > 0 && (tenantClients.get(entry.tenantId) ?? 0) >= entry.tenantMaxConnections) throw new ProxyError('STRATA_PROXY_TOO_MANY_CLIENTS', '53300', `too many connections for tenant ${entry.tenantId} (its quota is ${entry.tenantMaxConnections}); close idle connections or ask for a higher quota`);

    const target = { instanceId: entry.instanceId, nodeId: entry.nodeId };
    instanceClients.set(entry.instanceId, (instanceClients.get(entry.instanceId) ?? 0) + 1);
    tenantClients.set(entry.tenantId, (tenantClients.get(entry.tenantId) ?? 0) + 1);
    clients += 1;
    let server: ServerConnection | undefined;
    const gate = gateOf(entry);
    let entered = false;
    let key: { processId: number; secretKey: number } | undefined;
    /** Marks the instance busy (no suspension) and wakes it when the proxy had suspended it (undefined: nothing to wait for). */
    const begin = (): Promise<void> | undefined => {
      const tier = idle?.connected(target);
      if (!options.power || tier === 'running') return undefined;
      wakes += 1;
      return options.power.wake(target);
    };
    const end = () => idle?.disconnected(target);
    let busy = false;
    try {
      let session: ClientSession;
      const parameters = serverParameters(client.parameters);
      /** Where and as whom this client's server connections sign in (SCRAM with the client's key). */
      const signIn = { host: entry.host, port: entry.port, user: route.user, database: route.database, clientKey: client.clientKey, serverKey: client.verifier.serverKey };
      const path = hub && new CachePath({ hub, instanceId: entry.instanceId, role: route.user, database: route.database, variant: JSON.stringify(parameters), rules: () => entry.cacheRules });
      if (entry.poolMode === 'transaction') {
        // Busy only while a transaction holds a server connection: idle clients let the instance sleep.
        const pool = poolOf(entry);
        const poolKey = JSON.stringify([route.user, route.database, parameters]);
        const open = async () => {
          // A new server connection: the instance may have been stopped by someone else (an agent restart keeps it so).
          await options.power?.wake(target);
          return connectBackend({ ...signIn, parameters });
        };
        let told = poolParameters.get(poolKey);
        if (!told) {
          // The first login of a key opens a server connection: it proves the role and database, and tells the parameters.
          await begin();
          try {
            const first = await pool.acquire(poolKey, open);
            told = first.conn.parameters;
            poolParameters.set(poolKey, told);
            pool.release(first);
          } finally {
            end();
          }
        }
        let transactionClient: TransactionClient | undefined;
        key = cancels.register(() => transactionClient?.cancelTarget());
        client.socket.write(Buffer.concat(helloOf(client.serverFinal, told, key)));
        transactionClient = new TransactionClient({
          socket: client.socket, pool, key: poolKey, open, host: entry.host, port: entry.port,
          hooks: { refusal: () => options.guard?.check(entry.tenantId) },
          pending: client.reader.detach(),
          activity: { begin, end },
          ...(path ? { cache: { path, revalidate: (job) => {
            // A refresh would wake a suspended instance: the stale answer stands until it expires.
            if (idle && idle.tierOf(entry.instanceId) !== 'running') return path.finishRevalidation(job, undefined);
            void revalidateOnPool(pool, poolKey, open, path, job);
          } } } : {}),
        });
        session = transactionClient;
      } else {
        // Busy for the whole session: the session holds a server connection.
        busy = true;
        await begin();
        // Always asked: the instance may have been stopped by someone else (an agent restart keeps a suspension).
        await options.power?.wake(target);
        await gate.enter(limits.poolWaitTimeoutMs, `a server connection of instance ${entry.instanceId}`);
        entered = true;
        // A connection an earlier session of the same role, database and parameters left idle (reset), else a new one.
        const sessionKey = JSON.stringify([route.user, route.database, Object.entries(client.parameters).sort()]);
        const backend = { ...signIn, parameters: client.parameters };
        server = sessionServers.take(entry.instanceId, sessionKey) ?? (await connectBackend(backend));
        const reuse = (conn: ServerConnection) => sessionServers.park(entry.instanceId, sessionKey, conn, () => gate.held + sessionServers.idle(entry.instanceId) <= gate.limit);
        const cancelTarget: CancelTarget = { host: entry.host, port: entry.port, processId: server.processId, secretKey: server.secretKey };
        key = cancels.register(() => cancelTarget);
        client.socket.write(Buffer.concat(helloOf(client.serverFinal, server.parameters, key)));
        session = spliceSession(client.socket, server, client.reader.detach(), { refusal: () => options.guard?.check(entry.tenantId) }, path && { path, revalidate: (job) => void revalidateOnce(() => connectBackend(backend), path, job) }, reuse);
      }
      const live: LiveSession = { tenantId: entry.tenantId, instanceId: entry.instanceId, session, lastTickAt: performance.now() };
      sessions.add(live);
      await session.closed;
      sessions.delete(live);
      takeUsage(live, performance.now());
    } finally {
      if (key) cancels.unregister(key.processId);
      if (entered) gate.leave();
      instanceClients.set(entry.instanceId, (instanceClients.get(entry.instanceId) ?? 1) - 1);
      tenantClients.set(entry.tenantId, (tenantClients.get(entry.tenantId) ?? 1) - 1);
      clients -= 1;
      if (busy) end();
    }
  };

  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const source = socket.remoteAddress ?? 'unknown';
    const fromSource = unauthenticatedBySource.get(source) ?? 0;
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    if (fromSource >= limits.maxUnauthenticatedPerSource || unauthenticated >= limits.maxUnauthenticated || clients >= limits.maxClients) {
      fatal(socket, new ProxyError('STRATA_PROXY_TOO_MANY_CLIENTS', '53300', 'too many connections are opening at once; try again shortly'));
      return;
    }
    unauthenticatedBySource.set(source, fromSource + 1);
    unauthenticated += 1;
    let counted = true;
    const settle = () => {
      if (!counted) return;
      counted = false;
      unauthenticated -= 1;
      const left = (unauthenticatedBySource.get(source) ?? 1) - 1;
      if (left <= 0) unauthenticatedBySource.delete(source);
      else unauthenticatedBySource.set(source, left);
    };
    // The socket to answer on: the TLS one once TLS is up (a FATAL in plaintext would break the TLS stream).
    const current = { socket };
    const timer = setTimeout(() => fatal(current.socket, new ProxyError('STRATA_PROXY_PROTOCOL', '08006', `authentication did not finish within ${limits.authTimeoutMs} ms`)), limits.authTimeoutMs);
    void (async () => {
      try {
        const result = await handshake(socket, { directory, tls, requireTls: options.requireTls ?? false, mockSecret }, current);
        clearTimeout(timer);
        settle();
        if ('kind' in result) {
          cancels.cancel(result.processId, result.secretKey);
          socket.end();
          return;
        }
        await serve(result);
      } catch (error) {
        clearTimeout(timer);
        settle();
        fatal(current.socket, error);
      }
    })();
  };

  const server: Server = createServer({ noDelay: true, pauseOnConnect: false }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ProxyError('STRATA_PROXY_INVALID_CONFIG', '58000', `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${error.message}`)));
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  server.on('error', (error) => logger.error('strata proxy: listener error', error));
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    host: address.address,
    port: address.port,
    invalidateTags: (instanceId, tags) => hub?.cache.invalidateTags(instanceId, tags) ?? 0,
    cacheStats: () => hub?.cache.stats(),
    stats: () => {
      const instances: Record<string, { clients: number; serverConnections: number; waiting: number }> = {};
      for (const [instanceId, count] of instanceClients) {
        const gate = serverGates.get(instanceId);
        const pool = pools.get(instanceId);
        const serverConnections = (gate?.held ?? 0) + sessionServers.idle(instanceId) + (pool?.open ?? 0);
        if (count > 0 || serverConnections > 0) instances[instanceId] = { clients: count, serverConnections, waiting: (gate?.waiting ?? 0) + (pool?.waiting ?? 0) };
      }
      return { clients, unauthenticated, instances, wakes };
    },
    close: () => {
      closing ??= (async () => {
        clearInterval(usageTimer);
        idle?.close();
        await feed?.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const shutdown = new ProxyError('STRATA_PROXY_INSTANCE_UNAVAILABLE', '57P01', 'the proxy is shutting down');
        for (const gate of serverGates.values()) gate.rejectAll(shutdown);
        for (const live of sessions) live.session.close();
        for (const pool of pools.values()) pool.close(shutdown);
        sessionServers.close();
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
