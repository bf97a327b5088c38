// An instance's power state (scale to zero) in the API: `power` is null until its node's agent
// suspends it, then says frozen or stopped, and after the wake running with the wake counted; the
// OpenAPI document describes it; a control plane whose database no agent has migrated still lists.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freshDatabaseUrl } from '@strata/testing';
import { createControlPlane, instancesModule, type ControlPlane } from '../src/index.js';
import { call, newTenant, quietLogger } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

let cp: ControlPlane;
let node: HttpNode | undefined;

before(async () => {
  node = await startHttpNode({ rootName: 'power-node', nodeId: 'node-power', modules: [instancesModule], agent: { power: { computeFlushIntervalMs: 0 } } });
  cp = node.cp;
});
after(() => node?.close());

test('power is null until the instance is suspended, then its state, and after the wake running with the wake counted', async () => {
  assert.ok(node);
  const tenant = await newTenant(cp, cp.bootstrapKey!, 'sleepy');
  const created = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body: { name: 'idle-db', flavor: 'tiny', databases: ['app'] } });
  assert.equal(created.status, 202, created.text);
  const active = (await call(cp.url, 'GET', '/v1/instances/idle-db/wait?timeoutMs=60000', { key: tenant.key })).json;
  assert.equal(active.status, 'ACTIVE', active.error);
  assert.equal(active.power, null, 'never suspended');

  const power = node.agent.power;
  assert.equal(await power.suspend(active.id, 'stopped'), true);
  await power.flush();
  const suspended = (await call(cp.url, 'GET', '/v1/instances/idle-db', { key: tenant.key })).json;
  assert.equal(suspended.status, 'ACTIVE', 'a suspension is not a stop: the instance stays ACTIVE');
  assert.deepEqual({ state: suspended.power.state, wakes: suspended.power.wakes, lastWakeMs: suspended.power.lastWakeMs }, { state: 'stopped', wakes: 0, lastWakeMs: null });
  assert.ok(!Number.isNaN(Date.parse(suspended.power.since)));

  await power.wake(active.id);
  await power.flush();
  const listed = (await call(cp.url, 'GET', '/v1/instances', { key: tenant.key })).json.instances;
  assert.equal(listed.length, 1);
  assert.equal(listed[0].power.state, 'running');
  assert.equal(listed[0].power.wakes, 1);
  assert.equal(typeof listed[0].power.lastWakeMs, 'number');
  assert.ok(Date.parse(listed[0].power.since) >= Date.parse(suspended.power.since));

  const schema = (await call(cp.url, 'GET', '/v1/openapi.json')).json.components.schemas.Instance;
  assert.deepEqual(Object.keys(schema.properties.power.properties).sort(), ['lastWakeMs', 'since', 'state', 'wakes']);
  assert.deepEqual(schema.properties.power.properties.state.enum, ['running', 'frozen', 'stopped']);
});

test('a control plane whose database no agent has migrated (no power table) still lists instances', async () => {
  const bare = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: [instancesModule], logger: quietLogger() });
  try {
    const listed = await call(bare.url, 'GET', '/v1/instances', { key: bare.bootstrapKey! });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json.instances, []);
  } finally {
    await bare.close();
  }
});
