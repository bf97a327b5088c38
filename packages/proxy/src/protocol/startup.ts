// The untyped packets a connection opens with: SSLRequest, GSSENCRequest, CancelRequest and the
// StartupMessage (protocol 3.0 with its parameters).

import { ProxyError } from '../errors.js';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_V3, SSL_REQUEST_CODE } from './messages.js';

/** PostgreSQL's own MAX_STARTUP_PACKET_LENGTH: a longer startup packet is refused before it is read. */
export const MAX_STARTUP_PACKET_BYTES = 10_000;

/** What a connection's first packet asked for. */
export type StartupPacket =
  | { readonly kind: 'ssl' }
  | { readonly kind: 'gssenc' }
  | { readonly kind: 'cancel'; readonly processId: number; readonly secretKey: number }
  | { readonly kind: 'startup'; readonly parameters: Readonly<Record<string, string>> };

/**
 * The length of the packet at the start of `data` once its 4-byte length has arrived.
 *
 * @throws {ProxyError} `08P01` for a length under 8 or over {@link MAX_STARTUP_PACKET_BYTES}
 * (garbage bytes, or an attempt to make the proxy buffer a huge packet).
 */
export function startupPacketLength(data: Buffer): number | undefined {
  if (data.length < 4) return undefined;
  const length = data.readInt32BE(0);
  if (length < 8 || length > MAX_STARTUP_PACKET_BYTES) {
    throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `invalid startup packet length ${length}: this port speaks the PostgreSQL protocol (connect with a Postgres client such as psql)`);
  }
  return length;
}

/**
 * Parses one whole startup packet.
 *
 * @throws {ProxyError} `08P01` for an unknown request code or malformed parameters, `0A000`
 * for a protocol version other than 3.x.
 *
 * @example
 * ```ts
 * parseStartupPacket(packet); // { kind: 'startup', parameters: { user: 'app', database: 'app' } }
 * ```
 */
export function parseStartupPacket(packet: Buffer): StartupPacket {
  const code = packet.readInt32BE(4);
  if (code === SSL_REQUEST_CODE && packet.length === 8) return { kind: 'ssl' };
  if (code === GSSENC_REQUEST_CODE && packet.length === 8) return { kind: 'gssenc' };
  if (code === CANCEL_REQUEST_CODE && packet.length === 16) return { kind: 'cancel', processId: packet.readInt32BE(8), secretKey: packet.readInt32BE(12) };
  if (code >>> 16 !== PROTOCOL_V3 >>> 16) {
    throw new ProxyError('STRATA_PROXY_PROTOCOL', '0A000', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: the proxy speaks protocol 3.0`);
  }
  const parameters: Record<string, string> = {};
  let offset = 8;
  for (;;) {
    const keyEnd = packet.indexOf(0, offset);
    if (keyEnd < 0) throw malformed();
    if (keyEnd === offset) break; // the terminating NUL
    const valueEnd = packet.indexOf(0, keyEnd + 1);
    if (valueEnd < 0) throw malformed();
    const key = packet.toString('utf8', offset, keyEnd);
    if (Object.hasOwn(parameters, key)) throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `startup parameter ${JSON.stringify(key)} given twice`);
    parameters[key] = packet.toString('utf8', keyEnd + 1, valueEnd);
    offset = valueEnd + 1;
  }
  if (offset !== packet.length - 1) throw malformed();
  if (!parameters.user) throw new ProxyError('STRATA_PROXY_PROTOCOL', '28000', 'no PostgreSQL user name specified in startup packet');
  return { kind: 'startup', parameters };
}

function malformed(): ProxyError {
  return new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', 'invalid startup packet layout: expected name/value pairs ending in a NUL byte');
}
