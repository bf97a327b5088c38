// The proxy's Meter on real databases (PGlite and PostgreSQL): many adds become one upsert per
// flush; counts stay exact while adds race flushes; a flush that fails because the PostgreSQL server
// restarted mid-run loses nothing and counts nothing twice; the buffer's bound starts flushes early
// and keeps memory bounded through an outage; bad counts and adds after close are refused.

import assert from 'node:assert/strict';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { loadMigrations, migrate, openDatabase, type Database, type QueryOptions, type Queryable, type Row, type Subscription, type Transaction, type TransactionOptions } from '@strata/store';
import { engines, freshDatabaseUrl, startCluster, type PgCluster } from '@strata/testing';
import { Meter, MeteringError } from '../src/metering/index.js';

/** The usage table is the control plane's (migration 12): applied as the control plane applies it. */
const CONTROL_PLANE_MIGRATIONS = new URL('../../control-plane/migrations/', import.meta.url);
const MINUTE_MS = 60_000;
const QUIET = { warn: () => {}, info: () => {} };

/** A real database that counts the writes sent to strata_cloud.usage (nothing else changes). */
class CountingDatabase implements Database {
  usageStatements = 0;
  constructor(readonly inner: Database) {}
  get engine() { return this.inner.engine; }
  get notificationMode() { return this.inner.notificationMode; }
  get profile() { return this.inner.profile; }
  get description() { return this.inner.description; }
  query<R extends Row = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions) {
    if (/^\s*insert into strata_cloud\.usage\b/.test(sql)) this.usageStatements++;
    return this.inner.query<R>(sql, params, options);
  }
  exec(sql: string): Promise<void> { return this.inner.exec(sql); }
  notify(channel: string, payload: string): Promise<void> { return this.inner.notify(channel, payload); }
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> { return this.inner.transaction(fn, options); }
  listen(channel: string, handler: (payload: string) => void): Promise<Subscription> { return this.inner.listen(channel, handler); }
  close(): Promise<void> { return this.inner.close(); }
}

async function usageDatabase(url: string): Promise<Database> {
  const db = await openDatabase({ url });
  await migrate(db, 'control-plane', loadMigrations(CONTROL_PLANE_MIGRATIONS));
  return db;
}

/** Expected sums, by `instance minute`, kept beside the meter. */
class Ledger {
  readonly rows = new Map<string, { operations: number; bytesIn: number; bytesOut: number; connectionMs: number }>();
  add(instanceId: string, minuteMs: number, delta: { operations: number; bytesIn: number; bytesOut: number; connectionMs: number }): void {
    const key = `${instanceId} ${new Date(minuteMs).toISOString()}`;
    const row = this.rows.get(key) ?? { operations: 0, bytesIn: 0, bytesOut: 0, connectionMs: 0 };
    row.operations += delta.operations;
    row.bytesIn += delta.bytesIn;
    row.bytesOut += delta.bytesOut;
    row.connectionMs += delta.connectionMs;
    this.rows.set(key, row);
  }
  /** Sums per instance (what caps and reports read), whatever minute each count landed in. */
  byInstance(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, row] of this.rows) out.set(key.split(' ')[0]!, (out.get(key.split(' ')[0]!) ?? 0) + row.operations);
    return out;
  }
}

async function storedRows(db: Queryable): Promise<Map<string, { operations: number; bytesIn: number; bytesOut: number; connectionMs: number }>> {
  const { rows } = await db.query<{ instance_id: string; minute: Date | string; operations: string; bytes_in: string; bytes_out: string; connection_ms: string }>(
    `select instance_id, minute, operations::text, bytes_in::text, bytes_out::text, connection_ms::text from strata_cloud.usage`,
  );
  return new Map(rows.map((row) => [`${row.instance_id} ${new Date(row.minute).toISOString()}`, { operations: Number(row.operations), bytesIn: Number(row.bytes_in), bytesOut: Number(row.bytes_out), connectionMs: Number(row.connection_ms) }]));
}

async function storedByInstance(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query<{ instance_id: string; operations: string }>(`select instance_id, sum(operations)::text as operations from strata_cloud.usage group by instance_id`);
  return new Map(rows.map((row) => [row.instance_id, Number(row.operations)]));
}

/** A seeded pseudo-random whole number in [0, n): reproducible runs. */
function lcg(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % n;
  };
}

