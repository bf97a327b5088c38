// An instance's proxy settings and cache invalidations over real HTTP: a control plane with the
// instances and proxy-settings modules and a node agent in one process (embedded PGlite), one real
// instance. GET/PATCH round trips (by name and ID, null back to the proxy's default, rules
// replaced), bad input refused with the failing paths and nothing changed, read-only keys refused,
// another tenant's instance a 404, invalidation rows written (old ones pruned), audit rows.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { instancesModule, proxySettingsModule, type ControlPlane } from '../src/index.js';
import { call, newKey, newTenant } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

const DEFAULTS = { poolMode: 'session', maxClients: null, maxServerConnections: null, cacheRules: [] };
const RULES = [
  { tables: ['products', 'shop.*'], ttlMs: 30_000, swrMs: 60_000, tags: ['catalog'] },
  { tables: ['*'], ttlMs: 1_000, swrMs: 0 },
];

let cp: ControlPlane;
let node: HttpNode | undefined;
let acme: { tenantId: string; key: string };
let globex: { tenantId: string; key: string };
let instance: { id: string; name: string; maxConnections: number };

before(async () => {
  node = await startHttpNode({ rootName: 'proxy-settings-node', nodeId: 'node-proxy-settings', modules: [instancesModule, proxySettingsModule] });
  cp = node.cp;
  acme = await newTenant(cp, cp.bootstrapKey!, 'acme');
  globex = await newTenant(cp, cp.bootstrapKey!, 'globex');
  const created = await call(cp.url, 'POST', '/v1/instances', { key: acme.key, body: { name: 'shop', flavor: 'tiny', databases: ['app'] } });
  assert.equal(created.status, 202, created.text);
  const active = (await call(cp.url, 'GET', '/v1/instances/shop/wait?timeoutMs=60000', { key: acme.key })).json;
  assert.equal(active.status, 'ACTIVE', active.error);
  // The flavor's max_connections (tiny: 20), which bounds maxServerConnections.
  const { rows } = await cp.db.query<{ max_connections: number }>(`select max_connections from strata_cloud.instances where instance_id = $1`, [active.id]);
  instance = { id: active.id, name: active.name, maxConnections: Number(rows[0]?.max_connections) };
});
after(() => node?.close());

const settingsOf = async (key = acme.key, ref = 'shop') => call(cp.url, 'GET', `/v1/instances/${ref}/proxy`, { key });
const patch = (body: unknown, key = acme.key, ref = 'shop') => call(cp.url, 'PATCH', `/v1/instances/${ref}/proxy`, { key, body });
const invalidate = (body: unknown, key = acme.key, ref = 'shop') => call(cp.url, 'POST', `/v1/instances/${ref}/cache/invalidate`, { key, body });
const columns = async () =>
  (await cp.db.query(`select pool_mode, proxy_max_clients, proxy_max_server_connections, cache_rules from strata_cloud.instances where instance_id = $1`, [instance.id])).rows[0];
const auditRows = async (tenantId: string, action: string) =>
  (await cp.db.query<{ target: string; result: string }>(`select target, result from strata_cloud.audit_log where tenant_id = $1 and action = $2 order by id`, [tenantId, action])).rows;

