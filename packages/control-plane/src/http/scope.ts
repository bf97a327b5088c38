// What the platform's helpers (audited, the idempotency layer) need of a request beyond ApiEnv's
// variables: kept beside the request, so route modules see only the contract's variables.

import type { Context } from 'hono';
import type { Database } from '@strata/store';

/** The platform's per-request state. */
export interface RequestScope {
  readonly db: Database;
}

const scopes = new WeakMap<Request, RequestScope>();

/** Attaches the scope to `c`'s request (the app's first middleware does it). */
export function setRequestScope(c: Context, scope: RequestScope): void {
  scopes.set(c.req.raw, scope);
}

/** The scope of `c`'s request; a request that did not pass the app's middleware has none. */
export function requestScope(c: Context): RequestScope {
  const scope = scopes.get(c.req.raw);
  if (scope === undefined) throw new Error('invariant: requestScope() is called inside a request of the control plane API');
  return scope;
}
