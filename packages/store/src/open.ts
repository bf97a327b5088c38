import type { Database, NotificationMode } from './interfaces.js';
import type { DriverSettings } from './sql-database.js';
import { profileFor, profileRequest, type ProfileRequest } from './profile.js';
import path from 'node:path';
import { DatabaseLockedError, InvalidArgumentError, InvalidDatabaseUrlError } from './errors.js';
import { liveHolder } from './lock.js';
import { PgliteDatabase } from './pglite-database.js';
import { PostgresDatabase } from './postgres-database.js';
import { migrate, storeMigrations } from './migrate.js';
import { parseMultiHostUrl } from './multi-host.js';

/** Default embedded directory, relative to the working directory. */
export const DEFAULT_EMBEDDED_DIR = './.strata';
/** What the embedded engine is, as `version()` would say: PostgreSQL, so 'auto' picks native. */
const EMBEDDED_VERSION = 'PostgreSQL';
/** Default polling interval when notifications are polled: a wake-up within a tenth of a second. */
const DEFAULT_POLL_INTERVAL_MS = 100;
/** Default pool size: enough for concurrent workflows on a 2-core machine without crowding the server. */
const DEFAULT_POOL_SIZE = 10;
/** Generous: a refused connection fails at once anyway; this bounds a silent host or a server too loaded to answer. */
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/**
 * Connections to another process's embedded database: its engine runs one request at a time
 * anyway, so more connections only queue there; two let a LISTEN connection and a query coexist.
 */
const SERVED_POOL_SIZE = 2;

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * Where the database is: a `postgres://` (or `postgresql://`) URL for a server, `memory://`
   * for a throwaway in-memory embedded database, or a directory path for embedded PGlite
   * (default `./.strata`). A PostgreSQL URL may list several hosts, as libpq reads it:
   * `postgres://app@db1:5432,db2:5432,db3:5432/app?target_session_attrs=read-write` connects to
   * whichever is the primary, and follows it after a failover.
   */
  readonly url?: string;
  /**
   * `'listen'` (LISTEN/NOTIFY), `'poll'` (a polled table, for engines without NOTIFY), or `'auto'`
   * (default: listen, or poll where the profile has no LISTEN/NOTIFY).
   */
  readonly notifications?: NotificationMode | 'auto';
  /**
   * The capability profile: `'native'` (everything PostgreSQL has), `'portable'` (only what
   * distributed SQL engines such as CockroachDB and YugabyteDB have: polled notifications, claims
   * without `SKIP LOCKED`, lease rows instead of advisory locks, SERIALIZABLE only with every
   * statement retried on 40001, migrations one statement at a time), or `'auto'`: portable when
   * the server says it is CockroachDB or YugabyteDB, else native. Default: the environment's
   * `STRATA_DATABASE_PROFILE`, else `'auto'`. See docs/scaling-out.md.
   */
  readonly profile?: ProfileRequest;
  /** Poll interval in polling mode. Default 100 ms. */
  readonly pollIntervalMs?: number;
  /** Connections in the pool (PostgreSQL only). Default 10. */
  readonly poolSize?: number;
  /** How long to wait for a new connection before failing (PostgreSQL only). Default 15,000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * What to do when an embedded directory is open in another live process of this machine:
   * `'connect'` (default) uses it through the Unix socket that process serves it on, as a
   * PostgreSQL client; `'fail'` throws `DatabaseLockedError` naming that process.
   */
  readonly ifLocked?: 'connect' | 'fail';
}

/**
 * Opens a database: embedded PGlite by default, a PostgreSQL server for a `postgres://` URL.
 *
 * @example
 * const local = await openDatabase();                                  // ./.strata, embedded
 * const server = await openDatabase('postgres://app@localhost:5432/app');
 * const polled = await openDatabase({ url: 'postgres://app@localhost/app', notifications: 'poll' });
 * const portable = await openDatabase({ url: 'postgres://root@crdb:26257/app', profile: 'portable' });
 */
