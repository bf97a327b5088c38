// What a request may look like: idempotent POSTs (retries, concurrent duplicates, a reused key),
// bad input (malformed JSON, oversized bodies, wrong types, unknown fields), and the OpenAPI
// document and docs page generated from the routes' schemas.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRoute, z } from '@hono/zod-openapi';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { createControlPlane, type ApiModule, type ControlPlane } from '../src/index.js';
import { call, newTenant, quietLogger, startPlatform, widgetCount } from './harness.js';

for (const kind of engines()) {
  describe(`requests (${kind})`, () => {
    let cp: ControlPlane;
    let adminKey: string;
    let tenant: { tenantId: string; key: string };

    before(async () => {
      ({ cp, adminKey } = await startPlatform(kind));
      tenant = await newTenant(cp, adminKey, 'requests');
    });
    after(() => cp?.close());

    test('a retried POST with the same Idempotency-Key and body returns the first answer and creates one row', async () => {
      const options = { key: tenant.key, body: { name: 'once', count: 1 }, headers: { 'Idempotency-Key': 'create-once' } };
      const first = await call(cp.url, 'POST', '/v1/widgets', options);
      const retry = await call(cp.url, 'POST', '/v1/widgets', { ...options, body: { count: 1, name: 'once' } });
      assert.equal(first.status, 201);
      assert.equal(retry.status, 201);
      assert.deepEqual(retry.json, first.json);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      assert.equal(first.headers['idempotent-replayed'], undefined);
      assert.equal(await widgetCount(cp, tenant.tenantId), 1);
      const audit = await call(cp.url, 'GET', '/v1/audit', { key: tenant.key });
      assert.equal(audit.json.entries.filter((entry: { action: string }) => entry.action === 'widgets.create').length, 1, 'audited once');

      const reused = await call(cp.url, 'POST', '/v1/widgets', { ...options, body: { name: 'other', count: 1 } });
      assert.equal(reused.status, 422);
      assert.equal(reused.json.error.code, 'idempotency_key_reused');
      assert.equal(await widgetCount(cp, tenant.tenantId), 1);
    });

    test('concurrent duplicates with one Idempotency-Key create one row and all get the same answer', async () => {
      const before = await widgetCount(cp, tenant.tenantId);
      const replies = await Promise.all(
        Array.from({ length: 6 }, () => call(cp.url, 'POST', '/v1/widgets', { key: tenant.key, body: { name: 'raced', count: 1 }, headers: { 'Idempotency-Key': 'raced-1' } })),
      );
      for (const reply of replies) {
        assert.equal(reply.status, 201);
        assert.deepEqual(reply.json, replies[0]!.json);
      }
      assert.equal(replies.filter((reply) => reply.headers['idempotent-replayed'] === undefined).length, 1, 'one request ran');
      assert.equal(await widgetCount(cp, tenant.tenantId), before + 1);
    });

    test('an idempotent key creation replays the same key without its secret, which is never stored', async () => {
      const options = { key: tenant.key, body: { name: 'deploy', role: 'member' }, headers: { 'Idempotency-Key': 'key-1' } };
      const first = await call(cp.url, 'POST', '/v1/keys', options);
      const retry = await call(cp.url, 'POST', '/v1/keys', options);
      assert.equal(retry.json.key.id, first.json.key.id);
      assert.equal(typeof first.json.token, 'string');
      assert.equal(retry.json.token, null);
      const { rows } = await cp.db.query<{ response_body: string }>('select response_body from strata_cloud.idempotency_keys where idempotency_key = $1', ['key-1']);
      assert.equal(rows[0]!.response_body.includes(first.json.token), false);
      const keys = await call(cp.url, 'GET', '/v1/keys', { key: tenant.key });
      assert.equal(keys.json.keys.filter((key: { name: string }) => key.name === 'deploy').length, 1);
    });

    test('the same Idempotency-Key in two tenants is two requests', async () => {
      const other = await newTenant(cp, adminKey, 'requests-other');
      const headers = { 'Idempotency-Key': 'shared-key' };
      assert.equal((await call(cp.url, 'POST', '/v1/widgets', { key: tenant.key, body: { name: 's', count: 1 }, headers })).status, 201);
      assert.equal((await call(cp.url, 'POST', '/v1/widgets', { key: other.key, body: { name: 's', count: 1 }, headers })).status, 201);
      assert.equal(await widgetCount(cp, other.tenantId), 1);
    });

    test('bad input is refused with a typed error and creates nothing', async () => {
      const before = await widgetCount(cp, tenant.tenantId);
      const post = (options: Parameters<typeof call>[3]) => call(cp.url, 'POST', '/v1/widgets', { key: tenant.key, ...options });

      const malformed = await post({ raw: '{"name": "x",', headers: { 'Content-Type': 'application/json' } });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.json.error.code, 'invalid_json');

      const oversized = await post({ raw: JSON.stringify({ name: 'x', count: 1, pad: 'p'.repeat(1024 * 1024) }), headers: { 'Content-Type': 'application/json' } });
      assert.equal(oversized.status, 413);
      assert.equal(oversized.json.error.code, 'payload_too_large');

      const wrongTypes = await post({ body: { name: 7, count: 'three' } });
      assert.equal(wrongTypes.status, 400);
      assert.equal(wrongTypes.json.error.code, 'invalid_request');
      assert.deepEqual(wrongTypes.json.error.details.issues.map((issue: { path: string }) => issue.path).sort(), ['body.count', 'body.name']);
      assert.match(wrongTypes.json.error.message, /body\.name/);

      const unknown = await post({ body: { name: 'x', count: 1, colour: 'red', options: { color: 'red', size: 2 } } });
      assert.equal(unknown.status, 400);
      assert.deepEqual(unknown.json.error.details.issues.map((issue: { path: string }) => issue.path).sort(), ['body.colour', 'body.options.size']);

      const notJson = await post({ raw: 'name=x&count=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      assert.equal(notJson.status, 415);
      assert.equal(notJson.json.error.code, 'unsupported_media_type');

      const noBody = await post({});
      assert.equal(noBody.status, 400);
      assert.equal(noBody.json.error.code, 'invalid_request');

      const badQuery = await call(cp.url, 'GET', '/v1/audit?limit=100000', { key: tenant.key });
      assert.equal(badQuery.status, 400);
      assert.equal(badQuery.json.error.details.issues[0].path, 'query.limit');

      const noRoute = await call(cp.url, 'GET', '/v1/nothing-here', { key: tenant.key });
      assert.equal(noRoute.status, 404);
      assert.equal(noRoute.json.error.code, 'not_found');

      assert.equal(await widgetCount(cp, tenant.tenantId), before);
    });

    test('/v1/openapi.json is an OpenAPI 3.1 document of every route, readable without a key', async () => {
      const reply = await call(cp.url, 'GET', '/v1/openapi.json');
      assert.equal(reply.status, 200);
      const document = JSON.parse(reply.text);
      assert.equal(document.openapi, '3.1.0');
      const operations = Object.entries(document.paths as Record<string, object>).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
      for (const expected of [
        'GET /v1/tenant',
        'POST /v1/tenants',
        'PATCH /v1/tenants/{tenantId}/quotas',
        'GET /v1/keys',
        'POST /v1/keys',
        'DELETE /v1/keys/{keyId}',
        'GET /v1/audit',
        'POST /v1/audit/verify',
        'POST /v1/widgets',
      ]) {
        assert.ok(operations.includes(expected), `${expected} is documented`);
      }
      assert.equal(document.components.securitySchemes.apiKey.scheme, 'bearer');
      assert.deepEqual(document.security, [{ apiKey: [] }]);
      const body = document.paths['/v1/widgets'].post.requestBody.content['application/json'].schema;
      assert.equal(body.additionalProperties, false, 'unknown fields are refused, and the document says so');
      assert.ok(document.paths['/v1/keys'].post.responses['403'], 'error answers are documented');
    });

    test('/v1/docs renders the document as one self-contained page (no script, nothing fetched)', async () => {
      const reply = await call(cp.url, 'GET', '/v1/docs');
      assert.equal(reply.status, 200);
      assert.match(String(reply.headers['content-type']), /^text\/html/);
      assert.match(String(reply.headers['content-security-policy']), /default-src 'none'/);
      assert.doesNotMatch(reply.text, /<script/i);
      assert.doesNotMatch(reply.text, /(src|href)="https?:/i);
      for (const path of ['/v1/keys', '/v1/tenants/{tenantId}/quotas', '/v1/audit/verify', '/v1/widgets']) assert.ok(reply.text.includes(path), path);
    });
  });
}

test('the control plane refuses to start with a route whose JSON body lets unknown fields through', async () => {
  const loose: ApiModule = (app) => {
    const route = createRoute({
      method: 'post',
      path: '/v1/loose',
      request: { body: { required: true, content: { 'application/json': { schema: z.object({ name: z.string() }) } } } },
      responses: { 200: { description: 'ok' } },
    });
    app.openapi(route, (c) => c.body(null, 200));
  };
  const database = await freshDatabaseUrl('pglite');
  await assert.rejects(createControlPlane({ database, modules: [loose], logger: quietLogger() }), /POST \/v1\/loose.*unknown fields through at body\b.*\.strict\(\)/);
});
