// PgBouncer beside Strata's proxy in bench:proxy: Debian's `pgbouncer` installed with apt-get when
// missing (as root, like the repo's PostgreSQL and pgBackRest), and one PgBouncer in front of one
// instance, run as an unprivileged user (it refuses root) with SCRAM pass-through from a verifier.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@strata/postgres';

const run = promisify(execFile);

/** Where Debian's package puts the program. */
export const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';
/** apt-get update + install on a slow mirror can take minutes. */
const APT_TIMEOUT_MS = 15 * 60_000;
/** PgBouncer listens within milliseconds; past this it is not going to. */
const START_TIMEOUT_MS = 15_000;
/** The unprivileged user when Debian's `postgres` user is missing (the name @strata/postgres uses). */
const FALLBACK_USER = 'strata-pg';
/** Prepared statements PgBouncer tracks per connection when it can (1.21+); pgbench -M prepared uses a handful. */
const MAX_PREPARED_STATEMENTS = 100;
/** The first PgBouncer that tracks named prepared statements in transaction mode (`max_prepared_statements`). */
const PREPARED_STATEMENTS_SINCE: readonly [number, number] = [1, 21];

let installing: Promise<string> | undefined;

/**
 * Returns PgBouncer's path, installing Debian's `pgbouncer` with apt-get first when it is missing
 * and we run as root (its service is not started: we run our own). Concurrent calls share one
 * installation.
 *
 * @example
 * const bin = await ensurePgBouncerInstalled(); // '/usr/sbin/pgbouncer'
 */
export function ensurePgBouncerInstalled(): Promise<string> {
  if (existsSync(PGBOUNCER_BIN)) return Promise.resolve(PGBOUNCER_BIN);
  installing ??= install().finally(() => {
    installing = undefined;
  });
  return installing;
}

