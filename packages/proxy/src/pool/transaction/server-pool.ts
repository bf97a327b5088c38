// The server connections of one instance in transaction mode: idle ones by (role, database,
// parameters), a bound on how many are open, and a FIFO of clients waiting for one.

import type { ServerConnection } from '../../backend/connect.js';
import { ProxyError } from '../../errors.js';
import { MessageReader, type Frame } from '../../protocol/framing.js';
import { MAX_GATE_WAITERS } from '../gate.js';

/** Server messages are framed whole (the pool must cut the stream at ReadyForQuery). */
const MAX_SERVER_MESSAGE_BYTES = 1024 * 1024 * 1024;
/** Prepared statements kept per server connection; beyond it the least recently used is closed. */
export const MAX_PREPARED_PER_SERVER = 1_000;

/** Statement names the pool remembers as prepared successfully somewhere (a later Parse of one needs no server). */
const MAX_KNOWN_STATEMENTS = 10_000;

/** A server connection in the pool. */
export class PooledServer {
  /** Server-side statement names this connection has prepared, least recently used first. */
  readonly prepared = new Map<string, true>();
  readonly reader = new MessageReader(MAX_SERVER_MESSAGE_BYTES);
  /** Who gets its messages now; undefined while idle. */
  owner: ((frames: Frame[]) => void) | undefined;
  onLost: (() => void) | undefined;
  closed = false;

  constructor(
    readonly conn: ServerConnection,
    readonly key: string,
  ) {}

  /** Marks `name` used (most recent). */
  touch(name: string): void {
    this.prepared.delete(name);
    this.prepared.set(name, true);
  }
}

interface Waiter {
  readonly key: string;
  readonly open: () => Promise<ServerConnection>;
  readonly resolve: (server: PooledServer) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * @example
 * ```ts
 * const pool = new ServerPool('ins_x', () => 20, 10_000);
 * const server = await pool.acquire('app/app', () => connectBackend(target));
 * pool.release(server); // back to idle, or straight to the longest waiter
 * ```
 */
export class ServerPool {
  readonly #idle = new Map<string, PooledServer[]>();
  readonly #all = new Set<PooledServer>();
  readonly #waiters: Waiter[] = [];
  /** Connections being opened (they count against the limit). */
  #opening = 0;
  readonly #known = new Set<string>();

  constructor(
    readonly instanceId: string,
    private readonly limit: () => number,
    private readonly waitTimeoutMs: number,
  ) {}

  get open(): number {
    return this.#all.size + this.#opening;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  get idle(): number {
    let count = 0;
    for (const list of this.#idle.values()) count += list.length;
    return count;
  }

  /**
   * Whether a statement of this name (a hash of its text) was prepared without error on one of
   * the pool's connections: a client's Parse of it can be answered without taking a connection.
   */
  knows(statementName: string): boolean {
    return this.#known.has(statementName);
  }

  /** Remembers a statement that prepared without error. */
  remember(statementName: string): void {
    if (this.#known.has(statementName)) return;
    if (this.#known.size >= MAX_KNOWN_STATEMENTS) this.#known.delete(this.#known.values().next().value as string);
    this.#known.add(statementName);
  }

  /** An idle connection for `key` now, or undefined (then {@link ServerPool.acquire} waits or opens one). */
  takeIdle(key: string): PooledServer | undefined {
    // No jumping the queue: waiters of this key are served by release() first.
    if (this.#waiters.length > 0) return undefined;
    return this.#idle.get(key)?.pop();
  }

  /** An idle connection for `key`, a new one, or the next one released. @throws {ProxyError} 53300 after the wait timeout. */
  acquire(key: string, open: () => Promise<ServerConnection>): Promise<PooledServer> {
    const idle = this.#idle.get(key)?.pop();
    if (idle) return Promise.resolve(idle);
    if (this.open < this.limit()) return this.#openNew(key, open);
    if (this.idle > 0) {
      // Room is held by idle connections of other roles or databases: trade one in.
      this.#closeOneIdle();
      return this.#openNew(key, open);
    }
    if (this.#waiters.length >= MAX_GATE_WAITERS) return Promise.reject(new ProxyError('STRATA_PROXY_POOL_TIMEOUT', '53300', `too many clients are waiting for a server connection of instance ${this.instanceId}`));
    return new Promise<PooledServer>((resolve, reject) => {
      const waiter: Waiter = { key, open, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(new ProxyError('STRATA_PROXY_POOL_TIMEOUT', '53300', `timed out after ${this.waitTimeoutMs} ms waiting for a server connection of instance ${this.instanceId} (all ${this.limit()} in use); raise the instance's server connection limit, shorten transactions, or use fewer concurrent clients`));
      }, this.waitTimeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Gives a connection back (its last ReadyForQuery said idle). */
  release(server: PooledServer): void {
    server.owner = undefined;
    server.onLost = undefined;
    if (server.closed) return this.#handOn();
    const index = this.#waiters.findIndex((waiter) => waiter.key === server.key);
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1);
      clearTimeout(waiter!.timer);
      waiter!.resolve(server);
      return;
    }
    if (this.#waiters.length > 0) {
      // Only waiters for other roles or databases: make room for one of them.
      this.discard(server);
      return;
    }
    let list = this.#idle.get(server.key);
    if (!list) this.#idle.set(server.key, (list = []));
    list.push(server);
  }

  /** Closes a connection that cannot be reused (its client left mid-transaction, or it broke). */
  discard(server: PooledServer): void {
    if (!server.closed) {
      server.closed = true;
      server.conn.socket.destroy();
    }
    if (this.#all.delete(server)) this.#handOn();
  }

  /** Closes every idle connection (before the instance is suspended). */
  closeIdle(): void {
    for (const list of this.#idle.values()) for (const server of list.splice(0)) this.discard(server);
  }

  /** Closes everything and fails every waiter. */
  close(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    for (const server of [...this.#all]) this.discard(server);
    this.#idle.clear();
  }

  async #openNew(key: string, open: () => Promise<ServerConnection>): Promise<PooledServer> {
    this.#opening += 1;
    let conn: ServerConnection;
    try {
      conn = await open();
    } catch (error) {
      this.#opening -= 1;
      this.#handOn();
      throw error;
    }
    this.#opening -= 1;
    const server = new PooledServer(conn, key);
    this.#all.add(server);
    const lost = () => {
      const notify = server.onLost;
      this.#removeIdle(server);
      this.discard(server);
      notify?.();
    };
    conn.socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = server.reader.push(chunk);
      } catch {
        lost();
        return;
      }
      // An idle connection's messages (a notice, a FATAL before the server ends it) go nowhere.
      server.owner?.(frames);
    });
    conn.socket.on('close', lost);
    conn.socket.on('error', lost);
    return server;
  }

  /** A place freed: the longest waiter opens a connection. */
  #handOn(): void {
    if (this.#waiters.length === 0 || this.open >= this.limit()) return;
    const waiter = this.#waiters.shift()!;
    clearTimeout(waiter.timer);
    this.#openNew(waiter.key, waiter.open).then(waiter.resolve, waiter.reject);
  }

  #removeIdle(server: PooledServer): void {
    const list = this.#idle.get(server.key);
    const index = list?.indexOf(server) ?? -1;
    if (index >= 0) list!.splice(index, 1);
  }

  #closeOneIdle(): void {
    for (const list of this.#idle.values()) {
      const server = list.shift();
      if (server) {
        server.closed = true;
        server.conn.socket.destroy();
        this.#all.delete(server);
        return;
      }
    }
  }
}
