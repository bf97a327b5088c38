// Metering and caps through the proxy end to end: statements, bytes and connection time a client
// spends land in strata_cloud.usage (batched by the Meter) and show in GET /v1/usage; a tenant over
// its monthly cap has new statements refused with 53400 while its data stays, and a raised cap lets
// it on at once.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CapGuard, Meter, type RunningProxy } from '../src/index.js';
import { call, proxyClient, startProxyPlatform, type ProxyPlatform } from './harness.js';

const PASSWORD = 'metered-password-1';
let platform: ProxyPlatform;
let proxy: RunningProxy;
let meter: Meter;
let guard: CapGuard;
let tenant: { tenantId: string; key: string };
let instance: { id: string; port: number };

before(async () => {
  platform = await startProxyPlatform('proxy-meter');
  tenant = await platform.tenant('metered');
  instance = await platform.instance(tenant.key, 'metered', PASSWORD);
  meter = new Meter(platform.cp.db, { flushIntervalMs: 200 });
  guard = new CapGuard(platform.cp.db, { refreshMs: 100 });
  proxy = await platform.proxy({ meter, guard });
});
after(async () => {
  await proxy?.close();
  await meter?.close();
  await guard?.close();
  await platform?.close();
});

test('statements, bytes and connection time through the proxy show in the usage API of their tenant only', async () => {
  const client = proxyClient(proxy, instance.id, PASSWORD);
  await client.connect();
  await client.query('create table t (n int)');
  for (let i = 0; i < 10; i++) await client.query('insert into t values ($1)', [i]);
  await client.query('select * from t');
  await new Promise((resolve) => setTimeout(resolve, 50));
  await client.end();
  // The session's last usage is taken at its close; one flush writes it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await meter.flush();
  const usage = await call(platform.cp, 'GET', '/v1/usage?group=instance', tenant.key);
  assert.equal(usage.status, 200, usage.text);
  const group = usage.json.groups.find((g: { instanceId: string | null }) => g.instanceId === instance.id);
  assert.ok(group, usage.text);
  assert.equal(group.operations, 12, 'create, ten inserts and a select');
  assert.ok(group.bytesIn > 0 && group.bytesOut > 0);
  assert.ok(group.connectionMs >= 50);
  const stranger = await platform.tenant('stranger');
  const theirs = await call(platform.cp, 'GET', '/v1/usage?group=instance', stranger.key);
  assert.deepEqual(theirs.json.groups, []);
});

test('over its cap a tenant\'s statements are refused with 53400; raising the cap lets them on, data intact', async () => {
  const client = proxyClient(proxy, instance.id, PASSWORD);
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('select 1');
    await meter.flush();
    const capped = await call(platform.cp, 'PUT', '/v1/usage/cap', tenant.key, { operationsPerMonth: 5 });
    assert.equal(capped.status, 200, capped.text);
    await guard.refresh();
    await assert.rejects(client.query('select count(*) from t'), (error: { code: string; message: string }) => error.code === '53400' && /cap/i.test(error.message));
    await assert.rejects(client.query({ text: 'select $1::int', values: [1] }), { code: '53400' }, 'the extended protocol too');
    const raised = await call(platform.cp, 'PUT', '/v1/usage/cap', tenant.key, { operationsPerMonth: 1_000_000 });
    assert.equal(raised.status, 200, raised.text);
    await guard.refresh();
    assert.deepEqual((await client.query('select count(*)::int as n from t')).rows, [{ n: 10 }], 'the data is intact');
  } finally {
    await client.end();
  }
});
