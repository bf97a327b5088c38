// Streaming read replicas over real HTTP: a control plane with the instance and monitoring modules
// and a node agent, in one process on the embedded default, real PostgreSQL instances. Replicas
// asked for at create and added later stream the primary's writes and refuse their own; the
// primary is SIGKILLed mid-load under synchronous replication (a seeded point; replay with
// STRATA_REPLICA_SEED=<n>) and a replica promoted: every acknowledged commit is on it, the old
// primary is FENCED, the other replica follows it; a detach makes a replica a primary of its own;
// bad requests and other tenants get typed errors, nothing changed.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { SeededRandom } from '@strata/testing';
import { instancesModule, monitoringModule, type ControlPlane } from '../src/index.js';
import { call, eventually, newTenant } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

const PASSWORD = 'shop-password-1';
const SEED = process.env.STRATA_REPLICA_SEED ? Number(process.env.STRATA_REPLICA_SEED) : 7;
let cp: ControlPlane;
let node: HttpNode | undefined;
let rootDir: string;
let tenant: { tenantId: string; key: string };
let other: { tenantId: string; key: string };
let primary: { id: string; port: number };
let firstReplica: { id: string; port: number };
let secondReplica: { id: string; port: number };

before(async () => {
  node = await startHttpNode({ rootName: 'replicas-node', nodeId: 'node-replicas', modules: [instancesModule, monitoringModule], agent: { metricsIntervalMs: 300 } });
  cp = node.cp;
  rootDir = node.rootDir;
  tenant = await newTenant(cp, cp.bootstrapKey!, 'shops');
  other = await newTenant(cp, cp.bootstrapKey!, 'others');
});
after(() => node?.close());

async function settled(ref: string): Promise<any> {
  const reply = await call(cp.url, 'GET', `/v1/instances/${ref}/wait?timeoutMs=60000`, { key: tenant.key });
  assert.equal(reply.status, 200, reply.text);
  if (reply.json.currentOperation !== null) return settled(ref);
  return reply.json;
}

async function active(ref: string): Promise<any> {
  const row = await settled(ref);
  assert.equal(row.status, 'ACTIVE', row.error);
  return row;
}

async function connect(port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app_owner', password: PASSWORD, database: 'app' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function query(port: number, sql: string, params: unknown[] = []): Promise<any[]> {
  const client = await connect(port);
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function ids(port: number): Promise<Set<number>> {
  return new Set((await query(port, 'select id from orders')).map((row) => Number(row.id)));
}

test('replicas asked for at create stream the primary\'s writes, refuse their own, and report their lag', async () => {
  const created = await call(cp.url, 'POST', '/v1/instances', {
    key: tenant.key,
    body: { name: 'shop', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }], replicas: 1, synchronous: true },
  });
  assert.equal(created.status, 202, created.text);
  assert.equal(created.json.synchronous, true);
  const listed = await call(cp.url, 'GET', '/v1/instances/shop/replicas', { key: tenant.key });
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.json.replicas.map((r: any) => [r.name, r.role, r.replicaOf, r.status]), [['shop-r1', 'replica', created.json.id, 'BUILD']], 'the replica is there at once, waiting for its primary');
  const shop = await active('shop');
  primary = { id: shop.id, port: shop.port };
  const replica = await active('shop-r1');
  firstReplica = { id: replica.id, port: replica.port };
  assert.equal(shop.role, 'primary');
  assert.equal(replica.role, 'replica');
  await query(primary.port, 'create table orders (id integer primary key, note text)');
  await query(primary.port, "insert into orders select g, 'before' from generate_series(1, 50) g");
  await eventually('rows reach the replica', async () => {
    const rows = await query(firstReplica.port, 'select count(*)::int as n from orders').catch(() => [{ n: -1 }]);
    return rows[0].n === 50 ? true : undefined;
  });
  await assert.rejects(query(firstReplica.port, "insert into orders values (999, 'x')"), /read-only transaction/);
  const lag = await eventually('a lag sample of the replica', async () => {
    const reply = await call(cp.url, 'GET', `/v1/instances/shop-r1/metrics`, { key: tenant.key });
    return reply.json.samples?.find((sample: any) => sample.replicationLagSeconds !== null);
  });
  assert.ok(lag.replicationLagSeconds >= 0);
});

