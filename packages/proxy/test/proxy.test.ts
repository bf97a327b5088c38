// The proxy in front of real instances: one port for every instance, the three ways to name one,
// SCRAM at the edge (pass-through to the instance), TLS with a generated certificate, psql as a
// client, each refusal with its SQLSTATE, tenants kept apart, limits, and CancelRequest.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { connect as connectTcp } from 'node:net';
import { findPostgresBinDir } from '@strata/postgres';
import type { RunningProxy } from '../src/index.js';
import { call, proxyClient, startProxyPlatform, tryQuery, type ProxyPlatform } from './harness.js';

const run = promisify(execFile);
let platform: ProxyPlatform;
let proxy: RunningProxy;
let tlsProxy: RunningProxy;
let tlsDir: string;
let acme: { tenantId: string; key: string };
let globex: { tenantId: string; key: string };
let orders: { id: string; port: number };
let billing: { id: string; port: number };
const ORDERS_PASSWORD = 'orders-password-1';
const BILLING_PASSWORD = 'billing-password-2';

before(async () => {
  platform = await startProxyPlatform('proxy-basic');
  acme = await platform.tenant('acme');
  globex = await platform.tenant('globex');
  orders = await platform.instance(acme.key, 'orders', ORDERS_PASSWORD);
  billing = await platform.instance(globex.key, 'billing', BILLING_PASSWORD);
  proxy = await platform.proxy();
  tlsDir = await mkdtemp(join(tmpdir(), 'strata-proxy-tls-'));
  tlsProxy = await platform.proxy({ tls: { dir: tlsDir, hostNames: ['db.strata.test'] }, requireTls: true });
});
after(async () => {
  await platform?.close();
  if (tlsDir) await rm(tlsDir, { recursive: true, force: true });
});

test('a pg client reaches its instance through the proxy as "<role>.<instance-id>" and talks to the real server', async () => {
  const client = proxyClient(proxy, orders.id, ORDERS_PASSWORD);
  await client.connect();
  try {
    const { rows } = await client.query('select current_user as "user", current_database() as db, inet_server_port() as port');
    assert.deepEqual(rows, [{ user: 'app', db: 'app', port: orders.port }]);
    await client.query('create table items (id int primary key, name text)');
    await client.query('insert into items values ($1, $2), ($3, $4)', [1, 'one', 2, 'two']);
    const prepared = await client.query({ name: 'by-id', text: 'select name from items where id = $1', values: [2] });
    assert.deepEqual(prepared.rows, [{ name: 'two' }]);
    const again = await client.query({ name: 'by-id', text: 'select name from items where id = $1', values: [1] });
    assert.deepEqual(again.rows, [{ name: 'one' }]);
  } finally {
    await client.end();
  }
});

test('the instance can be named in the startup options (instance=… or endpoint=…), with other options passed on', async () => {
  for (const form of ['instance', 'endpoint']) {
    const client = new pg.Client({ host: proxy.host, port: proxy.port, user: 'app', database: 'app', password: ORDERS_PASSWORD, options: `${form}=${orders.id} -c statement_timeout=1234` });
    const result = await tryQuery(client, 'show statement_timeout');
    assert.deepEqual(result.rows, [{ statement_timeout: '1234ms' }], `${form}: ${result.message}`);
  }
});

