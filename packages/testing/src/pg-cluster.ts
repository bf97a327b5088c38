// Throwaway PostgreSQL clusters for tests: initdb into a temp directory, start on a free port,
// stop and restart the server on its data (to simulate outages), cut its connections, and stop
// and delete on demand or when the process exits.

import { execFile as execFileCallback, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFile = promisify(execFileCallback);

/** Where the Debian/Ubuntu `postgresql` packages put one `bin` directory per major version. */
const POSTGRES_ROOT_DIR = '/usr/lib/postgresql';

/** Superuser created by initdb; trust auth, so the URL needs no password. */
const SUPERUSER = 'strata';

/** OS user to run the server as when we are root and the Debian `postgres` user does not exist. */
const FALLBACK_SERVER_USER = 'strata-pg';

/** pg_ctl waits this long for the server to accept connections (`-t`). */
const START_WAIT_SECONDS = 60;

/** Upper bound for initdb / pg_ctl; must exceed START_WAIT_SECONDS so pg_ctl reports first. */
const SERVER_COMMAND_TIMEOUT_MS = 90_000;

/** Small helper commands (id, chown, useradd). */
const HELPER_COMMAND_TIMEOUT_MS = 30_000;

/** apt-get update + install on a slow mirror can take minutes. */
const APT_TIMEOUT_MS = 15 * 60_000;

/** The synchronous exit-hook stop must not hang a dying process for long. */
const EXIT_STOP_TIMEOUT_MS = 10_000;

/** A free port can be taken between probing and binding; retry with a new port this many times. */
const MAX_PORT_ATTEMPTS = 3;

/** terminateBackends' admin connection: a server that does not answer in this long is broken. */
const ADMIN_CONNECT_TIMEOUT_MS = 10_000;

/** Lines of the server log / command output quoted in error messages. */
const LOG_TAIL_LINES = 40;

/** Command output larger than this is a bug or apt-get; 64 MiB is plenty for both. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** GUC names as PostgreSQL spells them (`work_mem`, `auto_explain.log_min_duration`). */
const SETTING_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/**
 * Thrown when no PostgreSQL server binaries can be found (or installed).
 * The message says what to install.
 *
 * @example
 * ```ts
 * try { await ensurePostgresInstalled(); }
 * catch (error) { if (error instanceof PostgresNotInstalledError) console.error(error.message); }
 * ```
 */
export class PostgresNotInstalledError extends Error {
  readonly code = 'POSTGRES_NOT_INSTALLED';
  override readonly name = 'PostgresNotInstalledError';
}

/** Stable codes of {@link PgClusterError}: which step of a cluster's life failed. */
export type PgClusterErrorCode =
  | 'PG_CLUSTER_SETUP_FAILED'
  | 'PG_CLUSTER_INITDB_FAILED'
  | 'PG_CLUSTER_START_FAILED'
  | 'PG_CLUSTER_STOP_FAILED'
  | 'PG_CLUSTER_TERMINATE_FAILED';

/**
 * Thrown when a throwaway cluster cannot be set up, started or stopped. The message quotes the
 * failing command's output and the tail of the server log.
 *
 * @example
 * ```ts
 * try { await startCluster({ settings: { shared_buffers: 'lots' } }); }
 * catch (error) { if (error instanceof PgClusterError) console.error(error.code, error.message); }
 * ```
 */
export class PgClusterError extends Error {
  override readonly name = 'PgClusterError';
  constructor(
    readonly code: PgClusterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /**
   * Extra server settings passed as `-c name=value`; they override the test defaults
   * (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`, `max_connections=200`, …).
   * `port` cannot be set here: the cluster always picks a free one.
   */
  readonly settings?: Readonly<Record<string, string>>;
  /** Print one progress line per step (initdb, start, stop) with its duration to stderr. */
  readonly log?: boolean;
}

/**
 * How `pg_ctl stop` stops the server: `immediate` aborts every process at once, with no
 * checkpoint, as a crash or a power cut of the database host would (the next start runs crash
 * recovery); `fast` disconnects the clients and shuts down cleanly, as an operator's restart does.
 */
export type ServerStopMode = 'immediate' | 'fast';

/** Options of {@link PgCluster.stopServer}. */
export interface StopServerOptions {
  /** Default `'immediate'`: a crash-like stop. */
  readonly mode?: ServerStopMode;
}

/** Options of {@link PgCluster.restartServer}. */
export interface RestartServerOptions {
  /** How long the server stays down between the stop and the start. Default 0. */
  readonly downMs?: number;
  /** How the server is stopped. Default `'immediate'`. */
  readonly mode?: ServerStopMode;
}

/**
 * A running throwaway PostgreSQL cluster.
 *
 * Use a cluster of your own (`startCluster()`) to stop, restart or cut the connections of a
 * server: the suite's shared cluster (`STRATA_TEST_PG_URL`) serves other test files at the same
 * moment.
 */
export interface PgCluster {
  /** Admin URL of the `postgres` database: `postgres://strata@127.0.0.1:PORT/postgres`. */
  readonly url: string;
  /** TCP port on 127.0.0.1; the same across {@link PgCluster.stopServer} and {@link PgCluster.startServer}. */
  readonly port: number;
  /** The cluster's data directory (inside a temp directory that `stop()` removes). */
  readonly dataDir: string;
  /** Stops the server (`-m immediate`) and deletes its files. Safe to call more than once. */
  stop(): Promise<void>;
  /**
   * Stops the server but keeps its data directory, so {@link PgCluster.startServer} brings the
   * same databases back on the same port: a database outage. Clients see their connections
   * break and new connections refused (`ECONNREFUSED`). Does nothing when the server is already
   * stopped.
   *
   * With `mode: 'immediate'` (the default) nothing is flushed at the stop, like a crash: commits
   * the server acknowledged under `synchronous_commit=off` (the default of these test clusters,
   * for speed) may be lost. A test that checks that nothing committed is lost across the outage
   * must start its cluster with `settings: { synchronous_commit: 'on' }`. (`fsync=off` is fine:
   * the operating system's cache survives a server crash.)
   *
   * @throws {PgClusterError} `PG_CLUSTER_STOP_FAILED` when pg_ctl cannot stop it.
   *
   * @example
   * ```ts
   * const cluster = await startCluster({ settings: { synchronous_commit: 'on' } });
   * await cluster.stopServer();                    // crash-like: -m immediate
   * await assert.rejects(client.query('select 1')); // the connection is gone
   * await cluster.startServer();
   * ```
   */
  stopServer(options?: StopServerOptions): Promise<void>;
  /**
   * Starts the server stopped by {@link PgCluster.stopServer} again, on the same data directory
   * and port, and returns once it accepts connections (after crash recovery, when it was stopped
   * with `immediate`). Does nothing when the server is running.
   *
   * @throws {PgClusterError} `PG_CLUSTER_START_FAILED` when it does not start (for instance
   * because another process took the port meanwhile); the message has the server log tail.
   *
   * @example
   * ```ts
   * await cluster.stopServer();
   * await delay(3_000);          // a three-second outage
   * await cluster.startServer(); // accepting connections again
   * ```
   */
  startServer(): Promise<void>;
  /**
   * {@link PgCluster.stopServer}, then `downMs` milliseconds of outage, then
   * {@link PgCluster.startServer}.
   *
   * @example
   * ```ts
   * await cluster.restartServer({ downMs: 500 });              // a crash and a quick restart
   * await cluster.restartServer({ mode: 'fast', downMs: 0 });  // an operator's clean restart
   * ```
   */
  restartServer(options?: RestartServerOptions): Promise<void>;
  /**
   * Cuts the connections of every other client backend to `database` (every database when
   * omitted) with `pg_terminate_backend`, from a fresh admin connection, as a failover proxy or
   * an operator would; the server keeps running and accepts new connections at once.
   *
   * @returns how many backends were terminated.
   * @throws {PgClusterError} `PG_CLUSTER_TERMINATE_FAILED` when the admin connection or the query fails.
   *
   * @example
   * ```ts
   * const killed = await cluster.terminateBackends('app'); // every connection to database "app"
   * ```
   */
  terminateBackends(database?: string): Promise<number>;
}

/** What the exit hook needs to stop a cluster synchronously. */
interface LiveCluster {
  readonly binDir: string;
  readonly rootDir: string;
  readonly dataDir: string;
  readonly serverUser: string | undefined;
}

const liveClusters = new Set<LiveCluster>();
let exitHookInstalled = false;
let serverUserPromise: Promise<string> | undefined;
let installPromise: Promise<string> | undefined;

/**
 * Finds the newest `/usr/lib/postgresql/<N>/bin` that contains `initdb` and `pg_ctl`.
 *
 * @returns the bin directory, or `undefined` when no PostgreSQL server is installed there.
 *
 * @example
 * ```ts
 * const binDir = findPostgresBinDir(); // '/usr/lib/postgresql/16/bin' or undefined
 * ```
 */
export function findPostgresBinDir(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(POSTGRES_ROOT_DIR);
  } catch {
    return undefined;
  }
  const candidates = versions
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(POSTGRES_ROOT_DIR, version, 'bin'));
  return candidates.find(
    (binDir) => existsSync(join(binDir, 'initdb')) && existsSync(join(binDir, 'pg_ctl')),
  );
}

