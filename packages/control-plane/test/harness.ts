// Test harness of the control plane's platform: a control plane on a fresh database of each
// engine, HTTP calls over a real socket, and a small route module that creates rows (so
// idempotency, quotas, roles and bad input are shown on a resource of their own).

import { request } from 'node:http';
import { connect } from 'node:net';
import { createRoute, z } from '@hono/zod-openapi';
import { freshDatabaseUrl, type EngineKind } from '@strata/testing';
import { audited, checkQuota, createControlPlane, errorResponses, jsonBody, requireRole, type ApiModule, type ControlPlane, type ControlPlaneOptions } from '../src/index.js';

/** What came back from one call. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The parsed JSON body (undefined when it is not JSON). */
  readonly json: any;
}

/** Options of one call. */
export interface CallOptions {
  readonly key?: string;
  /** A value sent as JSON, or raw text/bytes sent as they are. */
  readonly body?: unknown;
  readonly raw?: string | Buffer;
  readonly headers?: Record<string, string>;
}

/**
 * One HTTP request to the control plane at `base` over node:http; a `Host` in `headers` is sent as given.
 *
 * @example
 * const reply = await call(cp.url, 'GET', '/v1/tenant', { key });
 */
export function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.Authorization = `Bearer ${options.key}`;
  let payload: string | Buffer | undefined = options.raw;
  if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers, setHost: !('Host' in headers) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Raw bytes over TCP (for what node:http will not send, such as a request without Host); resolves with the answer's text. */
export function callRaw(base: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/** The test module's table, made by its first request. */
export const WIDGETS_TABLE = 'test_widgets';

/**
 * A route module for the tests: `POST /v1/widgets` (members) creates a widget row, counting
 * `instances` against the tenant's quota, audited as `widgets.create`.
 */
export const widgetsModule: ApiModule = (app, { db }) => {
  const route = createRoute({
    method: 'post',
    path: '/v1/widgets',
    tags: ['test'],
    summary: 'Create a widget (tests only)',
    request: {
      body: jsonBody(
        z.object({
          name: z.string().min(1).max(50),
          count: z.number().int().min(1),
          options: z.object({ color: z.enum(['red', 'blue']) }).strict().optional(),
        }).strict(),
      ),
    },
    responses: {
      201: { description: 'The widget', content: { 'application/json': { schema: z.object({ id: z.number().int(), name: z.string(), tenantId: z.string() }) } } },
      ...errorResponses(400, 401, 403, 409),
    },
  });
  app.openapi(route, async (c) => {
    requireRole(c, 'member');
    const { name, count } = c.req.valid('json');
    const { tenantId } = c.get('principal');
    const row = await audited(c, 'widgets.create', name, (record) =>
      db.transaction(async (tx) => {
        await checkQuota(tx, tenantId, { instances: count });
        const { rows } = await tx.query<{ id: number }>(`insert into ${WIDGETS_TABLE} (tenant_id, name) values ($1, $2) returning id`, [tenantId, name]);
        await record(tx);
        return rows[0]!;
      }),
    );
    return c.json({ id: row.id, name, tenantId }, 201);
  });
};

/** Silences the bootstrap message; collects it for tests that look. */
export function quietLogger(lines: string[] = []): NonNullable<ControlPlaneOptions['logger']> {
  return { info: (message) => lines.push(message), warn: (message) => lines.push(message) };
}

/** A control plane on a fresh database of `kind` with the widgets module, and its bootstrap admin key. */
export async function startPlatform(kind: EngineKind, options: Omit<ControlPlaneOptions, 'database'> = {}): Promise<{ cp: ControlPlane; adminKey: string; database: string }> {
  const database = await freshDatabaseUrl(kind);
  const cp = await createControlPlane({ database, modules: [widgetsModule], logger: quietLogger(), ...options });
  await cp.db.exec(`create table if not exists ${WIDGETS_TABLE} (id serial primary key, tenant_id text not null, name text not null)`);
  const adminKey = cp.bootstrapKey;
  if (adminKey === undefined) throw new Error('a control plane on a fresh database bootstraps an admin key');
  return { cp, adminKey, database };
}

/** Rows of the widgets table of a tenant. */
export async function widgetCount(cp: ControlPlane, tenantId: string): Promise<number> {
  const { rows } = await cp.db.query<{ n: string }>(`select count(*)::text as n from ${WIDGETS_TABLE} where tenant_id = $1`, [tenantId]);
  return Number(rows[0]?.n ?? 0);
}

/** Creates a tenant through the API (as the platform admin) and returns its ID and first admin key. */
export async function newTenant(cp: ControlPlane, adminKey: string, name: string): Promise<{ tenantId: string; key: string }> {
  const reply = await call(cp.url, 'POST', '/v1/tenants', { key: adminKey, body: { name } });
  if (reply.status !== 201) throw new Error(`creating tenant ${name}: ${reply.status} ${reply.text}`);
  return { tenantId: reply.json.tenant.id, key: reply.json.token };
}

/** Creates a key with `role` in the tenant of `adminKey`. */
export async function newKey(cp: ControlPlane, adminKey: string, role: 'admin' | 'member' | 'read-only', name: string = role): Promise<{ keyId: string; key: string }> {
  const reply = await call(cp.url, 'POST', '/v1/keys', { key: adminKey, body: { name, role } });
  if (reply.status !== 201) throw new Error(`creating a ${role} key: ${reply.status} ${reply.text}`);
  return { keyId: reply.json.key.id, key: reply.json.token };
}

/**
 * Polls `probe` every 100 ms until it returns something other than undefined, and returns that;
 * throws naming `what` after `timeoutMs`.
 */
export async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
