// FoundationDB's limits, and the checks every operation makes on its arguments.

import {
  InvalidKeyError,
  KeyOutsideLegalRangeError,
  KeyTooLargeError,
  TransactionTooLargeError,
  ValueTooLargeError,
} from '../errors.js';

/** FoundationDB's key size limit: keys are index entries, and big ones make every range read slow. */
export const MAX_KEY_BYTES = 10_000;
/** FoundationDB's value size limit: larger data belongs in several keys (a blob layer). */
export const MAX_VALUE_BYTES = 100_000;
/** FoundationDB's transaction size limit: a commit is one message and one log entry; 10 MB bounds both. */
export const MAX_TRANSACTION_BYTES = 10_000_000;
/**
 * FoundationDB's transaction duration limit: the conflict log only has to cover the last 5 s, and
 * a transaction holds a snapshot (here: a database connection) for its whole body.
 */
export const MAX_TRANSACTION_DURATION_MS = 5_000;
/** FoundationDB's default bound on pending watches per database: each costs a little memory and a re-read per change. */
export const MAX_WATCHES = 10_000;

/** Throws unless `key` is a `Uint8Array` below the system range and within the key size limit. */
export function checkKey(key: unknown, what = 'the key'): asserts key is Uint8Array {
  checkBytes(key, what);
  if (key.length > MAX_KEY_BYTES) throw new KeyTooLargeError(MAX_KEY_BYTES, key.length);
  if (key.length > 0 && key[0] === 0xff) throw new KeyOutsideLegalRangeError(what);
}

/** Throws unless `key` may bound a range: as {@link checkKey}, but `[0xff]` itself is allowed as an end. */
export function checkRangeKey(key: unknown, what: string): asserts key is Uint8Array {
  checkBytes(key, what);
  if (key.length > MAX_KEY_BYTES + 1) throw new KeyTooLargeError(MAX_KEY_BYTES, key.length);
  if (key.length > 0 && key[0] === 0xff && !(key.length === 1)) throw new KeyOutsideLegalRangeError(what);
}

/** Throws unless `value` is a `Uint8Array` within the value size limit. */
export function checkValue(value: unknown, what = 'the value'): asserts value is Uint8Array {
  checkBytes(value, what);
  if (value.length > MAX_VALUE_BYTES) throw new ValueTooLargeError(MAX_VALUE_BYTES, value.length);
}

/** Throws unless `bytes` is a `Uint8Array` (a `Buffer` is one). */
export function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    const got = bytes === null ? 'null' : Array.isArray(bytes) ? 'an array' : typeof bytes;
    throw new InvalidKeyError(
      `${what} must be a Uint8Array, got ${got}; encode strings and numbers with the tuple layer (pack(['user', 42])) or TextEncoder`,
    );
  }
}

/** Counts the bytes a transaction reads and writes against {@link MAX_TRANSACTION_BYTES}. */
export class SizeBudget {
  #bytes = 0;

  /** Bytes counted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `bytes`, or throws `TransactionTooLargeError` (counting nothing) when that passes the limit. */
  add(bytes: number): void {
    const next = this.#bytes + bytes;
    if (next > MAX_TRANSACTION_BYTES) throw new TransactionTooLargeError(MAX_TRANSACTION_BYTES, next);
    this.#bytes = next;
  }
}
