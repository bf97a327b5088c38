// unpack: FoundationDB tuple encodings back to tuples.

import * as code from './codes.js';
import { unorderFloat } from './encode.js';
import { TupleDecodingError } from './errors.js';
import { Float32, Float64, UUID, UUID_BYTES, Versionstamp, VERSIONSTAMP_BYTES, type TupleItem } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Decodes bytes written by `pack` back into the tuple. Integers come back as `number` when they
 * are safe integers and as `bigint` otherwise; doubles as `number` (integral ones as
 * {@link Float64}); floats as {@link Float32}. `pack(unpack(bytes))` gives `bytes` back.
 *
 * @throws {TupleDecodingError} when the bytes are not a tuple encoding.
 *
 * @example
 * unpack(pack(['user', 42, [true, null]])); // ['user', 42, [true, null]]
 */
export function unpack(bytes: Uint8Array): TupleItem[] {
  if (!(bytes instanceof Uint8Array)) throw new TupleDecodingError('unpack takes a Uint8Array', 0);
  const decoder = new Decoder(bytes);
  const items: TupleItem[] = [];
  while (decoder.position < bytes.length) items.push(decoder.item(false));
  return items;
}

class Decoder {
  position = 0;
  constructor(readonly bytes: Uint8Array) {}

  item(nested: boolean): TupleItem {
    const start = this.position;
    const typeCode = this.#take(1, start)[0] as number;
    switch (typeCode) {
      case code.NULL:
        return null;
      case code.BYTES:
        return this.#escaped(start);
      case code.STRING:
        try {
          return utf8.decode(this.#escaped(start));
        } catch {
          throw new TupleDecodingError('a string element is not valid UTF-8', start);
        }
      case code.NESTED:
        return this.#nested(start);
      case code.FLOAT: {
        const view = new DataView(unorderFloat(this.#take(4, start)).buffer);
        return new Float32(view.getFloat32(0));
      }
      case code.DOUBLE: {
        const value = new DataView(unorderFloat(this.#take(8, start)).buffer).getFloat64(0);
        // An integral double would pack back as an integer; keep it a double.
        return Number.isSafeInteger(value) && !Object.is(value, -0) ? new Float64(value) : value;
      }
      case code.FALSE:
        return false;
      case code.TRUE:
        return true;
      case code.UUID_CODE:
        return new UUID(this.#take(UUID_BYTES, start));
      case code.VERSIONSTAMP:
        return Versionstamp.fromBytes(this.#take(VERSIONSTAMP_BYTES, start));
      default:
        if (typeCode >= code.NEG_BIG_INT && typeCode <= code.POS_BIG_INT) return this.#integer(typeCode, start);
        throw new TupleDecodingError(`unknown tuple type code 0x${typeCode.toString(16).padStart(2, '0')}${nested ? ' in a nested tuple' : ''}`, start);
    }
  }

  #integer(typeCode: number, start: number): number | bigint {
    let length: number;
    let negative: boolean;
    if (typeCode === code.POS_BIG_INT) {
      length = this.#take(1, start)[0] as number;
      negative = false;
    } else if (typeCode === code.NEG_BIG_INT) {
      length = (this.#take(1, start)[0] as number) ^ 0xff;
      negative = true;
    } else {
      length = Math.abs(typeCode - code.INT_ZERO);
      negative = typeCode < code.INT_ZERO;
    }
    let body = 0n;
    for (const byte of this.#take(length, start)) body = (body << 8n) | BigInt(byte);
    const value = negative ? body - ((1n << BigInt(length * 8)) - 1n) : body;
    return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  }

  /** A byte string's body: up to the first 0x00 not followed by 0xff, with 0x00 0xff unescaped. */
  #escaped(start: number): Uint8Array {
    const bytes = this.bytes;
    const parts: number[] = [];
    for (let i = this.position; i < bytes.length; i++) {
      const byte = bytes[i] as number;
      if (byte !== 0x00) {
        parts.push(byte);
      } else if (bytes[i + 1] === code.ESCAPE) {
        parts.push(0x00);
        i++;
      } else {
        this.position = i + 1;
        return Uint8Array.from(parts);
      }
    }
    throw new TupleDecodingError('a byte string or string element has no terminating 0x00', start);
  }

  #nested(start: number): TupleItem[] {
    const bytes = this.bytes;
    const items: TupleItem[] = [];
    for (;;) {
      if (this.position >= bytes.length) throw new TupleDecodingError('a nested tuple has no terminating 0x00', start);
      if (bytes[this.position] === code.NULL) {
        if (bytes[this.position + 1] === code.ESCAPE) {
          items.push(null);
          this.position += 2;
          continue;
        }
        this.position += 1;
        return items;
      }
      items.push(this.item(true));
    }
  }

  #take(length: number, start: number): Uint8Array {
    if (this.position + length > this.bytes.length) throw new TupleDecodingError('the tuple ends inside an element', start);
    const out = this.bytes.slice(this.position, this.position + length);
    this.position += length;
    return out;
  }
}
