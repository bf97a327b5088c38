// API key secrets: made from 32 random bytes, shown once as `sk_<keyId>_<secret>`, stored only as
// an scrypt hash with a per-key salt, and checked in constant time.

import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { idPattern, newId } from './ids.js';

/** Random bytes of a secret: 256 bits, beyond guessing at any request rate. */
const SECRET_BYTES = 32;

/** Salt bytes per key: 128 bits, so no two keys share a hash computation. */
const SALT_BYTES = 16;

/**
 * scrypt cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of milliseconds) — Node's default and the
 * interactive-login setting of the scrypt paper; verified results are cached (see {@link KeyVerifier}).
 */
const SCRYPT_OPTIONS = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** Length of a stored hash in bytes. */
const HASH_BYTES = 32;

/** Keys whose verified secret is remembered in memory; past this the oldest are forgotten. */
const VERIFIED_KEYS_MAX = 1_000;

/** The key ID's prefix. */
export const KEY_ID_PREFIX = 'key';

const KEY_ID = idPattern(KEY_ID_PREFIX);
const TOKEN = /^sk_(key_[a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;

/** A new key: its ID, its secret, the token shown to the user once, and what is stored. */
export interface NewApiKey {
  readonly keyId: string;
  /** `sk_<keyId>_<secret>`: what the client sends as `Authorization: Bearer <token>`. */
  readonly token: string;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/**
 * Makes a key: a new ID, a random secret, and the scrypt hash to store.
 *
 * @example
 * const key = await newApiKey();
 * key.token; // 'sk_key_k3v9q2m7x4b8c1d5_Xb7…' (shown once)
 */
export async function newApiKey(): Promise<NewApiKey> {
  const keyId = newId(KEY_ID_PREFIX);
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const salt = randomBytes(SALT_BYTES);
  return { keyId, token: `sk_${keyId}_${secret}`, salt, hash: await hashSecret(secret, salt) };
}

/**
 * The key ID and secret of a token, or undefined when it is not shaped like one.
 *
 * @example
 * parseToken('sk_key_k3v9q2m7x4b8c1d5_' + 'A'.repeat(43)); // { keyId: 'key_k3v9q2m7x4b8c1d5', secret: 'AAA…' }
 */
export function parseToken(token: string): { keyId: string; secret: string } | undefined {
  const match = TOKEN.exec(token);
  if (match === null) return undefined;
  const [, keyId, secret] = match;
  if (keyId === undefined || secret === undefined || !KEY_ID.test(keyId)) return undefined;
  return { keyId, secret };
}

/** scrypt(secret, salt) with {@link SCRYPT_OPTIONS}. */
export function hashSecret(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, HASH_BYTES, SCRYPT_OPTIONS, (error, derived) => (error === null ? resolve(derived) : reject(error)));
  });
}

/**
 * Checks secrets against stored hashes in constant time. scrypt is slow on purpose; a secret
 * that verified once is remembered (as a SHA-256, per key, bounded) so later requests with the
 * same key cost a hash, not an scrypt. Revocation is unaffected: the key's row is read on every
 * request.
 *
 * @example
 * const verifier = new KeyVerifier();
 * await verifier.verify(keyId, secret, { salt, hash }); // true or false
 */
export class KeyVerifier {
  readonly #verified = new Map<string, Buffer>();

  async verify(keyId: string, secret: string, stored: { readonly salt: Buffer; readonly hash: Buffer }): Promise<boolean> {
    const digest = createHash('sha256').update(stored.hash).update(secret).digest();
    const remembered = this.#verified.get(keyId);
    if (remembered !== undefined && timingSafeEqual(remembered, digest)) return true;
    const computed = await hashSecret(secret, stored.salt);
    const ok = computed.length === stored.hash.length && timingSafeEqual(computed, stored.hash);
    if (ok) {
      if (this.#verified.size >= VERIFIED_KEYS_MAX) this.#verified.delete(this.#verified.keys().next().value as string);
      this.#verified.set(keyId, digest);
    }
    return ok;
  }
}
