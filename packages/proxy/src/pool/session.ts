// Session mode: after authentication the client and one server connection are spliced for the
// client's whole session. The proxy still follows message boundaries on both sides (no copies) to
// count operations and bytes, to know the transaction status, and to refuse statements while the
// tenant is over its usage cap.

import type { Socket } from 'node:net';
import type { ServerConnection } from '../backend/connect.js';
import { MessageReader, MessageScanner, type Frame } from '../protocol/framing.js';
import { errorResponse, readyForQuery } from '../protocol/messages.js';
import { MAX_CLIENT_MESSAGE_BYTES, type ClientSession, type SessionHooks } from './session-types.js';

const Q = 0x51; // Query
const E = 0x45; // Execute
const S = 0x53; // Sync
const X = 0x58; // Terminate
const Z = 0x5a; // ReadyForQuery
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
export function spliceSession(client: Socket, server: ServerConnection, pending: { frames: Frame[]; rest: Buffer }, hooks: SessionHooks): ClientSession {
  const reader = new MessageReader(MAX_CLIENT_MESSAGE_BYTES);
  let status: 'I' | 'T' | 'E' = 'I';
  let refusing = false;
  let operations = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let finished = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

  const scanner = new MessageScanner(1, (type, head) => {
    if (type === Z && head.length === 1) status = String.fromCharCode(head[0]!) as 'I' | 'T' | 'E';
  });

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
      }
      if (refusing) {
        if (type === S) {
          refusing = false;
          const blocked = hooks.refusal();
          refuse(blocked ?? { sqlstate: '53400', message: 'statement refused' });
        } else if (!EXTENDED.has(type)) {
          refusing = false;
          out.push(frame.bytes);
        }
        continue;
      }
      out.push(frame.bytes);
      if (type === X) break;
    }
    if (out.length === 1) return server.socket.write(out[0]!);
    if (out.length > 1) return server.socket.write(Buffer.concat(out));
    return true;
  };

  const finish = () => {
    if (finished) return;
    finished = true;
    client.removeListener('data', onClientData);
    server.socket.removeListener('data', onServerData);
    client.destroy();
    server.socket.destroy();
    resolveClosed();
  };

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
    try {
      scanner.scan(chunk);
    } catch {
      finish();
      return;
    }
    if (!client.write(chunk)) {
      server.socket.pause();
      client.once('drain', () => server.socket.resume());
    }
  };

  client.on('data', onClientData);
  server.socket.on('data', onServerData);
  client.on('close', finish);
  client.on('error', finish);
  server.socket.on('close', finish);
  server.socket.on('error', finish);
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
    close: finish,
  };
}
