// Versionstamps: a commit's version as the 10 bytes FoundationDB writes into keys and values.

/** Bytes of a transaction versionstamp: 8-byte big-endian commit version, 2-byte batch order. */
export const VERSIONSTAMP_BYTES = 10;

/**
 * The versionstamp of commit `version`. Every commit has its own version and one transaction per
 * version, so the batch order is always 0.
 *
 * @example
 * versionstampOf(258); // Uint8Array [0, 0, 0, 0, 0, 0, 1, 2, 0, 0]
 */
export function versionstampOf(version: number): Uint8Array {
  const stamp = new Uint8Array(VERSIONSTAMP_BYTES);
  new DataView(stamp.buffer).setBigUint64(0, BigInt(version), false);
  return stamp;
}
