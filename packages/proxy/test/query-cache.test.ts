// The query cache on the proxy's path against real instances: a hinted read answered from the
// cache (proved by changing the table behind the proxy's back), invalidated by a write through the
// proxy at its commit, by tag, served stale then refreshed, and kept apart per tenant and role; in
// transaction mode a hit needs no server connection.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { RunningProxy } from '../src/index.js';
import { call, proxyClient, startProxyPlatform, type ProxyPlatform } from './harness.js';

const PASSWORD = 'cache-password-1';
let platform: ProxyPlatform;
let proxy: RunningProxy;
let acme: { tenantId: string; key: string };
let shop: { id: string; port: number };
let other: { id: string; port: number };

/** A connection straight to the instance, around the proxy (changes the proxy cannot see). */
async function direct(instance: { port: number }, sql: string, user = 'app', password = PASSWORD): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: instance.port, user, database: 'app', password });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function through(sql: string, instanceId = shop.id, user = 'app', password = PASSWORD): Promise<unknown[]> {
  const client = new pg.Client({ host: proxy.host, port: proxy.port, user: `${user}.${instanceId}`, database: 'app', password });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

before(async () => {
  platform = await startProxyPlatform('proxy-cache');
  acme = await platform.tenant('acme');
  const globex = await platform.tenant('globex');
  shop = await platform.instance(acme.key, 'shop', PASSWORD);
  other = await platform.instance(globex.key, 'shop', PASSWORD);
  proxy = await platform.proxy();
  for (const instance of [shop, other]) await direct(instance, "create table products (id int primary key, name text); insert into products values (1, 'tea')");
  await direct(other, "update products set name = 'globex tea'");
});
after(() => platform?.close());

const HINTED = '/* strata:cache ttl=60 tags=products */ select name from products where id = 1';

test('a hinted read is answered from the cache: a change made around the proxy is not seen until a write through the proxy invalidates it', async () => {
  assert.deepEqual(await through(HINTED), [{ name: 'tea' }]);
  await direct(shop, "update products set name = 'coffee'");
  assert.deepEqual(await through(HINTED), [{ name: 'tea' }], 'the cached answer');
  assert.deepEqual(await through('select name from products where id = 1'), [{ name: 'coffee' }], 'an unhinted read goes to the server');
  const hits = proxy.cacheStats()!.hits;
  assert.ok(hits >= 1);
  // A write through the proxy (autocommit) invalidates what read the table.
  await through("update products set name = 'cocoa' where id = 1");
  assert.deepEqual(await through(HINTED), [{ name: 'cocoa' }]);
});

test('a write inside a transaction invalidates at its commit, not before', async () => {
  assert.deepEqual(await through(HINTED), [{ name: 'cocoa' }]);
  const writer = proxyClient(proxy, shop.id, PASSWORD);
  await writer.connect();
  try {
    await writer.query('begin');
    await writer.query("update products set name = 'mate' where id = 1");
    assert.deepEqual(await through(HINTED), [{ name: 'cocoa' }], 'uncommitted: others still see the committed value');
    await writer.query('commit');
    assert.deepEqual(await through(HINTED), [{ name: 'mate' }]);
  } finally {
    await writer.end();
  }
});

test('invalidation by tag drops the entries carrying it', async () => {
  assert.deepEqual(await through(HINTED), [{ name: 'mate' }]);
  await direct(shop, "update products set name = 'rooibos'");
  assert.deepEqual(await through(HINTED), [{ name: 'mate' }]);
  assert.equal(proxy.invalidateTags(shop.id, ['products']), 1);
  assert.deepEqual(await through(HINTED), [{ name: 'rooibos' }]);
});

test('past its ttl an entry is served stale within swr and refreshed in the background', async () => {
  const sql = '/* strata:cache ttl=1 swr=60 */ select name from products where id = 1';
  assert.deepEqual(await through(sql), [{ name: 'rooibos' }]);
  await direct(shop, "update products set name = 'sencha'");
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  assert.deepEqual(await through(sql), [{ name: 'rooibos' }], 'stale, served at once');
  let seen: unknown[] = [];
  for (let i = 0; i < 100; i++) {
    seen = await through(sql);
    if ((seen[0] as { name: string }).name === 'sencha') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(seen, [{ name: 'sencha' }], 'the refresh replaced it');
});

test('the same statement on another tenant\'s instance, or as another role, never gets these cached rows', async () => {
  proxy.invalidateTags(shop.id, ['products']);
  await direct(shop, "update products set name = 'oolong'");
  assert.deepEqual(await through(HINTED, shop.id), [{ name: 'oolong' }]);
  await direct(shop, "update products set name = 'darjeeling'");
  assert.deepEqual(await through(HINTED, shop.id), [{ name: 'oolong' }], "app's cached answer");
  assert.deepEqual(await through(HINTED, other.id), [{ name: 'globex tea' }], "the other tenant's instance answers its own rows");
  const made = await call(platform.cp, 'POST', `/v1/instances/${shop.id}/users`, acme.key, { name: 'reader', password: 'reader-password-1', grants: [{ database: 'app', privilege: 'read' }] });
  assert.ok(made.status >= 200 && made.status < 300, `${made.status} ${made.text}`);
  for (let i = 0; i < 600; i++) {
    const reply = await call(platform.cp, 'GET', `/v1/instances/${shop.id}`, acme.key);
    if (reply.json.currentOperation === null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
  const misses = proxy.cacheStats()!.misses;
  assert.deepEqual(await through(HINTED, shop.id, 'reader', 'reader-password-1'), [{ name: 'darjeeling' }], "reader gets the server's rows, never app's cached ones");
  assert.equal(proxy.cacheStats()!.misses, misses + 1, 'a miss for the other role');
});

test('in transaction mode a cache hit needs no server connection: it is answered while the only one is held by an open transaction', async () => {
  await platform.cp.db.query("update strata_cloud.instances set pool_mode = 'transaction', proxy_max_server_connections = 1 where instance_id = $1", [shop.id]);
  const pooled = await platform.proxy({ limits: { poolWaitTimeoutMs: 30_000 } });
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
  const holder = proxyClient(pooled, shop.id, PASSWORD);
  const reader = proxyClient(pooled, shop.id, PASSWORD);
  try {
    await reader.connect();
    const sql = '/* strata:cache ttl=60 */ select count(*)::int as n from products';
    assert.deepEqual((await reader.query(sql)).rows, [{ n: 1 }]);
    await holder.connect();
    await holder.query('begin');
    await holder.query('select 1');
    assert.equal(pooled.stats().instances[shop.id]?.serverConnections, 1);
    assert.deepEqual((await reader.query(sql)).rows, [{ n: 1 }], 'answered from the cache, no server needed');
    await holder.query('commit');
  } finally {
    await holder.end().catch(() => {});
    await reader.end().catch(() => {});
    await platform.cp.db.query("update strata_cloud.instances set pool_mode = 'session', proxy_max_server_connections = null where instance_id = $1", [shop.id]);
  }
});

test('a bad cache hint is refused with 22023 saying what to fix, and the session goes on', async () => {
  const client = proxyClient(proxy, shop.id, PASSWORD);
  await client.connect();
  try {
    await assert.rejects(client.query('/* strata:cache ttl=abc */ select 1'), (error: { code: string; message: string }) => error.code === '22023' && /ttl/.test(error.message));
    assert.deepEqual((await client.query('select 2 as two')).rows, [{ two: 2 }]);
  } finally {
    await client.end();
  }
});

test('per-instance rules set through the API cache unhinted reads; an invalidation by tag through the API reaches the proxy', async () => {
  const rules = await call(platform.cp, 'PATCH', `/v1/instances/${shop.id}/proxy`, acme.key, { cacheRules: [{ tables: ['public.products'], ttlMs: 60_000, swrMs: 0, tags: ['catalog'] }] });
  assert.equal(rules.status, 200, rules.text);
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
  const plain = 'select name from products where id = 1';
  await direct(shop, "update products set name = 'assam'");
  assert.deepEqual(await through(plain), [{ name: 'assam' }]);
  await direct(shop, "update products set name = 'keemun'");
  assert.deepEqual(await through(plain), [{ name: 'assam' }], 'cached by the rule, no hint');
  const invalidated = await call(platform.cp, 'POST', `/v1/instances/${shop.id}/cache/invalidate`, acme.key, { tags: ['catalog'] });
  assert.equal(invalidated.status, 202, invalidated.text);
  let seen: unknown[] = [];
  for (let i = 0; i < 200; i++) {
    seen = await through(plain);
    if ((seen[0] as { name: string }).name === 'keemun') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(seen, [{ name: 'keemun' }]);
  await call(platform.cp, 'PATCH', `/v1/instances/${shop.id}/proxy`, acme.key, { cacheRules: [] });
});
