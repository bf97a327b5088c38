// Subspace: a key prefix that namespaces tuples, as in FoundationDB's subspace layer.

import { StrataError, type ErrorKind } from '@strata/store';
import { compareBytes, concatBytes } from '../tuple/bytes.js';
import { pack, packWithVersionstamp } from '../tuple/encode.js';
import { unpack } from '../tuple/decode.js';
import { rangeOfPrefix, type KeyRange } from '../tuple/range.js';
import type { Tuple, TupleItem } from '../tuple/types.js';

/**
 * A key given to {@link Subspace.unpack} does not start with the subspace's prefix.
 *
 * @example
 * new Subspace(['a']).unpack(pack(['b', 1])); // throws SubspaceMismatchError
 */
export class SubspaceMismatchError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor() {
    super('STRATA_KV_KEY_OUTSIDE_SUBSPACE', 'the key is not in this subspace (it does not start with its prefix); check contains(key) first, or unpack it with the subspace that wrote it');
  }
}

/**
 * A namespace of keys: every key it makes starts with its prefix, so layers and apps can share
 * one keyspace without collisions, and a whole namespace is one range to read or clear.
 * Built from raw prefix bytes or from a tuple (packed to the prefix).
 *
 * @example
 * const users = new Subspace(['app', 'users']);
 * tr.set(users.pack(['ada']), value);                      // key = pack(['app', 'users', 'ada'])
 * users.unpack(users.pack(['ada', 'email']));              // ['ada', 'email']
 * const { begin, end } = users.range();                    // every user key
 * const emails = users.sub('emails');                      // prefix pack(['app', 'users', 'emails'])
 */
export class Subspace {
  /** The prefix every key of this subspace starts with. */
  readonly key: Uint8Array;

  constructor(prefix: Uint8Array | Tuple = new Uint8Array(0)) {
    this.key = prefix instanceof Uint8Array ? Uint8Array.from(prefix) : pack(prefix);
  }

  /**
   * A subspace nested in this one, its prefix extended by the packed items.
   *
   * @example
   * new Subspace(['app']).sub('users', 7).key; // pack(['app', 'users', 7])
   */
  sub(...items: TupleItem[]): Subspace {
    return new Subspace(concatBytes(this.key, pack(items)));
  }

  /**
   * The key of `tuple` in this subspace: the prefix, then `pack(tuple)`.
   *
   * @example
   * new Subspace(['users']).pack(['ada']); // pack(['users', 'ada'])
   */
  pack(tuple: Tuple = []): Uint8Array {
    return concatBytes(this.key, pack(tuple));
  }

  /**
   * The key of a tuple with one incomplete versionstamp, and the placeholder's offset (prefix
   * counted), for `tr.setVersionstampedKey`.
   *
   * @example
   * const { key, offset } = log.packWithVersionstamp([Versionstamp.incomplete()]);
   * tr.setVersionstampedKey(key, offset, value);
   */
  packWithVersionstamp(tuple: Tuple): { key: Uint8Array; offset: number } {
    return packWithVersionstamp(tuple, this.key);
  }

  /**
   * The tuple of a key of this subspace (the prefix removed).
   *
   * @throws {SubspaceMismatchError} when the key is not in this subspace.
   *
   * @example
   * users.unpack(users.pack(['ada', 1])); // ['ada', 1]
   */
  unpack(key: Uint8Array): TupleItem[] {
    if (!this.contains(key)) throw new SubspaceMismatchError();
    return unpack(key.subarray(this.key.length));
  }

  /**
   * The range of keys of tuples in this subspace that extend `tuple` (all of them by default).
   * The prefix key itself is not in it.
   *
   * @example
   * const { begin, end } = users.range(['ada']); // every key under ['ada']
   * tr.clearRange(begin, end);
   */
  range(tuple: Tuple = []): KeyRange {
    return rangeOfPrefix(this.pack(tuple));
  }

  /**
   * Whether `key` starts with this subspace's prefix.
   *
   * @example
   * users.contains(users.pack(['ada'])); // true
   */
  contains(key: Uint8Array): boolean {
    if (key.length < this.key.length) return false;
    return compareBytes(key.subarray(0, this.key.length), this.key) === 0;
  }
}
