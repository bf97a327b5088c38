// The instance routes over real HTTP: a control plane (createControlPlane with instancesModule)
// and a node agent in one process on the embedded default, as `npm start` runs them. Create over
// the API, connect as the tenant, the OpenAPI document, roles, busy instances, another tenant's
// 404, bad input with nothing half-created, idempotent creates.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { instancesModule, type ControlPlane } from '../src/index.js';
import { call, newKey, newTenant } from './harness.js';
import { asTenant, startHttpNode, type HttpNode } from './instances/platform.js';

let cp: ControlPlane;
let node: HttpNode | undefined;
let adminKey: string;

before(async () => {
  node = await startHttpNode({ rootName: 'http-node', nodeId: 'node-http', modules: [instancesModule] });
  cp = node.cp;
  adminKey = cp.bootstrapKey!;
});
after(() => node?.close());

async function waitUntil(key: string, ref: string, statuses: readonly string[]): Promise<any> {
  for (let i = 0; i < 1_200; i++) {
    const reply = await call(cp.url, 'GET', `/v1/instances/${ref}`, { key });
    if (reply.status === 200 && statuses.includes(reply.json.status) && reply.json.currentOperation === null) return reply.json;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`instance ${ref} never reached ${statuses.join('|')}`);
}

test('POST /v1/instances answers 202 BUILD; the instance becomes ACTIVE and its tenant user connects', async () => {
  const tenant = await newTenant(cp, adminKey, 'acme');
  const body = { name: 'orders-db', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: 'orders-password-1' }] };
  const created = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body, headers: { 'Idempotency-Key': 'create-orders-1' } });
  assert.equal(created.status, 202, created.text);
  assert.equal(created.json.status, 'BUILD');
  assert.equal(created.json.currentOperation.kind, 'create');
  const again = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body, headers: { 'Idempotency-Key': 'create-orders-1' } });
  assert.equal(again.json.id, created.json.id, 'a retried create with the same key creates nothing new');
  // The long-poll answers when the create has ended: no polling.
  const waited = await call(cp.url, 'GET', '/v1/instances/orders-db/wait?timeoutMs=60000', { key: tenant.key });
  assert.equal(waited.status, 200, waited.text);
  const active = waited.json;
  assert.equal(active.status, 'ACTIVE', active.error);
  assert.equal(active.currentOperation, null, 'the wait answered once the create had ended');
  assert.equal(active.connectionString, `postgres://app_owner@127.0.0.1:${active.port}/app`);
  assert.deepEqual(await asTenant(active.port, 'app_owner', 'orders-password-1', 'app', 'select 1 as one'), { rows: [{ one: 1 }] });

  // Another tenant sees nothing of it.
  const other = await newTenant(cp, adminKey, 'globex');
  assert.equal((await call(cp.url, 'GET', `/v1/instances/${active.id}`, { key: other.key })).status, 404);
  assert.equal((await call(cp.url, 'POST', `/v1/instances/orders-db/stop`, { key: other.key })).status, 404);
  assert.equal((await call(cp.url, 'GET', `/v1/instances/${active.id}/wait`, { key: other.key })).status, 404);
  assert.deepEqual((await call(cp.url, 'GET', '/v1/instances', { key: other.key })).json.instances, []);

  // A read-only key reads but cannot change.
  const reader = await newKey(cp, tenant.key, 'read-only');
  assert.equal((await call(cp.url, 'GET', '/v1/instances/orders-db', { key: reader.key })).status, 200);
  const forbidden = await call(cp.url, 'POST', '/v1/instances/orders-db/restart', { key: reader.key });
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.json.error.code, 'forbidden');

  // One operation at a time.
  assert.equal((await call(cp.url, 'POST', '/v1/instances/orders-db/restart', { key: tenant.key })).status, 202);
  const busy = await call(cp.url, 'POST', '/v1/instances/orders-db/stop', { key: tenant.key });
  assert.equal(busy.status, 409);
  assert.equal(busy.json.error.code, 'instance_busy');
  // A wait shorter than the restart answers the instance as it is, still busy with it.
  const short = await call(cp.url, 'GET', '/v1/instances/orders-db/wait?timeoutMs=1', { key: tenant.key });
  assert.equal(short.status, 200, short.text);
  assert.equal(short.json.currentOperation?.kind, 'restart');
  const restarted = await call(cp.url, 'GET', '/v1/instances/orders-db/wait?timeoutMs=60000', { key: tenant.key });
  assert.deepEqual([restarted.json.status, restarted.json.currentOperation], ['ACTIVE', null]);
  const operations = await call(cp.url, 'GET', '/v1/instances/orders-db/operations', { key: tenant.key });
  assert.deepEqual(operations.json.operations.map((op: { kind: string; status: string }) => `${op.kind}:${op.status}`), ['restart:SUCCESS', 'create:SUCCESS']);

  // Delete.
  assert.equal((await call(cp.url, 'DELETE', '/v1/instances/orders-db', { key: tenant.key })).status, 202);
  for (let i = 0; i < 1_200 && (await call(cp.url, 'GET', `/v1/instances/${active.id}`, { key: tenant.key })).status !== 404; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal((await call(cp.url, 'GET', `/v1/instances/${active.id}`, { key: tenant.key })).status, 404, 'a deleted instance is gone from the API');
});

