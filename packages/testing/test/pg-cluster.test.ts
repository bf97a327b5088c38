import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { freshPostgresUrl, startCluster, stopOwnCluster } from '../src/index.js';

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function queryOne<Row extends pg.QueryResultRow>(url: string, sql: string): Promise<Row> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const result = await client.query<Row>(sql);
    assert.equal(result.rows.length, 1);
    return result.rows[0] as Row;
  } finally {
    await client.end();
  }
}

describe('startCluster', () => {
  test('starts a reachable server with durability off, and stop() removes it', async () => {
    const cluster = await startCluster();
    let stopped = false;
    try {
      assert.match(cluster.url, /^postgres:\/\/strata@127\.0\.0\.1:\d+\/postgres$/);
      assert.ok(existsSync(cluster.dataDir));

      const { version } = await queryOne<{ version: string }>(cluster.url, 'select version()');
      assert.match(version, /^PostgreSQL \d+/);
      const { fsync } = await queryOne<{ fsync: string }>(cluster.url, 'SHOW fsync');
      assert.equal(fsync, 'off');

      await cluster.stop();
      stopped = true;
      assert.equal(existsSync(cluster.dataDir), false);
      assert.equal(await acceptsConnections(cluster.port), false);
      await cluster.stop(); // idempotent
    } finally {
      if (!stopped) await cluster.stop();
    }
  });

  test('settings override the test defaults', async () => {
    const cluster = await startCluster({ settings: { fsync: 'on', application_name: "it's quoted" } });
    try {
      assert.equal((await queryOne<{ fsync: string }>(cluster.url, 'SHOW fsync')).fsync, 'on');
      const { application_name } = await queryOne<{ application_name: string }>(cluster.url, 'SHOW application_name');
      assert.equal(application_name, "it's quoted");
    } finally {
      await cluster.stop();
    }
  });
});

describe('freshPostgresUrl', () => {
  after(() => stopOwnCluster());

  test('each call gives a different, reachable database', async () => {
    const first = await freshPostgresUrl();
    const second = await freshPostgresUrl();
    assert.notEqual(first, second);

    const firstName = (await queryOne<{ name: string }>(first, 'select current_database() as name')).name;
    const secondName = (await queryOne<{ name: string }>(second, 'select current_database() as name')).name;
    assert.match(firstName, /^t_[0-9a-f]+$/);
    assert.match(secondName, /^t_[0-9a-f]+$/);
    assert.notEqual(firstName, secondName);
  });
});
