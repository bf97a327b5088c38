// The KV core (@strata/kv) next to the same operations as plain SQL on a plain table, on one
// throwaway PostgreSQL cluster (fsync and synchronous_commit on) and on embedded PGlite:
//   point reads/s, single-key writes/s, 100-key range reads/s, increments of one hot key from 64
//   clients (FoundationDB-style atomic add vs read-then-write vs SQL `update … set n = n + 1`),
//   and record inserts/s with two secondary indexes (the record layer vs SQL with two indexes).
// Each KV operation is one whole transaction (snapshot, body, commit); each SQL one is one
// autocommitted statement, so a ratio is the cost of the layer's transaction per operation.
// Run: npm run bench:kv   (STRATA_BENCH_KV_SCALE=0.2 for a quick run)
import os from 'node:os';
import { openDatabase, type Database } from '@strata/store';
import { freshPgliteDir, startCluster } from '@strata/testing';
import { RecordStore, Subspace, defineRecordType, openKv, pack, type KvDatabase } from '@strata/kv';

const SCALE = Number(process.env.STRATA_BENCH_KV_SCALE ?? 1);
/** Keys preloaded for the read workloads: enough that reads are not all one page. */
const PRELOADED_KEYS = 10_000;
/** Concurrent clients of the read, write and record workloads (the pool holds 20 connections). */
const CLIENTS = 16;
/** Clients incrementing the hot key, as the issue asks. */
const HOT_CLIENTS = 64;
/** A read-then-write loser retries; with 64 clients on one key it may lose many rounds. */
const HOT_MAX_ATTEMPTS = 10_000;
const RANGE_KEYS = 100;

interface Row {
  readonly engine: string;
  readonly workload: string;
  readonly kvPerSecond: number;
  readonly sqlPerSecond: number;
  readonly note?: string;
}
const results: Row[] = [];

const count = (base: number) => Math.max(16, Math.round(base * SCALE));
const keyOf = (i: number) => pack(['bench', i]);
const VALUE = new Uint8Array(100).fill(7);
/** Where application keys end: the SQL range read has no upper bound either. */
const END_OF_KEYS = Uint8Array.of(0xff);

/** Runs `total` operations over `clients` concurrent loops; returns operations per second. */
async function rate(total: number, clients: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < total; i = next++) await op(i);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

function int64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n), true);
  return out;
}

function readInt64(bytes: Uint8Array | undefined): number {
  return bytes === undefined ? 0 : Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true));
}

