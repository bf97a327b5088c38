// A connection's way in: TLS negotiation, the StartupMessage, which instance it is for, and SCRAM
// against the control plane's verifier. What comes out is an authenticated client with its key.

import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { ProxyError } from '../errors.js';
import { MAX_SCRAM_MESSAGE_BYTES, ScramServerExchange, mockVerifier, type ScramVerifier } from '../auth/scram.js';
import type { Directory, InstanceEntry } from '../directory/directory.js';
import { authenticationSasl, authenticationSaslContinue, PayloadReader } from '../protocol/messages.js';
import { payloadOf } from '../protocol/framing.js';
import { parseStartupPacket } from '../protocol/startup.js';
import { routeOf, type Route } from '../routing/route.js';
import { HandshakeReader } from './reader.js';

/** A client that proved its password. */
export interface AuthenticatedClient {
  /** The socket to talk on from now on (the TLS one after an upgrade). */
  readonly socket: Socket;
  readonly reader: HandshakeReader;
  readonly route: Route;
  readonly entry: InstanceEntry;
  readonly verifier: ScramVerifier;
  /** Learned from the client's proof; signs the proxy in to the instance. */
  readonly clientKey: Buffer;
  /** The server-final-message still to send (after the instance is reached). */
  readonly serverFinal: string;
  /** Startup parameters to pass on to the instance. */
  readonly parameters: Readonly<Record<string, string>>;
  readonly tls: boolean;
}

/** A CancelRequest, answered by the caller. */
export interface CancelPacket {
  readonly kind: 'cancel';
  readonly processId: number;
  readonly secretKey: number;
}

/** What the handshake needs. */
export interface HandshakeContext {
  readonly directory: Directory;
  readonly tls: SecureContext | undefined;
  readonly requireTls: boolean;
  /** Seeds the mock verifiers of unknown users (random per proxy). */
  readonly mockSecret: Buffer;
}

/** Startup parameters the proxy consumes or that would break pooling; the rest go to the instance. */
const NOT_PASSED_ON = new Set(['user', 'database', 'options', 'replication']);

/**
 * Runs the handshake up to a verified password. `current.socket` follows the socket to write
 * to (the TLS one once TLS is up), so the caller can send the FATAL of a failure.
 *
 * @throws {ProxyError} the FATAL to send the client: 08P01 protocol, 28000 TLS required,
 * 3D000 unknown instance, 28P01 wrong password or unknown user.
 */
export async function handshake(raw: Socket, ctx: HandshakeContext, current: { socket: Socket } = { socket: raw }): Promise<AuthenticatedClient | CancelPacket> {
  let socket: Socket = raw;
  const reader = new HandshakeReader(raw);
  let tls = false;
  let packet = parseStartupPacket(await reader.startupPacket());
  // As PostgreSQL: each of SSLRequest and GSSENCRequest at most once, and neither inside TLS.
  let sslAsked = false;
  let gssencAsked = false;
  while (packet.kind === 'ssl' || packet.kind === 'gssenc') {
    if (tls || (packet.kind === 'ssl' ? sslAsked : gssencAsked)) {
      throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `${packet.kind === 'ssl' ? 'SSLRequest' : 'GSSENCRequest'} sent ${tls ? 'inside an encrypted connection' : 'twice'}; send the StartupMessage next`);
    }
    if (packet.kind === 'ssl') sslAsked = true;
    else gssencAsked = true;
    if (packet.kind === 'ssl' && ctx.tls) {
      // Bytes sent after SSLRequest but before the TLS handshake would be trusted as if encrypted (CVE-2021-23214).
      if (reader.pendingBytes > 0) throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', 'received unencrypted data after SSL request');
      raw.write('S');
      const secure = new TLSSocket(raw, { isServer: true, secureContext: ctx.tls });
      // From here on errors go to the client over TLS, never as plaintext into the TLS stream.
      current.socket = secure;
      secure.on('error', () => secure.destroy());
      await new Promise<void>((resolve, reject) => {
        secure.once('secure', resolve);
        secure.once('error', (error) => reject(new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `TLS handshake failed: ${error.message}`)));
        // Closed mid-handshake (the client left, or the auth timeout ended the connection).
        secure.once('close', () => reject(new ProxyError('STRATA_PROXY_PROTOCOL', '08006', 'the connection closed during the TLS handshake')));
      });
      reader.switchTo(secure);
      socket = secure;
      tls = true;
    } else {
      socket.write('N');
    }
    packet = parseStartupPacket(await reader.startupPacket());
  }
  if (packet.kind === 'cancel') return packet;
  if (ctx.requireTls && !tls) throw new ProxyError('STRATA_PROXY_TLS_REQUIRED', '28000', 'this proxy accepts only TLS connections: connect with sslmode=require');
  const serverName = tls ? ((socket as TLSSocket).servername || undefined) : undefined;
  const route = routeOf(packet.parameters, serverName);
  const entry = await ctx.directory.lookup(route.instanceId);
  if (!entry) throw new ProxyError('STRATA_PROXY_UNKNOWN_INSTANCE', '3D000', `instance "${route.instanceId}" does not exist (deleted, or a typo in the connection string)`);
  const known = entry.verifiers.get(route.user);
  const verifier = known ?? mockVerifier(`${route.instanceId}/${route.user}`, ctx.mockSecret);
  socket.write(authenticationSasl(['SCRAM-SHA-256']));
  const initial = await reader.message();
  if (initial.type !== 0x70) throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `expected a SASL response, got message type ${JSON.stringify(String.fromCharCode(initial.type))}`);
  const first = new PayloadReader(payloadOf(initial));
  const mechanism = first.cstring();
  if (mechanism !== 'SCRAM-SHA-256') throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `SASL mechanism ${JSON.stringify(mechanism)} is not offered; use SCRAM-SHA-256`);
  const length = first.int32();
  if (length === undefined || length < 0 || length > MAX_SCRAM_MESSAGE_BYTES) throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', 'malformed SASLInitialResponse');
  const exchange = new ScramServerExchange(verifier);
  socket.write(authenticationSaslContinue(exchange.clientFirst(first.bytes(length)?.toString('utf8') ?? '')));
  const final = await reader.message();
  if (final.type !== 0x70) throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', 'expected a SASL response');
  const success = exchange.clientFinal(payloadOf(final).toString('utf8'));
  if (!success || !known) {
    ctx.directory.forget(route.instanceId);
    throw new ProxyError('STRATA_PROXY_AUTH_FAILED', '28P01', `password authentication failed for user "${route.user}"`);
  }
  const parameters: Record<string, string> = {};
  for (const [key, value] of Object.entries(packet.parameters)) if (!NOT_PASSED_ON.has(key)) parameters[key] = value;
  if (route.options) parameters.options = route.options;
  return { socket, reader, route, entry, verifier, clientKey: success.clientKey, serverFinal: success.serverFinal, parameters, tls };
}
