// Transaction mode against a real instance: server connections shared between transactions and
// bounded, named prepared statements across them, what cannot work refused with a clear error,
// a transaction keeping its connection, a client gone mid-transaction rolled back, and pgbench
// with named prepared statements through it.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { findPostgresBinDir } from '@strata/postgres';
import type { RunningProxy } from '../src/index.js';
import { proxyClient, startProxyPlatform, tryQuery, type ProxyPlatform } from './harness.js';

const run = promisify(execFile);
const PASSWORD = 'pooled-password-1';
/** Server connections the instance may have through the proxy in these tests. */
const SERVER_LIMIT = 3;
let platform: ProxyPlatform;
let proxy: RunningProxy;
let instance: { id: string; port: number };

before(async () => {
  platform = await startProxyPlatform('proxy-txn');
  const tenant = await platform.tenant('pooled');
  instance = await platform.instance(tenant.key, 'pooled', PASSWORD);
  await platform.cp.db.query("update strata_cloud.instances set pool_mode = 'transaction', proxy_max_server_connections = $2 where instance_id = $1", [instance.id, SERVER_LIMIT]);
  proxy = await platform.proxy({ limits: { poolWaitTimeoutMs: 60_000 } });
  const setup = proxyClient(proxy, instance.id, PASSWORD);
  await setup.connect();
  await setup.query('create table ledger (id serial primary key, client int not null, n int not null)');
  await setup.end();
});
after(() => platform?.close());

/** Server processes of the instance's user "app" now (seen from a direct connection). */
async function serverBackends(): Promise<number> {
  const direct = new pg.Client({ host: '127.0.0.1', port: instance.port, user: 'app', database: 'app', password: PASSWORD });
  await direct.connect();
  try {
    const { rows } = await direct.query("select count(*)::int as n from pg_stat_activity where usename = 'app' and pid <> pg_backend_pid()");
    return rows[0].n;
  } finally {
    await direct.end();
  }
}

