// The types a route module is written against: who is calling, what the app carries, what a module gets.

import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Database } from '@strata/store';
import type { Strata, StrataClient } from '@strata/transact';

/** What an API key may do in its tenant: `admin` everything, `member` create and change, `read-only` read. */
export type Role = 'admin' | 'member' | 'read-only';

/** Every role, weakest first; `requireRole` compares positions in this list. */
export const ROLES: readonly Role[] = ['read-only', 'member', 'admin'];

/** Who a request acts for: the tenant and API key it authenticated with. */
export interface Principal {
  readonly tenantId: string;
  readonly keyId: string;
  readonly role: Role;
  /** Whether the key belongs to the platform tenant (whose admins create tenants and set quotas). */
  readonly platform: boolean;
}

/** The Hono environment of every API route: `c.get('principal')`, `c.get('requestId')`. */
export interface ApiEnv {
  Variables: {
    principal: Principal;
    requestId: string;
  };
}

/** What a route module works with: the system database, the control plane's engine, and a client of it. */
export interface ApiDeps {
  readonly db: Database;
  readonly strata: Strata;
  readonly client: StrataClient;
}

/**
 * A route module: registers its workflows on `deps.strata` (it runs before the engine launches)
 * and its routes on `app` with `app.openapi(createRoute(…), handler)`, so they are validated and
 * appear in `/v1/openapi.json`.
 *
 * @example
 * export const helloModule: ApiModule = (app) => {
 *   app.openapi(createRoute({ method: 'get', path: '/v1/hello', responses: { 200: { description: 'hi', content: { 'application/json': { schema: z.object({ hi: z.string() }) } } } } }),
 *     (c) => c.json({ hi: c.get('principal').tenantId }, 200));
 * };
 */
export type ApiModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => void;
