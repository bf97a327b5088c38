// Multi-host URLs against two real PostgreSQL clusters, one of which is made read-only with
// default_transaction_read_only: the store keeps the writable host and follows it when it moves.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { DatabaseUnavailableError, DatabaseUnreachableError, InvalidDatabaseUrlError, openDatabase, redact, type Database } from '@strata/store';
import { freePort, startCluster, type PgCluster } from '@strata/postgres';
import { parseMultiHostUrl } from '../src/multi-host.js';

/** A write that lands on a demoted host fails once (retryable); the next attempt must find the primary. */
const MAX_ATTEMPTS_AFTER_A_MOVE = 3;
/** The LISTEN connection's reconnect backs off from 50 ms; ten half-second waits cover it on a loaded machine. */
const MAX_NOTIFY_ATTEMPTS = 10;
const NOTIFY_WAIT_MS = 500;

describe('parseMultiHostUrl', () => {
  test('reads the host list and target_session_attrs, and gives each host a single-host URL without it', () => {
    const target = parseMultiHostUrl('postgres://app:secret@db1:5433,db2,[::1]:5434/app?target_session_attrs=read-write&application_name=x');
    assert.ok(target);
    assert.deepEqual(target.hosts, [{ host: 'db1', port: 5433 }, { host: 'db2', port: 5432 }, { host: '::1', port: 5434 }]);
    assert.equal(target.targetSessionAttrs, 'read-write');
    assert.equal(target.urlFor(1), 'postgres://app:secret@db2:5432/app?application_name=x');
    assert.equal(target.urlFor(2), 'postgres://app:secret@[::1]:5434/app?application_name=x');
  });

  test('leaves single-host URLs to node-postgres', () => {
    assert.equal(parseMultiHostUrl('postgres://app@db1:5432/app'), undefined);
  });

  test('describes the URL with every host and no password', () => {
    const target = parseMultiHostUrl('postgres://app:secret@db1:1,db2:2/app?target_session_attrs=read-write');
    assert.ok(target);
    const described = target.describe(redact);
    assert.equal(described, 'postgres://app:***@db1:1,db2:2/app?target_session_attrs=read-write');
  });

  test('rejects a target_session_attrs it does not implement, saying which it does', () => {
    assert.throws(() => parseMultiHostUrl('postgres://app@db1,db2/app?target_session_attrs=standby'), (error: unknown) =>
      error instanceof InvalidDatabaseUrlError && /read-write/.test(error.message));
  });
});

