// Multi-host PostgreSQL URLs (`postgres://u@h1:p1,h2:p2/db?target_session_attrs=read-write`), as
// libpq reads them: node-postgres connects to one host only, so the pool's client class picks the
// host here, keeps the one that accepts writes, and looks for the new primary after a failover.

import pg from 'pg';
import { DatabaseUnavailableError, InvalidDatabaseUrlError } from './errors.js';

/** One `host:port` of a multi-host URL. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Which sessions a multi-host URL accepts, as libpq's `target_session_attrs`: `'any'` takes the
 * first host that answers; `'read-write'` (and its PostgreSQL 14 synonym for our purpose,
 * `'primary'`) only a server that is not in recovery and does not default to read-only.
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

/** A parsed multi-host URL. */
export interface MultiHostTarget {
  readonly hosts: readonly HostPort[];
  readonly targetSessionAttrs: TargetSessionAttrs;
  /** The URL for host `index`: the same user, database and parameters, without `target_session_attrs`. */
  urlFor(index: number): string;
  /** The URL as given, with `redact` applied to its secrets, for messages and logs. */
  describe(redact: (singleHostUrl: string) => string): string;
}

/** libpq's default port, used for a host of the list without one. */
const DEFAULT_PORT = 5432;
/** SQLSTATE read_only_sql_transaction: a write reached a standby or a read-only default. */
export const READ_ONLY_SQLSTATE = '25006';
/**
 * While only standbys answer, a promotion is likely under way (Patroni takes a few seconds):
 * look again this often, within the connect timeout, rather than fail and leave the retry to the
 * caller's backoff, which would add up to its longest pause to the failover.
 */
const PROMOTION_POLL_MS = 50;
const TARGET_SESSION_ATTRS: ReadonlySet<string> = new Set(['any', 'read-write', 'primary']);
/** The scheme, the user part, the host list, and the rest (path, query, fragment). */
const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^/?#]*@)?([^@/?#]*)(.*)$/is;

/**
 * Parses a URL with several hosts (`h1:p1,h2:p2`) or a `target_session_attrs` parameter; returns
 * undefined for an ordinary single-host URL, which node-postgres reads itself.
 *
 * @throws {InvalidDatabaseUrlError} for an empty host, a bad port, or a `target_session_attrs`
 * other than `any`, `read-write` or `primary`.
 *
 * @example
 * const target = parseMultiHostUrl('postgres://app@db1:5432,db2:5432/app?target_session_attrs=read-write');
 * target?.hosts; // [{ host: 'db1', port: 5432 }, { host: 'db2', port: 5432 }]
 */
export function parseMultiHostUrl(url: string): MultiHostTarget | undefined {
  const parts = URL_PARTS.exec(url);
  if (parts === null) return undefined;
  const [, scheme = '', userInfo = '', hostList = '', rest = ''] = parts;
  const queryStart = rest.indexOf('?');
  const fragmentStart = rest.indexOf('#');
  const pathEnd = queryStart >= 0 ? queryStart : fragmentStart >= 0 ? fragmentStart : rest.length;
  const queryEnd = fragmentStart >= 0 ? fragmentStart : rest.length;
  const query = new URLSearchParams(queryStart >= 0 ? rest.slice(queryStart + 1, queryEnd) : '');
  const attrs = query.get('target_session_attrs');
  if (!hostList.includes(',') && attrs === null) return undefined;
  if (attrs !== null && !TARGET_SESSION_ATTRS.has(attrs)) {
    throw new InvalidDatabaseUrlError(
      `target_session_attrs=${JSON.stringify(attrs)} is not supported: use read-write (the primary of a multi-host URL) or any`,
    );
  }
  query.delete('target_session_attrs');
  const hosts = hostList.split(',').map(parseHostPort);
  const search = query.size > 0 ? `?${query.toString()}` : '';
  const tail = `${rest.slice(0, pathEnd)}${search}${rest.slice(queryEnd)}`;
  const urlFor = (index: number): string => {
    const host = hosts[index];
    if (host === undefined) throw new RangeError(`host index ${index} is outside the ${hosts.length} hosts of the URL`);
    return `${scheme}${userInfo}${formatHostPort(host)}${tail}`;
  };
  return {
    hosts,
    targetSessionAttrs: (attrs ?? 'any') as TargetSessionAttrs,
    urlFor,
    describe: (redact) => {
      // Redact the first host's URL (it has the same secrets), then put the whole list back.
      const first = redact(urlFor(0));
      const firstHost = formatHostPort(hosts[0] as HostPort);
      const at = first.indexOf(firstHost, first.indexOf('//') + 2);
      const described = at < 0 ? first : `${first.slice(0, at)}${hosts.map(formatHostPort).join(',')}${first.slice(at + firstHost.length)}`;
      return attrs === null ? described : `${described}${described.includes('?') ? '&' : '?'}target_session_attrs=${attrs}`;
    },
  };
}

