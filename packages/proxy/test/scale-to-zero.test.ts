// Scale to zero through the proxy with the node agent's real power control: an instance with no
// client is frozen, then stopped; the next connect wakes it and the client sees an ordinary
// connection with its data intact; in transaction mode an idle connected client lets the instance
// sleep; a cache hit never wakes; a storm of wakes all succeed.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningProxy } from '../src/index.js';
import { proxyClient, startProxyPlatform, type ProxyPlatform } from './harness.js';

const PASSWORD = 'sleepy-password-1';
/** Short idle times so the test sees both tiers (freeze first, stop later). */
const IDLE = { freezeAfterMs: 300, stopAfterMs: 1_500, reassertAfterMs: 500 };
let platform: ProxyPlatform;
let proxy: RunningProxy;
let tenantKey: string;

before(async () => {
  platform = await startProxyPlatform('proxy-sleep');
  tenantKey = (await platform.tenant('sleepy')).key;
  proxy = await platform.proxy({ power: platform.agent.power, idle: IDLE });
});
after(() => platform?.close());

function target(instanceId: string) {
  return { instanceId, nodeId: platform.agent.nodeId };
}

/** Polls the agent's power state until it is `state`. */
async function until(instanceId: string, state: 'running' | 'frozen' | 'stopped'): Promise<void> {
  for (let i = 0; i < 1_200; i++) {
    if (platform.agent.power.state(target(instanceId)) === state) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`instance ${instanceId} never became ${state} (is ${platform.agent.power.state(target(instanceId))})`);
}

async function query(instanceId: string, sql: string, client = proxyClient(proxy, instanceId, PASSWORD)): Promise<unknown[]> {
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

test('an idle instance is frozen, then stopped; the next connect wakes it transparently with its data intact', async () => {
  const { id } = await platform.instance(tenantKey, 'napper', PASSWORD);
  await query(id, "create table notes (body text); insert into notes values ('kept')");
  await until(id, 'frozen');
  const wakesBefore = proxy.stats().wakes;
  assert.deepEqual(await query(id, 'select body from notes'), [{ body: 'kept' }], 'a connect to a frozen instance just works');
  assert.equal(platform.agent.power.state(target(id)), 'running');
  await until(id, 'frozen');
  await until(id, 'stopped');
  assert.deepEqual(await query(id, 'select body from notes'), [{ body: 'kept' }], 'a connect to a stopped instance just works');
  assert.equal(proxy.stats().wakes, wakesBefore + 2);
  const last = platform.agent.power.lastWake(target(id));
  assert.equal(last?.from, 'stopped');
});

test('a connected session holds its instance awake', async () => {
  const { id } = await platform.instance(tenantKey, 'awake', PASSWORD);
  const client = proxyClient(proxy, id, PASSWORD);
  await client.connect();
  try {
    await new Promise((resolve) => setTimeout(resolve, IDLE.freezeAfterMs * 4));
    assert.equal(platform.agent.power.state(target(id)), 'running', 'not suspended while a session is open');
    assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }]);
  } finally {
    await client.end();
  }
  await until(id, 'frozen');
});

test('in transaction mode an idle connected client lets the instance sleep, and its next transaction wakes it; a cache hit does not', async () => {
  const { id } = await platform.instance(tenantKey, 'pooled', PASSWORD);
  await platform.cp.db.query("update strata_cloud.instances set pool_mode = 'transaction' where instance_id = $1", [id]);
  const pooled = await platform.proxy({ power: platform.agent.power, idle: IDLE });
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
  const client = proxyClient(pooled, id, PASSWORD);
  await client.connect();
  try {
    await client.query("create table stock (n int); insert into stock values (5)");
    const cached = '/* strata:cache ttl=600 */ select n from stock';
    assert.deepEqual((await client.query(cached)).rows, [{ n: 5 }]);
    await until(id, 'stopped');
    assert.deepEqual((await client.query(cached)).rows, [{ n: 5 }], 'answered from the cache');
    assert.equal(platform.agent.power.state(target(id)), 'stopped', 'a cache hit did not wake it');
    assert.deepEqual((await client.query('select n + 1 as m from stock')).rows, [{ m: 6 }], 'an uncached query wakes it');
    assert.equal(platform.agent.power.lastWake(target(id))?.from, 'stopped');
  } finally {
    await client.end();
  }
});

test('a storm: every suspended instance woken at once answers, none fails', async () => {
  const instances = [];
  for (let i = 0; i < 6; i++) instances.push(await platform.instance(tenantKey, `storm-${i}`, PASSWORD));
  for (const { id } of instances) await query(id, 'select 1');
  for (const { id } of instances) await until(id, 'stopped');
  const clientsPerInstance = 3;
  const results = await Promise.all(instances.flatMap(({ id }) => Array.from({ length: clientsPerInstance }, () => query(id, 'select 42 as answer'))));
  assert.equal(results.length, instances.length * clientsPerInstance);
  for (const rows of results) assert.deepEqual(rows, [{ answer: 42 }]);
  for (const { id } of instances) assert.equal(platform.agent.power.lastWake(target(id))?.from, 'stopped');
});

test('an instance something else woke (an agent job) is suspended again while no client uses it', async () => {
  const { id } = await platform.instance(tenantKey, 'rewoken', PASSWORD);
  await query(id, 'select 1');
  await until(id, 'stopped');
  await platform.agent.power.wake(target(id)); // as a backup or an admin job does
  assert.equal(platform.agent.power.state(target(id)), 'running');
  await until(id, 'stopped');
});