test('bad replica requests and other tenants get typed errors, and change nothing', async () => {
  const cases: Array<[string, string, unknown, number, string, string?]> = [
    ['POST', '/v1/instances/shop/promote', undefined, 409, 'not_a_replica'],
    ['POST', '/v1/instances/shop/detach', undefined, 409, 'not_a_replica'],
    ['POST', '/v1/instances/shop-r1/replicas', { count: 1 }, 409, 'is_replica'],
    ['POST', '/v1/instances/shop/replicas', { count: 0 }, 400, 'invalid_request'],
    ['POST', '/v1/instances/shop/replicas', { count: 99 }, 400, 'invalid_request'],
    ['POST', '/v1/instances/shop/replicas', { count: 1, lag: 'none' }, 400, 'invalid_request'],
    ['DELETE', '/v1/instances/shop', undefined, 409, 'has_replicas'],
    ['POST', '/v1/instances/shop/resize', { flavor: 'small' }, 409, 'has_replicas'],
    ['POST', '/v1/instances/shop-r1/resize', { flavor: 'small' }, 409, 'is_replica'],
    ['POST', '/v1/instances', { name: 'lonely', flavor: 'tiny', synchronous: true }, 400, 'invalid_request'],
    ['POST', '/v1/instances', { name: 'crowded', flavor: 'tiny', replicas: 6 }, 400, 'invalid_request'],
    ['POST', '/v1/instances/shop-r1/promote', undefined, 404, 'not_found', other.key],
    ['GET', '/v1/instances/shop/replicas', undefined, 404, 'not_found', other.key],
  ];
  for (const [method, path, body, status, code, key] of cases) {
    const reply = await call(cp.url, method, path, { key: key ?? tenant.key, ...(body !== undefined ? { body } : {}) });
    assert.equal(reply.status, status, `${method} ${path}: ${reply.text}`);
    assert.equal(reply.json.error?.code ?? reply.json.code, code, `${method} ${path}: ${reply.text}`);
  }
  const listed = await call(cp.url, 'GET', '/v1/instances', { key: tenant.key });
  assert.deepEqual(listed.json.instances.map((row: any) => [row.name, row.status]).sort(), [['shop', 'ACTIVE'], ['shop-r1', 'ACTIVE']]);
});

test('a replica added later streams too', async () => {
  const added = await call(cp.url, 'POST', '/v1/instances/shop/replicas', { key: tenant.key, body: { count: 1 } });
  assert.equal(added.status, 202, added.text);
  assert.deepEqual(added.json.replicas.map((r: any) => r.name), ['shop-r2']);
  const replica = await active('shop-r2');
  secondReplica = { id: replica.id, port: replica.port };
  await eventually('rows reach the second replica', async () => ((await ids(secondReplica.port)).size === 50 ? true : undefined));
});

