// InvalidationFeed on a fresh PGlite system database with the control plane's migrations: rows the
// control plane records reach the callback once each, in id order; a feed started later does not
// replay older rows; a row that commits after a higher one is still delivered; a failing read is
// retried from the same place; more rows than one poll's bound are worked through in bounded reads.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { insertInvalidation } from '@strata/control-plane';
import { loadMigrations, migrate, openDatabase, type Database, type QueryOptions, type QueryResult, type Queryable, type Row } from '@strata/store';
import { freshDatabaseUrl } from '@strata/testing';
import { InvalidationFeed, MAX_INVALIDATIONS_PER_POLL } from '../src/directory/invalidations.js';

/** The invalidations table is the control plane's (migration 14): applied as the control plane applies it. */
const CONTROL_PLANE_MIGRATIONS = new URL('../../control-plane/migrations/', import.meta.url);
const POLL_MS = 20;
const QUIET = { warn: () => {}, info: () => {} };

type Delivery = readonly [instanceId: string, tags: readonly string[]];

/** Polls `probe` until it is true, for at most `timeoutMs`. */
async function within(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A Queryable whose reads fail while `failing` is set (the system database away). */
class FlakyQueryable implements Queryable {
  failing = false;
  constructor(readonly inner: Queryable) {}
  query<R extends Row = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    if (this.failing) return Promise.reject(new Error('connection refused'));
    return this.inner.query<R>(sql, params, options);
  }
  exec(sql: string): Promise<void> {
    return this.inner.exec(sql);
  }
  notify(channel: string, payload: string): Promise<void> {
    return this.inner.notify(channel, payload);
  }
}

describe('InvalidationFeed', () => {
  let db: Database;
  const feeds: InvalidationFeed[] = [];
  const record = (instanceId: string, ...tags: string[]) => db.transaction((tx) => insertInvalidation(tx, instanceId, tags));
  /** A started feed (its starting point read) that collects what it delivers. */
  const startFeed = async (on: Queryable = db) => {
    const delivered: Delivery[] = [];
    const feed = new InvalidationFeed(on, (instanceId, tags) => void delivered.push([instanceId, tags]), { pollMs: POLL_MS, logger: QUIET });
    feeds.push(feed);
    await feed.poll();
    return { feed, delivered };
  };

  before(async () => {
    db = await openDatabase({ url: await freshDatabaseUrl('pglite') });
    await migrate(db, 'control-plane', loadMigrations(CONTROL_PLANE_MIGRATIONS));
  });
  after(async () => {
    for (const feed of feeds) await feed.close();
    await db?.close();
  });

  test('rows recorded after the start reach the callback once each, in order', async () => {
    const { feed, delivered } = await startFeed();
    await record('ins_a', 'products');
    await record('ins_b', 'catalog', 'home');
    await record('ins_a', 'orders:42');
    await within('delivered', 2_000, () => delivered.length >= 3);
    // A few more polls deliver nothing again.
    const polls = feed.stats.polls;
    await within('polled again', 2_000, () => feed.stats.polls >= polls + 3);
    assert.deepEqual(delivered, [['ins_a', ['products']], ['ins_b', ['catalog', 'home']], ['ins_a', ['orders:42']]]);
    assert.equal(feed.stats.delivered, 3);
  });

  test('a feed started later does not replay older rows', async () => {
    await record('ins_old', 'before-start');
    const { feed, delivered } = await startFeed();
    const start = feed.stats.lastId;
    assert.ok(start !== null && start > 0n);
    await feed.poll();
    await feed.poll();
    assert.deepEqual(delivered, [], 'nothing recorded before the start is delivered');
    await record('ins_new', 'after-start');
    await within('delivered', 2_000, () => delivered.length === 1);
    assert.deepEqual(delivered, [['ins_new', ['after-start']]]);
  });

  test('a row that commits after a higher one is still delivered, once', async () => {
    const { feed, delivered } = await startFeed();
    // Two inserts take ids n+1 and n+2; n+2 commits first (as concurrent API requests can).
    const { rows } = await db.query<{ id: string }>(`select nextval(pg_get_serial_sequence('strata_cloud.cache_invalidations', 'id'))::text as id`);
    const early = BigInt(rows[0]!.id);
    await record('ins_late', 'second');
    await within('the higher row delivered', 2_000, () => delivered.length === 1);
    assert.equal(feed.stats.missingIds, 1, 'the skipped id is looked for again');
    await db.query(`insert into strata_cloud.cache_invalidations (id, instance_id, tags) values ($1::bigint, 'ins_late', '{first}')`, [early.toString()]);
    await within('the late row delivered', 2_000, () => delivered.length === 2);
    const polls = feed.stats.polls;
    await within('polled again', 2_000, () => feed.stats.polls >= polls + 3);
    assert.deepEqual(delivered, [['ins_late', ['second']], ['ins_late', ['first']]]);
    assert.equal(feed.stats.missingIds, 0);
  });

  test('a failing read is retried from the same place: nothing lost, nothing twice', async () => {
    const flaky = new FlakyQueryable(db);
    const { feed, delivered } = await startFeed(flaky);
    flaky.failing = true;
    await record('ins_f', 'during-outage');
    await within('failed polls', 2_000, () => feed.stats.failedPolls >= 3);
    await assert.rejects(feed.poll(), /connection refused/);
    assert.deepEqual(delivered, []);
    flaky.failing = false;
    await within('delivered', 2_000, () => delivered.length === 1);
    await record('ins_f', 'after-outage');
    await within('delivered', 2_000, () => delivered.length === 2);
    assert.deepEqual(delivered, [['ins_f', ['during-outage']], ['ins_f', ['after-outage']]]);
  });

  test('more rows than one read takes are worked through in bounded reads, in order', async () => {
    const { feed, delivered } = await startFeed();
    const total = MAX_INVALIDATIONS_PER_POLL * 2 + 5;
    await db.query(`insert into strata_cloud.cache_invalidations (instance_id, tags) select 'ins_bulk', array['t' || n] from generate_series(1, $1::int) n`, [total]);
    const polls = feed.stats.polls;
    await within('all delivered', 10_000, () => delivered.length === total);
    assert.ok(feed.stats.polls - polls >= 3, 'at least three reads');
    assert.deepEqual(delivered.map(([, tags]) => tags[0]), Array.from({ length: total }, (_, i) => `t${i + 1}`));
  });

  test('a callback that throws is logged and the feed goes on; a poll interval under 10 ms is refused', async () => {
    const warnings: string[] = [];
    const seen: string[] = [];
    const feed = new InvalidationFeed(
      db,
      (_instanceId, tags) => {
        if (tags[0] === 'boom') throw new Error('cache is gone');
        seen.push(tags[0]!);
      },
      { pollMs: POLL_MS, logger: { warn: (message) => warnings.push(message) } },
    );
    feeds.push(feed);
    await feed.poll();
    await record('ins_c', 'boom');
    await record('ins_c', 'fine');
    await within('the next row delivered', 2_000, () => seen.length === 1);
    assert.deepEqual(seen, ['fine']);
    assert.ok(warnings.some((message) => message.includes('cache is gone') && message.includes('ins_c')), warnings.join('\n'));
    assert.throws(() => new InvalidationFeed(db, () => {}, { pollMs: 5 }), RangeError);
  });
});
