// Key selectors: a key named by its position relative to another key, as in FoundationDB.

import { InvalidKeyError } from '../errors.js';
import { checkRangeKey } from './limits.js';

/**
 * Names a key by where it sits relative to `key`: the first key at or after it, the last key
 * before it, and so on, then `offset` keys further. Resolved against the database (with the
 * transaction's own writes) when a range read uses it; a position before the first key resolves
 * to the empty key, one after the last to `[0xff]`.
 *
 * @example
 * // the 10 keys after `cursor`, not including it:
 * await tr.getRange(KeySelector.firstGreaterThan(cursor), end, { limit: 10 });
 * // the key 3 places after the first key >= k:
 * KeySelector.firstGreaterOrEqual(k).add(3);
 */
export class KeySelector {
  /** The reference key. */
  readonly key: Uint8Array;
  /** True: start from the last key <= `key`; false: from the last key < `key`. */
  readonly orEqual: boolean;
  /** Keys to move from there (1 = the next key after it). */
  readonly offset: number;

  constructor(key: Uint8Array, orEqual: boolean, offset: number) {
    checkRangeKey(key, 'a key selector\'s key');
    if (!Number.isSafeInteger(offset)) throw new InvalidKeyError(`a key selector's offset must be a whole number, got ${String(offset)}`);
    this.key = key;
    this.orEqual = orEqual;
    this.offset = offset;
  }

  /**
   * The first key >= `key`.
   *
   * @example
   * await tr.getRange(KeySelector.firstGreaterOrEqual(begin), end);
   */
  static firstGreaterOrEqual(key: Uint8Array): KeySelector {
    return new KeySelector(key, false, 1);
  }

  /**
   * The first key > `key`.
   *
   * @example
   * await tr.getRange(KeySelector.firstGreaterThan(lastSeen), end, { limit: 100 });
   */
  static firstGreaterThan(key: Uint8Array): KeySelector {
    return new KeySelector(key, true, 1);
  }

  /**
   * The last key <= `key`.
   *
   * @example
   * await tr.getRange(KeySelector.lastLessOrEqual(k), KeySelector.firstGreaterThan(k)); // k's floor entry
   */
  static lastLessOrEqual(key: Uint8Array): KeySelector {
    return new KeySelector(key, true, 0);
  }

  /**
   * The last key < `key`.
   *
   * @example
   * KeySelector.lastLessThan(end); // the last key of a range
   */
  static lastLessThan(key: Uint8Array): KeySelector {
    return new KeySelector(key, false, 0);
  }

  /**
   * This selector moved `offset` keys further (negative: back).
   *
   * @example
   * KeySelector.firstGreaterOrEqual(k).add(1); // the key after the first key >= k
   */
  add(offset: number): KeySelector {
    if (!Number.isSafeInteger(offset)) throw new InvalidKeyError(`KeySelector.add takes a whole number, got ${String(offset)}`);
    return new KeySelector(this.key, this.orEqual, this.offset + offset);
  }
}
