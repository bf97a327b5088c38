// The hash chain of the audit log: each row's hash covers the previous row's hash and its own
// canonical form, so changing, removing or reordering a row breaks every hash after it.

import { createHash } from 'node:crypto';

/** The fields of an audit row that its hash covers. */
export interface AuditFields {
  readonly tenantId: string;
  /** Position in the tenant's chain, from 1. */
  readonly tenantSeq: number;
  /** The API key that acted; null for the platform itself (the first start). */
  readonly keyId: string | null;
  readonly action: string;
  readonly target: string;
  readonly requestId: string;
  /** `ok`, or the error code the call failed with. */
  readonly result: string;
  /** When it happened, to the millisecond (what JavaScript and the stored column both hold exactly). */
  readonly at: Date;
}

/** Version tag of the canonical form, so it can change later without breaking old chains. */
const CANONICAL_VERSION = 'audit.v1';

/**
 * The canonical text of a row: a JSON array of its fields in a fixed order.
 *
 * @example
 * canonicalRow({ tenantId: 'ten_a', tenantSeq: 1, keyId: 'key_b', action: 'keys.create', target: 'key_c', requestId: 'req_1', result: 'ok', at: new Date(0) });
 * // '["audit.v1","ten_a","1","key_b","keys.create","key_c","req_1","ok","1970-01-01T00:00:00.000Z"]'
 */
export function canonicalRow(row: AuditFields): string {
  return JSON.stringify([CANONICAL_VERSION, row.tenantId, String(row.tenantSeq), row.keyId, row.action, row.target, row.requestId, row.result, row.at.toISOString()]);
}

/**
 * `sha256(prevHash || canonicalRow(row))` in hex; the first row of a chain has `prevHash` `''`.
 *
 * @example
 * const hash = chainHash('', first);
 * const next = chainHash(hash, second);
 */
export function chainHash(prevHash: string, row: AuditFields): string {
  return createHash('sha256').update(prevHash, 'utf8').update(canonicalRow(row), 'utf8').digest('hex');
}
