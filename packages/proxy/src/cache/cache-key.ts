// The digest of a cache key: every field, length-prefixed, so no two different keys can encode
// to the same bytes (which is what keeps tenants, roles and databases apart in the cache).

import { createHash, type Hash } from 'node:crypto';
import type { CacheKey } from './interfaces.js';

const NULL_PARAM = 0xffffffff;

function addLength(hash: Hash, length: number): void {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(length);
  hash.update(bytes);
}

function addString(hash: Hash, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  addLength(hash, bytes.length);
  hash.update(bytes);
}

/**
 * The SHA-256 digest (hex) of every field of a cache key. Strings and parameters are
 * length-prefixed; a parameter list that is absent (simple protocol), empty, or holds a NULL or an
 * empty value all digest differently.
 *
 * @example
 * ```ts
 * cacheKeyDigest({ instanceId: 'ins_1', role: 'app', database: 'shop', sql: 'select 1' });
 * // '3f2a…' (64 hex characters); another role gives another digest
 * ```
 */
export function cacheKeyDigest(key: CacheKey): string {
  const hash = createHash('sha256');
  addString(hash, key.instanceId);
  addString(hash, key.role);
  addString(hash, key.database);
  addString(hash, key.variant ?? '');
  addString(hash, key.sql);
  if (key.params === undefined) {
    hash.update(Buffer.of(0));
  } else {
    hash.update(Buffer.of(1));
    addLength(hash, key.params.length);
    for (const param of key.params) {
      if (param === null) {
        addLength(hash, NULL_PARAM);
      } else {
        // A parameter of 0xffffffff bytes cannot exist (the protocol's lengths are signed 32-bit).
        addLength(hash, param.length);
        hash.update(param);
      }
    }
  }
  return hash.digest('hex');
}