function parseHostPort(text: string): HostPort {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  const port = match?.[2] === undefined ? DEFAULT_PORT : Number(match[2]);
  if (match === null || port < 1 || port > 65_535) {
    throw new InvalidDatabaseUrlError(
      `the host ${JSON.stringify(text)} of the multi-host URL is not host or host:port: expected postgres://user@host1:port1,host2:port2/database`,
    );
  }
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
}

function formatHostPort({ host, port }: HostPort): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** True when `error` is PostgreSQL's "cannot execute … in a read-only transaction". */
export function isReadOnlyError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === READ_ONLY_SQLSTATE;
}

/**
 * Remembers which host of a {@link MultiHostTarget} is the primary. Connections go to it until
 * one fails or finds it read-only ({@link PrimaryLocator.suspect}); the next connection then
 * probes the hosts in order (the first connection from the first host, later ones from the host
 * after the suspect) and keeps the first that qualifies.
 *
 * @example
 * const locator = new PrimaryLocator(target, 15_000, description);
 * const pool = new pg.Pool({ Client: locator.clientClass(pg.Client) });
 */
export class PrimaryLocator {
  readonly #target: MultiHostTarget;
  readonly #connectTimeoutMs: number;
  readonly #description: string;
  readonly #onChange = new Set<() => void>();
  #current = 0;
  /** Where the next search starts: the first host at first (libpq's order), then the one after a suspect. */
  #searchFrom = 0;
  #suspect = true;
  #discovering: Promise<number> | undefined;

  constructor(target: MultiHostTarget, connectTimeoutMs: number, description: string) {
    this.#target = target;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#description = description;
  }

  /** The host connections go to now. */
  get current(): HostPort {
    return this.#target.hosts[this.#current] as HostPort;
  }

  /** The single-host URL of the current host (for clients built outside the pool). */
  get currentUrl(): string {
    return this.#target.urlFor(this.#current);
  }

