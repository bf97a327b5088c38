// The values a tuple holds, and the small classes for the types JavaScript has no value for.

import { randomUUID } from 'node:crypto';
import { TupleEncodingError } from './errors.js';

/**
 * One element of a tuple. Each JavaScript value maps to one FoundationDB tuple type:
 *
 * | value | tuple type (type code) |
 * | --- | --- |
 * | `null` | null (0x00) |
 * | `Uint8Array` | byte string (0x01) |
 * | `string` | Unicode string, UTF-8 (0x02) |
 * | array of items | nested tuple (0x05) |
 * | `number` that is a safe integer (not `-0`), any `bigint` | integer (0x0b–0x1d) |
 * | any other `number` (fractions, `-0`, `±Infinity`, `NaN`, integers past 2^53) | double (0x21) |
 * | {@link Float64} | double (0x21), for an integral value that must stay a double |
 * | {@link Float32} | float (0x20) |
 * | `boolean` | false (0x26) / true (0x27) |
 * | {@link UUID} | UUID (0x30) |
 * | {@link Versionstamp} | 96-bit versionstamp (0x33) |
 *
 * @example
 * const key: Tuple = ['order', 42, new UUID('7d444840-9dc0-11d1-b245-5ffdce74fad2'), [true, null]];
 */
export type TupleItem =
  | null
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | readonly TupleItem[]
  | UUID
  | Versionstamp
  | Float32
  | Float64;

/**
 * A tuple: an ordered list of {@link TupleItem}s. Its `pack` encoding sorts bytewise in the
 * same order as the tuples themselves.
 *
 * @example
 * const t: Tuple = ['users', 'ada', 1815];
 */
export type Tuple = readonly TupleItem[];

/** Bytes in a UUID (RFC 4122). */
export const UUID_BYTES = 16;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An RFC 4122 UUID as a tuple element (type code 0x30): 16 bytes, ordered as unsigned bytes.
 *
 * @example
 * const id = new UUID('7d444840-9dc0-11d1-b245-5ffdce74fad2');
 * id.toString();         // '7d444840-9dc0-11d1-b245-5ffdce74fad2'
 * UUID.random().bytes;   // 16 random bytes (version 4)
 */
export class UUID {
  /** The 16 bytes, in network (big-endian) order. */
  readonly bytes: Uint8Array;

  /** From the canonical text form (`8-4-4-4-12` hex digits) or from 16 bytes (copied). */
  constructor(value: string | Uint8Array) {
    if (typeof value === 'string') {
      if (!UUID_PATTERN.test(value)) {
        throw new TupleEncodingError(`UUID ${JSON.stringify(value)} is not in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)`);
      }
      this.bytes = Uint8Array.from(Buffer.from(value.replaceAll('-', ''), 'hex'));
    } else {
      if (!(value instanceof Uint8Array) || value.length !== UUID_BYTES) {
        throw new TupleEncodingError(`a UUID is ${UUID_BYTES} bytes; got ${value instanceof Uint8Array ? `${value.length} bytes` : typeof value}`);
      }
      this.bytes = Uint8Array.from(value);
    }
  }

  /** A new random (version 4) UUID. */
  static random(): UUID {
    return new UUID(randomUUID());
  }

