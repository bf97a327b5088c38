// A free TCP port on 127.0.0.1, asked of the kernel; shared by the ephemeral clusters and the
// managed instances.

import { createServer } from 'node:net';

/**
 * Asks the kernel for a free port on 127.0.0.1 (listen on port 0, read it, close). Another
 * process may take it before the caller binds it: a server that then fails to bind is retried
 * with a new port.
 *
 * @example
 * ```ts
 * const port = await freePort(); // e.g. 41873
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      probe.close(() => (port === undefined ? reject(new Error('could not read the probe port')) : resolve(port)));
    });
  });
}