describe('a multi-host URL with target_session_attrs=read-write', () => {
  let first: PgCluster;
  let second: PgCluster;
  const opened: Database[] = [];

  before(async () => {
    [first, second] = await Promise.all([startCluster(), startCluster()]);
    for (const cluster of [first, second]) await sql(cluster, 'create table marks (host text not null)');
  });
  after(async () => {
    for (const db of opened) await db.close().catch(() => {});
    await Promise.all([first?.stop(), second?.stop()]);
  });

  const open = async (url: string): Promise<Database> => {
    const db = await openDatabase({ url, poolSize: 2, connectTimeoutMs: 5_000 });
    opened.push(db);
    return db;
  };
  const urlOf = (...clusters: PgCluster[]) =>
    `postgres://strata@${clusters.map((c) => `127.0.0.1:${c.port}`).join(',')}/postgres?target_session_attrs=read-write`;

  test('skips a read-only host listed first and writes to the writable one', async () => {
    await setReadOnly(first, true);
    await setReadOnly(second, false);
    const db = await open(urlOf(first, second));
    await db.query("insert into marks values ('listed-second')");
    assert.equal(await count(second, 'listed-second'), 1);
    assert.equal(await count(first, 'listed-second'), 0);
    assert.match(db.description, new RegExp(`127\\.0\\.0\\.1:${first.port},127\\.0\\.0\\.1:${second.port}`));
  });

  test('follows the primary when the writable host turns read-only and the other turns writable', async () => {
    await setReadOnly(first, true);
    await setReadOnly(second, false);
    const db = await open(urlOf(first, second));
    await db.transaction(async (tx) => tx.query("insert into marks values ('before-move')"));
    assert.equal(await count(second, 'before-move'), 1);

    await setReadOnly(second, true); // a switchover: the old primary is demoted...
    await setReadOnly(first, false); // ...and the other host promoted
    const failures = await writeUntilItLands(db, 'after-move', (attempt) =>
      attempt % 2 === 0 ? db.query("insert into marks values ('after-move')") : db.transaction((tx) => tx.query("insert into marks values ('after-move')")));
    assert.ok(failures.every((error) => error instanceof DatabaseUnavailableError), `only retryable errors, got ${failures.map(String).join('; ')}`);
    assert.equal(await count(first, 'after-move'), 1);
    assert.equal(await count(second, 'after-move'), 0, 'nothing was written to the demoted host');
  });

  test('follows the primary when the writable host goes down', async () => {
    await setReadOnly(first, true);
    await setReadOnly(second, false);
    const db = await open(urlOf(second, first));
    await db.query("insert into marks values ('before-crash')");
    assert.equal(await count(second, 'before-crash'), 1);

    await second.stopServer(); // crash-like
    await setReadOnly(first, false);
    try {
      const failures = await writeUntilItLands(db, 'after-crash', () => db.query("insert into marks values ('after-crash')"));
      assert.ok(failures.every((error) => error instanceof DatabaseUnavailableError));
      assert.equal(await count(first, 'after-crash'), 1);
    } finally {
      await second.startServer();
    }
  });

  test('LISTEN moves to the new primary with the writes, so notifications sent there still arrive', async () => {
    await setReadOnly(first, true);
    await setReadOnly(second, false);
    const db = await open(urlOf(first, second));
    const received: string[] = [];
    let arrived: () => void = () => {};
    const sub = await db.listen('moves', (payload) => {
      received.push(payload);
      arrived();
    });
    await setReadOnly(second, true);
    await setReadOnly(first, false);
    await writeUntilItLands(db, 'after-listen-move', () => db.query("insert into marks values ('after-listen-move')"));
    assert.equal(await count(first, 'after-listen-move'), 1);
    // The LISTEN connection reconnects on its own schedule; notify until one arrives (bounded).
    for (let attempt = 1; received.length === 0 && attempt <= MAX_NOTIFY_ATTEMPTS; attempt++) {
      const came = new Promise<void>((resolve) => (arrived = resolve));
      await db.notify('moves', `n${attempt}`);
      await Promise.race([came, new Promise((resolve) => setTimeout(resolve, NOTIFY_WAIT_MS))]);
    }
    assert.ok(received.length > 0, 'a notification sent on the new primary reached the listener');
    await sub.close();
  });

  test('with every host read-only, opening fails naming each host and why', async () => {
    await setReadOnly(first, true);
    await setReadOnly(second, true);
    await assert.rejects(open(urlOf(first, second)), (error: unknown) =>
      error instanceof DatabaseUnreachableError && error.message.includes(`127.0.0.1:${first.port} is read-only`) && error.message.includes(`127.0.0.1:${second.port} is read-only`));
  });

  test('target_session_attrs=any takes the first host that answers, read-only or not', async () => {
    await setReadOnly(first, true);
    const closedPort = await freePort();
    const db = await open(`postgres://strata@127.0.0.1:${closedPort},127.0.0.1:${first.port}/postgres?target_session_attrs=any`);
    const { rows } = await db.query<{ port: number }>("select current_setting('port')::int as port");
    assert.equal(rows[0]?.port, first.port);
  });
});

/** Writes until one attempt succeeds (bounded); returns the errors of the attempts before it. */
async function writeUntilItLands(db: Database, what: string, write: (attempt: number) => Promise<unknown>): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (let attempt = 1; attempt <= MAX_ATTEMPTS_AFTER_A_MOVE; attempt++) {
    try {
      await write(attempt);
      return failures;
    } catch (error) {
      failures.push(error);
    }
  }
  assert.fail(`${what}: no write landed in ${MAX_ATTEMPTS_AFTER_A_MOVE} attempts on ${db.description}: ${failures.map(String).join('; ')}`);
}

async function sql(cluster: PgCluster, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client(cluster.url);
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** default_transaction_read_only for every session, existing ones included (a reload reaches them). */
async function setReadOnly(cluster: PgCluster, readOnly: boolean): Promise<void> {
  await sql(cluster, `alter system set default_transaction_read_only = ${readOnly ? 'on' : 'off'}`);
  await sql(cluster, 'select pg_reload_conf()');
  // The reload is asynchronous: wait until a new session sees it.
  for (;;) {
    const { rows } = await sql(cluster, "select current_setting('default_transaction_read_only') as value");
    if (rows[0]?.value === (readOnly ? 'on' : 'off')) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function count(cluster: PgCluster, host: string): Promise<number> {
  const { rows } = await sql(cluster, `select count(*)::int as n from marks where host = '${host}'`);
  return rows[0]?.n as number;
}