async function install(): Promise<string> {
  const howToInstall = `Install Debian's package (sudo apt-get install -y pgbouncer) so that ${PGBOUNCER_BIN} exists, then run again.`;
  if (process.getuid?.() !== 0) throw new Error(`PgBouncer not found at ${PGBOUNCER_BIN}. ${howToInstall}`);
  process.stderr.write('PgBouncer not found; installing the Debian package "pgbouncer" with apt-get...\n');
  try {
    await run('apt-get', ['update'], { timeout: APT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', '--no-install-recommends', 'pgbouncer'], {
      timeout: APT_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    throw new Error(`Installing PgBouncer with apt-get failed: ${(error as Error).message}\n${howToInstall}`, { cause: error });
  }
  if (!existsSync(PGBOUNCER_BIN)) throw new Error(`apt-get ran but ${PGBOUNCER_BIN} is still missing. ${howToInstall}`);
  return PGBOUNCER_BIN;
}

/** PgBouncer's version, e.g. `1.18.0` (from `pgbouncer --version`). */
export async function pgBouncerVersion(bin = PGBOUNCER_BIN): Promise<string> {
  const { stdout } = await run(bin, ['--version']);
  const version = /PgBouncer (\d+\.\d+(?:\.\d+)?)/i.exec(stdout)?.[1];
  if (version === undefined) throw new Error(`could not read a version in \`${bin} --version\`: ${stdout.trim()}`);
  return version;
}

/** Whether this PgBouncer keeps named prepared statements working in transaction mode (`max_prepared_statements`, 1.21+). */
export function tracksPreparedStatements(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [sinceMajor, sinceMinor] = PREPARED_STATEMENTS_SINCE;
  return major > sinceMajor || (major === sinceMajor && minor >= sinceMinor);
}

/** Options of {@link startPgBouncer}. */
export interface PgBouncerOptions {
  /** A directory of its own (config, auth file, log); made if missing. */
  readonly dir: string;
  /** The PostgreSQL server it pools, and the database and login role clients use. */
  readonly server: { readonly host: string; readonly port: number };
  readonly database: string;
  readonly user: string;
  /** The role's SCRAM verifier as the server stores it: PgBouncer checks clients with it and logs in to the server with the client's keys. */
  readonly verifier: string;
  readonly poolMode: 'session' | 'transaction';
  /** Server connections per user and database (default_pool_size). */
  readonly poolSize: number;
  readonly maxClients: number;
}

/** A PgBouncer started by {@link startPgBouncer}. */
export interface RunningPgBouncer {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly version: string;
  /** Whether `max_prepared_statements` was set (PgBouncer 1.21+). */
  readonly preparedStatements: boolean;
  /** The tail of its log (for a failed run's report). */
  logTail(): Promise<string>;
  /** SIGTERM, then waits for it to exit (SIGKILL after 5 s). */
  close(): Promise<void>;
}

/**
 * Starts PgBouncer in the foreground on a free loopback port, as Debian's `postgres` user (or
 * `strata-pg`), with `auth_type = scram-sha-256` and an auth file holding `verifier`, and resolves
 * once it accepts TCP connections.
 *
 * @example
 * const bouncer = await startPgBouncer({ dir, server: { host: '127.0.0.1', port: 5433 }, database: 'app', user: 'app', verifier, poolMode: 'transaction', poolSize: 20, maxClients: 200 });
 * // pgbench -h 127.0.0.1 -p ${bouncer.port} -U app app
 * await bouncer.close();
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<RunningPgBouncer> {
  const bin = await ensurePgBouncerInstalled();
  const version = await pgBouncerVersion(bin);
  const preparedStatements = tracksPreparedStatements(version);
  const { uid, gid } = await unprivilegedUser();
  await mkdir(options.dir, { recursive: true, mode: 0o755 });
  await chown(options.dir, uid, gid);
  const port = await freePort();
  const authFile = join(options.dir, 'userlist.txt');
  const logFile = join(options.dir, 'pgbouncer.log');
  const configFile = join(options.dir, 'pgbouncer.ini');
  await writeFile(authFile, `${quote(options.user)} ${quote(options.verifier)}\n`, { mode: 0o600 });
  await chown(authFile, uid, gid);
  const config = [
    '[databases]',
    `${options.database} = host=${options.server.host} port=${options.server.port} dbname=${options.database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${authFile}`,
    `pool_mode = ${options.poolMode}`,
    `default_pool_size = ${options.poolSize}`,
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    `max_client_conn = ${options.maxClients}`,
    `logfile = ${logFile}`,
    'log_connections = 0',
    'log_disconnections = 0',
    'log_pooler_errors = 1',
    'stats_period = 60',
    ...(preparedStatements ? [`max_prepared_statements = ${MAX_PREPARED_STATEMENTS}`] : []),
    '',
  ].join('\n');
  await writeFile(configFile, config, { mode: 0o644 });

  const child: ChildProcess = spawn(bin, [configFile], { uid, gid, cwd: options.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A bench that dies must not leave its PgBouncer listening.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const logTail = async () => {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    return `${log}${stderr}`.trimEnd().split('\n').slice(-20).join('\n');
  };
  try {
    await listening(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    process.off('exit', onExit);
    throw new Error(`PgBouncer did not start: ${(error as Error).message}\n${await logTail()}`, { cause: error });
  }
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid!,
    version,
    preparedStatements,
    logTail,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      process.off('exit', onExit);
    },
  };
}

/** Waits until `port` accepts a TCP connection, or the process exits, or START_TIMEOUT_MS. */
async function listening(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`it exited (${child.signalCode ?? `code ${child.exitCode}`})`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Debian's `postgres` user, else `strata-pg` (made if missing), as @strata/postgres runs its servers. */
async function unprivilegedUser(): Promise<{ uid: number; gid: number }> {
  for (const name of ['postgres', FALLBACK_USER]) {
    const ids = await idsOf(name);
    if (ids) return ids;
  }
  await run('useradd', ['--system', '--no-create-home', FALLBACK_USER]).catch(() => {}); // another process may have made it meanwhile
  const ids = await idsOf(FALLBACK_USER);
  if (!ids) throw new Error(`could not create the OS user ${FALLBACK_USER} to run PgBouncer as (it refuses to run as root)`);
  return ids;
}

async function idsOf(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const uid = Number((await run('id', ['-u', name])).stdout.trim());
    const gid = Number((await run('id', ['-g', name])).stdout.trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** A double-quoted field of PgBouncer's auth file (a quote inside is doubled). */
function quote(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}
