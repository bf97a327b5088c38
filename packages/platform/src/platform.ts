// startPlatform: the database service in one process — the control plane on an embedded PGlite
// system database, one node agent sharing that database, the proxy in front of its instances, and
// the console — composed, nothing more.
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { startAgent, type AgentOptions, type NodeCapacity, type RunningAgent } from '@strata/agent';
import { startConsole, type RunningConsole } from '@strata/console';
import { alertsModule, backupsModule, createControlPlane, monitoringModule, proxySettingsModule, usageModule, findFlavor, flavorLimits, flavorSettings, instanceAdminModule, instancesModule, type ControlPlane, type Flavor } from '@strata/control-plane';
import { CapGuard, Meter, startProxy, type IdleOptions, type RunningProxy } from '@strata/proxy';
import { DatabaseLockedError, openDatabase, type Database } from '@strata/store';
import { PlatformError } from './errors.js';
import { LOCAL_NODE_ID, platformLayout, type PlatformLayout } from './layout.js';

/** Where the API listens unless told otherwise: the CLI's default `--api-url` (http://127.0.0.1:7070). */
export const DEFAULT_API_PORT = 7070;
/** Where the console listens unless told otherwise (the orders example's port too). */
export const DEFAULT_CONSOLE_PORT = 4000;
/** The proxy's port by default (PgBouncer's, a port Postgres clients are used to), or a free one when that is taken. */
export const DEFAULT_PROXY_PORT = 6432;
/**
 * Started spare instances the platform's agent keeps (see @strata/agent's spares): a create claims
 * one instead of copying and starting a cluster, which is what brings create → first query near
 * 100 ms. Two keep a burst of two creates fast for ~20 MB of idle servers.
 */
export const DEFAULT_PLATFORM_SPARES = 2;
/** The flavor the spares start with (the demo's, and the smallest): a create of it claims one without a restart. */
const SPARE_FLAVOR = 'tiny';
/** The interface everything listens on: loopback, so nothing is reachable from elsewhere. */
const LOOPBACK = '127.0.0.1';

/** Options of {@link startPlatform}. */
export interface PlatformOptions {
  /** The platform's directory: `system/` (PGlite), `node-local/` (instances), `demo.json`. Created if missing. */
  readonly dataDir: string;
  /** The API's port. Default {@link DEFAULT_API_PORT}, or a free one when that is taken; 0: a free one. */
  readonly apiPort?: number;
  /** The console's port. Default {@link DEFAULT_CONSOLE_PORT}, or a free one when that is taken; 0: a free one; `false`: no console. */
  readonly consolePort?: number | false;
  /** The agent's root (its template and instances). Default `<dataDir>/node-local`. */
  readonly rootDir?: string;
  /** What the agent offers placement. Default: the agent's (3/4 of the memory, 100 instances). */
  readonly capacity?: NodeCapacity;
  /** The agent's started spare instances (a create claims one: fast) and ready template copies. Default: {@link DEFAULT_PLATFORM_SPARES} spares. */
  readonly agent?: Pick<AgentOptions, 'spares' | 'spareSettings' | 'warmCopies' | 'heartbeatIntervalMs'>;
  /**
   * Backups of every instance (WAL archiving, a first full backup after create, restores and
   * forks) into `<dataDir>/backups` with pgBackRest (installed with apt-get when missing, as
   * root). Default true; false: instances archive nothing and the backup routes answer 409.
   */
  readonly backups?: boolean;
  /**
   * The Postgres wire-protocol proxy: one port for every instance (TLS with a certificate
   * generated in `<dataDir>/proxy`, SCRAM, pooling, scale to zero, metering, caps, the query
   * cache). `port`: default {@link DEFAULT_PROXY_PORT} (or the one the last start took, or a free
   * one); `idle`: when idle instances are frozen and stopped. `false`: no proxy.
   */
  readonly proxy?: { readonly port?: number; readonly idle?: IdleOptions } | false;
  /** Where the parts log. Default `console`. */
  readonly logger?: { info(message: string): void; warn(message: string): void; error(message: string, ...details: unknown[]): void };
}