test('twenty clients share at most three server connections; every transaction commits once', async () => {
  const clients = Array.from({ length: 20 }, () => proxyClient(proxy, instance.id, PASSWORD));
  await Promise.all(clients.map((client) => client.connect()));
  try {
    let peak = 0;
    await Promise.all(
      clients.map(async (client, index) => {
        for (let round = 0; round < 10; round++) {
          await client.query('begin');
          await client.query('insert into ledger (client, n) values ($1, $2)', [index, round]);
          await client.query('commit');
          peak = Math.max(peak, proxy.stats().instances[instance.id]?.serverConnections ?? 0);
        }
      }),
    );
    assert.ok(peak <= SERVER_LIMIT, `at most ${SERVER_LIMIT} server connections, saw ${peak}`);
    assert.ok((await serverBackends()) <= SERVER_LIMIT);
    const { rows } = await clients[0]!.query('select count(*)::int as rows, count(distinct (client, n))::int as distinct_rows from ledger');
    assert.deepEqual(rows, [{ rows: 200, distinct_rows: 200 }]);
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
});

test('named prepared statements work across server connections, and two clients may use one name for different statements', async () => {
  const a = proxyClient(proxy, instance.id, PASSWORD);
  const b = proxyClient(proxy, instance.id, PASSWORD);
  await a.connect();
  await b.connect();
  // Busy the pool so a and b land on different server connections over time.
  const noise = Array.from({ length: 4 }, () => proxyClient(proxy, instance.id, PASSWORD));
  await Promise.all(noise.map((client) => client.connect()));
  try {
    let stop = false;
    const busy = Promise.all(noise.map(async (client) => {
      while (!stop) await client.query('select pg_sleep(0.002)');
    }));
    for (let i = 0; i < 30; i++) {
      const [ra, rb] = await Promise.all([
        a.query({ name: 'same-name', text: 'select $1::int * 2 as doubled', values: [i] }),
        b.query({ name: 'same-name', text: "select $1::text || '!' as shouted", values: [String(i)] }),
      ]);
      assert.deepEqual(ra.rows, [{ doubled: i * 2 }]);
      assert.deepEqual(rb.rows, [{ shouted: `${i}!` }]);
    }
    stop = true;
    await busy;
  } finally {
    await Promise.all([a, b, ...noise].map((client) => client.end()));
  }
});

test('what needs a session is refused with 0A000 and a message that says what to do; the session goes on, and the transaction-scoped forms work', async () => {
  const client = proxyClient(proxy, instance.id, PASSWORD);
  await client.connect();
  try {
    const refused: [string, RegExp][] = [
      ['listen jobs', /LISTEN needs a session/],
      ['set search_path = public', /SET without LOCAL/],
      ['select pg_advisory_lock(42)', /pg_advisory_lock holds a lock past the transaction; use pg_advisory_xact_lock/],
      ['prepare p as select 1', /SQL PREPARE/],
      ['create temp table scratch (a int)', /temporary table/],
      ['begin; declare c cursor with hold for select 1; commit', /WITH HOLD/],
    ];
    for (const [sql, message] of refused) {
      await assert.rejects(client.query(sql), (error: { code: string; message: string }) => error.code === '0A000' && message.test(error.message), sql);
      assert.deepEqual((await client.query('select 1 as ok')).rows, [{ ok: 1 }], `the session works after: ${sql}`);
    }
    // Extended protocol: the refusal comes in its place, then the next statement works.
    await assert.rejects(client.query({ text: 'select pg_advisory_lock($1)', values: [1] }), { code: '0A000' });
    await client.query('begin');
    await client.query("set local statement_timeout = '5s'");
    assert.deepEqual((await client.query('show statement_timeout')).rows, [{ statement_timeout: '5s' }]);
    assert.deepEqual((await client.query('select pg_advisory_xact_lock(7) is null as locked')).rows, [{ locked: false }]);
    await client.query('commit');
  } finally {
    await client.end();
  }
});

test('a transaction keeps its server connection: with one connection, another client waits for the commit', async () => {
  await platform.cp.db.query('update strata_cloud.instances set proxy_max_server_connections = 1 where instance_id = $1', [instance.id]);
  const single = await platform.proxy({ limits: { poolWaitTimeoutMs: 60_000 } });
  const a = proxyClient(single, instance.id, PASSWORD);
  const b = proxyClient(single, instance.id, PASSWORD);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the directory's cache
    await a.connect();
    await b.connect();
    const order: string[] = [];
    await a.query('begin');
    await a.query('insert into ledger (client, n) values (1000, 1)');
    const read = b.query('select count(*)::int as n from ledger where client = 1000').then((result) => {
      order.push('b read');
      return result.rows[0].n as number;
    });
    while ((single.stats().instances[instance.id]?.waiting ?? 0) < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    order.push('a commits');
    await a.query('commit');
    assert.equal(await read, 1, 'b ran after the commit, on the same connection');
    assert.deepEqual(order, ['a commits', 'b read']);
  } finally {
    await a.end().catch(() => {});
    await b.end().catch(() => {});
    await single.close();
    await platform.cp.db.query('update strata_cloud.instances set proxy_max_server_connections = $2 where instance_id = $1', [instance.id, SERVER_LIMIT]);
  }
});

test('a client that leaves mid-transaction has its transaction rolled back, and its server connection is not reused half-done', async () => {
  const leaver = proxyClient(proxy, instance.id, PASSWORD);
  leaver.on('error', () => {});
  await leaver.connect();
  await leaver.query('begin');
  await leaver.query('insert into ledger (client, n) values (2000, 1)');
  (leaver as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  const check = proxyClient(proxy, instance.id, PASSWORD);
  await check.connect();
  try {
    for (let i = 0; i < 20; i++) {
      const { rows } = await check.query("select count(*)::int as n, current_setting('transaction_isolation') as iso from ledger where client = 2000");
      assert.equal(rows[0].n, 0, 'the abandoned insert never commits');
    }
    assert.deepEqual((await check.query('select 1 as fresh')).rows, [{ fresh: 1 }]);
  } finally {
    await check.end();
  }
});

test('pgbench with named prepared statements (-M prepared) runs through transaction mode without a failed transaction', async () => {
  const bin = findPostgresBinDir() ?? '/usr/bin';
  const env = { ...process.env, PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '30' };
  const direct = ['-h', '127.0.0.1', '-p', String(instance.port), '-U', 'app', 'app'];
  await run(join(bin, 'pgbench'), ['-i', '-s', '1', '-q', ...direct], { env });
  const through = ['-h', proxy.host, '-p', String(proxy.port), '-U', `app.${instance.id}`, 'app'];
  const { stdout } = await run(join(bin, 'pgbench'), ['-M', 'prepared', '-c', '6', '-j', '2', '-t', '40', '-n', ...through], { env });
  assert.match(stdout, /number of transactions actually processed: 240\/240/);
  assert.match(stdout, /number of failed transactions: 0/);
  const simple = await tryQuery(proxyClient(proxy, instance.id, PASSWORD), 'select sum(abalance) is not null as ran from pgbench_accounts');
  assert.deepEqual(simple.rows, [{ ran: true }]);
  assert.ok((await serverBackends()) <= SERVER_LIMIT);
});