for (const kind of engines()) {
  describe(`Meter (${kind})`, () => {
    const opened: Database[] = [];
    after(async () => {
      for (const db of opened) await db.close().catch(() => {});
    });
    const fresh = async () => {
      const db = await usageDatabase(await freshDatabaseUrl(kind));
      opened.push(db);
      return db;
    };

    test('30,000 adds on three instances are written by one upsert statement, exactly', async () => {
      const db = new CountingDatabase(await fresh());
      const minuteMs = Date.UTC(2025, 5, 1, 12, 0);
      const meter = new Meter(db, { flushIntervalMs: 3_600_000, now: () => minuteMs + 1_234, logger: QUIET });
      const ledger = new Ledger();
      const random = lcg(7);
      for (let i = 0; i < 30_000; i++) {
        const instanceId = `ins_${i % 3}`;
        const delta = { operations: 1, bytesIn: random(500), bytesOut: random(5_000), connectionMs: i % 100 === 0 ? random(1_000) : 0 };
        meter.add(instanceId === 'ins_2' ? 'ten_b' : 'ten_a', instanceId, delta);
        ledger.add(instanceId, minuteMs, delta);
      }
      assert.equal(meter.stats.pendingKeys, 3);
      await meter.flush();
      assert.equal(db.usageStatements, 1, 'one statement for the whole batch');
      assert.deepEqual(await storedRows(db), ledger.rows);
      const { rows } = await db.query<{ tenant_id: string; n: string }>(`select tenant_id, count(*)::text as n from strata_cloud.usage group by tenant_id order by tenant_id`);
      assert.deepEqual(rows.map((row) => [row.tenant_id, Number(row.n)]), [['ten_a', 2], ['ten_b', 1]]);
      // A second flush adds to the same minute's rows.
      meter.add('ten_a', 'ins_0', { operations: 5 });
      ledger.add('ins_0', minuteMs, { operations: 5, bytesIn: 0, bytesOut: 0, connectionMs: 0 });
      await meter.close();
      assert.equal(db.usageStatements, 2);
      assert.deepEqual(await storedRows(db), ledger.rows);
      assert.deepEqual([meter.stats.flushes, meter.stats.rowsWritten, meter.stats.pendingKeys], [2, 4, 0]);
    });

    test('counts stay exact while twenty connections add and flushes run every 10 ms and on demand, across minutes', async () => {
      const db = await fresh();
      let clock = Date.UTC(2025, 5, 1, 12, 0);
      const meter = new Meter(db, { flushIntervalMs: 10, now: () => clock, logger: QUIET });
      const ledger = new Ledger();
      const random = lcg(42);
      const connection = async (n: number) => {
        for (let i = 0; i < 1_500; i++) {
          const delta = { operations: 1 + random(3), bytesIn: random(1_000), bytesOut: random(10_000), connectionMs: random(50) };
          const instanceId = `ins_${n % 5}`;
          meter.add(`ten_${n % 2}`, instanceId, delta);
          ledger.add(instanceId, Math.floor(clock / MINUTE_MS) * MINUTE_MS, delta);
          if (random(100) === 0) clock += 20_000; // minutes pass
          if (random(200) === 0) void meter.flush().catch(() => {});
          if (i % 50 === 0) await yieldToLoop();
        }
      };
      await Promise.all(Array.from({ length: 20 }, (_, n) => connection(n)));
      await meter.close();
      assert.equal(meter.stats.failedFlushes, 0);
      assert.ok(meter.stats.flushes > 1, `several flushes ran (${meter.stats.flushes})`);
      assert.deepEqual(await storedRows(db), ledger.rows);
    });

    test('reaching maxBufferedKeys starts a flush before the interval', async () => {
      const db = await fresh();
      const meter = new Meter(db, { flushIntervalMs: 3_600_000, maxBufferedKeys: 50, logger: QUIET });
      for (let i = 0; i < 49; i++) meter.add('ten_a', `ins_${i}`, { operations: 1 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(meter.stats.flushes, 0, 'under the bound, nothing is written before the interval');
      meter.add('ten_a', 'ins_49', { operations: 1 });
      const deadline = Date.now() + 10_000;
      while (meter.stats.flushes === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(meter.stats.flushes, 1);
      const { rows } = await db.query<{ n: string }>(`select count(*)::text as n from strata_cloud.usage`);
      assert.equal(Number(rows[0]?.n), 50);
      await meter.close();
    });

    test('bad counts, adds after close and bad options are refused with typed errors', async () => {
      const db = await fresh();
      assert.throws(() => new Meter(db, { flushIntervalMs: 1 }), (error: unknown) => error instanceof MeteringError && error.code === 'STRATA_METER_INVALID_CONFIG' && /at least 10 ms/.test(error.message));
      assert.throws(() => new Meter(db, { maxBufferedKeys: 0 }), (error: unknown) => error instanceof MeteringError && error.code === 'STRATA_METER_INVALID_CONFIG');
      const meter = new Meter(db, { logger: QUIET });
      for (const delta of [{ operations: -1 }, { bytesIn: 1.5 }, { bytesOut: Number.NaN }, { connectionMs: Number.POSITIVE_INFINITY }]) {
        assert.throws(() => meter.add('ten_a', 'ins_1', delta), (error: unknown) => error instanceof MeteringError && error.code === 'STRATA_METER_INVALID_USAGE' && /whole numbers/.test(error.message), JSON.stringify(delta));
      }
      assert.equal(meter.stats.pendingKeys, 0, 'a refused add counts nothing');
      meter.add('ten_a', 'ins_1', { operations: 2 });
      await meter.close();
      assert.throws(() => meter.add('ten_a', 'ins_1', { operations: 1 }), (error: unknown) => error instanceof MeteringError && error.code === 'STRATA_METER_CLOSED');
      assert.deepEqual([...(await storedByInstance(db))], [['ins_1', 2]]);
    });
  });
}

describe('Meter through a PostgreSQL outage', { skip: engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)' }, () => {
  let cluster: PgCluster | undefined;
  let db: Database | undefined;
  after(async () => {
    await db?.close().catch(() => {});
    await cluster?.stop();
  });

  /** A cluster that keeps what it acknowledged across an immediate stop (the harness default is synchronous_commit=off). */
  const start = async () => {
    cluster = await startCluster({ settings: { synchronous_commit: 'on' } });
    db = await usageDatabase(cluster.url);
    return { cluster, db };
  };

  /** Flushes until one commits (the first statements after a restart may meet a dead pooled connection). */
  async function flushUntilWritten(meter: Meter): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        return await meter.flush();
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  test('a restart of the server mid-run loses no count and counts none twice', async () => {
    const { cluster, db } = await start();
    // The real clock, read once per add for the meter and the ledger alike.
    let clock = Date.now();
    const meter = new Meter(db, { flushIntervalMs: 20, now: () => clock, logger: QUIET });
    const ledger = new Ledger();
    const random = lcg(2025);
    let adding = true;
    const connection = async (n: number) => {
      while (adding) {
        const delta = { operations: 1, bytesIn: random(300), bytesOut: random(3_000), connectionMs: 0 };
        const instanceId = `ins_${n % 4}`;
        clock = Date.now();
        meter.add('ten_a', instanceId, delta);
        ledger.add(instanceId, Math.floor(clock / MINUTE_MS) * MINUTE_MS, delta);
        await new Promise((resolve) => setTimeout(resolve, random(3)));
      }
    };
    const connections = Promise.all(Array.from({ length: 8 }, (_, n) => connection(n)));
    await new Promise((resolve) => setTimeout(resolve, 700));
    const flushesBefore = meter.stats.flushes;
    assert.ok(flushesBefore > 0, 'flushes committed before the outage');
    // A crash-like stop, 1.5 s down, and a start: flushes fail meanwhile and keep their counts.
    await cluster.restartServer({ mode: 'immediate', downMs: 1_500 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    adding = false;
    await connections;
    await flushUntilWritten(meter);
    await meter.close();
    assert.ok(meter.stats.failedFlushes > 0, 'flushes failed during the outage');
    assert.ok(meter.stats.flushes > flushesBefore, 'and flushes committed after it');
    assert.deepEqual(await storedByInstance(db), ledger.byInstance());
    assert.deepEqual(await storedRows(db), ledger.rows);
  });

  test('while flushes fail, the buffer stays bounded and folds new minutes into each instance, keeping its total', async () => {
    const { cluster, db } = await start();
    let clock = Date.UTC(2025, 5, 1, 12, 0);
    const meter = new Meter(db, { flushIntervalMs: 10, maxBufferedKeys: 20, now: () => clock, logger: QUIET });
    const ledger = new Ledger();
    await cluster.stopServer();
    for (let minute = 0; minute < 30; minute++) {
      for (let i = 0; i < 5; i++) {
        meter.add('ten_a', `ins_${i}`, { operations: 10 + i });
        ledger.add(`ins_${i}`, clock, { operations: 10 + i, bytesIn: 0, bytesOut: 0, connectionMs: 0 });
      }
      clock += MINUTE_MS;
      await new Promise((resolve) => setTimeout(resolve, 15)); // a failed flush or two per minute
      assert.ok(meter.stats.pendingKeys <= 20, `at most maxBufferedKeys counters (${meter.stats.pendingKeys})`);
    }
    assert.ok(meter.stats.failedFlushes > 0);
    assert.ok(meter.stats.foldedAdds > 0, 'new minutes were folded once the bound was reached');
    await cluster.startServer();
    await flushUntilWritten(meter);
    await meter.close();
    assert.deepEqual(await storedByInstance(db), ledger.byInstance(), 'every instance total is exact');
    const { rows } = await db.query<{ n: string }>(`select count(*)::text as n from strata_cloud.usage`);
    assert.equal(Number(rows[0]?.n), 20, 'one row per counter held');
  });
});