test('over TLS with a certificate generated on first start, the instance can be named by SNI; plain connections are refused when TLS is required', async () => {
  const cert = await readFile(join(tlsDir, 'proxy.crt'), 'utf8');
  assert.match(cert, /BEGIN CERTIFICATE/);
  const sniName = `${orders.id.replace('_', '-')}.db.strata.test`;
  // servername is what a client sends as SNI when it connects to that host name.
  const bySni = new pg.Client({ host: tlsProxy.host, port: tlsProxy.port, user: 'app', database: 'app', password: ORDERS_PASSWORD, ssl: { ca: cert, servername: sniName } });
  const result = await tryQuery(bySni, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
  // The proxy terminates TLS; its own hop to the instance is on loopback.
  assert.deepEqual(result.rows, [{ ssl: false }], result.message);
  const verified = new pg.Client({ host: 'localhost', port: tlsProxy.port, user: `app.${orders.id}`, database: 'app', password: ORDERS_PASSWORD, ssl: { ca: cert } });
  assert.deepEqual((await tryQuery(verified, 'select 1 as one')).rows, [{ one: 1 }], 'the generated certificate verifies for localhost');
  const plain = await tryQuery(proxyClient(tlsProxy, orders.id, ORDERS_PASSWORD), 'select 1');
  assert.equal(plain.code, '28000');
  assert.match(plain.message!, /sslmode=require/);
});

test('psql connects with sslmode=require and runs a script', async () => {
  const psql = join(findPostgresBinDir() ?? '/usr/bin', 'psql');
  const url = `postgresql://app.${orders.id}:${ORDERS_PASSWORD}@127.0.0.1:${tlsProxy.port}/app?sslmode=require`;
  const { stdout } = await run(psql, [url, '-At', '-c', 'select 40 + 2', '-c', 'select count(*) from items'], { env: { ...process.env, PGCONNECT_TIMEOUT: '30' } });
  assert.equal(stdout.trim(), '42\n2');
});

test('wrong password, unknown user, unknown instance and no instance each get the proper SQLSTATE', async () => {
  const wrong = await tryQuery(proxyClient(proxy, orders.id, 'not-the-password'), 'select 1');
  assert.equal(wrong.code, '28P01');
  assert.match(wrong.message!, /password authentication failed for user "app"/);
  const unknownUser = await tryQuery(new pg.Client({ host: proxy.host, port: proxy.port, user: `nobody.${orders.id}`, database: 'app', password: ORDERS_PASSWORD }), 'select 1');
  assert.equal(unknownUser.code, '28P01', 'an unknown user looks like a wrong password');
  const unknownInstance = await tryQuery(proxyClient(proxy, 'ins_aaaaaaaaaaaaaaaa', ORDERS_PASSWORD), 'select 1');
  assert.equal(unknownInstance.code, '3D000');
  assert.match(unknownInstance.message!, /instance "ins_aaaaaaaaaaaaaaaa" does not exist/);
  const none = await tryQuery(new pg.Client({ host: proxy.host, port: proxy.port, user: 'app', database: 'app', password: ORDERS_PASSWORD }), 'select 1');
  assert.equal(none.code, '08004');
  assert.match(none.message!, /<role>\.<instance-id>/);
  const unknownDatabase = await tryQuery(proxyClient(proxy, orders.id, ORDERS_PASSWORD, { database: 'nope' }), 'select 1');
  assert.equal(unknownDatabase.code, '3D000', "the instance's own refusal is passed on");
});

test("tenants are kept apart: one tenant's password does not open another's instance, even with the right role name", async () => {
  const crossed = await tryQuery(proxyClient(proxy, billing.id, ORDERS_PASSWORD), 'select 1');
  assert.equal(crossed.code, '28P01');
  const own = await tryQuery(proxyClient(proxy, billing.id, BILLING_PASSWORD), 'select current_database() as db, inet_server_port() as port');
  assert.deepEqual(own.rows, [{ db: 'app', port: billing.port }]);
  // A session never leaves its instance: the data of acme's instance is not in globex's.
  const tables = await tryQuery(proxyClient(proxy, billing.id, BILLING_PASSWORD), "select count(*)::int as n from pg_tables where tablename = 'items'");
  assert.deepEqual(tables.rows, [{ n: 0 }]);
});

test('a suspended tenant and a stopped instance are refused with 57P03 and a message that says what to do', async () => {
  const stopped = await platform.instance(globex.key, 'stopped', BILLING_PASSWORD);
  const stop = await call(platform.cp, 'POST', `/v1/instances/${stopped.id}/stop`, globex.key);
  assert.equal(stop.status, 202, stop.text);
  assert.equal((await call(platform.cp, 'GET', `/v1/instances/${stopped.id}/wait?timeoutMs=60000`, globex.key)).json.status, 'STOPPED');
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
  const refusedStopped = await tryQuery(proxyClient(proxy, stopped.id, BILLING_PASSWORD), 'select 1');
  assert.equal(refusedStopped.code, '57P03');
  assert.match(refusedStopped.message!, /is stopped; start it/);

  await platform.cp.db.query("update strata_cloud.tenants set status = 'suspended' where tenant_id = $1", [globex.tenantId]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
    const refused = await tryQuery(proxyClient(proxy, billing.id, BILLING_PASSWORD), 'select 1');
    assert.equal(refused.code, '57P03');
    assert.match(refused.message!, /suspended/);
    const wrong = await tryQuery(proxyClient(proxy, billing.id, 'wrong-password'), 'select 1');
    assert.equal(wrong.code, '28P01', 'a suspension is told only to a client that proved its password');
  } finally {
    await platform.cp.db.query("update strata_cloud.tenants set status = 'active' where tenant_id = $1", [globex.tenantId]);
  }
});

test('limits: clients per instance are bounded (53300), and a client waits in the queue for a server connection until its timeout', async () => {
  await platform.cp.db.query('update strata_cloud.instances set proxy_max_clients = 2, proxy_max_server_connections = 1 where instance_id = $1', [orders.id]);
  const limited = await platform.proxy({ limits: { poolWaitTimeoutMs: 1_500 } });
  const first = proxyClient(limited, orders.id, ORDERS_PASSWORD);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
    await first.connect();
    const waiting = tryQuery(proxyClient(limited, orders.id, ORDERS_PASSWORD), 'select 1');
    while ((limited.stats().instances[orders.id]?.waiting ?? 0) < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const third = await tryQuery(proxyClient(limited, orders.id, ORDERS_PASSWORD), 'select 1');
    assert.equal(third.code, '53300');
    assert.match(third.message!, /too many connections for instance .* \(its limit is 2\)/);
    const waited = await waiting;
    assert.equal(waited.code, '53300');
    assert.match(waited.message!, /timed out after 1500 ms waiting for a server connection/);
    // The queue frees when the first client leaves: the next one gets the connection.
    const second = proxyClient(limited, orders.id, ORDERS_PASSWORD);
    const connecting = second.connect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await first.end();
    await connecting;
    assert.deepEqual((await second.query('select 7 as n')).rows, [{ n: 7 }]);
    await second.end();
  } finally {
    await first.end().catch(() => {});
    await platform.cp.db.query('update strata_cloud.instances set proxy_max_clients = null, proxy_max_server_connections = null where instance_id = $1', [orders.id]);
  }
});

test('a CancelRequest with the key the proxy gave cancels the running query on the right server', async () => {
  const client = proxyClient(proxy, orders.id, ORDERS_PASSWORD);
  await client.connect();
  try {
    const sleeping = client.query('select pg_sleep(60)').then(() => undefined, (error: { code?: string }) => error.code);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    await new Promise<void>((resolve, reject) => {
      const socket = connectTcp({ host: proxy.host, port: proxy.port }, () => socket.end(serialize.cancel(processID, secretKey)));
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    assert.equal(await sleeping, '57014', 'the query was canceled');
    assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }], 'the session goes on');
  } finally {
    await client.end();
  }
});