test(`the primary SIGKILLed mid-load, a replica promoted: every acknowledged commit is on it, the old primary FENCED, the other replica follows (seed ${SEED})`, async () => {
  const random = new SeededRandom(SEED);
  const killAfter = random.int(30, 300);
  console.log(`seed ${SEED}: SIGKILL the primary after ${killAfter} acknowledged commits`);
  const acknowledged: number[] = [];
  let next = 1000;
  let killed = false;
  const writers = Array.from({ length: 3 }, async () => {
    const client = await connect(primary.port);
    try {
      while (!killed) {
        const id = next++;
        try {
          await client.query("insert into orders values ($1, 'under load')", [id]);
        } catch {
          return;
        }
        acknowledged.push(id);
        if (acknowledged.length >= killAfter && !killed) {
          killed = true;
          const pid = Number((await readFile(join(rootDir, 'instances', primary.id, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
          process.kill(-pid, 'SIGKILL');
        }
      }
    } finally {
      await client.end().catch(() => {});
    }
  });
  await Promise.all(writers);
  assert.ok(killed);

  const promoting = await call(cp.url, 'POST', '/v1/instances/shop-r1/promote', { key: tenant.key });
  assert.equal(promoting.status, 202, promoting.text);
  assert.equal(promoting.json.currentOperation.kind, 'promote');
  const promoted = await active('shop-r1');
  assert.equal(promoted.role, 'primary');
  assert.equal(promoted.synchronous, true, 'it keeps the old primary\'s synchronous mode');
  const fenced = await settled('shop');
  assert.equal(fenced.status, 'FENCED');
  const present = await ids(firstReplica.port);
  assert.deepEqual(acknowledged.filter((id) => !present.has(id)), [], `seed ${SEED}: acknowledged commits missing on the promoted replica`);
  await query(firstReplica.port, "insert into orders values (5000, 'on the promoted replica')");
  await eventually('the other replica follows the promoted one', async () => ((await ids(secondReplica.port)).has(5000) ? true : undefined));
  const replicas = await call(cp.url, 'GET', '/v1/instances/shop-r1/replicas', { key: tenant.key });
  assert.deepEqual(replicas.json.replicas.map((r: any) => r.name), ['shop-r2']);
  const start = await call(cp.url, 'POST', '/v1/instances/shop/start', { key: tenant.key });
  assert.equal(start.status, 409, 'a fenced primary is never started again');
  assert.equal(start.json.error?.code ?? start.json.code, 'invalid_state');
});

test('a detached replica becomes a primary of its own; its old primary runs on; a fenced primary can be deleted', async () => {
  const detaching = await call(cp.url, 'POST', '/v1/instances/shop-r2/detach', { key: tenant.key });
  assert.equal(detaching.status, 202, detaching.text);
  const detached = await active('shop-r2');
  assert.equal(detached.role, 'primary');
  assert.equal(detached.replicaOf, null);
  await query(secondReplica.port, "insert into orders values (6000, 'on its own')");
  await query(firstReplica.port, "insert into orders values (6001, 'still the primary')");
  assert.equal((await ids(firstReplica.port)).has(6000), false, 'the two have parted');
  assert.deepEqual((await call(cp.url, 'GET', '/v1/instances/shop-r1/replicas', { key: tenant.key })).json.replicas, []);
  const deleted = await call(cp.url, 'DELETE', '/v1/instances/shop', { key: tenant.key });
  assert.equal(deleted.status, 202, deleted.text);
  await eventually('the fenced primary is gone', async () => ((await call(cp.url, 'GET', `/v1/instances/${primary.id}`, { key: tenant.key })).status === 404 ? true : undefined));
});

test('a replica behind its sibling is promoted without losing what only the sibling acknowledged, and the sibling follows it', async () => {
  const created = await call(cp.url, 'POST', '/v1/instances', {
    key: tenant.key,
    body: { name: 'ledger', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }], replicas: 2, synchronous: true },
  });
  assert.equal(created.status, 202, created.text);
  const ledger = await active('ledger');
  const [behind, ahead] = [await active('ledger-r1'), await active('ledger-r2')];
  await query(ledger.port, 'create table orders (id integer primary key, note text)');
  // ledger-r1 stops receiving (over its private socket, as the platform's superuser): a commit is acknowledged by ledger-r2 alone.
  const admin = new pg.Client({ host: join(rootDir, 'instances', behind.id, 'socket'), port: behind.port, user: 'strata_admin', database: 'postgres' });
  await admin.connect();
  try {
    await admin.query("alter system set primary_conninfo = 'host=/nonexistent port=1'");
    await admin.query('select pg_reload_conf()');
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'walreceiver'");
  } finally {
    await admin.end();
  }
  await eventually('ledger-r1 is disconnected', async () => {
    const rows = await query(ledger.port, "select count(*)::int as n from orders").catch(() => undefined);
    return rows === undefined ? undefined : true;
  });
  await query(ledger.port, "insert into orders values (42, 'acknowledged by ledger-r2 only')");
  const promoting = await call(cp.url, 'POST', '/v1/instances/ledger-r1/promote', { key: tenant.key });
  assert.equal(promoting.status, 202, promoting.text);
  const promoted = await active('ledger-r1');
  assert.equal(promoted.role, 'primary');
  assert.ok((await ids(behind.port)).has(42), 'the commit only the sibling had is on the promoted replica');
  await query(behind.port, "insert into orders values (43, 'on the promoted replica')");
  await eventually('ledger-r2 follows the promoted replica', async () => ((await ids(ahead.port)).has(43) ? true : undefined));
  assert.equal((await settled('ledger-r2')).replicaOf, behind.id);
});
