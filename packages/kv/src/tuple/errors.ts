// Typed errors of the tuple layer: a value that cannot be encoded, bytes that are not a tuple.

import { StrataError, type ErrorKind } from '@strata/store';

/**
 * A value given to `pack` has no tuple encoding (an object, `undefined`, a fractional number
 * wrapped wrongly, a string with a lone surrogate, an integer wider than 255 bytes), or a
 * versionstamp rule was broken. The message names the element's position.
 *
 * @example
 * try {
 *   pack(['user', { id: 1 }]);
 * } catch (error) {
 *   if (error instanceof TupleEncodingError) console.log(error.code); // 'STRATA_KV_TUPLE_UNENCODABLE'
 * }
 */
export class TupleEncodingError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(message: string) {
    super('STRATA_KV_TUPLE_UNENCODABLE', message);
  }
}

/**
 * Bytes given to `unpack` are not a tuple encoding (an unknown type code, a truncated element,
 * trailing garbage). Usually a key that was not written with the tuple layer, or a subspace
 * prefix that was not stripped first.
 *
 * @example
 * try {
 *   unpack(Uint8Array.of(0x99));
 * } catch (error) {
 *   if (error instanceof TupleDecodingError) console.log(error.offset); // 0
 * }
 */
export class TupleDecodingError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  /** Byte offset in the input where decoding failed. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super('STRATA_KV_TUPLE_MALFORMED', `${message} (at byte ${offset}); unpack only bytes written by pack(), with any subspace prefix removed`);
    this.offset = offset;
  }
}