/**
 * Returns the PostgreSQL bin directory, installing the Debian `postgresql` package with apt-get
 * first when it is missing and we run as root (CI machines).
 *
 * @throws {PostgresNotInstalledError} when the binaries are missing and cannot be installed.
 *
 * @example
 * ```ts
 * const binDir = await ensurePostgresInstalled();
 * console.log(`using ${binDir}`);
 * ```
 */
export function ensurePostgresInstalled(): Promise<string> {
  const found = findPostgresBinDir();
  if (found !== undefined) return Promise.resolve(found);
  installPromise ??= installPostgres().finally(() => {
    installPromise = undefined;
  });
  return installPromise;
}

async function installPostgres(): Promise<string> {
  const howToInstall =
    `Install the PostgreSQL server (Debian/Ubuntu package "postgresql": ` +
    `sudo apt-get install -y postgresql), so that ${POSTGRES_ROOT_DIR}/<version>/bin ` +
    `contains initdb and pg_ctl, then run again.`;
  if (!isRoot()) {
    throw new PostgresNotInstalledError(
      `PostgreSQL server binaries not found under ${POSTGRES_ROOT_DIR}. ${howToInstall}`,
    );
  }
  const startedAtMs = Date.now();
  process.stderr.write(
    `PostgreSQL not found under ${POSTGRES_ROOT_DIR}; installing the Debian package "postgresql" with apt-get...\n`,
  );
  try {
    await run('apt-get', ['update'], { timeoutMs: APT_TIMEOUT_MS });
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', 'postgresql'], {
      timeoutMs: APT_TIMEOUT_MS,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    throw new PostgresNotInstalledError(
      `Installing PostgreSQL with apt-get failed: ${errorMessage(error)}\n${howToInstall}`,
      { cause: error },
    );
  }
  const installed = findPostgresBinDir();
  if (installed === undefined) {
    throw new PostgresNotInstalledError(
      `apt-get installed "postgresql" but no initdb/pg_ctl appeared under ${POSTGRES_ROOT_DIR}. ${howToInstall}`,
    );
  }
  process.stderr.write(`Installed PostgreSQL (${installed}) in ${Date.now() - startedAtMs}ms\n`);
  return installed;
}