  /** Calls `listener` whenever the primary moves to another host; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#onChange.add(listener);
    return () => this.#onChange.delete(listener);
  }

  /** The current host failed or refused a write: the next connection looks for the primary again. */
  suspect(): void {
    if (this.#suspect) return;
    this.#suspect = true;
    this.#searchFrom = (this.#current + 1) % this.#target.hosts.length;
  }

  /**
   * A `pg.Client` subclass (of `Base`, which carries the pool's options) whose `connect()` goes
   * to the primary: the pool uses it as its `Client`.
   */
  clientClass(Base: typeof pg.Client): typeof pg.Client {
    const locator = this;
    class PrimaryClient extends Base {
      override connect(): Promise<pg.Client>;
      override connect(callback: ((err: Error) => void) | ((err: null, client: pg.Client) => void)): void;
      override connect(callback?: ((err: Error) => void) | ((err: null, client: pg.Client) => void)): Promise<pg.Client> | void {
        const connecting = locator.#connect(this, () => super.connect()).then(() => this);
        if (callback === undefined) return connecting;
        const done = callback as (err: Error | null, client?: pg.Client) => void;
        connecting.then((client) => done(null, client), (error: Error) => done(error));
      }
    }
    return PrimaryClient;
  }

  async #connect(client: pg.Client, connect: () => Promise<unknown>): Promise<void> {
    const index = this.#suspect ? await this.#discover() : this.#current;
    pointAt(client, this.#target.hosts[index] as HostPort);
    try {
      await connect();
    } catch (error) {
      if (index === this.#current) this.suspect();
      throw error;
    }
    if (this.#target.targetSessionAttrs !== 'any' && !(await isWritable(client).catch(() => false))) {
      if (index === this.#current) this.suspect();
      await client.end().catch(() => {});
      throw new DatabaseUnavailableError(this.#description, new Error(`${formatHostPort(this.#target.hosts[index] as HostPort)} is read-only now (a standby, or default_transaction_read_only); looking for the primary among the other hosts`));
    }
  }

  /**
   * Probes the hosts in order from `#searchFrom`; while none qualifies but a standby answers,
   * again every {@link PROMOTION_POLL_MS} until the connect timeout. Concurrent callers share it.
   */
  #discover(): Promise<number> {
    this.#discovering ??= (async () => {
      const deadlineMs = Date.now() + this.#connectTimeoutMs;
      for (;;) {
        const pass = await this.#probeEachHost();
        if (typeof pass === 'number') return pass;
        if (!pass.standbyAnswered || Date.now() + PROMOTION_POLL_MS > deadlineMs) {
          throw new DatabaseUnavailableError(this.#description, new Error(`no host accepts ${this.#target.targetSessionAttrs === 'any' ? 'connections' : 'writes'} (${pass.reasons.join('; ')})`));
        }
        await new Promise((resolve) => setTimeout(resolve, PROMOTION_POLL_MS));
      }
    })().finally(() => {
      this.#discovering = undefined;
    });
    return this.#discovering;
  }

  /** One pass over the hosts: the index of the first that qualifies, or why none did. */
  async #probeEachHost(): Promise<number | { reasons: string[]; standbyAnswered: boolean }> {
    const count = this.#target.hosts.length;
    const reasons: string[] = [];
    let standbyAnswered = false;
    for (let step = 0; step < count; step++) {
      const index = (this.#searchFrom + step) % count;
      const probe = new pg.Client({ connectionString: this.#target.urlFor(index), connectionTimeoutMillis: this.#connectTimeoutMs });
      probe.on('error', () => {});
      try {
        await probe.connect();
        const state = this.#target.targetSessionAttrs === 'any' ? 'writable' : await sessionState(probe);
        if (state === 'writable') {
          const moved = index !== this.#current;
          this.#current = index;
          this.#suspect = false;
          if (moved) for (const listener of this.#onChange) listener();
          return index;
        }
        if (state === 'standby') standbyAnswered = true;
        reasons.push(`${formatHostPort(this.#target.hosts[index] as HostPort)} is ${state === 'standby' ? 'a standby' : 'read-only'}`);
      } catch (error) {
        reasons.push(`${formatHostPort(this.#target.hosts[index] as HostPort)}: ${(error as Error).message || (error as NodeJS.ErrnoException).code}`);
      } finally {
        await probe.end().catch(() => {});
      }
    }
    return { reasons, standbyAnswered };
  }
}

/** Points a not yet connected client at `target` (pg reads `host`/`port` when it connects). */
function pointAt(client: pg.Client, target: HostPort): void {
  client.host = target.host;
  client.port = target.port;
  const parameters = (client as unknown as { connectionParameters?: { host: string; port: number } }).connectionParameters;
  if (parameters !== undefined) {
    parameters.host = target.host;
    parameters.port = target.port;
  }
}

/** libpq's read-write check: not in recovery, and new transactions are not read-only by default. */
async function isWritable(client: pg.Client): Promise<boolean> {
  return (await sessionState(client)) === 'writable';
}

/** `'standby'` in recovery, `'read-only'` when transactions default to read-only, else `'writable'`. */
async function sessionState(client: pg.Client): Promise<'writable' | 'read-only' | 'standby'> {
  const { rows } = await client.query<{ standby: boolean; read_only: boolean }>(
    "select pg_is_in_recovery() as standby, current_setting('transaction_read_only') = 'on' as read_only",
  );
  const row = rows[0];
  return row?.standby !== false ? 'standby' : row.read_only ? 'read-only' : 'writable';
}
