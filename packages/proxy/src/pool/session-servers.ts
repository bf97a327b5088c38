// Session mode's reuse of server connections (as PgBouncer's session pooling): a connection its
// client left idle is reset with DISCARD ALL and kept for the next session of the same role,
// database and parameters, so that session starts without a new backend — and a frozen instance
// woken for it answers as soon as it is thawed.

import type { ServerConnection } from '../backend/connect.js';
import { simpleQuery } from '../backend/simple-query.js';

/** Idle connections kept per instance: enough for a burst of short sessions, few enough to cost little. */
export const MAX_IDLE_SESSION_SERVERS = 4;
/** An idle connection unused this long is closed (PgBouncer's server_idle_timeout is 600 s). */
export const SESSION_SERVER_IDLE_MS = 10 * 60_000;
/** A reset that takes longer than this means a server in trouble: the connection is closed instead. */
const RESET_TIMEOUT_MS = 5_000;
/** PgBouncer's server_reset_query: everything a session may have left behind (settings, temp tables, prepared statements, locks, LISTENs). */
const RESET_SQL = 'DISCARD ALL';
/** DISCARD ALL answers a CommandComplete: anything longer is not its answer. */
const MAX_RESET_ANSWER_BYTES = 64 * 1024;

interface Parked {
  readonly key: string;
  readonly conn: ServerConnection;
  readonly since: number;
  readonly drop: () => void;
}

/**
 * @example
 * ```ts
 * const servers = new SessionServers();
 * const reused = servers.take('ins_x', key) ?? await connectBackend(target);
 * // … when the client leaves it idle:
 * servers.park('ins_x', key, reused, () => gate.held + servers.idle('ins_x') < gate.limit);
 * ```
 */
export class SessionServers {
  readonly #idle = new Map<string, Parked[]>();
  readonly #sweep: NodeJS.Timeout;

  constructor(private readonly idleMs = SESSION_SERVER_IDLE_MS) {
    this.#sweep = setInterval(() => this.#closeOld(), Math.min(idleMs, 60_000));
    this.#sweep.unref();
  }

  /** Idle connections of an instance now. */
  idle(instanceId: string): number {
    return this.#idle.get(instanceId)?.length ?? 0;
  }

  /** An idle connection of `key` (most recently parked first), or undefined. */
  take(instanceId: string, key: string): ServerConnection | undefined {
    const list = this.#idle.get(instanceId);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i -= 1) {
      const parked = list[i]!;
      if (parked.key !== key) continue;
      list.splice(i, 1);
      parked.conn.socket.removeListener('close', parked.drop);
      parked.conn.socket.removeListener('error', parked.drop);
      if (parked.conn.socket.destroyed) continue;
      return parked.conn;
    }
    return undefined;
  }

  /**
   * Resets `conn` and keeps it, when `room()` says the instance has room for another idle
   * connection (and at most {@link MAX_IDLE_SESSION_SERVERS}); else, or when the reset fails, closes it.
   */
  park(instanceId: string, key: string, conn: ServerConnection, room: () => boolean): void {
    if (this.idle(instanceId) >= MAX_IDLE_SESSION_SERVERS || !room()) {
      conn.socket.destroy();
      return;
    }
    void reset(conn).then((ok) => {
      if (!ok || conn.socket.destroyed || this.idle(instanceId) >= MAX_IDLE_SESSION_SERVERS || !room()) {
        conn.socket.destroy();
        return;
      }
      let list = this.#idle.get(instanceId);
      if (!list) this.#idle.set(instanceId, (list = []));
      const parked: Parked = {
        key,
        conn,
        since: performance.now(),
        drop: () => {
          const at = list!.indexOf(parked);
          if (at >= 0) list!.splice(at, 1);
        },
      };
      conn.socket.once('close', parked.drop);
      conn.socket.once('error', parked.drop);
      list.push(parked);
    });
  }

  /** Closes an instance's idle connections (before it is stopped). */
  closeIdle(instanceId: string): void {
    for (const parked of this.#idle.get(instanceId)?.splice(0) ?? []) parked.conn.socket.destroy();
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const instanceId of this.#idle.keys()) this.closeIdle(instanceId);
  }

  #closeOld(): void {
    const now = performance.now();
    for (const list of this.#idle.values()) {
      for (const parked of list.filter((p) => now - p.since >= this.idleMs)) {
        list.splice(list.indexOf(parked), 1);
        parked.conn.socket.destroy();
      }
    }
  }
}

/** Sends DISCARD ALL and waits for its ReadyForQuery: true when it succeeded and the connection is idle. */
async function reset(conn: ServerConnection): Promise<boolean> {
  const result = await simpleQuery(conn, RESET_SQL, MAX_RESET_ANSWER_BYTES, RESET_TIMEOUT_MS);
  return result?.answer !== undefined && result.status === 'I' && !result.trailing;
}
