// Transaction mode for one client: a server connection is taken from the instance's pool when the
// client starts work and given back at the ReadyForQuery that says "idle" with nothing pending.
// Named prepared statements work across server connections the way PgBouncer ≥ 1.21 does it: the
// client's names map to the proxy's names (a hash of the text), each server connection knows which
// it has prepared, and a Parse is sent ahead of a Bind or Describe on one that has not.

import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { CancelTarget } from '../../server/cancel.js';
import { MessageReader, payloadOf, type Frame } from '../../protocol/framing.js';
import { buildParse, buildTarget, readBind, readParse, readQuery, readTarget, renameBind } from '../../protocol/extended.js';
import { CLOSE_COMPLETE, errorResponse, PARSE_COMPLETE, readyForQuery } from '../../protocol/messages.js';
import { MAX_CLIENT_MESSAGE_BYTES, type ClientSession, type SessionHooks } from '../session-types.js';
import { sessionStateOf } from '../session-state.js';
import { Answer, ends, isAsync, type Expectation } from './responses.js';
import { MAX_PREPARED_PER_SERVER, type PooledServer, type ServerPool } from './server-pool.js';
import type { ServerConnection } from '../../backend/connect.js';
import type { CacheDecision, CachePath, Revalidation } from '../cache-path.js';

const T = { Query: 0x51, Parse: 0x50, Bind: 0x42, Describe: 0x44, Execute: 0x45, Close: 0x43, Sync: 0x53, Flush: 0x48, Terminate: 0x58, Function: 0x46, CopyData: 0x64, CopyDone: 0x63, CopyFail: 0x66 } as const;
/** The server-side name of a statement: a hash of its text and parameter types, shared by every client. */
function statementName(query: string, types: Buffer): string {
  return `strata_${createHash('sha256').update(query).update('\0').update(types).digest('hex').slice(0, 24)}`;
}

/** Named statements one client may define: beyond it a Parse is refused (a leak in the client). */
const MAX_CLIENT_STATEMENTS = 10_000;

interface ClientStatement {
  readonly serverName: string;
  readonly query: string;
  readonly types: Buffer;
}

/** What a transaction-mode client needs from the proxy. */
export interface TransactionClientOptions {
  readonly socket: Socket;
  readonly pool: ServerPool;
  /** Pool key: role, database and the parameters server connections are opened with. */
  readonly key: string;
  readonly open: () => Promise<ServerConnection>;
  readonly host: string;
  readonly port: number;
  readonly hooks: SessionHooks;
  /** What the handshake read after the startup. */
  readonly pending: { frames: Frame[]; rest: Buffer };
  /** Called before a server connection is taken (wakes a suspended instance), and after it is given back: together they mark the instance busy. */
  readonly activity?: { readonly begin: () => Promise<void> | undefined; readonly end: () => void };
  /** The query cache on this client's path, and how a stale entry is refreshed (on a pooled connection). */
  readonly cache?: { readonly path: CachePath; readonly revalidate: (job: Revalidation) => void };
}

/** How a simple query is handled, decided once (before a server is taken: a cache hit needs none). */
type QueryPlan = { readonly kind: 'refuse'; readonly sqlstate: string; readonly message: string } | { readonly kind: 'send'; readonly dropsPreparedStatements: boolean } | Extract<CacheDecision, { kind: 'answer' }>;

/**
 * Runs one client in transaction mode until it leaves.
 *
 * @example
 * ```ts
 * const client = new TransactionClient({ socket, pool, key, open, host, port, hooks, pending });
 * await client.closed;
 * ```
 */
export class TransactionClient implements ClientSession {
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  readonly #reader = new MessageReader(MAX_CLIENT_MESSAGE_BYTES);
  readonly #frames: Frame[] = [];
  readonly #queue: Expectation[] = [];
  readonly #statements = new Map<string, ClientStatement>();
  #server: PooledServer | undefined;
  #acquiring = false;
  /** activity.begin was called and its end is still owed. */
  #active = false;
  #status: 'I' | 'T' | 'E' = 'I';
  /** Extended messages went to the server since the last Sync: its implicit transaction is open. */
  #unsynced = false;
  /** A refusal was answered; drop extended messages up to the next Sync (as the server would). */
  #skipping = false;
  /** Answers of a Describe of a statement: ParameterDescription seen. */
  #finished = false;
  /** The plan of the query first in line, made when it was looked at before a server was taken. */
  #planned: { readonly frame: Frame; readonly plan: QueryPlan } | undefined;
  #operations = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #toServer: Buffer[] = [];

