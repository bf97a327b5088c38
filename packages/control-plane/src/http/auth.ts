// Who is calling: every /v1 route but the OpenAPI document and its docs page needs an API key,
// sent as `Authorization: Bearer sk_<keyId>_<secret>`; roles decide what the key may change.

import type { Context } from 'hono';
import type { Database } from '@strata/store';
import { KeyVerifier, parseToken } from '../tenancy/api-keys.js';
import { keyCredential, touchApiKey } from '../tenancy/sql/api-keys.js';
import { ApiError } from './errors.js';
import { ROLES, type ApiEnv, type Principal } from './types.js';

/** Longest Authorization header read; a real one is under 100 characters. */
const AUTHORIZATION_LENGTH_MAX = 1_024;

/**
 * Checks a request's bearer key against `strata_cloud.api_keys` and returns its principal, or
 * throws `401 unauthorized` (missing, malformed, unknown, wrong secret or revoked — one answer for
 * all, so none of them can be told apart from outside).
 *
 * @example
 * const authenticate = keyAuthenticator(db);
 * const principal = await authenticate(c.req.header('Authorization'));
 */
export function keyAuthenticator(db: Database): (authorization: string | undefined) => Promise<Principal> {
  const verifier = new KeyVerifier();
  return async (authorization) => {
    if (authorization === undefined || authorization === '') {
      throw unauthorized('this API needs an API key: send "Authorization: Bearer sk_…" (the platform printed the first admin key on its first start)');
    }
    const match = authorization.length <= AUTHORIZATION_LENGTH_MAX ? /^Bearer +(\S+)$/i.exec(authorization) : null;
    const parsed = match?.[1] === undefined ? undefined : parseToken(match[1]);
    if (parsed === undefined) throw unauthorized('the Authorization header must be "Bearer sk_<keyId>_<secret>" with a key this API issued');
    const credential = await keyCredential(db, parsed.keyId);
    if (credential === undefined || credential.revoked || !(await verifier.verify(parsed.keyId, parsed.secret, credential))) {
      throw unauthorized('the API key is unknown, wrong or revoked; ask an admin of your tenant for a key (POST /v1/keys)');
    }
    // A write per request would be the API's main load: only when the recorded use is stale.
    if (!credential.recentlyUsed) await touchApiKey(db, parsed.keyId);
    return { tenantId: credential.tenantId, keyId: parsed.keyId, role: credential.role, platform: credential.platform };
  };
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message);
}

/**
 * Refuses with `403 forbidden` unless the request's key has at least `role` (`read-only` <
 * `member` < `admin`). Call it first thing in every handler that changes something.
 *
 * @example
 * app.openapi(createInstanceRoute, async (c) => {
 *   requireRole(c, 'member');
 *   …
 * });
 */
export function requireRole(c: Context<ApiEnv>, role: 'member' | 'admin'): void {
  const principal = c.get('principal');
  if (ROLES.indexOf(principal.role) < ROLES.indexOf(role)) {
    throw new ApiError(403, 'forbidden', `this needs a key with the ${role} role or higher; this key is ${principal.role} — ask an admin of your tenant for one`);
  }
}

/**
 * Refuses with `403 forbidden` unless the key is an admin key of the platform tenant (creating
 * tenants, setting quotas, seeing nodes).
 *
 * @example
 * requirePlatformAdmin(c);
 */
export function requirePlatformAdmin(c: Context<ApiEnv>): void {
  const principal = c.get('principal');
  if (!principal.platform || principal.role !== 'admin') {
    throw new ApiError(403, 'forbidden', 'this needs an admin key of the platform tenant (the key printed on the first start, or one made with it)');
  }
}
