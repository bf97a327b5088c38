// Session mode: after authentication the client and one server connection are spliced for the
// client's whole session. The proxy still follows message boundaries on both sides (no copies) to
// count operations and bytes, to know the transaction status, and to refuse statements while the
// tenant is over its usage cap.

import type { Socket } from 'node:net';
import type { ServerConnection } from '../backend/connect.js';
import { MessageReader, MessageScanner, type Frame } from '../protocol/framing.js';
import { errorResponse, readyForQuery } from '../protocol/messages.js';
import { readBind, readParse, readQuery } from '../protocol/extended.js';
import type { CachePath, Revalidation } from './cache-path.js';
import { MAX_CLIENT_MESSAGE_BYTES, type ClientSession, type SessionHooks } from './session-types.js';

const Q = 0x51; // Query
const E = 0x45; // Execute
const S = 0x53; // Sync
const X = 0x58; // Terminate
const Z = 0x5a; // ReadyForQuery
const P = 0x50; // Parse
const B = 0x42; // Bind
const ERROR = 0x45; // ErrorResponse (server)
/** A ReadyForQuery message is always 6 bytes: type, length 5, status. */
const READY_FOR_QUERY_BYTES = 6;
/** Extended-query messages dropped, up to the next Sync, while statements are refused. */
const EXTENDED = new Set([0x50, 0x42, 0x44, E, 0x43, 0x48]); // P B D E C H

/**
 * Splices `client` and `server` until either ends; `pending` is what the client sent after its
 * startup that the handshake read already.
 *
 * @example
 * ```ts
 * const session = spliceSession(client.socket, server, leftovers, hooks);
 * session.closed.then(() => gate.leave());
 * ```
 */