  /** The canonical lower-case text form. */
  toString(): string {
    const hex = Buffer.from(this.bytes).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

/**
 * A 32-bit IEEE float as a tuple element (type code 0x20). Plain numbers encode as doubles;
 * wrap a number in `Float32` to store the 4-byte form other bindings call `float`.
 *
 * @example
 * pack([new Float32(-42)]); // 20 3d d7 ff ff
 */
export class Float32 {
  /** The value, rounded to single precision. */
  readonly value: number;
  constructor(value: number) {
    if (typeof value !== 'number') throw new TupleEncodingError(`Float32 takes a number; got ${typeof value}`);
    this.value = Math.fround(value);
  }
}

/**
 * A 64-bit IEEE double as a tuple element (type code 0x21) even when the number is integral.
 * A plain `1` packs as the integer 1; `new Float64(1)` packs as the double 1.0. `unpack`
 * returns doubles as plain numbers, except integral ones (which would pack back as integers):
 * those come back as `Float64`, so `pack(unpack(bytes))` always gives the same bytes.
 *
 * @example
 * pack([new Float64(1)]); // 21 bf f0 00 00 00 00 00 00
 */
export class Float64 {
  readonly value: number;
  constructor(value: number) {
    if (typeof value !== 'number') throw new TupleEncodingError(`Float64 takes a number; got ${typeof value}`);
    this.value = value;
  }
}

/** Bytes of the commit part of a versionstamp: 8 bytes of commit version, 2 of batch order. */
export const VERSIONSTAMP_TRANSACTION_BYTES = 10;
/** Bytes of a tuple-layer versionstamp: the 10 commit bytes and a 2-byte user version. */
export const VERSIONSTAMP_BYTES = 12;
/** The largest user version: it is an unsigned 16-bit number. */
export const MAX_VERSIONSTAMP_USER_VERSION = 0xffff;

/**
 * A 96-bit versionstamp as a tuple element (type code 0x33): 10 bytes the database fills with
 * the commit version when the transaction commits, and a 2-byte user version that orders
 * several versionstamps written by one transaction. An *incomplete* versionstamp is a
 * placeholder for `packWithVersionstamp`; reading the key back gives a complete one.
 *
 * @example
 * const { key, offset } = packWithVersionstamp(['log', Versionstamp.incomplete(0)]);
 * tr.setVersionstampedKey(key, offset, value);
 * // later: (unpack(storedKey)[1] as Versionstamp).isComplete === true
 */
export class Versionstamp {
  /** The 10 commit bytes; all 0xff while incomplete. */
  readonly transactionVersion: Uint8Array;
  /** Orders versionstamps within one transaction (0–65535). */
  readonly userVersion: number;
  /** False for a placeholder that the commit has not filled yet. */
  readonly isComplete: boolean;

  private constructor(transactionVersion: Uint8Array, userVersion: number, isComplete: boolean) {
    if (!Number.isInteger(userVersion) || userVersion < 0 || userVersion > MAX_VERSIONSTAMP_USER_VERSION) {
      throw new TupleEncodingError(`a versionstamp's user version is an integer from 0 to ${MAX_VERSIONSTAMP_USER_VERSION}; got ${userVersion}`);
    }
    this.transactionVersion = transactionVersion;
    this.userVersion = userVersion;
    this.isComplete = isComplete;
  }

  /** A placeholder the commit fills in; `userVersion` orders several in one transaction. */
  static incomplete(userVersion = 0): Versionstamp {
    return new Versionstamp(new Uint8Array(VERSIONSTAMP_TRANSACTION_BYTES).fill(0xff), userVersion, false);
  }

  /** A complete versionstamp from its 10 commit bytes (as the database wrote them) and a user version. */
  static complete(transactionVersion: Uint8Array, userVersion = 0): Versionstamp {
    if (!(transactionVersion instanceof Uint8Array) || transactionVersion.length !== VERSIONSTAMP_TRANSACTION_BYTES) {
      throw new TupleEncodingError(`a versionstamp's transaction version is ${VERSIONSTAMP_TRANSACTION_BYTES} bytes`);
    }
    return new Versionstamp(Uint8Array.from(transactionVersion), userVersion, true);
  }

  /** From the 12 bytes of its encoding (10 commit bytes, then the user version, big-endian). */
  static fromBytes(bytes: Uint8Array): Versionstamp {
    if (!(bytes instanceof Uint8Array) || bytes.length !== VERSIONSTAMP_BYTES) {
      throw new TupleEncodingError(`a versionstamp is ${VERSIONSTAMP_BYTES} bytes`);
    }
    const transactionVersion = bytes.slice(0, VERSIONSTAMP_TRANSACTION_BYTES);
    const userVersion = ((bytes[10] ?? 0) << 8) | (bytes[11] ?? 0);
    const isComplete = !transactionVersion.every((byte) => byte === 0xff);
    return new Versionstamp(transactionVersion, userVersion, isComplete);
  }

  /** The 12 bytes of its encoding. */
  toBytes(): Uint8Array {
    const bytes = new Uint8Array(VERSIONSTAMP_BYTES);
    bytes.set(this.transactionVersion, 0);
    bytes[10] = this.userVersion >> 8;
    bytes[11] = this.userVersion & 0xff;
    return bytes;
  }
}
