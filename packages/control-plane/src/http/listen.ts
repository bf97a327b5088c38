// Serving the API over node:http: listen, answer what Node's parser refuses with the API's error
// shape, and close with a grace period for requests in flight.

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { CLOSE_GRACE_MS, HEADER_BYTES_MAX } from './limits.js';

/** A listening server. */
export interface Listening {
  /** The bound address and port. */
  readonly address: AddressInfo;
  /** Stops listening; requests in flight get {@link CLOSE_GRACE_MS}, then their connections go. */
  close(): Promise<void>;
}

/**
 * Serves `fetch` (a Hono app's) on `host:port` (0 picks a free port).
 *
 * @example
 * const { address, close } = await listen(app.fetch, { host: '127.0.0.1', port: 0 });
 */
export async function listen(fetch: (request: Request, env: object) => Response | Promise<Response>, where: { host: string; port: number }): Promise<Listening> {
  // overrideGlobalObjects: false — the control plane may live inside an app; it must not swap its global Request/Response.
  const server = createAdaptorServer({
    fetch,
    overrideGlobalObjects: false,
    // requireHostHeader: false — a request without Host reaches the app and gets its typed 421.
    serverOptions: { maxHeaderSize: HEADER_BYTES_MAX, requireHostHeader: false },
    createServer: ((options: ServerOptions, listener: RequestListener) => createServer(options, refuseWithoutHost(listener))) as never,
  }) as Server;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', `the request line and headers must be at most ${HEADER_BYTES_MAX} bytes`]
        : [400, 'bad_request', `the request is not valid HTTP/1.1 (${error.code ?? error.message}); send a well-formed request`];
    const body = JSON.stringify({ error: { code, message, requestId: 'none' } });
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    address: server.address() as AddressInfo,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      })),
  };
}

/**
 * A request without a `Host` header (HTTP/1.0, hand-written) gets the API's typed 421, like a
 * foreign Host; the adapter would answer a bare 400 (it cannot build the request's URL).
 */
function refuseWithoutHost(listener: RequestListener): RequestListener {
  return (request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.host !== undefined && request.headers.host !== '') {
      listener(request, response);
      return;
    }
    const body = JSON.stringify({ error: { code: 'unknown_host', message: 'this API answers only requests that name it in a Host header; send HTTP/1.1 with Host: <the API\'s address and port>', requestId: 'none' } });
    response.writeHead(421, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    response.end(body);
  };
}
