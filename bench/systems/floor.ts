// The raw floor (workload 7, and its PGlite form for workload 8): single-row INSERT transactions
// with the plain drivers, no library in between. Each autocommit INSERT is one durable commit.
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { inFlight, p50p99, timeEach } from '../lib/measure.js';
import { WARM_UP, type ChildConfig, type Metrics, type WorkloadName } from '../lib/protocol.js';

const CREATE = 'create table if not exists bench_floor (id bigserial primary key, v text not null)';
const INSERT = 'insert into bench_floor (v) values ($1)';

export async function run(workload: WorkloadName, config: ChildConfig): Promise<Metrics> {
  if (workload !== 'floor') throw new Error(`the floor runs only the "floor" workload, not "${workload}"`);
  return config.engine === 'pglite' ? pglite(config) : postgres(config);
}

async function postgres({ url, counts, warmUp }: ChildConfig): Promise<Metrics> {
  const one = new pg.Client({ connectionString: url });
  await one.connect();
  await one.query(CREATE);
  // A named statement: parsed and planned once, as the libraries' prepared statements are.
  const insert = (client: pg.Client | pg.PoolClient | pg.Pool, i: number) => client.query({ name: 'floor-insert', text: INSERT, values: [`row ${i}`] });
  await timeEach(warmUp ?? WARM_UP, (i) => insert(one, i));
  const samples = await timeEach(counts.floor, (i) => insert(one, i));
  const metrics: Metrics = { ...p50p99('floor.seq', samples), 'floor.seq.cps': counts.floor / (samples.reduce((a, b) => a + b, 0) / 1000) };
  await one.end();

  // One connection per in-flight insert: the database's own group commit is all that is shared.
  const pool = new pg.Pool({ connectionString: url, max: counts.floorWidth });
  await Promise.all(Array.from({ length: counts.floorWidth }, (_, i) => insert(pool, i)));
  const { wallMs } = await inFlight(counts.floor, counts.floorWidth, (i) => insert(pool, i));
  metrics['floor.par.cps'] = counts.floor / (wallMs / 1000);
  await pool.end();
  return metrics;
}

async function pglite({ url, counts, warmUp }: ChildConfig): Promise<Metrics> {
  const db = await PGlite.create(url);
  await db.query(CREATE);
  await timeEach(warmUp ?? WARM_UP, (i) => db.query(INSERT, [`row ${i}`]));
  const samples = await timeEach(counts.floor, (i) => db.query(INSERT, [`row ${i}`]));
  await db.close();
  return { ...p50p99('floor.seq', samples), 'floor.seq.cps': counts.floor / (samples.reduce((a, b) => a + b, 0) / 1000) };
}
