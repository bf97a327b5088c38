// Identifiers of tenants and API keys: a prefix and 16 random base32 characters (80 bits).

import { randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Random bytes per ID: 80 bits, 16 base32 characters; collisions are out of reach at any scale. */
const ID_BYTES = 10;

/**
 * A new ID: `prefix` + `_` + 16 lower-case base32 characters.
 *
 * @example
 * newId('ten'); // 'ten_k3v9q2m7x4b8c1d5' (random)
 */
export function newId(prefix: string): string {
  const bytes = randomBytes(ID_BYTES);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `${prefix}_${out}`;
}

/** The shape of an ID made by {@link newId} with `prefix`. */
export function idPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}_[a-z2-7]{16}$`);
}