/** A running platform. */
export interface RunningPlatform {
  /** The API's base URL, e.g. `http://127.0.0.1:7070`. */
  readonly apiUrl: string;
  /** The console's URL, undefined with `consolePort: false`. */
  readonly consoleUrl: string | undefined;
  readonly layout: PlatformLayout;
  /** The platform admin key, when this start made it (the first start on an empty data directory); shown once. */
  readonly bootstrapKey: string | undefined;
  readonly controlPlane: ControlPlane;
  readonly agent: RunningAgent;
  /** The proxy, undefined with `proxy: false`. */
  readonly proxy: RunningProxy | undefined;
  /** The system database all three share. */
  readonly db: Database;
  /** Stops the console, the agent and the control plane, and closes the system database. Instances keep running (the next start reconciles). */
  close(): Promise<void>;
}

/**
 * Starts the database service in this process: opens the embedded system database under
 * `dataDir` (one process per directory), starts the control plane's API with the instance and
 * instance-admin modules, one agent (node `local`) on the same `Database`, and the console with
 * its Instances and Audit pages pointed at the API. The first start on an empty directory
 * bootstraps the platform tenant and returns its admin key (`bootstrapKey`, shown once).
 *
 * @throws {PlatformError} `STRATA_PLATFORM_ALREADY_RUNNING` when another process holds `dataDir`;
 * `STRATA_PLATFORM_INVALID_CONFIG` for a bad port or a directory the server user cannot reach.
 *
 * @example
 * import { startPlatform } from '@strata/platform';
 * const platform = await startPlatform({ dataDir: './.strata' });
 * console.log(platform.apiUrl, platform.consoleUrl, platform.bootstrapKey);
 * await platform.close();   // instances keep running; the next start reconciles them
 */
export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  if (typeof options.dataDir !== 'string' || options.dataDir.trim() === '') {
    throw new PlatformError('STRATA_PLATFORM_INVALID_CONFIG', 'dataDir must be the platform\'s directory, e.g. ./.strata');
  }
  const layout = platformLayout(options.dataDir, options.rootDir);
  const logger = options.logger ?? { info: (message: string) => console.log(message), warn: (message: string) => console.warn(message), error: (message: string, ...details: unknown[]) => console.error(message, ...details) };
  await prepareDirectories(layout);
  const apiPort = await portOrFree(options.apiPort, DEFAULT_API_PORT, 'apiPort');
  const consolePort = options.consolePort === false ? false : await portOrFree(options.consolePort, DEFAULT_CONSOLE_PORT, 'consolePort');

  let db: Database;
  try {
    // One platform per directory: a second one would run the same agent's jobs twice.
    db = await openDatabase({ url: layout.systemDir, ifLocked: 'fail' });
  } catch (error) {
    if (error instanceof DatabaseLockedError) {
      throw new PlatformError('STRATA_PLATFORM_ALREADY_RUNNING', `${error.message}\nAnother platform runs on ${layout.dataDir}: stop it (Ctrl-C) first, or give another data directory.`);
    }
    throw error;
  }
  const cleanups: Array<() => Promise<void>> = [() => db.close()];
  try {
    // The bootstrap line is the banner's to print (with the rest of what to paste).
    const controlPlane = await createControlPlane({
      database: db,
      listen: { host: LOOPBACK, port: apiPort },
      modules: [instancesModule, instanceAdminModule, backupsModule, monitoringModule, alertsModule, usageModule, proxySettingsModule],
      logger: { info: () => {}, warn: (message) => logger.warn(message) },
    });
    cleanups.unshift(() => controlPlane.close());
    const agent = await startAgent({
      database: db,
      nodeId: LOCAL_NODE_ID,
      rootDir: layout.nodeRootDir,
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
      spares: DEFAULT_PLATFORM_SPARES,
      spareSettings: flavorSettings(spareFlavor()),
      spareLimits: flavorLimits(spareFlavor()),
      ...(options.backups === false ? {} : { backupRepository: layout.backupsDir }),
      ...options.agent,
      logger: { info: (message: string) => logger.info(message), warn: (message: string) => logger.warn(message), error: (message: string, ...details: unknown[]) => logger.error(message, ...details) },
    });
    cleanups.unshift(() => agent.close());
    const proxy = options.proxy === false ? undefined : await startPlatformProxy(db, agent, layout, options.proxy ?? {}, logger);
    if (proxy) cleanups.unshift(() => proxy.close());
    let strataConsole: RunningConsole | undefined;
    if (consolePort !== false) {
      strataConsole = await startConsole({ database: db, host: LOOPBACK, port: consolePort, cloud: { apiUrl: controlPlane.url }, logger });
      const running = strataConsole;
      cleanups.unshift(() => running.close());
    }
    let closing: Promise<void> | undefined;
    return {
      apiUrl: controlPlane.url,
      consoleUrl: strataConsole?.url,
      layout,
      bootstrapKey: controlPlane.bootstrapKey,
      controlPlane,
      agent,
      proxy,
      db,
      close: () => (closing ??= runAll(cleanups)),
    };
  } catch (error) {
    await runAll(cleanups).catch(() => {});
    throw error;
  }
}

