// One simple query on a server connection nobody else reads (a background cache refresh, a
// session connection's reset), its answer collected up to ReadyForQuery.

import { MessageReader, type Frame } from '../protocol/framing.js';
import { cstring, message } from '../protocol/messages.js';
import type { ServerConnection } from './connect.js';

const READY_FOR_QUERY = 0x5a;
const ERROR = 0x45;

/** A simple query's answer. */
export interface SimpleAnswer {
  /** Every message before ReadyForQuery; undefined when one was an error or they passed `maxBytes`. */
  readonly answer: Buffer | undefined;
  /** ReadyForQuery's transaction status. */
  readonly status: 'I' | 'T' | 'E';
  /** Bytes came after the ReadyForQuery (the connection is not where it should be). */
  readonly trailing: boolean;
}

/**
 * Collects frames of one simple query's answer; calls `done` at its ReadyForQuery (with the
 * frames that came after it in the same batch, if any).
 *
 * @example
 * server.owner = answerCollector(1 << 20, (result) => …);
 */
export function answerCollector(maxBytes: number, done: (result: SimpleAnswer) => void): (frames: Frame[]) => void {
  const parts: Buffer[] = [];
  let bytes = 0;
  let failed = false;
  return (frames) => {
    for (let i = 0; i < frames.length; i += 1) {
      const frame = frames[i]!;
      if (frame.type === READY_FOR_QUERY) {
        return done({ answer: failed ? undefined : Buffer.concat(parts, bytes), status: String.fromCharCode(frame.bytes[5]!) as SimpleAnswer['status'], trailing: i < frames.length - 1 });
      }
      if (frame.type === ERROR) failed = true;
      bytes += frame.bytes.length;
      if (bytes > maxBytes) failed = true;
      else if (!failed) parts.push(Buffer.from(frame.bytes));
    }
  };
}

/**
 * Sends `sql` on `conn` and reads its answer off the socket; undefined when the connection closed
 * or `timeoutMs` passed first. The socket's own listeners are removed again.
 *
 * @example
 * const result = await simpleQuery(conn, 'DISCARD ALL', 64 * 1024, 5_000);
 * const clean = result?.answer !== undefined && result.status === 'I' && !result.trailing;
 */
export function simpleQuery(conn: ServerConnection, sql: string, maxBytes: number, timeoutMs: number): Promise<SimpleAnswer | undefined> {
  return new Promise((resolve) => {
    const reader = new MessageReader(maxBytes + 1024);
    const finish = (result: SimpleAnswer | undefined) => {
      clearTimeout(timer);
      conn.socket.removeListener('data', onData);
      conn.socket.removeListener('close', onGone);
      conn.socket.removeListener('error', onGone);
      resolve(result);
    };
    const collect = answerCollector(maxBytes, (result) => finish({ ...result, trailing: result.trailing || reader.buffered > 0 }));
    const onData = (chunk: Buffer) => {
      try {
        collect(reader.push(chunk));
      } catch {
        finish(undefined);
      }
    };
    const onGone = () => finish(undefined);
    const timer = setTimeout(onGone, timeoutMs);
    conn.socket.on('data', onData);
    conn.socket.on('close', onGone);
    conn.socket.on('error', onGone);
    conn.socket.write(message('Q', cstring(sql)));
  });
}
