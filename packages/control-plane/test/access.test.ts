// Who may do what: API keys (made, used, revoked), roles, tenant isolation, quotas, the Host
// check and request IDs — over real HTTP, on embedded PGlite and on PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '@strata/testing';
import type { ControlPlane } from '../src/index.js';
import { call, callRaw, newKey, newTenant, startPlatform, widgetCount } from './harness.js';

for (const kind of engines()) {
  describe(`access control (${kind})`, () => {
    let cp: ControlPlane;
    let adminKey: string;
    let platformTenantId: string;

    before(async () => {
      ({ cp, adminKey } = await startPlatform(kind, { allowedHosts: ['api.example.com'] }));
      platformTenantId = (await call(cp.url, 'GET', '/v1/tenant', { key: adminKey })).json.id;
    });
    after(() => cp?.close());

    test('a key is created, used, listed without its secret, revoked, and refused from then on', async () => {
      const created = await call(cp.url, 'POST', '/v1/keys', { key: adminKey, body: { name: 'ci', role: 'member' } });
      assert.equal(created.status, 201);
      const token: string = created.json.token;
      const keyId: string = created.json.key.id;
      assert.match(token, new RegExp(`^sk_${keyId}_[A-Za-z0-9_-]{43}$`));

      const used = await call(cp.url, 'GET', '/v1/tenant', { key: token });
      assert.equal(used.status, 200);
      assert.equal(used.json.id, platformTenantId);

      const listed = await call(cp.url, 'GET', '/v1/keys', { key: adminKey });
      const entry = listed.json.keys.find((key: { id: string }) => key.id === keyId);
      assert.equal(entry.role, 'member');
      assert.notEqual(entry.lastUsedAt, null, 'the use was recorded');
      assert.equal(listed.text.includes(token.slice(-43)), false, 'no secret is ever listed');
      const { rows } = await cp.db.query<{ hash: Uint8Array }>('select hash from strata_cloud.api_keys where key_id = $1', [keyId]);
      assert.equal(Buffer.from(rows[0]!.hash).toString('utf8').includes(token.slice(-43)), false, 'only a hash is stored');

      const revoked = await call(cp.url, 'DELETE', `/v1/keys/${keyId}`, { key: adminKey });
      assert.equal(revoked.status, 200);
      assert.notEqual(revoked.json.key.revokedAt, null);

      const refused = await call(cp.url, 'GET', '/v1/tenant', { key: token });
      assert.equal(refused.status, 401);
      assert.equal(refused.json.error.code, 'unauthorized');
      assert.equal(refused.headers['www-authenticate'], 'Bearer realm="strata"');
    });

    test('missing, malformed and wrong keys are all 401 unauthorized', async () => {
      const wrongSecret = `${adminKey.slice(0, -43)}${'A'.repeat(43)}`;
      for (const key of [undefined, 'nonsense', 'sk_key_aaaaaaaaaaaaaaaa_short', wrongSecret]) {
        const reply = await call(cp.url, 'GET', '/v1/keys', key === undefined ? {} : { key });
        assert.equal(reply.status, 401, `key ${String(key)}`);
        assert.equal(reply.json.error.code, 'unauthorized');
        assert.equal(typeof reply.json.error.requestId, 'string');
      }
    });

    test('a read-only key reads but cannot write (403); a member writes but cannot manage keys', async () => {
      const readOnly = await newKey(cp, adminKey, 'read-only');
      const member = await newKey(cp, adminKey, 'member');
      assert.equal((await call(cp.url, 'GET', '/v1/keys', { key: readOnly.key })).status, 200);
      assert.equal((await call(cp.url, 'GET', '/v1/audit', { key: readOnly.key })).status, 200);

      const before = await widgetCount(cp, platformTenantId);
      const write = await call(cp.url, 'POST', '/v1/widgets', { key: readOnly.key, body: { name: 'w', count: 1 } });
      assert.equal(write.status, 403);
      assert.equal(write.json.error.code, 'forbidden');
      assert.equal(await widgetCount(cp, platformTenantId), before, 'nothing was created');

      assert.equal((await call(cp.url, 'POST', '/v1/widgets', { key: member.key, body: { name: 'w', count: 1 } })).status, 201);
      const keys = await call(cp.url, 'POST', '/v1/keys', { key: member.key, body: { name: 'x', role: 'admin' } });
      assert.equal(keys.status, 403);
      assert.equal((await call(cp.url, 'DELETE', `/v1/keys/${readOnly.keyId}`, { key: member.key })).status, 403);
    });

    test("tenant A's key cannot see or touch tenant B's keys or audit rows (404, like a missing one)", async () => {
      const a = await newTenant(cp, adminKey, 'tenant-a');
      const b = await newTenant(cp, adminKey, 'tenant-b');
      const bKey = await newKey(cp, b.key, 'member', 'b-member');

      const aKeys = await call(cp.url, 'GET', '/v1/keys', { key: a.key });
      assert.equal(aKeys.json.keys.some((key: { id: string }) => key.id === bKey.keyId), false);

      const foreign = await call(cp.url, 'DELETE', `/v1/keys/${bKey.keyId}`, { key: a.key });
      const missing = await call(cp.url, 'DELETE', '/v1/keys/key_aaaaaaaaaaaaaaaa', { key: a.key });
      assert.equal(foreign.status, 404);
      assert.equal(missing.status, 404);
      assert.equal(foreign.json.error.code, missing.json.error.code);
      assert.equal(foreign.json.error.message.replace(bKey.keyId, '<id>'), missing.json.error.message.replace('key_aaaaaaaaaaaaaaaa', '<id>'));
      assert.equal((await call(cp.url, 'GET', '/v1/tenant', { key: bKey.key })).status, 200, "B's key still works");

      const aAudit = await call(cp.url, 'GET', '/v1/audit', { key: a.key });
      assert.ok(aAudit.json.entries.length > 0, 'A has rows of its own (its failed revoke)');
      assert.ok(aAudit.json.entries.every((entry: { tenantId: string }) => entry.tenantId === a.tenantId));

      // Tenants and quotas are the platform admins' business.
      assert.equal((await call(cp.url, 'POST', '/v1/tenants', { key: a.key, body: { name: 'tenant-c' } })).status, 403);
      assert.equal((await call(cp.url, 'PATCH', `/v1/tenants/${b.tenantId}/quotas`, { key: a.key, body: { instances: 100 } })).status, 403);
      const taken = await call(cp.url, 'POST', '/v1/tenants', { key: adminKey, body: { name: 'tenant-a' } });
      assert.equal(taken.status, 409);
      assert.equal(taken.json.error.code, 'name_taken');
    });

    test('a quota set by the platform admin refuses what would exceed it (409 quota_exceeded) and creates nothing', async () => {
      const t = await newTenant(cp, adminKey, 'quota-tenant');
      const set = await call(cp.url, 'PATCH', `/v1/tenants/${t.tenantId}/quotas`, { key: adminKey, body: { instances: 2 } });
      assert.equal(set.status, 200);
      assert.equal(set.json.quotas.instances, 2);

      const over = await call(cp.url, 'POST', '/v1/widgets', { key: t.key, body: { name: 'big', count: 3 } });
      assert.equal(over.status, 409);
      assert.equal(over.json.error.code, 'quota_exceeded');
      assert.deepEqual(over.json.error.details, { quota: 'instances', limit: 2, used: 0, requested: 3 });
      assert.equal(await widgetCount(cp, t.tenantId), 0);
      assert.equal((await call(cp.url, 'POST', '/v1/widgets', { key: t.key, body: { name: 'fits', count: 2 } })).status, 201);

      assert.equal((await call(cp.url, 'PATCH', '/v1/tenants/ten_aaaaaaaaaaaaaaaa/quotas', { key: adminKey, body: { instances: 1 } })).status, 404);
      const empty = await call(cp.url, 'PATCH', `/v1/tenants/${t.tenantId}/quotas`, { key: adminKey, body: {} });
      assert.equal(empty.status, 400);
      assert.equal(empty.json.error.code, 'invalid_request');
    });

    test('only the API\'s own names are answered in Host (421 otherwise), a configured one included', async () => {
      const port = new URL(cp.url).port;
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'api.example.com', `api.example.com:${port}`]) {
        assert.equal((await call(cp.url, 'GET', '/v1/docs', { headers: { Host: host } })).status, 200, host);
      }
      const rebound = await call(cp.url, 'GET', '/v1/tenant', { key: adminKey, headers: { Host: `evil.example:${port}` } });
      assert.equal(rebound.status, 421);
      assert.equal(rebound.json.error.code, 'unknown_host');
      const noHost = await callRaw(cp.url, 'GET /v1/docs HTTP/1.0\r\n\r\n');
      assert.match(noHost, /^HTTP\/1\.[01] 421 /);
      assert.match(noHost, /"code":"unknown_host"/);
    });

    test('a request ID is echoed (the client\'s, when sane) and carried by error bodies', async () => {
      const given = await call(cp.url, 'GET', '/v1/keys', { headers: { 'X-Request-Id': 'trace-42' } });
      assert.equal(given.headers['x-request-id'], 'trace-42');
      assert.equal(given.json.error.requestId, 'trace-42');
      const made = await call(cp.url, 'GET', '/v1/keys', { key: adminKey, headers: { 'X-Request-Id': 'bad id with spaces' } });
      assert.match(String(made.headers['x-request-id']), /^req_[0-9a-f]{20}$/);
    });
  });
}