describe('proxy settings', () => {
  test('a new instance has the defaults; GET answers by name and by ID', async () => {
    assert.ok(instance.maxConnections > 0);
    const byName = await settingsOf();
    assert.equal(byName.status, 200, byName.text);
    assert.deepEqual(byName.json, DEFAULTS);
    assert.deepEqual((await settingsOf(acme.key, instance.id)).json, DEFAULTS);
  });

  test('PATCH changes what it names, keeps the rest, and GET shows the same; null puts a limit back to the default', async () => {
    const set = await patch({ poolMode: 'transaction', maxClients: 50, maxServerConnections: 10, cacheRules: RULES });
    assert.equal(set.status, 200, set.text);
    const expected = { poolMode: 'transaction', maxClients: 50, maxServerConnections: 10, cacheRules: RULES };
    assert.deepEqual(set.json, expected);
    assert.deepEqual((await settingsOf()).json, expected);
    // What the proxy's directory reads.
    const row = await columns();
    assert.equal(row?.pool_mode, 'transaction');
    assert.equal(Number(row?.proxy_max_clients), 50);
    assert.equal(Number(row?.proxy_max_server_connections), 10);

    const reset = await patch({ maxClients: null }, acme.key, instance.id);
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual(reset.json, { ...expected, maxClients: null });

    const cleared = await patch({ cacheRules: [], poolMode: 'session', maxServerConnections: null });
    assert.deepEqual(cleared.json, DEFAULTS);
    assert.deepEqual((await settingsOf()).json, DEFAULTS);
  });

  test('bad input is refused with 400 naming the failing path and what to fix; nothing changes', async () => {
    await patch({ maxClients: 7 });
    const before = (await settingsOf()).json;
    const refused = async (body: unknown, path: string, words: RegExp) => {
      const reply = await patch(body);
      assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
      assert.equal(reply.json.error.code, 'invalid_request');
      const issue = (reply.json.error.details.issues as Array<{ path: string; message: string }>).find((candidate) => candidate.path === path);
      assert.ok(issue, `${JSON.stringify(body)}: no issue at ${path} in ${reply.text}`);
      assert.match(issue.message, words, `${JSON.stringify(body)}: ${issue.message}`);
    };
    await refused({}, 'body', /at least one of poolMode, maxClients/);
    await refused({ poolMode: 'statement' }, 'body.poolMode', /'session' or 'transaction'/);
    await refused({ maxClients: 0 }, 'body.maxClients', /at least 1/);
    await refused({ maxClients: 1.5 }, 'body.maxClients', /whole number/);
    await refused({ maxClients: '10' }, 'body.maxClients', /whole number or null/);
    await refused({ maxServerConnections: 10_001 }, 'body.maxServerConnections', /at most 10000/);
    await refused({ maxClient: 5 }, 'body.maxClient', /unknown field/);
    await refused({ cacheRules: [{ tables: [], ttlMs: 1_000, swrMs: 0 }] }, 'body.cacheRules.0.tables', /at least one table/);
    await refused({ cacheRules: [{ tables: ['my table'], ttlMs: 1_000, swrMs: 0 }] }, 'body.cacheRules.0.tables.0', /schema\.table, table, schema\.\* or \*/);
    await refused({ cacheRules: [{ tables: ['a.b.c'], ttlMs: 1_000, swrMs: 0 }] }, 'body.cacheRules.0.tables.0', /schema\.table/);
    await refused({ cacheRules: [{ tables: ['"Quoted"'], ttlMs: 1_000, swrMs: 0 }] }, 'body.cacheRules.0.tables.0', /without quotes/);
    await refused({ cacheRules: [{ tables: ['t'], ttlMs: 0, swrMs: 0 }] }, 'body.cacheRules.0.ttlMs', /at least 1 ms/);
    await refused({ cacheRules: [{ tables: ['t'], ttlMs: 1_000, swrMs: 86_400_001 }] }, 'body.cacheRules.0.swrMs', /one day/);
    await refused({ cacheRules: [{ tables: ['t'], ttlMs: 1_000 }] }, 'body.cacheRules.0.swrMs', /milliseconds/);
    await refused({ cacheRules: [{ tables: ['t'], ttlMs: 1_000, swrMs: 0, tags: ['Catalog Page'] }] }, 'body.cacheRules.0.tags.0', /a-z, 0-9/);
    await refused({ cacheRules: [{ tables: ['t'], ttlMs: 1_000, swrMs: 0, tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }] }, 'body.cacheRules.0.tags', /at most 16 tags/);
    await refused({ cacheRules: [{ tables: ['t'], ttlMs: 1_000, swrMs: 0, ttl: 5 }] }, 'body.cacheRules.0.ttl', /unknown field/);
    await refused({ cacheRules: Array.from({ length: 33 }, () => ({ tables: ['t'], ttlMs: 1_000, swrMs: 0 })) }, 'body.cacheRules', /at most 32 rules/);
    // Past what the instance's server takes: the service's check, with the same shape.
    await refused({ maxServerConnections: instance.maxConnections + 1, poolMode: 'transaction' }, 'body.maxServerConnections', new RegExp(`at most ${instance.maxConnections}.*resize`));
    assert.deepEqual((await settingsOf()).json, before, 'no refused request changed anything');
    assert.equal((await patch({ maxServerConnections: instance.maxConnections })).status, 200, "the instance's own max_connections is allowed");
    await patch({ maxClients: null, maxServerConnections: null });
  });

  test('a read-only key reads but does not change; a member key changes', async () => {
    const reader = await newKey(cp, acme.key, 'read-only', 'reader');
    assert.equal((await settingsOf(reader.key)).status, 200);
    const forbidden = await patch({ poolMode: 'transaction' }, reader.key);
    assert.equal(forbidden.status, 403, forbidden.text);
    assert.equal(forbidden.json.error.code, 'forbidden');
    assert.equal((await invalidate({ tags: ['catalog'] }, reader.key)).status, 403);
    assert.equal((await settingsOf()).json.poolMode, 'session');
    const member = await newKey(cp, acme.key, 'member', 'dev');
    assert.equal((await patch({ poolMode: 'transaction' }, member.key)).status, 200);
    assert.equal((await patch({ poolMode: 'session' }, member.key)).status, 200);
  });

  test("another tenant's instance is a 404, like a missing one, and stays as it was", async () => {
    const missing = await settingsOf(globex.key, 'no-such-instance');
    assert.equal(missing.status, 404);
    for (const reply of [await settingsOf(globex.key), await settingsOf(globex.key, instance.id), await patch({ poolMode: 'transaction' }, globex.key), await invalidate({ tags: ['catalog'] }, globex.key, instance.id)]) {
      assert.equal(reply.status, 404, reply.text);
      assert.equal(reply.json.error.code, 'not_found');
      assert.match(reply.json.error.message, /^no instance "[^"]+" in this tenant/, 'the same answer as for a missing instance');
    }
    assert.equal((await settingsOf()).json.poolMode, 'session');
    const { rows } = await cp.db.query(`select 1 from strata_cloud.cache_invalidations where instance_id = $1`, [instance.id]);
    assert.equal(rows.length, 0, 'no invalidation recorded for another tenant');
  });
});

