// Creating API keys: the one place a secret exists in the clear, returned once to the caller.

import type { Queryable } from '@strata/store';
import type { Role } from '../http/types.js';
import { newApiKey, type NewApiKey } from './api-keys.js';
import { insertApiKey, type ApiKeyRecord } from './sql/api-keys.js';

/** A key just made: its record and the token, which is shown this once and never stored. */
export interface CreatedApiKey {
  readonly key: ApiKeyRecord;
  readonly token: string;
}

/**
 * Stores an API key of `tenantId` with `role` inside `tx`. Pass a key made beforehand with
 * `newApiKey()` to keep the slow hash out of the transaction (and to know its ID first).
 *
 * @example
 * const made = await newApiKey();
 * const { key, token } = await db.transaction((tx) => createApiKey(tx, { tenantId, role: 'member', name: 'ci', createdBy: null }, made));
 */
export async function createApiKey(tx: Queryable, options: { tenantId: string; role: Role; name: string; createdBy: string | null }, made?: NewApiKey): Promise<CreatedApiKey> {
  made ??= await newApiKey();
  const key = await insertApiKey(tx, { keyId: made.keyId, tenantId: options.tenantId, name: options.name, role: options.role, salt: made.salt, hash: made.hash, createdBy: options.createdBy });
  return { key, token: made.token };
}
