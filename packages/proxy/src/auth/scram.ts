// SCRAM-SHA-256 (RFC 5802, RFC 7677) on both sides of the proxy. As the server, it checks a
// client's proof against the stored verifier and so learns the client's ClientKey (proof XOR
// signature; the password itself never reaches the proxy). As a client of the instance, it signs
// with that ClientKey: the instance has the same verifier, so it accepts (PgBouncer calls this
// SCRAM pass-through). Written here because no server-side library exposes the ClientKey.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProxyError } from '../errors.js';

/** The parts of a `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` verifier. */
export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** Bytes of the server's nonce part (PostgreSQL uses 18). */
const SERVER_NONCE_BYTES = 18;
/** Longest SCRAM message accepted from a client: real ones are ~100 bytes. */
export const MAX_SCRAM_MESSAGE_BYTES = 1024;

/**
 * Parses a verifier as PostgreSQL stores it, or undefined when it is not one.
 *
 * @example
 * ```ts
 * parseVerifier(row.verifier)?.iterations; // 4096
 * ```
 */
export function parseVerifier(text: string): ScramVerifier | undefined {
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text);
  if (!match) return undefined;
  const storedKey = Buffer.from(match[3]!, 'base64');
  const serverKey = Buffer.from(match[4]!, 'base64');
  if (storedKey.length !== 32 || serverKey.length !== 32) return undefined;
  return { iterations: Number(match[1]), salt: Buffer.from(match[2]!, 'base64'), storedKey, serverKey };
}

/**
 * A verifier that matches no password, for a user that does not exist: the exchange runs to its
 * end as for a real user (as PostgreSQL does), so a client cannot tell unknown users from wrong
 * passwords. Deterministic per name, so two tries see the same salt.
 */
export function mockVerifier(user: string, secret: Buffer): ScramVerifier {
  const salt = createHmac('sha256', secret).update(`salt:${user}`).digest().subarray(0, 16);
  return { iterations: 4096, salt, storedKey: randomBytes(32), serverKey: randomBytes(32) };
}

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = a[i]! ^ b[i]!;
  return out;
}

function scramError(message: string): ProxyError {
  return new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `malformed SCRAM message: ${message}`);
}

/** Attributes `k=v` of a SCRAM message, in order. */
function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw scramError(`expected "key=value", got ${JSON.stringify(part.slice(0, 40))}`);
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** What a successful exchange leaves: the client's key, for signing in to the instance. */
export interface ScramSuccess {
  readonly clientKey: Buffer;
  /** The server-final-message to send in AuthenticationSASLFinal. */
  readonly serverFinal: string;
}

/**
 * The server side of one SCRAM-SHA-256 exchange.
 *
 * @example
 * ```ts
 * const exchange = new ScramServerExchange(verifier);
 * const serverFirst = exchange.clientFirst(initialResponse);      // send in SASLContinue
 * const result = exchange.clientFinal(response);                  // undefined: wrong password
 * ```
 */
export class ScramServerExchange {
  #clientFirstBare = '';
  #serverFirst = '';
  #nonce = '';
  #gs2Header = '';

  constructor(private readonly verifier: ScramVerifier) {}

  /** Takes the client-first-message; returns the server-first-message. @throws {ProxyError} when malformed. */
  clientFirst(message: string): string {
    if (message.length > MAX_SCRAM_MESSAGE_BYTES) throw scramError('client-first-message too long');
    // gs2-header: "n,," (no channel binding) or "y,," (client could, server did not offer it).
    const match = /^([ny]),(a=[^,]*)?,(.*)$/.exec(message);
    if (!match) {
      if (message.startsWith('p=')) throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', 'SCRAM channel binding is not supported by the proxy; use channel_binding=disable or prefer');
      throw scramError('expected a gs2 header "n,," at the start of the client-first-message');
    }
    if (match[2] !== undefined) throw scramError('authorization identities (a=) are not supported');
    this.#gs2Header = `${match[1]},,`;
    this.#clientFirstBare = match[3]!;
    const clientNonce = attributes(this.#clientFirstBare).get('r');
    if (clientNonce === undefined || clientNonce.length === 0 || /[^\x21-\x2b\x2d-\x7e]/.test(clientNonce)) throw scramError('the client nonce (r=) is missing or not printable');
    this.#nonce = clientNonce + randomBytes(SERVER_NONCE_BYTES).toString('base64');
    this.#serverFirst = `r=${this.#nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`;
    return this.#serverFirst;
  }

  /**
   * Takes the client-final-message; returns the client's key and the server-final-message when
   * the proof is right, undefined when it is wrong (a wrong password).
   *
   * @throws {ProxyError} when the message is malformed or its nonce or binding differ.
   */
  clientFinal(message: string): ScramSuccess | undefined {
    if (message.length > MAX_SCRAM_MESSAGE_BYTES) throw scramError('client-final-message too long');
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) throw scramError('the proof (p=) is missing');
    const withoutProof = message.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    if (attrs.get('c') !== Buffer.from(this.#gs2Header).toString('base64')) throw scramError('the channel binding (c=) does not match the gs2 header');
    if (attrs.get('r') !== this.#nonce) throw scramError('the nonce (r=) does not match');
    const proof = Buffer.from(message.slice(proofAt + 3), 'base64');
    if (proof.length !== 32) return undefined;
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(this.verifier.storedKey, authMessage));
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) return undefined;
    return { clientKey, serverFinal: `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}` };
  }
}

/**
 * The client side of SCRAM-SHA-256 with a ClientKey instead of a password (pass-through), for
 * the proxy's own connection to the instance.
 *
 * @example
 * ```ts
 * const client = new ScramClientExchange(clientKey, verifier.serverKey);
 * send(client.clientFirst());                   // SASLInitialResponse
 * send(client.clientFinal(serverFirstMessage)); // SASLResponse
 * client.checkServerFinal(serverFinalMessage);  // throws when the server is not who it claims
 * ```
 */
export class ScramClientExchange {
  readonly #clientNonce = randomBytes(18).toString('base64');
  #authMessage = '';

  constructor(
    private readonly clientKey: Buffer,
    private readonly serverKey: Buffer,
  ) {}

  clientFirst(): string {
    return `n,,n=,r=${this.#clientNonce}`;
  }

  clientFinal(serverFirst: string): string {
    const attrs = attributes(serverFirst);
    const nonce = attrs.get('r');
    if (nonce === undefined || !nonce.startsWith(this.#clientNonce)) throw new ProxyError('STRATA_PROXY_BACKEND', '08006', 'the instance answered SCRAM with a nonce that is not ours');
    const withoutProof = `c=biws,r=${nonce}`;
    this.#authMessage = `n=,r=${this.#clientNonce},${serverFirst},${withoutProof}`;
    const proof = xor(this.clientKey, hmac(sha256(this.clientKey), this.#authMessage));
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  checkServerFinal(serverFinal: string): void {
    const expected = `v=${hmac(this.serverKey, this.#authMessage).toString('base64')}`;
    if (serverFinal.trim() !== expected) throw new ProxyError('STRATA_PROXY_BACKEND', '08006', 'the instance proved the wrong SCRAM server key; its verifier differs from the control plane\'s');
  }
}