export function spliceSession(
  client: Socket,
  server: ServerConnection,
  pending: { frames: Frame[]; rest: Buffer },
  hooks: SessionHooks,
  cache?: { readonly path: CachePath; readonly revalidate: (job: Revalidation) => void },
  /** Takes the server connection when the client leaves it idle (no transaction, nothing in flight), to reset and reuse it; without it, it is closed. */
  reuse?: (server: ServerConnection) => void,
): ClientSession {
  const reader = new MessageReader(MAX_CLIENT_MESSAGE_BYTES);
  let status: 'I' | 'T' | 'E' = 'I';
  let refusing = false;
  let operations = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let finished = false;
  /** Queries and Syncs sent whose ReadyForQuery has not come back yet. */
  let awaitingReady = 0;
  /** Where the current chunk's part of an answer being filled starts. */
  let captureFrom = 0;
  /** Extended-query messages went to the server since the last Sync (its implicit transaction is open). */
  let unsynced = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

  const scanner = new MessageScanner(1, (type, head, at) => {
    if (type === ERROR) cache?.path.failed();
    if (type !== Z || head.length !== 1) return;
    status = String.fromCharCode(head[0]!) as 'I' | 'T' | 'E';
    awaitingReady = Math.max(0, awaitingReady - 1);
    if (!cache) return;
    if (cache.path.filling) {
      // A ReadyForQuery split across chunks leaves its head in the captured part: do not keep that answer.
      if (at - READY_FOR_QUERY_BYTES < captureFrom) cache.path.failed();
      else cache.path.capture(currentChunk.subarray(captureFrom, at - READY_FOR_QUERY_BYTES));
    }
    captureFrom = at;
    cache.path.ready(status);
  });
  let currentChunk: Buffer = Buffer.alloc(0);

  const refuse = (message: { sqlstate: string; message: string }) => {
    client.write(Buffer.concat([errorResponse({ severity: 'ERROR', sqlstate: message.sqlstate, message: message.message }), readyForQuery(status)]));
  };

  const forward = (frames: Frame[]) => {
    const out: Buffer[] = [];
    for (const frame of frames) {
      const type = frame.type;
      if (type === Q || type === E) {
        const blocked = hooks.refusal();
        if (blocked) {
          if (type === Q) refuse(blocked);
          else refusing = true;
          continue;
        }
        operations += 1;
        if (type === Q && cache && !refusing) {
          // Only with nothing in flight: a cached answer must not overtake answers still to come.
          const decision = cache.path.query(readQuery(frame.bytes.subarray(5)), awaitingReady === 0 ? status : 'T');
          if (decision.kind === 'refuse') {
            refuse(decision);
            continue;
          }
          if (decision.kind === 'answer') {
            client.write(decision.bytes);
            if (decision.revalidate) cache.revalidate(decision.revalidate);
            continue;
          }
        }
      } else if (cache && type === P) {
        const parse = readParse(frame.bytes.subarray(5));
        if (parse) cache.path.parse(parse.name, parse.query);
      } else if (cache && type === B) {
        const bind = readBind(frame.bytes.subarray(5));
        if (bind) cache.path.bind(bind.statement);
      }
      if (refusing) {
        if (type === S) {
          refusing = false;
          const blocked = hooks.refusal();
          refuse(blocked ?? { sqlstate: '53400', message: 'statement refused' });
        } else if (!EXTENDED.has(type)) {
          refusing = false;
          if (type === Q) awaitingReady += 1;
          out.push(frame.bytes);
        }
        continue;
      }
      if (type === X) {
        // The client leaves; its Terminate is not passed on, so the server connection can be reused.
        leaving = true;
        break;
      }
      if (type === Q || type === S) awaitingReady += 1;
      if (type === S) unsynced = false;
      else if (EXTENDED.has(type)) unsynced = true;
      out.push(frame.bytes);
    }
    let written = true;
    if (out.length === 1) written = server.socket.write(out[0]!);
    else if (out.length > 1) written = server.socket.write(Buffer.concat(out));
    if (leaving) finish(true);
    return written;
  };
  let leaving = false;

  /** Ends the session; the server connection goes to `reuse` when the client left it clean. */
  const finish = (clientLeft = false) => {
    if (finished) return;
    finished = true;
    cache?.path.close();
    client.removeListener('data', onClientData);
    server.socket.removeListener('data', onServerData);
    server.socket.removeListener('close', onServerGone);
    server.socket.removeListener('error', onServerGone);
    client.destroy();
    const clean = clientLeft && reuse !== undefined && status === 'I' && awaitingReady === 0 && !unsynced && !refusing && !server.socket.destroyed;
    if (clean) reuse(server);
    else server.socket.destroy();
    resolveClosed();
  };
  const onClientGone = () => finish(true);
  const onServerGone = () => finish(false);

  const onClientData = (chunk: Buffer) => {
    bytesIn += chunk.length;
    let frames: Frame[];
    try {
      frames = reader.push(chunk);
    } catch (error) {
      const problem = error as { sqlstate?: string; message: string };
      client.end(errorResponse({ severity: 'FATAL', sqlstate: problem.sqlstate ?? '08P01', message: problem.message }));
      finish();
      return;
    }
    if (!forward(frames)) {
      client.pause();
      server.socket.once('drain', () => client.resume());
    }
  };

  const onServerData = (chunk: Buffer) => {
    bytesOut += chunk.length;
    currentChunk = chunk;
    captureFrom = 0;
    try {
      scanner.scan(chunk);
    } catch {
      finish();
      return;
    }
    if (cache?.path.filling && captureFrom < chunk.length) cache.path.capture(chunk.subarray(captureFrom));
    if (!client.write(chunk)) {
      server.socket.pause();
      client.once('drain', () => server.socket.resume());
    }
  };

  client.on('data', onClientData);
  server.socket.on('data', onServerData);
  client.on('close', onClientGone);
  client.on('error', onClientGone);
  server.socket.on('close', onServerGone);
  server.socket.on('error', onServerGone);
  if (pending.rest.length > 0) onClientData(pending.rest);
  if (pending.frames.length > 0) forward(pending.frames);
  client.resume();
  server.socket.resume();

  return {
    closed,
    get transactionStatus() {
      return status;
    },
    takeUsage() {
      const usage = { operations, bytesIn, bytesOut };
      operations = 0;
      bytesIn = 0;
      bytesOut = 0;
      return usage;
    },
    close: () => finish(false),
  };
}
