// CancelRequests: each client gets the proxy's own key (never the server's), mapped to the server
// connection it uses at the moment, so a cancel reaches the right backend and no client can cancel
// another's query by guessing server process IDs.

import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import { serialize } from 'pg-protocol';

/** Where a cancel goes: the server connection a client uses now. */
export interface CancelTarget {
  readonly host: string;
  readonly port: number;
  readonly processId: number;
  readonly secretKey: number;
}

/**
 * @example
 * ```ts
 * const key = cancels.register(() => currentServer);  // send key in BackendKeyData
 * cancels.cancel(key.processId, key.secretKey);       // on a CancelRequest
 * cancels.unregister(key.processId);
 * ```
 */
export class CancelRegistry {
  readonly #targets = new Map<number, { secretKey: number; target: () => CancelTarget | undefined }>();

  /** A fresh key for a client whose current server `target` returns (undefined between transactions). */
  register(target: () => CancelTarget | undefined): { processId: number; secretKey: number } {
    let processId: number;
    do processId = randomInt(1, 0x7fffffff);
    while (this.#targets.has(processId));
    const secretKey = randomInt(0, 0x7fffffff);
    this.#targets.set(processId, { secretKey, target });
    return { processId, secretKey };
  }

  unregister(processId: number): void {
    this.#targets.delete(processId);
  }

  /** Sends the cancel to the client's current server; false when the key is unknown or idle. */
  cancel(processId: number, secretKey: number): boolean {
    const entry = this.#targets.get(processId);
    if (!entry || entry.secretKey !== secretKey) return false;
    const target = entry.target();
    if (!target) return false;
    const socket = connect({ host: target.host, port: target.port }, () => socket.end(serialize.cancel(target.processId, target.secretKey)));
    socket.on('error', () => socket.destroy());
    return true;
  }
}
