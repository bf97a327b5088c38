// pack and packWithVersionstamp: tuples to their order-preserving FoundationDB encoding.

import { ByteWriter } from './bytes.js';
import * as code from './codes.js';
import { TupleEncodingError } from './errors.js';
import { Float32, Float64, UUID, Versionstamp, type Tuple, type TupleItem } from './types.js';

const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Encodes a tuple as bytes whose bytewise order is the tuple order (FoundationDB's tuple layer,
 * byte-compatible with its official bindings). Use it for keys: `['user', 42]` sorts before
 * `['user', 43]` and before `['user', 42, 'email']`.
 *
 * @throws {TupleEncodingError} for an element with no tuple type (see {@link TupleItem}), a string
 *   with a lone surrogate, an integer wider than 255 bytes, or an incomplete {@link Versionstamp}
 *   (use {@link packWithVersionstamp} for those).
 *
 * @example
 * pack(['foo\x00bar']);          // 02 66 6f 6f 00 ff 62 61 72 00
 * pack([-5551212]);              // 11 ab 4b 93
 * pack([null, true, [1, null]]); // 00 27 05 15 01 00 ff 00
 */
export function pack(tuple: Tuple): Uint8Array {
  const encoder = new Encoder();
  encoder.tuple(tuple, 'top');
  if (encoder.versionstampOffset !== undefined) {
    throw new TupleEncodingError('the tuple holds an incomplete Versionstamp; pack it with packWithVersionstamp() and write it with setVersionstampedKey/Value');
  }
  return encoder.out.finish();
}

/**
 * Encodes a tuple that holds exactly one incomplete {@link Versionstamp}, and says where its 10
 * placeholder bytes are, for `tr.setVersionstampedKey(key, offset, value)` (or the value form).
 * `prefix` (a subspace's key) is put in front and counted in `offset`.
 *
 * @throws {TupleEncodingError} when the tuple holds no incomplete versionstamp or more than one.
 *
 * @example
 * const { key, offset } = packWithVersionstamp(['events', Versionstamp.incomplete()]);
 * // key = 02 'events' 00 33 ff×10 00 00; offset = 9
 * tr.setVersionstampedKey(key, offset, pack(['payload']));
 */
export function packWithVersionstamp(tuple: Tuple, prefix: Uint8Array = new Uint8Array(0)): { key: Uint8Array; offset: number } {
  const encoder = new Encoder();
  encoder.out.bytes(prefix);
  encoder.tuple(tuple, 'top');
  if (encoder.versionstampOffset === undefined) {
    throw new TupleEncodingError('packWithVersionstamp needs a tuple with one incomplete Versionstamp (Versionstamp.incomplete()); use pack() for the others');
  }
  return { key: encoder.out.finish(), offset: encoder.versionstampOffset };
}

class Encoder {
  readonly out = new ByteWriter();
  versionstampOffset: number | undefined;

  tuple(tuple: Tuple, where: 'top' | 'nested'): void {
    if (!Array.isArray(tuple)) throw new TupleEncodingError(`a tuple is an array of items; got ${describe(tuple)}`);
    for (let i = 0; i < tuple.length; i++) {
      const item = tuple[i] as TupleItem;
      if (item === null && where === 'nested') {
        this.out.byte(code.NULL);
        this.out.byte(code.ESCAPE);
      } else {
        this.item(item, i);
      }
    }
  }

