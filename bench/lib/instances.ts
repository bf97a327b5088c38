// PostgreSQL instances in the benchmarks: the postmaster of a data directory, and the baseline
// every instance-create figure is read against — initdb from scratch, start, first `SELECT 1`.
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster } from '@strata/postgres';
import type { MachineLoadMonitor } from './machine-load.js';

/** The postmaster's pid of a running cluster (first line of `postmaster.pid`). */
export async function postmasterOf(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

/** Every process's children by parent pid, read in one /proc walk (for the memory of many instances at once). */
export function childrenByPid(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/**
 * A `<name>: <n> kB` field of a /proc file in KiB (e.g. `Pss` of smaps_rollup, `VmRSS` of status), 0 when the process is gone.
 *
 * @example
 * kibField(`/proc/${pid}/smaps_rollup`, 'Pss');
 */
export function kibField(file: string, name: string): number {
  try {
    return Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
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