/** The proxy on the platform's system database and agent, with its meter and cap guard (closed with it). */
async function startPlatformProxy(db: Database, agent: RunningAgent, layout: PlatformLayout, options: { readonly port?: number; readonly idle?: IdleOptions }, logger: NonNullable<PlatformOptions['logger']>): Promise<RunningProxy & { close(): Promise<void> }> {
  const portFile = join(layout.proxyDir, 'port');
  // The port the last start took, so the connection line stays the same across restarts.
  const remembered = Number((await readFile(portFile, 'utf8').catch(() => '')).trim());
  const port = options.port !== undefined ? await portOrFree(options.port, DEFAULT_PROXY_PORT, 'proxy.port') : await portOrFree(undefined, Number.isInteger(remembered) && remembered > 0 ? remembered : DEFAULT_PROXY_PORT, 'proxy.port');
  const meter = new Meter(db, { logger });
  const guard = new CapGuard(db, { logger });
  let proxy: RunningProxy;
  try {
    proxy = await startProxy({
      database: db, host: LOOPBACK, port, tls: { dir: layout.proxyDir }, power: agent.power, meter, guard,
      ...(options.idle ? { idle: options.idle } : {}),
      logger: { info: (message: string) => logger.info(message), warn: (message: string, ...details: unknown[]) => logger.warn([message, ...details.map(String)].join(' ')), error: (message: string, ...details: unknown[]) => logger.error(message, ...details) },
    });
  } catch (error) {
    await guard.close();
    await meter.close().catch(() => {});
    throw error;
  }
  await writeFile(portFile, `${proxy.port}\n`);
  return {
    ...proxy,
    close: async () => {
      await proxy.close();
      await guard.close();
      await meter.close();
    },
  };
}

function spareFlavor(): Flavor {
  const flavor = findFlavor(SPARE_FLAVOR);
  if (flavor === undefined) throw new Error(`invariant: the control plane has the ${SPARE_FLAVOR} flavor`);
  return flavor;
}

/**
 * Makes the data directory and lets the unprivileged PostgreSQL server user pass through it to
 * its instances (when this process is root, the servers run as another user; a directory made by
 * mkdtemp is 0700). Every ancestor must be passable too, which is checked, not changed.
 */
async function prepareDirectories(layout: PlatformLayout): Promise<void> {
  await mkdir(layout.dataDir, { recursive: true, mode: 0o711 });
  if (process.getuid?.() !== 0) return;
  await chmod(layout.dataDir, 0o711);
  for (let dir = dirname(layout.nodeRootDir); dir !== dirname(dir); dir = dirname(dir)) {
    if (dir === layout.dataDir) continue;
    if (!(await passableByOthers(dir))) {
      throw new PlatformError(
        'STRATA_PLATFORM_INVALID_CONFIG',
        `${dir} is not passable by other users (mode without o+x), so the unprivileged PostgreSQL server user cannot reach its instances under ${layout.nodeRootDir}: chmod o+x ${dir}, or put the data directory elsewhere`,
      );
    }
  }
}

async function passableByOthers(dir: string): Promise<boolean> {
  return ((await stat(dir)).mode & 0o001) !== 0;
}

/** `port` when given; else `preferred` when it is free on loopback, else 0 (a free one). */
async function portOrFree(port: number | undefined, preferred: number, name: string): Promise<number> {
  if (port !== undefined) {
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new PlatformError('STRATA_PLATFORM_INVALID_CONFIG', `${name} must be a whole number from 0 to 65535 (0: a free port), got ${String(port)}`);
    return port;
  }
  return (await isFree(preferred)) ? preferred : 0;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, LOOPBACK, () => probe.close(() => resolve(true)));
  });
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
