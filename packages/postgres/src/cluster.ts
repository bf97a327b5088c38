// A PostgreSQL cluster of its own: initdb into a fresh temp directory, start on a free port on
// 127.0.0.1 (as an unprivileged OS user when we are root), stop and restart the server on its
// data, cut its connections, and stop and delete it on demand or when the process ends.

import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { HELPER_COMMAND_TIMEOUT_MS, errorMessage, isRoot, readLogTail, run, shellQuote } from './commands.js';
import { PgClusterError } from './errors.js';
import { freePort } from './free-port.js';
import { ensurePostgresInstalled } from './install.js';
import { stopSync, trackCluster, untrackCluster, type LiveCluster } from './process-cleanup.js';
import { resolveServerUser } from './server-user.js';

/** Superuser created by initdb; trust auth, so the URL needs no password. */
const SUPERUSER = 'strata';

/** pg_ctl waits this long for the server to accept connections (`-t`). */
const START_WAIT_SECONDS = 60;

/** Upper bound for initdb / pg_ctl; must exceed START_WAIT_SECONDS so pg_ctl reports first. */
const SERVER_COMMAND_TIMEOUT_MS = 90_000;

/** A free port can be taken between probing and binding; retry with a new port this many times. */
const MAX_PORT_ATTEMPTS = 3;

/** terminateBackends' admin connection: a server that does not answer in this long is broken. */
const ADMIN_CONNECT_TIMEOUT_MS = 10_000;

/** GUC names as PostgreSQL spells them (`work_mem`, `auto_explain.log_min_duration`). */
const SETTING_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /**
   * Extra server settings passed as `-c name=value`; they override the defaults, which favour
   * speed over durability (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`,
   * `max_connections=200`, …): pass `{ fsync: 'on', synchronous_commit: 'on',
   * full_page_writes: 'on' }` for a cluster whose commits survive a crash of the machine.
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
 * A running PostgreSQL cluster started by {@link startCluster}. It is ephemeral: its data
 * directory lives in a temp directory that {@link PgCluster.stop} (or the end of the process)
 * deletes.
 *
 * @example
 * ```ts
 * const cluster = await startCluster();
 * console.log(cluster.url); // postgres://strata@127.0.0.1:54012/postgres
 * await cluster.stop();
 * ```
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
   * the server acknowledged under `synchronous_commit=off` (the default of these clusters,
   * for speed) may be lost. Code that needs nothing committed to be lost across the outage
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

/**
 * Starts an ephemeral PostgreSQL cluster: initdb into a fresh temp directory, listen on a free
 * port on 127.0.0.1, trust auth for superuser `strata`. Durability is off by default (for
 * speed); pass `settings` to change that. When the process runs as root the server runs
 * as the `postgres` OS user (PostgreSQL refuses root). Clusters that were not stopped explicitly are
 * stopped and deleted when the process exits, and on SIGTERM and SIGINT unless the app handles
 * that signal itself (then its shutdown calls `stop()`, or the exit does); after the stop the
 * signal ends the process as it would have (exit status 128 + signal number).
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
  trackCluster(live);

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
      const candidatePort = await freePort();
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
    stopSync(live);
    untrackCluster(live);
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
  untrackCluster(live);
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