/**
 * Starts a throwaway PostgreSQL cluster: initdb into a fresh temp directory, listen on a free
 * port on 127.0.0.1, trust auth for superuser `strata`. Durability is off by default (tests do
 * not need it); pass `settings` to change that. When the process runs as root the server runs
 * as the `postgres` OS user (PostgreSQL refuses root). A process `exit` hook stops clusters that
 * were not stopped explicitly.
 *
 * @throws {PgClusterError} when initdb or pg_ctl fail; the message has the server log tail.
 * @throws {PostgresNotInstalledError} when PostgreSQL is missing and cannot be installed.
 *
 * @example
 * ```ts
 * const cluster = await startCluster({ settings: { fsync: 'on' } });
 * try {
 *   const client = new pg.Client(cluster.url);
 *   await client.connect();
 *   console.log((await client.query('select version()')).rows[0]);
 *   await client.end();
 * } finally {
 *   await cluster.stop();
 * }
 * ```
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<PgCluster> {
  const settings = options.settings ?? {};
  for (const name of Object.keys(settings)) {
    if (!SETTING_NAME_PATTERN.test(name)) {
      throw new PgClusterError('PG_CLUSTER_SETUP_FAILED', `Invalid PostgreSQL setting name: ${JSON.stringify(name)}`);
    }
    if (name.toLowerCase() === 'port') {
      throw new PgClusterError('PG_CLUSTER_SETUP_FAILED', 'startCluster picks the port itself; do not pass "port" in settings.');
    }
  }
  const progress = options.log === true
    ? (line: string) => process.stderr.write(`[pg-cluster] ${line}\n`)
    : () => {};

  const binDir = await ensurePostgresInstalled();
  const serverUser = isRoot() ? await resolveServerUser() : undefined;
  const rootDir = await mkdtemp(join(tmpdir(), 'strata-pg-'));
  const live: LiveCluster = { binDir, rootDir, dataDir: join(rootDir, 'data'), serverUser };
  const logFile = join(rootDir, 'log');
  liveClusters.add(live);
  installExitHook();

  const server = (command: string, args: readonly string[]) =>
    run(join(binDir, command), args, { asUser: serverUser, cwd: rootDir, timeoutMs: SERVER_COMMAND_TIMEOUT_MS });

  let port: number | undefined;
  let startedServerOptions = '';
  try {
    // The server user must be able to reach the socket directory and write the log.
    await chmod(rootDir, 0o755);
    if (serverUser !== undefined) {
      await run('chown', ['-R', `${serverUser}:`, rootDir], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    }

    let stepStartMs = Date.now();
    try {
      // --locale=C: independent of the machine's LANG, and the same collation PGlite uses.
      await server('initdb', ['-D', live.dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
    } catch (error) {
      throw new PgClusterError('PG_CLUSTER_INITDB_FAILED', `initdb failed: ${errorMessage(error)}`, { cause: error });
    }
    progress(`initdb ${live.dataDir} in ${Date.now() - stepStartMs}ms`);

    const merged: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: rootDir,
      max_connections: '200',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      ...settings,
    };
    for (let attempt = 1; attempt <= MAX_PORT_ATTEMPTS; attempt += 1) {
      const candidatePort = await pickFreePort();
      // pg_ctl hands -o to /bin/sh, so every value is shell-quoted.
      const serverOptions = [
        `-p ${candidatePort}`,
        ...Object.entries(merged).map(([name, value]) => `-c ${shellQuote(`${name}=${value}`)}`),
      ].join(' ');
      stepStartMs = Date.now();
      try {
        await server('pg_ctl', ['-D', live.dataDir, '-l', logFile, '-w', '-t', String(START_WAIT_SECONDS), '-o', serverOptions, 'start']);
        port = candidatePort;
        startedServerOptions = serverOptions;
        break;
      } catch (error) {
        const logTail = await readLogTail(logFile);
        const portTaken = /could not bind|address already in use/i.test(logTail);
        if (portTaken && attempt < MAX_PORT_ATTEMPTS) {
          progress(`port ${candidatePort} was taken, retrying with another`);
          continue;
        }
        throw new PgClusterError(
          'PG_CLUSTER_START_FAILED',
          `pg_ctl start failed (port ${candidatePort}): ${errorMessage(error)}\n--- server log tail (${logFile}) ---\n${logTail}`,
          { cause: error },
        );
      }
    }
    if (port === undefined) {
      // Unreachable: the loop either breaks with a port or throws.
      throw new PgClusterError('PG_CLUSTER_START_FAILED', 'pg_ctl start did not report a port');
    }
    progress(`started on 127.0.0.1:${port} in ${Date.now() - stepStartMs}ms`);
  } catch (error) {
    liveClusters.delete(live);
    stopSync(live);
    throw error;
  }

  const startedPort = port;
  const url = `postgres://${SUPERUSER}@127.0.0.1:${startedPort}/postgres`;
  let stopping: Promise<void> | undefined;
  // Stops and starts run one at a time, in call order, so a restart never races a stop.
  let serverOperations: Promise<unknown> = Promise.resolve();
  const serialized = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = serverOperations.then(() => {
      if (stopping !== undefined) {
        throw new PgClusterError('PG_CLUSTER_SETUP_FAILED', `the cluster ${live.rootDir} was stopped and removed with stop(); start a new one with startCluster()`);
      }
      return operation();
    });
    serverOperations = result.catch(() => {});
    return result;
  };
  const stopServer = (stopOptions: StopServerOptions = {}) =>
    serialized(() => stopPostmaster(live, stopOptions.mode ?? 'immediate', progress));
  const startServer = () =>
    serialized(() => startPostmaster(live, logFile, startedServerOptions, startedPort, progress));
  return {
    url,
    port: startedPort,
    dataDir: live.dataDir,
    stop: () => {
      stopping ??= serverOperations.then(() => stopCluster(live, progress));
      return stopping;
    },
    stopServer,
    startServer,
    restartServer: async (restartOptions: RestartServerOptions = {}) => {
      const downMs = restartOptions.downMs ?? 0;
      if (!Number.isFinite(downMs) || downMs < 0) {
        throw new PgClusterError('PG_CLUSTER_SETUP_FAILED', `restartServer needs downMs >= 0, got ${downMs}`);
      }
      await stopServer(restartOptions.mode === undefined ? {} : { mode: restartOptions.mode });
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await startServer();
    },
    terminateBackends: (database?: string) => terminateBackends(url, database),
  };
}

/** `pg_ctl stop -m <mode>`, keeping the data directory; nothing to do when the server is not running. */
async function stopPostmaster(live: LiveCluster, mode: ServerStopMode, progress: (line: string) => void): Promise<void> {
  if (!existsSync(join(live.dataDir, 'postmaster.pid'))) return;
  const startedAtMs = Date.now();
  try {
    await run(join(live.binDir, 'pg_ctl'), ['-D', live.dataDir, 'stop', '-m', mode, '-w', '-t', String(START_WAIT_SECONDS)], {
      asUser: live.serverUser,
      cwd: live.rootDir,
      timeoutMs: SERVER_COMMAND_TIMEOUT_MS,
    });
  } catch (error) {
    // It may have exited between the check and pg_ctl; a server still there is a failure.
    if (existsSync(join(live.dataDir, 'postmaster.pid'))) {
      throw new PgClusterError('PG_CLUSTER_STOP_FAILED', `pg_ctl stop -m ${mode} failed: ${errorMessage(error)}`, { cause: error });
    }
  }
  progress(`stopped the server (-m ${mode}) in ${Date.now() - startedAtMs}ms, data kept in ${live.dataDir}`);
}