test('bad input answers a typed error and creates nothing', async () => {
  const tenant = await newTenant(cp, adminKey, 'initech');
  const cases: Array<[unknown, number, string]> = [
    [{ name: 'Bad_Name', flavor: 'tiny' }, 400, 'invalid_name'],
    [{ name: 'ok-name', flavor: 'enormous' }, 400, 'unknown_flavor'],
    [{ name: 'ok-name', flavor: 'tiny', parameters: { fsync: 'off' } }, 400, 'unknown_parameter'],
    [{ name: 'ok-name', flavor: 'tiny', parameters: { statement_timeout: 'soon' } }, 400, 'invalid_parameter'],
    [{ name: 'ok-name', flavor: 'tiny', extra: true }, 400, 'invalid_request'],
    [{ name: 'ok-name', flavor: 'tiny', users: [{ name: 'u', password: 'short' }] }, 400, 'invalid_request'],
  ];
  for (const [body, status, code] of cases) {
    const reply = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body });
    assert.equal(reply.status, status, `${JSON.stringify(body)}: ${reply.text}`);
    assert.equal(reply.json.error.code, code, JSON.stringify(body));
  }
  for (const timeout of ['0', '60001', 'soon', '1.5']) {
    const reply = await call(cp.url, 'GET', `/v1/instances/anything/wait?timeoutMs=${timeout}`, { key: tenant.key });
    assert.equal(reply.status, 400, `timeoutMs=${timeout}: ${reply.text}`);
    assert.equal(reply.json.error.code, 'invalid_request', `timeoutMs=${timeout}`);
  }
  const malformed = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, raw: '{"name": ', headers: { 'Content-Type': 'application/json' } });
  assert.equal(malformed.json.error.code, 'invalid_json');
  assert.equal((await call(cp.url, 'POST', '/v1/instances', { body: { name: 'x', flavor: 'tiny' } })).status, 401);
  assert.deepEqual((await call(cp.url, 'GET', '/v1/instances', { key: tenant.key })).json.instances, []);
});

test('the OpenAPI document lists the instance routes; flavors and nodes answer', async () => {
  const document = (await call(cp.url, 'GET', '/v1/openapi.json')).json;
  for (const path of ['/v1/instances', '/v1/instances/{instance}', '/v1/instances/{instance}/resize', '/v1/instances/{instance}/operations', '/v1/flavors', '/v1/nodes']) {
    assert.ok(document.paths[path], `${path} is documented`);
  }
  assert.ok(document.components.schemas.Instance);
  const flavors = (await call(cp.url, 'GET', '/v1/flavors', { key: adminKey })).json.flavors;
  assert.deepEqual(flavors.map((f: { name: string }) => f.name), ['tiny', 'small', 'medium', 'large']);
  assert.equal(flavors[0].settings.shared_buffers, '32MB');
  const nodes = await call(cp.url, 'GET', '/v1/nodes', { key: adminKey });
  assert.equal(nodes.status, 200, nodes.text);
  assert.deepEqual(nodes.json.nodes.map((n: { nodeId: string; live: boolean }) => [n.nodeId, n.live]), [['node-http', true]]);
  const tenant = await newTenant(cp, adminKey, 'umbrella');
  assert.equal((await call(cp.url, 'GET', '/v1/nodes', { key: tenant.key })).status, 403, 'nodes are for platform admins');
});