export async function openDatabase(target: string | OpenDatabaseOptions = {}): Promise<Database> {
  const options: OpenDatabaseOptions = typeof target === 'string' ? { url: target } : target;
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('openDatabase() takes a URL string or an options object');
  }
  const given = options.url ?? DEFAULT_EMBEDDED_DIR;
  if (typeof given !== 'string' || given.trim() === '') {
    throw new InvalidDatabaseUrlError('the database URL is empty: pass a postgres:// URL, memory://, or a directory for the embedded database');
  }
  // Whitespace around a URL (an environment variable's stray space) must not turn it into a
  // directory path, which would put its password into the directory's name.
  const url = /^\s*(postgres|postgresql|memory):/i.test(given) ? given.trim() : given;
  const mode = options.notifications ?? 'auto';
  if (mode !== 'auto' && mode !== 'listen' && mode !== 'poll') {
    throw new InvalidArgumentError(`notifications must be 'auto', 'listen' or 'poll', got ${JSON.stringify(mode)}`);
  }
  const requested = profileRequest(options.profile);
  const pollIntervalMs = positive(options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, 'pollIntervalMs');
  /** The driver settings for a server that answers `version()` with `serverVersion`. */
  const settingsFor = (serverVersion: string): DriverSettings => {
    const profile = profileFor(requested, serverVersion);
    if (mode === 'listen' && !profile.capabilities.listenNotify) {
      throw new InvalidArgumentError(`notifications: 'listen' needs LISTEN/NOTIFY, which the ${profile.name} profile does not have: leave notifications unset or use 'poll'`);
    }
    return { notificationMode: mode === 'poll' || !profile.capabilities.listenNotify ? 'poll' : 'listen', pollIntervalMs, profile };
  };
  // Also refuses a bad combination of options before connecting anywhere.
  const embedded = settingsFor(EMBEDDED_VERSION);

  if (/^(postgres|postgresql|memory):(?!\/\/)/i.test(url)) {
    throw new InvalidDatabaseUrlError(
      `the database URL ${JSON.stringify(maskPassword(url))} is missing the // after the scheme: expected postgres://user:password@host:port/database or memory://`,
    );
  }
  let db: Database;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const multiHost = parseMultiHostUrl(url); // host1:port1,host2:port2 and target_session_attrs, which pg does not read
    db = await PostgresDatabase.open(
      {
        url,
        multiHost,
        description: multiHost?.describe(redact) ?? redact(url),
        poolSize: positive(options.poolSize ?? DEFAULT_POOL_SIZE, 'poolSize'),
        connectTimeoutMs: positive(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs'),
      },
      settingsFor,
    );
  } else if (scheme === 'memory') {
    db = await PgliteDatabase.open(undefined, embedded);
  } else if (scheme !== undefined) {
    throw new InvalidDatabaseUrlError(
      `unsupported database URL scheme "${scheme}://": use postgres://user:password@host:port/database, memory://, or a directory path for the embedded database`,
    );
  } else {
    const ifLocked = options.ifLocked ?? 'connect';
    if (ifLocked !== 'connect' && ifLocked !== 'fail') {
      throw new InvalidArgumentError(`ifLocked must be 'connect' or 'fail', got ${JSON.stringify(ifLocked)}`);
    }
    db = await openEmbedded(url, embedded, settingsFor, ifLocked, positive(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs'));
  }
  if (db.notificationMode === 'poll') {
    try {
      await migrate(db, 'store', storeMigrations());
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return db;
}

/**
 * The embedded database in `dir`: opened here, or — while another live process holds it and
 * serves it on a socket — reached through that socket as a PostgreSQL client.
 */
async function openEmbedded(
  dir: string,
  settings: DriverSettings,
  settingsFor: (serverVersion: string) => DriverSettings,
  ifLocked: 'connect' | 'fail',
  connectTimeoutMs: number,
): Promise<Database> {
  try {
    return await PgliteDatabase.open(dir, settings);
  } catch (error) {
    if (!(error instanceof DatabaseLockedError) || ifLocked === 'fail') throw error;
    const absolute = path.resolve(dir);
    const holder = await liveHolder(absolute);
    if (holder?.socketPath === undefined) throw error; // an older Strata, or a holder that serves no socket
    const description = `pglite ${absolute} (served by pid ${holder.pid})`;
    try {
      return await PostgresDatabase.open(
        {
          url: `postgres://strata@localhost/postgres?host=${encodeURIComponent(path.dirname(holder.socketPath))}`,
          description,
          poolSize: SERVED_POOL_SIZE,
          connectTimeoutMs,
          served: true,
        },
        settingsFor,
      );
    } catch (connectError) {
      throw new DatabaseLockedError(
        `the embedded database at ${absolute} is open in another process (pid ${holder.pid}), and its socket ${holder.socketPath} did not answer (${(connectError as Error).message}); if that process is still starting, retry in a moment, else stop it (kill ${holder.pid})`,
      );
    }
  }
}

/** Query parameters that carry secrets; `pg` accepts them in the URL. */
const SECRET_PARAMETERS = ['password', 'sslpassword', 'sslkey'];

/** The URL with its password (in the user part or as a parameter) replaced, for messages and logs. */
export function redact(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidDatabaseUrlError(
      `the database URL ${JSON.stringify(maskPassword(url))} cannot be parsed: expected postgres://user:password@host:port/database`,
    );
  }
  if (!parsed.hostname && !parsed.searchParams.get('host')) {
    throw new InvalidDatabaseUrlError(
      `the database URL ${JSON.stringify(maskPassword(url))} names no host: expected postgres://user:password@host:port/database`,
    );
  }
  if (parsed.password) parsed.password = '***';
  for (const name of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAMETERS.includes(name.toLowerCase())) parsed.searchParams.set(name, '***');
  }
  return parsed.toString().replaceAll('%2A%2A%2A', '***');
}

/**
 * Masks a password in a URL that may not parse, for messages. It errs towards hiding too much:
 * whatever sits between the user name's ':' and the last '@' (a password may hold '@', '/', '?'
 * or ':'), whatever follows a ':' in an authority without '@' unless it is a port number (a
 * forgotten host makes the password look like one), and secret query parameters. The scheme may
 * have any number of slashes, so `postgres:/u:pw@h` and `postgres:u:pw@h` are masked too.
 */
function maskPassword(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:)(\/*)(.*)$/is.exec(url);
  if (!match) return maskSecretParameters(url);
  const [, scheme, slashes, rest] = match as unknown as [string, string, string, string];
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userInfo = rest.slice(0, at);
    const colon = userInfo.indexOf(':');
    const user = colon >= 0 ? `${userInfo.slice(0, colon)}:***` : userInfo;
    return `${scheme}${slashes}${user}@${maskSecretParameters(rest.slice(at + 1))}`;
  }
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd >= 0 ? rest.slice(0, authorityEnd) : rest;
  const hostPort = /^([^:[\]]*):(.*)$/s.exec(authority);
  const maskedAuthority = hostPort && !/^\d*$/.test(hostPort[2]!) ? `${hostPort[1]}:***` : authority;
  return `${scheme}${slashes}${maskedAuthority}${maskSecretParameters(authorityEnd >= 0 ? rest.slice(authorityEnd) : '')}`;
}

/** Replaces the values of secret query parameters (`?password=…`) with `***`. */
function maskSecretParameters(text: string): string {
  return text.replace(new RegExp(`([?&](?:${SECRET_PARAMETERS.join('|')})=)[^&#]*`, 'gi'), '$1***');
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}
