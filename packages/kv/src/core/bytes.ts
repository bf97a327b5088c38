// Byte helpers of the core: bytewise order, the key right after a key, hex for SQL arrays.

/** Bytewise, unsigned comparison (a prefix sorts first): the order of keys. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const diff = (a[i] as number) - (b[i] as number);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** True when `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && compareKeys(a, b) === 0;
}

/** The first key after `key` in key order: `key` followed by a zero byte. */
export function keyAfter(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** Lower-case hex of `bytes`, the form byte arrays take into SQL (`decode(x, 'hex')`). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A map key for `bytes` (hex: exact, and ordered like the bytes). */
export const mapKey = toHex;

/** The bytes of a map key made by {@link mapKey}. */
export function fromHex(hex: string): Uint8Array {
  return plain(Buffer.from(hex, 'hex'));
}

/**
 * `bytes` as a plain `Uint8Array` (drivers return `Buffer`s; callers compare with
 * `deepStrictEqual`, which tells the two apart).
 */
export function plain(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `bytes` as a `Buffer` over the same memory, the parameter form node-postgres sends as bytea. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The empty key, where the key space begins. */
export const FIRST_KEY = new Uint8Array(0);
/** `[0xff]`: where application keys end and the system range begins. */
export const SYSTEM_KEY_PREFIX = Uint8Array.of(0xff);

/** 32-bit FNV-1a of `bytes` as 8 hex digits: how commits name the keys they wrote to watchers. */
export function keyHash(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i] as number;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
