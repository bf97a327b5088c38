// range: the key range of every tuple that extends a prefix tuple.

import { concatBytes } from './bytes.js';
import { pack } from './encode.js';
import type { Tuple } from './types.js';

/**
 * A key range `[begin, end)`, as `getRange` and `clearRange` take it.
 *
 * @example
 * const { begin, end } = range(['users']);
 * await tr.getRange(begin, end);
 */
export interface KeyRange {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
}

/**
 * The keys of every tuple that starts with `prefix` and has at least one more element
 * (FoundationDB's `range`): `pack(prefix) + 0x00` up to `pack(prefix) + 0xff`. The key
 * `pack(prefix)` itself is not in it.
 *
 * @example
 * const { begin, end } = range(['users']);
 * // holds pack(['users', 'ada']) and pack(['users', 'ada', 'email']), not pack(['users'])
 * await tr.getRange(begin, end, { limit: 100 });
 */
export function range(prefix: Tuple = []): KeyRange {
  return rangeOfPrefix(pack(prefix));
}

/** The range of keys that extend `packedPrefix` by a tuple element (`prefix + 0x00` up to `prefix + 0xff`). */
export function rangeOfPrefix(packedPrefix: Uint8Array): KeyRange {
  return {
    begin: concatBytes(packedPrefix, Uint8Array.of(0x00)),
    end: concatBytes(packedPrefix, Uint8Array.of(0xff)),
  };
}

/**
 * The first key after every key that starts with `prefix` (FoundationDB's `strinc`): drops
 * trailing 0xff bytes and adds one to the last byte. `[prefix, strinc(prefix))` holds exactly the
 * keys that start with `prefix`.
 *
 * @throws {RangeError} when `prefix` is empty or all 0xff: no key follows every such key.
 *
 * @example
 * strinc(Uint8Array.of(0x01, 0xff)); // Uint8Array [0x02]
 */
export function strinc(prefix: Uint8Array): Uint8Array {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) throw new RangeError('strinc: the key is empty or all 0xff, so no key follows every key it prefixes');
  const out = prefix.slice(0, end);
  out[end - 1] = (out[end - 1] as number) + 1;
  return out;
}