/** `pg_ctl start -w` with the options of the first start (same port); nothing to do when it runs. */
async function startPostmaster(
  live: LiveCluster,
  logFile: string,
  serverOptions: string,
  port: number,
  progress: (line: string) => void,
): Promise<void> {
  if (existsSync(join(live.dataDir, 'postmaster.pid'))) return;
  const startedAtMs = Date.now();
  try {
    // -w returns once the server accepts connections, after crash recovery.
    await run(join(live.binDir, 'pg_ctl'), ['-D', live.dataDir, '-l', logFile, '-w', '-t', String(START_WAIT_SECONDS), '-o', serverOptions, 'start'], {
      asUser: live.serverUser,
      cwd: live.rootDir,
      timeoutMs: SERVER_COMMAND_TIMEOUT_MS,
    });
  } catch (error) {
    throw new PgClusterError(
      'PG_CLUSTER_START_FAILED',
      `pg_ctl start failed (port ${port}; another process may have taken it while the server was down): ${errorMessage(error)}\n--- server log tail (${logFile}) ---\n${await readLogTail(logFile)}`,
      { cause: error },
    );
  }
  progress(`restarted on 127.0.0.1:${port} in ${Date.now() - startedAtMs}ms`);
}

/** pg_terminate_backend on every other client backend (of `database`, when given), from a fresh admin connection. */
async function terminateBackends(adminUrl: string, database: string | undefined): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: ADMIN_CONNECT_TIMEOUT_MS });
  // A server-side disconnect would otherwise be an unhandled 'error' event.
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ terminated: number }>(
      `select count(*) filter (where pg_terminate_backend(pid))::int as terminated
         from pg_stat_activity
        where pid <> pg_backend_pid() and backend_type = 'client backend' and ($1::text is null or datname = $1)`,
      [database ?? null],
    );
    return rows[0]?.terminated ?? 0;
  } catch (error) {
    throw new PgClusterError(
      'PG_CLUSTER_TERMINATE_FAILED',
      `terminating the backends of ${database === undefined ? 'every database' : `database ${JSON.stringify(database)}`} failed: ${errorMessage(error)}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function stopCluster(live: LiveCluster, progress: (line: string) => void): Promise<void> {
  const startedAtMs = Date.now();
  let stopError: unknown;
  try {
    await run(join(live.binDir, 'pg_ctl'), ['-D', live.dataDir, 'stop', '-m', 'immediate', '-w'], {
      asUser: live.serverUser,
      cwd: live.rootDir,
      timeoutMs: SERVER_COMMAND_TIMEOUT_MS,
    });
  } catch (error) {
    // Server already gone (no pid file) is fine; otherwise kill the postmaster directly.
    if (existsSync(join(live.dataDir, 'postmaster.pid')) && !killPostmaster(live)) stopError = error;
  }
  await rm(live.rootDir, { recursive: true, force: true });
  // Only now: if the process exits mid-stop, the exit hook still finishes the job.
  liveClusters.delete(live);
  if (stopError !== undefined) {
    throw new PgClusterError('PG_CLUSTER_STOP_FAILED', `pg_ctl stop failed: ${errorMessage(stopError)}`, { cause: stopError });
  }
  progress(`stopped and removed ${live.rootDir} in ${Date.now() - startedAtMs}ms`);
}

/** SIGKILLs the postmaster named in postmaster.pid; true when it is gone afterwards. */
function killPostmaster(live: LiveCluster): boolean {
  try {
    const pid = Number(readFileSync(join(live.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 'SIGKILL');
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Synchronous best-effort stop for the process `exit` hook and failed starts. */
function stopSync(live: LiveCluster): void {
  const command = [join(live.binDir, 'pg_ctl'), '-D', live.dataDir, 'stop', '-m', 'immediate', '-w'];
  const [file, ...args] = live.serverUser === undefined ? command : ['runuser', '-u', live.serverUser, '--', ...command];
  if (existsSync(join(live.dataDir, 'postmaster.pid')) && file !== undefined) {
    spawnSync(file, args, { stdio: 'ignore', timeout: EXIT_STOP_TIMEOUT_MS, cwd: live.rootDir });
  }
  rmSync(live.rootDir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const live of liveClusters) {
      try {
        stopSync(live);
      } catch {
        // Best effort: the process is exiting anyway.
      }
    }
    liveClusters.clear();
  });
}

/** The OS user that runs the server when we are root: `postgres`, else a system user we create. */
function resolveServerUser(): Promise<string> {
  serverUserPromise ??= (async () => {
    if (await userExists('postgres')) return 'postgres';
    if (await userExists(FALLBACK_SERVER_USER)) return FALLBACK_SERVER_USER;
    try {
      await run('useradd', ['--system', '--no-create-home', FALLBACK_SERVER_USER], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    } catch (error) {
      // Another process may have created it concurrently.
      if (!(await userExists(FALLBACK_SERVER_USER))) {
        throw new PgClusterError('PG_CLUSTER_SETUP_FAILED', `Could not create OS user ${FALLBACK_SERVER_USER} to run PostgreSQL as (it refuses to run as root): ${errorMessage(error)}`, { cause: error });
      }
    }
    return FALLBACK_SERVER_USER;
  })();
  return serverUserPromise;
}

async function userExists(name: string): Promise<boolean> {
  try {
    await run('id', ['-u', name], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

/** Asks the kernel for a free port on 127.0.0.1 (listen on port 0, read it, close). */
function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      probe.close(() => (port === undefined ? reject(new Error('could not read probe port')) : resolve(port)));
    });
  });
}

interface RunOptions {
  readonly timeoutMs: number;
  /** Run through `runuser -u <user> --` (we are root). */
  readonly asUser?: string | undefined;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

async function run(file: string, args: readonly string[], options: RunOptions): Promise<{ stdout: string; stderr: string }> {
  const [command, commandArgs] = options.asUser === undefined
    ? [file, [...args]]
    : ['runuser', ['-u', options.asUser, '--', file, ...args]];
  try {
    return await execFile(command, commandArgs, {
      timeout: options.timeoutMs,
      maxBuffer: MAX_OUTPUT_BYTES,
      encoding: 'utf8',
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string; killed?: boolean; signal?: string };
    const output = tail(`${failure.stdout ?? ''}${failure.stderr ?? ''}`);
    const how = failure.killed === true ? ` (killed after ${options.timeoutMs}ms timeout)` : '';
    throw new Error(`\`${[command, ...commandArgs].join(' ')}\` failed${how}: ${failure.message.split('\n')[0]}\n${output}`, { cause: error });
  }
}

async function readLogTail(logFile: string): Promise<string> {
  try {
    return tail(await readFile(logFile, 'utf8'));
  } catch {
    return '(no server log)';
  }
}

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}
