// A TCP proxy in front of a PostgreSQL server that a test can cut: the engine under test connects
// through it, so the test can take the database away from that engine alone (a network partition)
// while another client still reaches the server directly.

import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * Forwards 127.0.0.1:`port` to 127.0.0.1:`targetPort`. `refuse()` stops accepting (new
 * connections get ECONNREFUSED), `cut()` also breaks the connections already open, and
 * `accept()` listens again on the same port.
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start(cluster.port);
 * const strata = new Strata({ database: `postgres://strata@127.0.0.1:${proxy.port}/app` });
 * proxy.cut();           // the engine loses every connection and cannot open new ones
 * await proxy.accept();  // and now it can
 * ```
 */
export class TcpProxy {
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;

  private constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  /** A proxy to `targetPort` on a free port, accepting. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await proxy.#listen(0);
    return proxy;
  }

  /** The port clients connect to; the same after `accept()`. */
  get port(): number {
    return this.#port;
  }

  /** Stops accepting: new connections are refused; open ones go on. */
  refuse(): void {
    this.#server?.close();
    this.#server = undefined;
  }

  /** Refuses new connections and breaks every open one, as a network partition would. */
  cut(): void {
    this.refuse();
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** Accepts connections again, on the same port. */
  async accept(): Promise<void> {
    if (this.#server === undefined) await this.#listen(this.#port);
  }

  /** Stops the proxy for good. */
  close(): void {
    this.cut();
  }

  async #listen(port: number): Promise<void> {
    const server = createServer((socket) => this.#forward(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy could not read its port');
    this.#port = address.port;
    this.#server = server;
  }

  #forward(client: Socket): void {
    const upstream = connect(this.#targetPort, '127.0.0.1');
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
