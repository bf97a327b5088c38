// Keys and encodings shared by the kill test and its child process.

export const ACCOUNTS = 4;
export const OPENING_BALANCE = 100;
const encoder = new TextEncoder();
export const account = (i: number): Uint8Array => encoder.encode(`kill/account/${i}`);
export const ACCOUNTS_BEGIN = encoder.encode('kill/account/');
export const ACCOUNTS_END = encoder.encode('kill/account0');
/** Counts committed transfers (an atomic add in each transfer's transaction). */
export const TRANSFERS = encoder.encode('kill/transfers');

export function int64LE(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n), true);
  return out;
}

export function readInt64LE(bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true));
}
