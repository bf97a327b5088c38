// Profiles one workload of one system: `npm run bench:profile -- <system> <workload> [--scale S]`.
//
// Starts the same durable throwaway cluster as run.ts, runs the child under `node --cpu-prof`,
// prints its metrics, the functions with the most self time, and the process's CPU time against
// its wall time (how much of the run the event loop was busy), plus the database's commit count
// (pg_stat_database.xact_commit) so round trips and commits per workflow can be read off.
// The .cpuprofile stays in bench/results/ for Chrome DevTools or speedscope.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startCluster } from '@strata/testing';
import { RESULT_PREFIX, scaledCounts, type ChildConfig, type SystemName, type WorkloadName } from './lib/protocol.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { scale: { type: 'string', default: '1' }, top: { type: 'string', default: '25' } } });
const [system, workload] = positionals as [SystemName, WorkloadName];
if (!system || !workload) {
  console.error('usage: npm run bench:profile -- <strata|portable|dbos|floor> <workload> [--scale S] [--top N]');
  process.exit(2);
}

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const cluster = await startCluster({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
const dir = join(BENCH_DIR, 'results', `profile-${system}-${workload}-${Date.now()}`);
mkdirSync(dir, { recursive: true });
try {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('create database profiled');
  const url = new URL(cluster.url);
  url.pathname = '/profiled';
  const config: ChildConfig = { url: url.toString(), engine: 'postgres', counts: scaledCounts(Number(values.scale)) };
  const commits = async () => Number((await admin.query<{ n: string }>("select xact_commit as n from pg_stat_database where datname = 'profiled'")).rows[0]!.n);
  const before = await commits();
  const started = performance.now();
  const output = await new Promise<string>((resolve, reject) => {
    const proc = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--conditions=development', '--import', 'tsx', 'child.ts', system, workload, JSON.stringify(config)], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c));
    proc.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}\n${out}`))));
  });
  const wallMs = performance.now() - started;
  // The statistics collector reports with a short delay.
  await new Promise((r) => setTimeout(r, 700));
  const after = await commits();
  await admin.end();
  const metrics = JSON.parse(output.split('\n').find((l) => l.startsWith(RESULT_PREFIX))!.slice(RESULT_PREFIX.length)) as Record<string, number>;
  console.log('metrics:', metrics);
  console.log(`commits in the database: ${after - before} (includes warm-up and setup)`);

  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    total += us;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const where = node.callFrame.url ? `${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(packages|bench)\//, '$1/')}:${node.callFrame.lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  console.log(`\nprofile: ${(total / 1000).toFixed(0)} ms sampled over ${(wallMs / 1000).toFixed(1)} s of wall time; ${(100 * (1 - idle / total)).toFixed(0)}% busy`);
  console.log(`top ${values.top} by self time:`);
  for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }
  console.log(`\n${join(dir, file)}`);
} finally {
  await cluster.stop();
}
