// PostgreSQL instances in the benchmarks: the postmaster of a data directory, and the baseline
// every instance-create figure is read against — initdb from scratch, start, first `SELECT 1`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster } from '@strata/postgres';
import type { MachineLoadMonitor } from './machine-load.js';

/** The postmaster's pid of a running cluster (first line of `postmaster.pid`). */
export async function postmasterOf(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

/**
 * One "initdb from scratch": @strata/postgres's startCluster (initdb --no-sync + pg_ctl start -w)
 * with durable settings, then a `SELECT 1` over TCP; returns the ms it took and stops the cluster
 * (untimed). Its server counts as the bench's own CPU in `monitor`.
 *
 * @example
 * const ms = await initdbFromScratchMs(monitor);
 */
export async function initdbFromScratchMs(monitor?: MachineLoadMonitor): Promise<number> {
  const startedAt = performance.now();
  const cluster = await startCluster({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
  const client = new pg.Client(cluster.url);
  await client.connect();
  await client.query('select 1');
  const ms = performance.now() - startedAt;
  monitor?.addRoot(await postmasterOf(cluster.dataDir));
  await client.end();
  await cluster.stop();
  return ms;
}