  item(item: TupleItem, position: number): void {
    const out = this.out;
    if (item === null) out.byte(code.NULL);
    else if (item instanceof Uint8Array) this.#escaped(code.BYTES, item);
    else if (typeof item === 'string') {
      if (LONE_SURROGATE.test(item)) {
        throw new TupleEncodingError(`element ${position} is a string with a lone UTF-16 surrogate, which has no UTF-8 form; fix the string or store it as bytes`);
      }
      this.#escaped(code.STRING, utf8.encode(item));
    } else if (typeof item === 'number') {
      if (Number.isSafeInteger(item) && !Object.is(item, -0)) this.#integer(BigInt(item), position);
      else this.#double(item);
    } else if (typeof item === 'bigint') this.#integer(item, position);
    else if (typeof item === 'boolean') out.byte(item ? code.TRUE : code.FALSE);
    else if (Array.isArray(item)) {
      out.byte(code.NESTED);
      this.tuple(item as Tuple, 'nested');
      out.byte(code.NULL);
    } else if (item instanceof Float64) this.#double(item.value);
    else if (item instanceof Float32) {
      const view = new DataView(new ArrayBuffer(4));
      view.setFloat32(0, item.value);
      out.byte(code.FLOAT);
      out.bytes(orderFloat(new Uint8Array(view.buffer)));
    } else if (item instanceof UUID) {
      out.byte(code.UUID_CODE);
      out.bytes(item.bytes);
    } else if (item instanceof Versionstamp) {
      out.byte(code.VERSIONSTAMP);
      if (!item.isComplete) {
        if (this.versionstampOffset !== undefined) {
          throw new TupleEncodingError('a tuple can hold only one incomplete Versionstamp: the commit fills one placeholder; give the others distinct user versions of one stamp by writing them in separate keys');
        }
        this.versionstampOffset = out.length;
      }
      out.bytes(item.toBytes());
    } else {
      throw new TupleEncodingError(
        `element ${position} (${describe(item)}) has no tuple encoding; use null, Uint8Array, string, number, bigint, boolean, an array, UUID, Float32, Float64 or Versionstamp`,
      );
    }
  }

  #escaped(typeCode: number, bytes: Uint8Array): void {
    const out = this.out;
    out.byte(typeCode);
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x00) {
        out.bytes(bytes.subarray(start, i + 1));
        out.byte(code.ESCAPE);
        start = i + 1;
      }
    }
    out.bytes(bytes.subarray(start));
    out.byte(code.NULL);
  }

  #integer(value: bigint, position: number): void {
    const out = this.out;
    if (value === 0n) {
      out.byte(code.INT_ZERO);
      return;
    }
    const magnitude = value < 0n ? -value : value;
    const length = byteLength(magnitude);
    if (length > code.MAX_INT_BYTES) {
      throw new TupleEncodingError(`element ${position} is an integer of ${length} bytes; the tuple layer holds integers of at most ${code.MAX_INT_BYTES} bytes`);
    }
    // Negative numbers are one's complement of the magnitude in `length` bytes, so they sort in order.
    const body = value > 0n ? magnitude : (1n << BigInt(length * 8)) - 1n - magnitude;
    if (length <= code.MAX_FIXED_INT_BYTES) {
      out.byte(value > 0n ? code.INT_ZERO + length : code.INT_ZERO - length);
    } else if (value > 0n) {
      out.byte(code.POS_BIG_INT);
      out.byte(length);
    } else {
      out.byte(code.NEG_BIG_INT);
      out.byte(length ^ 0xff);
    }
    out.bytes(bigEndian(body, length));
  }

  #double(value: number): void {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value);
    this.out.byte(code.DOUBLE);
    this.out.bytes(orderFloat(new Uint8Array(view.buffer)));
  }
}

/**
 * FoundationDB's order-preserving float transform (its own inverse with the sign read first):
 * negative numbers get every bit flipped, others only the sign bit.
 */
export function orderFloat(bigEndianIeee: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bigEndianIeee);
  if (((out[0] as number) & 0x80) !== 0) {
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) ^ 0xff;
  } else {
    out[0] = (out[0] as number) ^ 0x80;
  }
  return out;
}

/** Inverse of {@link orderFloat}. */
export function unorderFloat(encoded: Uint8Array): Uint8Array {
  const out = Uint8Array.from(encoded);
  if (((out[0] as number) & 0x80) === 0) {
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) ^ 0xff;
  } else {
    out[0] = (out[0] as number) ^ 0x80;
  }
  return out;
}

function byteLength(magnitude: bigint): number {
  let length = 0;
  for (let rest = magnitude; rest > 0n; rest >>= 8n) length++;
  return length;
}

function bigEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