test('session mode reuses a server connection its client left idle, reset with DISCARD ALL; one left mid-transaction is closed', async () => {
  const own = await platform.proxy(); // its own idle connections, none from the tests before
  const first = proxyClient(own, orders.id, ORDERS_PASSWORD);
  await first.connect();
  const pid = (await first.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  await first.query("set work_mem = '7MB'");
  await first.query('create temp table scratch (a int)');
  await first.end();
  // Reset (DISCARD ALL) and kept: the proxy holds one server connection and no client.
  for (let i = 0; i < 500 && !(own.stats().instances[orders.id]?.serverConnections === 1 && own.stats().clients === 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(own.stats().instances[orders.id], { clients: 0, serverConnections: 1, waiting: 0 });
  const next = proxyClient(own, orders.id, ORDERS_PASSWORD);
  await next.connect();
  try {
    const { rows } = await next.query("select pg_backend_pid() as pid, current_setting('work_mem') as work_mem, to_regclass('pg_temp.scratch') is null as no_scratch");
    assert.deepEqual(rows[0], { pid, work_mem: '4MB', no_scratch: true }, 'the same backend, and the session left nothing behind');
  } finally {
    await next.end();
  }
  const leaver = proxyClient(own, orders.id, ORDERS_PASSWORD);
  leaver.on('error', () => {});
  await leaver.connect();
  const leaverPid = (await leaver.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  await leaver.query('begin');
  await leaver.query("insert into items values (99, 'uncommitted')");
  (leaver as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  const check = proxyClient(own, orders.id, ORDERS_PASSWORD);
  await check.connect();
  try {
    for (let i = 0; i < 20; i++) {
      const { rows } = await check.query('select pg_backend_pid() as pid, (select count(*)::int from items where id = 99) as n');
      assert.notEqual(rows[0].pid, leaverPid, 'a connection left mid-transaction is not reused');
      assert.equal(rows[0].n, 0, 'its transaction was rolled back');
    }
  } finally {
    await check.end();
  }
});