  constructor(private readonly options: TransactionClientOptions) {
    this.closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));
    const socket = options.socket;
    socket.on('data', this.#onClientData);
    socket.on('close', () => this.#finish());
    socket.on('error', () => this.#finish());
    this.#frames.push(...options.pending.frames);
    if (options.pending.rest.length > 0) this.#onClientData(options.pending.rest);
    else this.#pump();
    socket.resume();
  }

  get transactionStatus(): 'I' | 'T' | 'E' {
    return this.#status;
  }

  /** The server connection a cancel must reach now (none between transactions). */
  cancelTarget(): CancelTarget | undefined {
    const server = this.#server;
    if (!server) return undefined;
    return { host: this.options.host, port: this.options.port, processId: server.conn.processId, secretKey: server.conn.secretKey };
  }

  takeUsage() {
    const usage = { operations: this.#operations, bytesIn: this.#bytesIn, bytesOut: this.#bytesOut };
    this.#operations = 0;
    this.#bytesIn = 0;
    this.#bytesOut = 0;
    return usage;
  }

  close(): void {
    this.#finish();
  }

  readonly #onClientData = (chunk: Buffer): void => {
    this.#bytesIn += chunk.length;
    try {
      this.#frames.push(...this.#reader.push(chunk));
    } catch (error) {
      const problem = error as { sqlstate?: string; message: string };
      this.options.socket.end(errorResponse({ severity: 'FATAL', sqlstate: problem.sqlstate ?? '08P01', message: problem.message }));
      this.#finish();
      return;
    }
    this.#pump();
  };

  /** Handles queued client messages until one needs a server connection that is not there yet. */
  #pump(): void {
    while (this.#frames.length > 0 && !this.#finished) {
      const frame = this.#frames[0]!;
      if (!this.#server && this.#needsServer(frame) && !this.#acquire()) break;
      this.#frames.shift();
      this.#handle(frame);
    }
    this.#flushToServer();
    this.#answerReady();
    this.#maybeRelease();
  }

  /**
   * Whether a message needs a server connection. Not: a Sync or Flush with none attached, a Close
   * of a named statement, and a Parse of a statement the pool has prepared before — clients such as
   * pgbench prepare synchronously, and waiting for a connection there could wait on themselves.
   */
  #needsServer(frame: Frame): boolean {
    const type = frame.type;
    if (type === T.Terminate || type === T.Flush || type === T.Sync || this.#skipping) return false;
    if (type === T.Query) return this.#planOf(frame).kind === 'send';
    if (type === T.Close) {
      const target = readTarget(payloadOf(frame));
      return !(target?.kind === 'S' && target.name !== '');
    }
    if (type === T.Parse && this.#status === 'I') {
      const parse = readParse(payloadOf(frame));
      return !(parse && parse.name !== '' && !this.#statements.has(parse.name) && this.options.pool.knows(statementName(parse.query, parse.types)));
    }
    return true;
  }

  /**
   * Takes a server connection: at once when one is idle and the instance needs no wake (the hot
   * path: no promise, no pause of the client's socket), else asynchronously. Returns true when it
   * attached one now.
   */
  #acquire(): boolean {
    if (this.#acquiring) return false;
    this.#active = true;
    const waking = this.options.activity?.begin();
    if (waking === undefined) {
      const idle = this.options.pool.takeIdle(this.options.key);
      if (idle) {
        this.#attach(idle);
        return true;
      }
    }
    this.#acquiring = true;
    this.options.socket.pause();
    Promise.resolve(waking)
      .then(() => this.options.pool.acquire(this.options.key, this.options.open))
      .then(
      (server) => {
        this.#acquiring = false;
        if (this.#finished) {
          this.options.pool.release(server);
          this.#endActivity();
          return;
        }
        this.#attach(server);
        this.options.socket.resume();
        this.#pump();
      },
      (error: { sqlstate?: string; message: string }) => {
        this.#acquiring = false;
        this.#endActivity();
        this.options.socket.end(errorResponse({ severity: 'FATAL', sqlstate: error.sqlstate ?? '08006', message: error.message }));
        this.#finish();
      },
    );
    return false;
  }

  #attach(server: PooledServer): void {
    this.#server = server;
    server.owner = this.#onServerFramesBound;
    server.onLost = this.#onLostBound;
  }

  /** Made once, not per transaction: the hot path allocates no closures. */
  readonly #onServerFramesBound = (frames: Frame[]): void => this.#onServerFrames(frames);

  /** The attached server connection broke (the pool detaches a connection's callbacks when it is given back). */
  readonly #onLostBound = (): void => {
    if (!this.#server) return;
    this.#server = undefined;
    this.options.socket.end(errorResponse({ severity: 'FATAL', sqlstate: '08006', message: 'the connection to the instance was lost; reconnect' }));
    this.#finish();
  };

  #send(bytes: Buffer): void {
    this.#toServer.push(bytes);
  }

  #flushToServer(): void {
    const server = this.#server;
    if (!server || this.#toServer.length === 0) return;
    const out = this.#toServer.length === 1 ? this.#toServer[0]! : Buffer.concat(this.#toServer);
    this.#toServer.length = 0;
    if (!server.conn.socket.write(out)) {
      this.options.socket.pause();
      server.conn.socket.once('drain', () => this.options.socket.resume());
    }
  }

  /** Answers a refused statement in its place: an error, and for a simple query its ReadyForQuery. */
  #refuse(sqlstate: string, message: string, simple: boolean): void {
    this.#queue.push({ kind: '', answer: () => errorResponse({ severity: 'ERROR', sqlstate, message }) });
    if (simple) this.#queue.push({ kind: '', answer: () => readyForQuery(this.#status) });
    else this.#skipping = true;
  }

  #handle(frame: Frame): void {
    const type = frame.type;
    if (type === T.Terminate) {
      this.#finish();
      return;
    }
    if (this.#skipping && type !== T.Sync) return;
    const payload = payloadOf(frame);
    switch (type) {
      case T.Query: {
        const plan = this.#planOf(frame);
        this.#planned = undefined;
        if (plan.kind === 'refuse') return this.#refuse(plan.sqlstate, plan.message, true);
        this.#operations += 1;
        if (plan.kind === 'answer') {
          this.#queue.push({ kind: '', answer: () => plan.bytes });
          if (plan.revalidate) this.options.cache!.revalidate(plan.revalidate);
          return;
        }
        if (plan.dropsPreparedStatements) this.#server!.prepared.clear();
        this.#send(frame.bytes);
        this.#queue.push({ kind: 'Q' });
        return;
      }
      case T.Function: {
        const refusal = this.options.hooks.refusal();
        if (refusal) return this.#refuse(refusal.sqlstate, refusal.message, true);
        this.#operations += 1;
        this.#send(frame.bytes);
        this.#queue.push({ kind: 'F' });
        return;
      }
      case T.Parse:
        return this.#parse(frame, payload);
      case T.Bind: {
        const bind = readBind(payload);
        if (!bind) return this.#refuse('08P01', 'malformed Bind message', false);
        this.options.cache?.path.bind(bind.statement);
        if (bind.statement === '') return this.#forward(frame, { kind: 'B' });
        const statement = this.#statements.get(bind.statement);
        if (!statement) return this.#refuse('26000', `prepared statement "${bind.statement}" does not exist`, false);
        this.#prepareOnServer(statement);
        return this.#forward(renameBind(payload, statement.serverName), { kind: 'B' });
      }
      case T.Describe: {
        const target = readTarget(payload);
        if (!target) return this.#refuse('08P01', 'malformed Describe message', false);
        if (target.kind === 'P' || target.name === '') return this.#forward(frame, { kind: 'D', describesStatement: target.kind === 'S' });
        const statement = this.#statements.get(target.name);
        if (!statement) return this.#refuse('26000', `prepared statement "${target.name}" does not exist`, false);
        this.#prepareOnServer(statement);
        return this.#forward(buildTarget('D', 'S', statement.serverName), { kind: 'D', describesStatement: true });
      }
      case T.Execute: {
        const refusal = this.options.hooks.refusal();
        if (refusal) return this.#refuse(refusal.sqlstate, refusal.message, false);
        this.#operations += 1;
        return this.#forward(frame, { kind: 'E' });
      }
      case T.Close: {
        const target = readTarget(payload);
        if (!target) return this.#refuse('08P01', 'malformed Close message', false);
        if (target.kind === 'S' && target.name !== '') {
          // The server keeps it for other clients with the same text; this client forgets its name.
          this.#statements.delete(target.name);
          this.#queue.push({ kind: '', answer: () => CLOSE_COMPLETE });
          return;
        }
        return this.#forward(frame, { kind: 'C' });
      }
      case T.Sync:
        this.#skipping = false;
        if (this.#server) {
          this.#send(frame.bytes);
          this.#unsynced = false;
          this.#queue.push({ kind: 'S' });
        } else this.#queue.push({ kind: '', answer: () => readyForQuery(this.#status) });
        return;
      case T.Flush:
        if (this.#server) this.#send(frame.bytes);
        return;
      case T.CopyData:
      case T.CopyDone:
      case T.CopyFail:
        this.#send(frame.bytes);
        return;
      default:
        this.options.socket.end(errorResponse({ severity: 'FATAL', sqlstate: '08P01', message: `invalid frontend message type ${type}` }));
        this.#finish();
    }
  }

  /** The plan of a simple query: refused (cap, session state, bad cache hint), answered from the cache, or sent. */
  #planOf(frame: Frame): QueryPlan {
    if (this.#planned?.frame === frame) return this.#planned.plan;
    let plan: QueryPlan;
    const refusal = this.options.hooks.refusal();
    const sql = readQuery(payloadOf(frame));
    const verdict = refusal ? {} : sessionStateOf(sql);
    if (refusal) plan = { kind: 'refuse', sqlstate: refusal.sqlstate, message: refusal.message };
    else if (verdict.problem) plan = { kind: 'refuse', sqlstate: '0A000', message: verdict.problem };
    else {
      // A cached answer may not overtake answers still to come.
      const decision = this.options.cache?.path.query(sql, this.#queue.length === 0 && !this.#unsynced ? this.#status : 'T') ?? { kind: 'forward' as const };
      plan = decision.kind === 'forward' ? { kind: 'send', dropsPreparedStatements: verdict.dropsPreparedStatements === true } : decision;
    }
    this.#planned = { frame, plan };
    return plan;
  }

  #forward(bytes: Frame | Buffer, expectation: Expectation): void {
    this.#send(Buffer.isBuffer(bytes) ? bytes : bytes.bytes);
    this.#unsynced = true;
    this.#queue.push(expectation);
  }

  #parse(frame: Frame, payload: Buffer): void {
    const parse = readParse(payload);
    if (!parse) return this.#refuse('08P01', 'malformed Parse message', false);
    const verdict = sessionStateOf(parse.query);
    if (verdict.problem) return this.#refuse('0A000', verdict.problem, false);
    this.options.cache?.path.parse(parse.name, parse.query);
    if (parse.name === '') return this.#forward(frame, { kind: 'P' });
    if (this.#statements.has(parse.name)) return this.#refuse('42P05', `prepared statement "${parse.name}" already exists`, false);
    if (this.#statements.size >= MAX_CLIENT_STATEMENTS) return this.#refuse('53400', `a client may keep at most ${MAX_CLIENT_STATEMENTS} prepared statements; close the ones it no longer uses`, false);
    const serverName = statementName(parse.query, parse.types);
    const statement: ClientStatement = { serverName, query: parse.query, types: Buffer.from(parse.types) };
    this.#statements.set(parse.name, statement);
    const server = this.#server;
    if (!server || server.prepared.has(serverName)) {
      // Known good (see #needsServer): a Bind or Describe prepares it where it is missing.
      server?.touch(serverName);
      if (server) this.#unsynced = true;
      this.#queue.push({ kind: '', answer: () => PARSE_COMPLETE });
      return;
    }
    this.#markPrepared(server, serverName);
    this.#forward(buildParse(serverName, parse.query, statement.types), { kind: 'P', prepares: serverName, undo: () => server.prepared.delete(serverName) });
  }

  /** Sends the statement's Parse first when this server connection has not prepared it. */
  #prepareOnServer(statement: ClientStatement): void {
    const server = this.#server!;
    if (server.prepared.has(statement.serverName)) {
      server.touch(statement.serverName);
      return;
    }
    this.#markPrepared(server, statement.serverName);
    this.#forward(buildParse(statement.serverName, statement.query, statement.types), { kind: 'P', swallow: true, prepares: statement.serverName, undo: () => server.prepared.delete(statement.serverName) });
  }

  #markPrepared(server: PooledServer, name: string): void {
    if (server.prepared.size >= MAX_PREPARED_PER_SERVER) {
      const oldest = server.prepared.keys().next().value as string;
      server.prepared.delete(oldest);
      this.#forward(buildTarget('C', 'S', oldest), { kind: 'C', swallow: true });
    }
    server.touch(name);
  }

  #onServerFrames(frames: Frame[]): void {
    const client = this.options.socket;
    client.cork();
    for (const frame of frames) {
      this.#bytesOut += frame.bytes.length;
      this.#answerReady();
      const type = frame.type;
      const head = this.#queue[0];
      if (isAsync(type) || !head) {
        client.write(frame.bytes);
        continue;
      }
      if (type === Answer.Error && head.kind !== 'Q' && head.kind !== 'F' && head.kind !== 'S') {
        client.write(frame.bytes);
        // The server skips everything up to the next Sync: those answers never come.
        while (this.#queue.length > 0 && this.#queue[0]!.kind !== 'S') this.#queue.shift()!.undo?.();
        continue;
      }
      if (type === Answer.ReadyForQuery) {
        this.#status = String.fromCharCode(frame.bytes[5]!) as 'I' | 'T' | 'E';
        this.options.cache?.path.ready(this.#status);
      } else if (head.kind === 'Q' && this.options.cache?.path.filling) {
        if (type === Answer.Error) this.options.cache.path.failed();
        else this.options.cache.path.capture(frame.bytes);
      }
      const done = ends(head, type);
      if (!(done && head.swallow)) client.write(frame.bytes);
      if (done) {
        this.#queue.shift();
        if (head.prepares) this.options.pool.remember(head.prepares);
      }
    }
    this.#answerReady();
    client.uncork();
    if (client.writableNeedDrain && this.#server) {
      const socket = this.#server.conn.socket;
      socket.pause();
      client.once('drain', () => socket.resume());
    }
    this.#maybeRelease();
    if (this.#frames.length > 0 && !this.#acquiring) this.#pump();
  }

  /** Sends the proxy's own answers that are now first in line. */
  #answerReady(): void {
    while (this.#queue.length > 0 && this.#queue[0]!.kind === '') {
      this.options.socket.write(this.#queue.shift()!.answer!());
    }
  }

  /** Gives the server connection back when the client is between transactions with nothing pending. */
  #maybeRelease(): void {
    const server = this.#server;
    if (!server || this.#queue.length > 0 || this.#unsynced || this.#status !== 'I' || this.#toServer.length > 0) return;
    this.#server = undefined;
    this.options.pool.release(server);
    this.#endActivity();
  }

  #endActivity(): void {
    if (!this.#active) return;
    this.#active = false;
    this.options.activity?.end();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.options.cache?.path.close();
    this.options.socket.removeListener('data', this.#onClientData);
    this.options.socket.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      // Mid-transaction or with answers pending the connection's state is unknown: close it (the server rolls back).
      if (this.#queue.length === 0 && !this.#unsynced && this.#status === 'I') this.options.pool.release(server);
      else this.options.pool.discard(server);
    }
    if (!this.#acquiring) this.#endActivity();
    this.#resolveClosed();
  }
}
