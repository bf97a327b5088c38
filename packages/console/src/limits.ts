// Bounds on what one request may send, and typed answers for requests that break them — also for
// the ones Node's HTTP parser refuses before the app sees them, which it would otherwise answer
// with a bare status line and a reset connection.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorBody } from './errors.js';
import { BARE_SECURITY_HEADERS } from './security/headers.js';

/** Longest request target (path and query): 8 KiB, what common proxies accept; the longest real list query is a few hundred bytes. */
export const URL_LENGTH_MAX = 8 * 1024;

/** Most bytes of header fields (names, values and separators): 16 KiB, Node's own default. */
export const HEADER_BYTES_MAX = 16 * 1024;

/** Largest request body: fork and restart options are a few bytes. */
export const REQUEST_BODY_BYTES_MAX = 16 * 1024;

/** How much of a too-large body the console reads and drops so the client gets its 413; beyond it the connection is cut. */
export const REQUEST_BODY_DRAIN_BYTES_MAX = 16 * 1024 * 1024;

/**
 * What Node's parser accepts before the app sees a request (request line plus headers). Above
 * both limits, so a request just over one of them still reaches the app and gets its typed
 * answer with the limit named; beyond this, {@link answerClientErrors} answers.
 */
export const PARSER_HEADER_BYTES_MAX = 64 * 1024;

/**
 * How much of a refused request the server still reads (and drops) after answering. Closing with
 * unread bytes makes the kernel reset the connection, and the client would see ECONNRESET or
 * EPIPE instead of the answer; past this bound the connection is cut anyway.
 */
const DRAIN_BYTES_MAX = 16 * 1024 * 1024;

/** A refusal the console sends itself, outside Hono. */
export interface Refusal {
  readonly status: 400 | 408 | 413 | 414 | 431;
  readonly body: ErrorBody;
}

/** The refusal of a request whose target is longer than {@link URL_LENGTH_MAX}. */
export function urlTooLong(length: number | undefined): Refusal {
  const got = length === undefined ? `over ${PARSER_HEADER_BYTES_MAX} bytes` : `${length} bytes`;
  return refusal(414, 'CONSOLE_URL_TOO_LONG', `the request URL is ${got}; the limit is ${URL_LENGTH_MAX} bytes — narrow the query (fewer attr.* filters, shorter values)`);
}

/** The refusal of a request whose header fields exceed {@link HEADER_BYTES_MAX}. */
export function headersTooLarge(bytes: number | undefined): Refusal {
  const got = bytes === undefined ? `over ${PARSER_HEADER_BYTES_MAX} bytes` : `${bytes} bytes`;
  return refusal(431, 'CONSOLE_HEADERS_TOO_LARGE', `the request's header fields are ${got}; the limit is ${HEADER_BYTES_MAX} bytes — drop large cookies or custom headers`);
}

/** The refusal of a body larger than {@link REQUEST_BODY_BYTES_MAX}. */
export function bodyTooLarge(): Refusal {
  return refusal(413, 'CONSOLE_BODY_TOO_LARGE', `the request body must be at most ${REQUEST_BODY_BYTES_MAX} bytes; fork and restart take a small JSON object such as {"fromStep": 2}`);
}

/** Bytes of a request's header fields as sent: `name: value\r\n` each. */
export function headerBytes(request: IncomingMessage): number {
  let bytes = 0;
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) bytes += Buffer.byteLength(request.rawHeaders[i]!) + Buffer.byteLength(request.rawHeaders[i + 1]!) + 4;
  return bytes;
}

/**
 * Answers requests that Node's HTTP parser refuses (over {@link PARSER_HEADER_BYTES_MAX}, malformed,
 * timed out) with a typed JSON body, instead of Node's bare status line, and reads what the client
 * is still sending so it gets the answer rather than a reset connection.
 *
 * An overflow while the request line is still arriving is a URL too long (414), after it header
 * fields too large (431). To tell them apart the server watches each connection's bytes up to the
 * first line break of the request; `request` events mark where the next request starts.
 *
 * @example
 * const server = createServer({ maxHeaderSize: PARSER_HEADER_BYTES_MAX }, handler);
 * answerClientErrors(server);
 */
export function answerClientErrors(server: Server): void {
  /** Connections whose current request has not yet sent its request line's end. */
  const inRequestLine = new WeakSet<Socket>();
  const answered = new WeakMap<Socket, { drainedBytes: number }>();

  server.on('connection', (socket: Socket) => {
    inRequestLine.add(socket);
    socket.on('data', (chunk: Buffer) => {
      if (inRequestLine.has(socket) && chunk.includes(0x0a)) inRequestLine.delete(socket);
    });
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // Once answered, the next bytes on this connection start the next request (keep-alive).
    response.once('finish', () => inRequestLine.add(request.socket));
  });

  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number }, socket: Socket) => {
    const state = answered.get(socket);
    if (state !== undefined) {
      // The parser fails again on every chunk that follows; those bytes are the drain.
      state.drainedBytes += error.rawPacket?.length ?? 0;
      if (state.drainedBytes > DRAIN_BYTES_MAX) socket.destroy();
      return;
    }
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    answered.set(socket, { drainedBytes: 0 });
    const parsed = error.rawPacket?.subarray(0, error.bytesParsed ?? error.rawPacket.length);
    const stillInRequestLine = inRequestLine.has(socket) && !(parsed?.includes(0x0a) ?? false);
    const answer =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? stillInRequestLine
          ? urlTooLong(undefined)
          : headersTooLarge(undefined)
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? refusal(408, 'CONSOLE_REQUEST_TIMEOUT', 'the request did not arrive in time; send it again')
          : refusal(400, 'CONSOLE_BAD_REQUEST', `the request is not valid HTTP/1.1 (${error.code ?? error.message}); send a well-formed request`);
    const body = JSON.stringify(answer.body);
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${BARE_HEADER_LINES}Connection: close\r\n\r\n${body}`,
    );
    socket.resume();
  });
}

/** The security headers (src/security/headers.ts) as raw header lines, for answers written to the socket. */
const BARE_HEADER_LINES = Object.entries(BARE_SECURITY_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('');

const STATUS_TEXT: Readonly<Record<Refusal['status'], string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

function refusal(status: Refusal['status'], code: string, message: string): Refusal {
  return { status, body: { error: { code, message } } };
}