async function benchEngine(engine: string, db: Database): Promise<void> {
  const kv: KvDatabase = await openKv({ database: db });
  await db.exec(`
    create table bench_plain (key bytea primary key, value bytea not null);
    create table bench_counter (id int primary key, n bigint not null);
    insert into bench_counter values (1, 0);
    create table bench_users (id text primary key, email text not null, city text not null, age int not null);
    create index on bench_users (email);
    create index on bench_users (city, age);`);
  const random = (i: number) => (i * 7919) % PRELOADED_KEYS;
  for (let i = 0; i < PRELOADED_KEYS; i += 1_000) {
    await kv.transact(async (tr) => {
      for (let k = i; k < i + 1_000; k++) tr.set(keyOf(k), VALUE);
    });
    await db.query("insert into bench_plain select decode(k, 'hex'), $2 from unnest($1::text[]) as k", [
      Array.from({ length: 1_000 }, (_, k) => Buffer.from(keyOf(i + k)).toString('hex')),
      Buffer.from(VALUE),
    ]);
  }

  const reads = count(engine === 'pglite' ? 3_000 : 10_000);
  results.push({
    engine,
    workload: 'point reads',
    kvPerSecond: await rate(reads, CLIENTS, (i) => kv.transact((tr) => tr.get(keyOf(random(i))))),
    sqlPerSecond: await rate(reads, CLIENTS, (i) => db.query('select value from bench_plain where key = $1', [Buffer.from(keyOf(random(i)))], { prepare: true })),
  });

  const writes = count(engine === 'pglite' ? 1_000 : 3_000);
  results.push({
    engine,
    workload: 'single-key writes',
    kvPerSecond: await rate(writes, CLIENTS, async (i) => kv.transact(async (tr) => tr.set(keyOf(random(i)), VALUE))),
    sqlPerSecond: await rate(writes, CLIENTS, (i) =>
      db.query('insert into bench_plain (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value', [Buffer.from(keyOf(random(i))), Buffer.from(VALUE)], {
        prepare: true,
      }),
    ),
  });

  const ranges = count(engine === 'pglite' ? 500 : 2_000);
  results.push({
    engine,
    workload: `${RANGE_KEYS}-key range reads`,
    kvPerSecond: await rate(ranges, CLIENTS, (i) => kv.transact((tr) => tr.getRange(keyOf(random(i) % (PRELOADED_KEYS - RANGE_KEYS)), END_OF_KEYS, { limit: RANGE_KEYS }))),
    sqlPerSecond: await rate(ranges, CLIENTS, (i) =>
      db.query('select key, value from bench_plain where key >= $1 order by key limit 100', [Buffer.from(keyOf(random(i) % (PRELOADED_KEYS - RANGE_KEYS)))], { prepare: true }),
    ),
  });

  const increments = count(engine === 'pglite' ? 640 : 1_920);
  const hot = pack(['hot']);
  const atomic = await rate(increments, HOT_CLIENTS, () => kv.transact(async (tr) => tr.add(hot, int64(1))));
  let runs = 0;
  const hotRw = pack(['hot-rw']);
  const readThenWrite = await rate(increments, HOT_CLIENTS, () =>
    kv.transact(
      async (tr) => {
        runs++;
        tr.set(hotRw, int64(readInt64(await tr.get(hotRw)) + 1));
      },
      { maxAttempts: HOT_MAX_ATTEMPTS },
    ),
  );
  const sqlIncrement = await rate(increments, HOT_CLIENTS, () => db.query('update bench_counter set n = n + 1 where id = 1', [], { prepare: true }));
  const [added, readWritten] = await kv.transact(async (tr) => [readInt64(await tr.get(hot)), readInt64(await tr.get(hotRw))]);
  if (added !== increments || readWritten !== increments) throw new Error(`counters are off: atomic ${added}, read-then-write ${readWritten}, expected ${increments}`);
  results.push({ engine, workload: `hot key from ${HOT_CLIENTS} clients: atomic add`, kvPerSecond: atomic, sqlPerSecond: sqlIncrement, note: '0 retries' });
  results.push({
    engine,
    workload: `hot key from ${HOT_CLIENTS} clients: read-then-write`,
    kvPerSecond: readThenWrite,
    sqlPerSecond: sqlIncrement,
    note: `${(runs / increments).toFixed(1)} runs per increment; atomic add is ${(atomic / readThenWrite).toFixed(1)}x faster`,
  });

  const users = new RecordStore(
    new Subspace(['bench', 'users']),
    defineRecordType({
      name: 'user',
      fields: { id: 'string', email: 'string', city: 'string', age: 'int' },
      primaryKey: ['id'],
      indexes: [
        { name: 'by_email', kind: 'value', fields: ['email'] },
        { name: 'by_city_age', kind: 'value', fields: ['city', 'age'] },
      ],
    }),
  );
  const inserts = count(engine === 'pglite' ? 1_000 : 3_000);
  results.push({
    engine,
    workload: 'record inserts, two indexes',
    kvPerSecond: await rate(inserts, CLIENTS, (i) => kv.transact((tr) => users.insert(tr, { id: `u${i}`, email: `u${i}@example.com`, city: `city${i % 50}`, age: i % 90 }))),
    sqlPerSecond: await rate(inserts, CLIENTS, (i) =>
      db.query('insert into bench_users (id, email, city, age) values ($1, $2, $3, $4)', [`u${i}`, `u${i}@example.com`, `city${i % 50}`, i % 90], { prepare: true }),
    ),
  });
  await kv.close();
}

async function main(): Promise<void> {
  console.log(`@strata/kv bench on ${os.cpus().length} CPU(s), scale ${SCALE}, Node ${process.version}`);
  const cluster = await startCluster();
  try {
    const url = new URL(cluster.url);
    const db = await openDatabase({ url: url.toString(), poolSize: 20 });
    try {
      await benchEngine('postgres', db);
    } finally {
      await db.close();
    }
  } finally {
    await cluster.stop();
  }
  const dir = await freshPgliteDir();
  const pglite = await openDatabase(dir);
  try {
    await benchEngine('pglite', pglite);
  } finally {
    await pglite.close();
  }
  console.log('');
  console.log('| engine | workload | @strata/kv ops/s | plain SQL ops/s | SQL / KV | note |');
  console.log('| --- | --- | ---: | ---: | ---: | --- |');
  for (const row of results) {
    console.log(
      `| ${row.engine} | ${row.workload} | ${row.kvPerSecond.toFixed(0)} | ${row.sqlPerSecond.toFixed(0)} | ${(row.sqlPerSecond / row.kvPerSecond).toFixed(2)} | ${row.note ?? ''} |`,
    );
  }
}

await main();
