// Serves an embedded (PGlite) database to other processes of the same user, over a Unix socket in its directory.
import { chmod, mkdir, mkdtemp, rmdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The socket's file name: what a PostgreSQL client looks for in a socket directory (port 5432). */
export const SOCKET_FILE = '.s.PGSQL.5432';
/** The socket's directory inside a Strata directory: mode 0700, so only the owner can connect. */
const SOCKET_SUBDIR = 'run';
/** Linux's sun_path holds 108 bytes with the NUL (macOS 104): longer paths go to a private temporary directory. */
const MAX_SOCKET_PATH_BYTES = 103;
/**
 * How long a client may sit inside an open transaction without sending anything. The app's own
 * statements wait behind it (PGlite has one connection), so a client that died or hangs mid-
 * transaction is rolled back and disconnected after this long. CLI commands finish in milliseconds.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
/** Bound on one client's unprocessed input: a client that sends this much without waiting for answers is cut off. */
const MAX_PENDING_INPUT_BYTES = 64 * 1024 * 1024;

/** Protocol codes of the untyped messages a client may open a connection with. */
const PROTOCOL_3 = 196_608;
const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;
const CANCEL_REQUEST = 80_877_102;
/** Messages after which a client waits for answers: Sync, simple Query, Flush, CopyDone, CopyFail. */
const UNIT_ENDS = new Set(['S', 'Q', 'H', 'c', 'f'].map((c) => c.charCodeAt(0)));
const TERMINATE = 'X'.charCodeAt(0);
const READY_FOR_QUERY = 'Z'.charCodeAt(0);
const NOTIFICATION = 'A'.charCodeAt(0);
const IDLE = 'I'.charCodeAt(0);

/** What the server needs of the embedded engine. */
export interface ServedEngine {
  /** Runs `work` alone on the single connection, queued behind the app's own statements and transactions. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Runs wire-protocol messages on the connection (PGlite's execProtocolRaw); in-process listeners still get their notifications. */
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
  /** Runs SQL (simple protocol) on the connection; call only inside {@link exclusive}. */
  exec(sql: string): Promise<void>;
  /** Listens on `channel` beside the app's own listeners; call only inside {@link exclusive}. */
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Where the socket of Strata directory `dir` goes: `dir/run/.s.PGSQL.5432` (created by
 * {@link SocketServer.start}), or one in a fresh private temporary directory when that path is too
 * long for a Unix socket.
 *
 * @example
 * const socketPath = await socketPathFor('/var/lib/app/.strata'); // '/var/lib/app/.strata/run/.s.PGSQL.5432'
 */
export async function socketPathFor(dir: string): Promise<string> {
  const inside = path.join(dir, SOCKET_SUBDIR, SOCKET_FILE);
  if (Buffer.byteLength(inside) <= MAX_SOCKET_PATH_BYTES) return inside;
  return path.join(await mkdtemp(path.join(tmpdir(), 'strata-')), SOCKET_FILE);
}

/** Removes the socket and its directory (if empty), leaving the Strata directory as it was before opening. */
export async function removeSocket(socketPath: string): Promise<void> {
  await unlink(socketPath).catch(() => undefined);
  await rmdir(path.dirname(socketPath)).catch(() => undefined);
}

/**
 * A PostgreSQL wire-protocol server on a Unix socket in front of one embedded engine. PGlite has
 * one connection, so each client's request (up to its Sync or Query) runs alone in the engine's
 * queue, and a client inside a transaction keeps the engine until COMMIT or ROLLBACK (or
 * {@link IDLE_IN_TRANSACTION_TIMEOUT_MS} of silence): no statement of the app or of another client
 * runs inside it, nor it inside theirs. Each client's prepared statements are renamed apart;
 * LISTEN and UNLISTEN are kept per client (the app's channels stay subscribed); a client's
 * session settings are reset when it leaves.
 *
 * @example
 * const server = await SocketServer.start(engine, await prepareSocketPath(dir));
 * await server.close();
 */
export class SocketServer {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #connections = new Set<ClientConnection>();

  private constructor(server: Server, socketPath: string) {
    this.#server = server;
    this.socketPath = socketPath;
  }

  /** Listens on `socketPath` (a stale socket file there is replaced) with mode 0600; clients are told `serverVersion`. */
  static async start(engine: ServedEngine, socketPath: string, serverVersion: string): Promise<SocketServer> {
    await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    await chmod(path.dirname(socketPath), 0o700); // also when an older directory had other bits
    await unlink(socketPath).catch(() => undefined); // left by a holder that died: we hold the lock now
    let server!: SocketServer;
    let nextId = 1;
    const netServer = createServer((socket) => {
      const connection = new ClientConnection(engine, socket, nextId++, serverVersion);
      server.#connections.add(connection);
      socket.once('close', () => server.#connections.delete(connection));
    });
    server = new SocketServer(netServer, socketPath);
    await new Promise<void>((resolve, reject) => {
      netServer.once('error', reject);
      netServer.listen(socketPath, () => {
        netServer.off('error', reject);
        resolve();
      });
    });
    netServer.unref(); // the app's own handles decide when the process ends
    await chmod(socketPath, 0o600);
    return server;
  }

  /** Disconnects every client (rolling back what they left open) and removes the socket. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const connection of this.#connections) connection.destroy();
    });
    await Promise.all([...this.#connections].map((connection) => connection.finished));
    await removeSocket(this.socketPath);
  }
}

/** One client: reassembles its messages into requests and runs them on the engine in turn. */
class ClientConnection {
  /** Resolves once the client is gone and whatever it left on the engine is cleaned up. */
  readonly finished: Promise<void>;
  readonly #engine: ServedEngine;
  readonly #socket: Socket;
  readonly #id: number;
  readonly #serverVersion: string;
  #input: Buffer = Buffer.alloc(0);
  #started = false;
  #current: Buffer[] = [];
  readonly #requests: Buffer[][] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  /** Prepared statements this client created, by their name on the engine. */
  readonly #statements = new Set<string>();
  /** This client's LISTEN subscriptions by channel. */
  readonly #listens = new Map<string, () => Promise<void>>();
  #usedSession = false;

  constructor(engine: ServedEngine, socket: Socket, id: number, serverVersion: string) {
    this.#engine = engine;
    this.#socket = socket;
    this.#id = id;
    this.#serverVersion = serverVersion;
    socket.on('data', (chunk) => this.#receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.#closed = true;
      this.#wake?.();
    });
    this.finished = this.#serve().catch(() => void socket.destroy());
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    this.#input = this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    if (this.#input.length > MAX_PENDING_INPUT_BYTES) return void this.#socket.destroy();
    while (!this.#closed) {
      if (!this.#started) {
        if (this.#input.length < 8) return;
        const length = this.#input.readInt32BE(0);
        if (this.#input.length < length) return;
        const code = this.#input.readInt32BE(4);
        this.#input = this.#input.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) this.#socket.write('N');
        else if (code === PROTOCOL_3) this.#startup();
        else return void this.#socket.destroy(); // a cancel request (PGlite cannot cancel) or an unknown protocol
        continue;
      }
      if (this.#input.length < 5) return;
      const length = 1 + this.#input.readInt32BE(1);
      if (this.#input.length < length) return;
      const message = this.#input.subarray(0, length);
      this.#input = this.#input.subarray(length);
      if (message[0] === TERMINATE) return void this.#socket.end();
      this.#current.push(this.#renamed(message));
      if (UNIT_ENDS.has(message[0]!)) {
        this.#requests.push(this.#current);
        this.#current = [];
        this.#wake?.();
      }
    }
  }

  /** The answer to a startup message: trust (the socket is the owner's alone), settings, ready. */
  #startup(): void {
    this.#started = true;
    const parameters: Array<[string, string]> = [
      ['server_version', this.#serverVersion],
      ['server_encoding', 'UTF8'],
      ['client_encoding', 'UTF8'],
      ['DateStyle', 'ISO, MDY'],
      ['integer_datetimes', 'on'],
      ['standard_conforming_strings', 'on'],
    ];
    this.#socket.write(
      Buffer.concat([
        message('R', int32(0)),
        ...parameters.map(([name, value]) => message('S', Buffer.from(`${name}\0${value}\0`))),
        message('K', Buffer.concat([int32(process.pid), int32(this.#id)])),
        message('Z', Buffer.from('I')),
      ]),
    );
  }

  /** The client's requests, each run alone on the engine; a transaction keeps the engine until it ends. */
  async #serve(): Promise<void> {
    try {
      for (;;) {
        const first = await this.#nextRequest(undefined);
        if (first === undefined) return;
        await this.#engine.exclusive(async () => {
          let request: Buffer[] | undefined = first;
          for (;;) {
            if (await this.#run(request)) return;
            request = await this.#nextRequest(IDLE_IN_TRANSACTION_TIMEOUT_MS);
            if (request === undefined) {
              // Gone, or silent for too long, inside a transaction: nothing of it is kept.
              await this.#engine.execProtocolRaw(message('S', Buffer.alloc(0)));
              await this.#engine.exec('rollback');
              this.#socket.destroy();
              return;
            }
          }
        });
      }
    } finally {
      await this.#cleanUp();
    }
  }

  /** Runs one request and sends its answer; true when the connection is idle afterwards (no transaction open). */
  async #run(request: Buffer[]): Promise<boolean> {
    const listen = request.length === 1 ? listenCommand(request[0]!) : undefined;
    if (listen !== undefined) {
      await this.#listen(listen);
      this.#send(Buffer.concat([message('C', Buffer.from(`${listen.unlisten ? 'UNLISTEN' : 'LISTEN'}\0`)), message('Z', Buffer.from('I'))]));
      return true;
    }
    this.#usedSession = true;
    const answer = Buffer.from(await this.#engine.execProtocolRaw(Buffer.concat(request)));
    const { forwarded, status } = scanAnswer(answer);
    this.#send(forwarded);
    return status === IDLE;
  }

  /** LISTEN through the engine's own listener registry, so the app's subscriptions to the same channel stay. */
  async #listen({ channel, unlisten }: { channel: string | '*'; unlisten: boolean }): Promise<void> {
    if (unlisten) {
      const channels = channel === '*' ? [...this.#listens.keys()] : [channel];
      for (const name of channels) {
        await this.#listens.get(name)?.();
        this.#listens.delete(name);
      }
      return;
    }
    if (channel === '*' || this.#listens.has(channel)) return;
    const quoted = `"${channel.replaceAll('"', '""')}"`;
    this.#listens.set(channel, await this.#engine.listen(quoted, (payload) => this.#send(notification(channel, payload))));
  }

  #send(data: Buffer): void {
    if (data.length > 0 && !this.#closed && this.#socket.writable) this.#socket.write(data);
  }

  /** The next request, or undefined when the client is gone or stayed silent for `timeoutMs`. */
  async #nextRequest(timeoutMs: number | undefined): Promise<Buffer[] | undefined> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    while (this.#requests.length === 0) {
      if (this.#closed) return undefined;
      const remainingMs = deadline === undefined ? undefined : deadline - Date.now();
      if (remainingMs !== undefined && remainingMs <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = remainingMs === undefined ? undefined : setTimeout(resolve, remainingMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.#requests.shift();
  }

  /** Drops what the client left on the shared session: its listens, prepared statements and settings. */
  async #cleanUp(): Promise<void> {
    this.#socket.destroy();
    if (this.#listens.size === 0 && this.#statements.size === 0 && !this.#usedSession) return;
    await this.#engine.exclusive(async () => {
      for (const unlisten of this.#listens.values()) await unlisten().catch(() => undefined);
      this.#listens.clear();
      for (const name of this.#statements) await this.#engine.exec(`deallocate "${name.replaceAll('"', '""')}"`).catch(() => undefined);
      if (this.#usedSession) await this.#engine.exec('reset all').catch(() => undefined);
    });
  }

  /**
   * Prefixes the client's prepared statement names with its own id: every client shares the one
   * session, and two clients (two CLI runs) preparing the same name must not collide.
   */
  #renamed(original: Buffer): Buffer {
    const type = String.fromCharCode(original[0]!);
    const body = original.subarray(5);
    if (type === 'P') {
      const [name, rest] = splitCString(body);
      if (name === '') return original;
      this.#statements.add(this.#engineName(name));
      return message('P', Buffer.concat([cString(this.#engineName(name)), rest]));
    }
    if (type === 'B') {
      const [portal, afterPortal] = splitCString(body);
      const [statement, rest] = splitCString(afterPortal);
      if (statement === '') return original;
      return message('B', Buffer.concat([cString(portal), cString(this.#engineName(statement)), rest]));
    }
    if ((type === 'D' || type === 'C') && body[0] === 'S'.charCodeAt(0)) {
      const [name] = splitCString(body.subarray(1));
      if (name === '') return original;
      if (type === 'C') this.#statements.delete(this.#engineName(name));
      return message(type, Buffer.concat([Buffer.from('S'), cString(this.#engineName(name))]));
    }
    return original;
  }

  #engineName(name: string): string {
    return `c${this.#id}_${name}`;
  }
}

/** The answer without notification messages (clients get only the channels they listen to), and the final ReadyForQuery status. */
function scanAnswer(answer: Buffer): { forwarded: Buffer; status: number | undefined } {
  const kept: Buffer[] = [];
  let status: number | undefined;
  let offset = 0;
  let keptFrom = 0;
  while (offset + 5 <= answer.length) {
    const type = answer[offset]!;
    const end = offset + 1 + answer.readInt32BE(offset + 1);
    if (type === NOTIFICATION) {
      kept.push(answer.subarray(keptFrom, offset));
      keptFrom = end;
    }
    // An error answer, a notice or a row between requests: only the last ReadyForQuery counts.
    status = type === READY_FOR_QUERY ? answer[offset + 5] : undefined;
    offset = end;
  }
  kept.push(answer.subarray(keptFrom));
  return { forwarded: Buffer.concat(kept), status };
}

/** `LISTEN x` / `UNLISTEN x` / `UNLISTEN *` as a whole simple query, else undefined. */
function listenCommand(request: Buffer): { channel: string; unlisten: boolean } | undefined {
  if (request[0] !== 'Q'.charCodeAt(0)) return undefined;
  const [text] = splitCString(request.subarray(5));
  const match = /^\s*(un)?listen\s+(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*)|(\*))\s*;?\s*$/i.exec(text);
  if (!match) return undefined;
  const unlisten = match[1] !== undefined;
  if (match[4] !== undefined) return unlisten ? { channel: '*', unlisten } : undefined;
  // Unquoted names fold to lower case, as PostgreSQL folds them.
  return { channel: match[2] !== undefined ? match[2].replaceAll('""', '"') : match[3]!.toLowerCase(), unlisten };
}

function notification(channel: string, payload: string): Buffer {
  return message('A', Buffer.concat([int32(process.pid), cString(channel), cString(payload)]));
}

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value | 0);
  return buffer;
}

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

function splitCString(buffer: Buffer): [string, Buffer] {
  const end = buffer.indexOf(0);
  if (end < 0) return [buffer.toString('utf8'), Buffer.alloc(0)];
  return [buffer.subarray(0, end).toString('utf8'), buffer.subarray(end + 1)];
}