describe('cache invalidation', () => {
  test('POST …/cache/invalidate records a row and answers 202 with its id; old rows are pruned', async () => {
    // A row from two hours ago: the next invalidation's transaction deletes it.
    await cp.db.query(`insert into strata_cloud.cache_invalidations (instance_id, tags, created_at) values ('ins_gone', '{old}', now() - interval '2 hours')`);
    const reply = await invalidate({ tags: ['catalog', 'home', 'catalog'] });
    assert.equal(reply.status, 202, reply.text);
    assert.match(reply.json.invalidationId, /^\d+$/);
    const { rows } = await cp.db.query<{ id: string; instance_id: string; tags: string[] }>(`select id::text as id, instance_id, tags from strata_cloud.cache_invalidations order by id`);
    assert.deepEqual(rows, [{ id: reply.json.invalidationId, instance_id: instance.id, tags: ['catalog', 'home'] }]);

    const byId = await invalidate({ tags: ['orders:42'] }, acme.key, instance.id);
    assert.equal(byId.status, 202);
    assert.ok(BigInt(byId.json.invalidationId) > BigInt(reply.json.invalidationId), 'ids increase: proxies read them in order');
  });

  test('an Idempotency-Key makes a retried invalidation record one row', async () => {
    const headers = { 'Idempotency-Key': 'invalidate-catalog-1' };
    const first = await call(cp.url, 'POST', '/v1/instances/shop/cache/invalidate', { key: acme.key, body: { tags: ['catalog'] }, headers });
    const again = await call(cp.url, 'POST', '/v1/instances/shop/cache/invalidate', { key: acme.key, body: { tags: ['catalog'] }, headers });
    assert.equal(again.status, 202);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json.invalidationId, first.json.invalidationId);
  });

  test('bad tags are refused with 400 naming the path', async () => {
    for (const [body, path, words] of [
      [{ tags: [] }, 'body.tags', /at least one tag/],
      [{ tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }, 'body.tags', /at most 16 tags/],
      [{ tags: ['Catalog'] }, 'body.tags.0', /a-z, 0-9/],
      [{ tags: ['x'.repeat(65)] }, 'body.tags.0', /1 to 64/],
      [{}, 'body.tags', /./],
      [{ tags: ['a'], instance: 'shop' }, 'body.instance', /unknown field/],
    ] as const) {
      const reply = await invalidate(body);
      assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
      const issue = (reply.json.error.details.issues as Array<{ path: string; message: string }>).find((candidate) => candidate.path === path);
      assert.ok(issue, `${JSON.stringify(body)}: no issue at ${path} in ${reply.text}`);
      assert.match(issue.message, words);
    }
  });
});

describe('audit', () => {
  test('changes and invalidations are audited with their result; refusals by role are not', async () => {
    const updates = await auditRows(acme.tenantId, 'instances.proxy.update');
    assert.ok(updates.some((row) => row.target === 'shop' && row.result === 'ok'));
    assert.ok(updates.some((row) => row.target === instance.id && row.result === 'ok'), 'the target is the reference as given');
    assert.ok(updates.some((row) => row.result === 'invalid_request'), "the instance's own limit, refused by the service, is recorded with its code");
    assert.ok(!updates.some((row) => row.result === 'forbidden'), 'a refusal by role happens before audited');
    const invalidations = await auditRows(acme.tenantId, 'instances.cache.invalidate');
    assert.ok(invalidations.filter((row) => row.result === 'ok').length >= 3);
    const other = await auditRows(globex.tenantId, 'instances.proxy.update');
    assert.deepEqual(other.map((row) => row.result), ['not_found']);
    const verified = await call(cp.url, 'POST', '/v1/audit/verify', { key: acme.key });
    assert.equal(verified.json.ok, true, verified.text);
  });

  test('the OpenAPI document lists the routes', async () => {
    const document = (await call(cp.url, 'GET', '/v1/openapi.json')).json;
    assert.deepEqual(Object.keys(document.paths['/v1/instances/{instance}/proxy']).sort(), ['get', 'patch']);
    assert.ok(document.paths['/v1/instances/{instance}/cache/invalidate'].post);
    assert.ok(document.components.schemas.CacheRule);
  });
});
