// `npm run bench`: Strata, DBOS Transact and the raw commit floor side by side (issue 4), and
// Strata's portable profile beside its native one.
//
// Starts one throwaway PostgreSQL cluster with default durability (fsync, synchronous_commit and
// full_page_writes on), then runs every workload for every system, three rounds, alternating the
// order of the systems from round to round. The systems are `strata` (the native profile),
// `portable` (the same Strata with `databaseProfile: 'portable'`, on the same PostgreSQL), `dbos`
// and `floor`. Each measurement is a child process of its own (child.ts) on a database of its
// own. Then it runs workloads 1, 2 and 4 for both Strata profiles on embedded PGlite with raw
// PGlite inserts as the floor. Prints one table of medians with the ratios portable/native,
// Strata/DBOS and Strata/floor, and writes every raw figure to bench/results/<time>.json, with
// the machine's load during the run; a run on a busy machine is marked "not for the README".
//
//   npm run bench                                   the full run (about 45 minutes on 2 cores)
//   npm run bench -- --rounds 1 --scale 0.1         a quick look with the same code paths
//   npm run bench -- --systems strata,floor         leave DBOS and the portable profile out
//   npm run bench -- --systems strata,portable,floor  the portable profile against native, without DBOS
//   npm run bench -- --workloads queue,messages     some workloads only
//   npm run bench -- --portable-workloads queue     the portable profile on some workloads only (default: all of Strata's)
//   npm run bench -- --no-pglite                    skip workload 8
//   npm run bench -- --out DIR                      write the JSON there instead of bench/results
//   npm run bench -- --park-budget-ms N             recovery: how long parking may take once the child is ready (default 15 s)
//   npm run bench -- --warm-up N                    sequential warm-up runs per child (default 500, WARM_UP); fewer only for a smoke run
//   npm run bench -- --reuse-initdb                 PGlite: Strata's children open copies of one initdb'd directory (a smoke run)
//   npm run bench -- --child-timeout-s N            fail a child that has not ended after N s (default 1200), instead of waiting for ever
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freshPgliteDatabase, freshPgliteDir, startCluster } from '@strata/testing';
import { withDatabase } from './lib/databases.js';
import { gitRevision } from './lib/revision.js';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { sleep } from './lib/measure.js';
import {
  PARKED_PREFIX,
  PROFILE_OF,
  PROFILE_PREFIX,
  RESULT_PREFIX,
  WARM_UP,
  scaledCounts,
  type ChildConfig,
  type Counts,
  type Metrics,
  type ProfileReport,
  type SystemName,
  type WorkloadName,
} from './lib/protocol.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT_DIR = join(BENCH_DIR, '..');

/** The issue's durability settings; the rest are PostgreSQL's defaults (the harness's test shortcuts are overridden). */
const DURABLE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } as const;
const REPORTED_SETTINGS = ['server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'commit_delay', 'shared_buffers', 'max_connections', 'wal_level'];

type Workload = 'sequential' | 'throughput' | 'transactions' | 'queue' | 'messages' | 'recovery' | 'floor';
const WORKLOADS: readonly Workload[] = ['floor', 'sequential', 'throughput', 'transactions', 'queue', 'messages', 'recovery'];
/** The systems each workload runs on (the floor has only itself). */
const SYSTEMS_OF: Record<Workload, readonly SystemName[]> = {
  floor: ['floor'],
  sequential: ['strata', 'portable', 'dbos'],
  throughput: ['strata', 'portable', 'dbos'],
  transactions: ['strata', 'portable', 'dbos'],
  queue: ['strata', 'portable', 'dbos'],
  messages: ['strata', 'portable', 'dbos'],
  recovery: ['strata', 'portable', 'dbos'],
};
const ALL_SYSTEMS: readonly SystemName[] = ['strata', 'portable', 'dbos', 'floor'];
const PGLITE_WORKLOADS: readonly Workload[] = ['floor', 'sequential', 'throughput', 'queue'];

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    scale: { type: 'string', default: '1' },
    systems: { type: 'string', default: ALL_SYSTEMS.join(',') },
    workloads: { type: 'string', default: WORKLOADS.join(',') },
    'portable-workloads': { type: 'string' },
    'no-pglite': { type: 'boolean', default: false },
    'park-budget-ms': { type: 'string', default: '15000' },
    'warm-up': { type: 'string', default: String(WARM_UP) },
    'reuse-initdb': { type: 'boolean', default: false },
    'child-timeout-s': { type: 'string', default: '1200' },
    out: { type: 'string', default: join(BENCH_DIR, 'results') },
  },
});

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a whole number ≥ 1, got "${args.rounds}"`);
const scale = Number(args.scale);
if (!(scale > 0 && scale <= 1)) fail(`--scale must be in (0, 1], got "${args.scale}"`);
const parkBudgetMs = Number(args['park-budget-ms']);
if (!(parkBudgetMs >= 1000)) fail(`--park-budget-ms must be ≥ 1000, got "${args['park-budget-ms']}"`);
const childTimeoutMs = Number(args['child-timeout-s']) * 1000;
if (!(childTimeoutMs >= 10_000)) fail(`--child-timeout-s must be ≥ 10, got "${args['child-timeout-s']}"`);
const warmUp = Number(args['warm-up']);
if (!Number.isInteger(warmUp) || warmUp < 1) fail(`--warm-up must be a whole number ≥ 1, got "${args['warm-up']}"`);
const systems = new Set(args.systems!.split(',').map((s) => s.trim()));
for (const s of systems) if (!(ALL_SYSTEMS as readonly string[]).includes(s)) fail(`unknown system "${s}"; use ${ALL_SYSTEMS.join(', ')}`);
const workloads = args.workloads!.split(',').map((s) => s.trim()) as Workload[];
for (const w of workloads) if (!WORKLOADS.includes(w)) fail(`unknown workload "${w}"; use ${WORKLOADS.join(', ')}`);
/** The workloads the portable system runs (of those asked for): all of Strata's unless --portable-workloads narrows them. */
const STRATA_WORKLOADS: readonly Workload[] = WORKLOADS.filter((w) => w !== 'floor');
const portableWorkloads = args['portable-workloads'] === undefined ? STRATA_WORKLOADS : (args['portable-workloads'].split(',').map((s) => s.trim()) as Workload[]);
for (const w of portableWorkloads) if (!STRATA_WORKLOADS.includes(w)) fail(`unknown workload "${w}" for --portable-workloads; use ${STRATA_WORKLOADS.join(', ')}`);
const counts: Counts = scaledCounts(scale);

interface Measurement {
  readonly system: SystemName;
  readonly engine: 'postgres' | 'pglite';
  readonly workload: Workload;
  readonly round: number;
  readonly metrics: Metrics;
  readonly wallMs: number;
  /** Strata's systems: the profile the child's system database ran with, as it reported it. */
  readonly profile?: ProfileReport;
}
const measurements: Measurement[] = [];
const log: string[] = [];

/** What a child reported: its metrics (none when it was killed on purpose) and, for Strata's systems, its profile. */
interface ChildReport {
  readonly metrics?: Metrics;
  readonly killed: boolean;
  readonly profile?: ProfileReport;
}

/**
 * Runs child.ts; resolves with its metrics and profile. `onLine` sees each stdout line (recovery's
 * PARKED). A Strata child that did not report the profile of its system (PROFILE_OF) fails, and so
 * does one still running after --child-timeout-s (killed; its stderr holds the engine's warnings).
 */
function child(system: SystemName, workload: WorkloadName, config: ChildConfig, onLine?: (line: string, kill: () => void) => void): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', 'child.ts', system, workload, JSON.stringify(config)], {
      cwd: BENCH_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let result: Metrics | undefined;
    let profile: ProfileReport | undefined;
    let killed = false;
    let timedOut = false;
    let pending = '';
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, childTimeoutMs);
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as Metrics;
        if (line.startsWith(PROFILE_PREFIX)) profile = JSON.parse(line.slice(PROFILE_PREFIX.length)) as ProfileReport;
        onLine?.(line, () => {
          killed = true;
          proc.kill('SIGKILL');
        });
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    proc.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        log.push(`--- ${system} ${workload} (${config.engine}) killed after ${childTimeoutMs / 1000} s\n${stderr}`);
        reject(new Error(`${system} ${workload} on ${config.engine} had not ended after ${childTimeoutMs / 1000} s (--child-timeout-s); killed:\n${stderr.slice(-4000)}${stdout.slice(-2000)}`));
        return;
      }
      log.push(`--- ${system} ${workload} (${config.engine}) exit ${code ?? signal}${profile ? ` profile ${profile.name} (notifications ${profile.notificationMode})` : ''}\n${stderr}`);
      const expected = PROFILE_OF[system];
      const ended = (killed && signal === 'SIGKILL') || (code === 0 && result);
      if (ended && expected !== undefined && profile?.name !== expected) {
        reject(new Error(`${system} ${workload} on ${config.engine} must run the ${expected} profile; it reported ${profile ? `${profile.name} (notifications ${profile.notificationMode})` : 'none'}:\n${stdout.slice(-2000)}`));
      } else if (killed && signal === 'SIGKILL') resolve({ killed: true, ...(profile ? { profile } : {}) });
      else if (code === 0 && result) resolve({ killed: false, metrics: result, ...(profile ? { profile } : {}) });
      else reject(new Error(`${system} ${workload} on ${config.engine} failed (exit ${code ?? signal}):\n${stderr.slice(-4000)}${stdout.slice(-2000)}`));
    });
  });
}

async function measure(system: SystemName, engine: 'postgres' | 'pglite', workload: Workload, round: number, url: string): Promise<void> {
  const started = performance.now();
  let report: ChildReport;
  if (workload === 'recovery') {
    // Park every workflow in a sleep that ends at wakeAt (the child's choice: parkBudgetMs after it
    // is ready), SIGKILL the process, wait until wakeAt, then time a new process from launch to all finished.
    let wakeAt: number | undefined;
    const parked = await child(system, 'recovery-park', { url, engine, counts, parkBudgetMs, warmUp }, (line, kill) => {
      if (!line.startsWith(PARKED_PREFIX)) return;
      wakeAt = (JSON.parse(line.slice(PARKED_PREFIX.length)) as { wakeAt: number }).wakeAt;
      kill();
    });
    if (!parked.killed || wakeAt === undefined) throw new Error(`${system} recovery-park ended without being killed`);
    await sleep(Math.max(0, wakeAt - Date.now()) + 100);
    report = await child(system, 'recovery-resume', { url, engine, counts, warmUp });
  } else {
    report = await child(system, workload === 'floor' ? 'floor' : workload, { url, engine, counts, warmUp });
  }
  const wallMs = performance.now() - started;
  const metrics = report.metrics!;
  measurements.push({ system, engine, workload, round, metrics, wallMs, ...(report.profile ? { profile: report.profile } : {}) });
  const shown = Object.entries(metrics).map(([k, v]) => `${k}=${format(v)}`).join(' ');
  console.error(`  round ${round} ${engine.padEnd(8)} ${system.padEnd(8)} ${workload.padEnd(12)} ${(wallMs / 1000).toFixed(1).padStart(6)} s  ${shown}`);
}

/**
 * An empty directory for a PGlite child: its open runs initdb, as an app's first start does. With
 * --reuse-initdb, Strata's children (both profiles) get a copy of one directory initdb'd once
 * instead: initdb is seconds of WebAssembly per child and not measured, which only a smoke run
 * needs to save (the floor opens raw PGlite, whose directory layout is not Strata's, and keeps its
 * own initdb).
 */
function pgliteDirFor(system: SystemName): Promise<string> {
  return args['reuse-initdb'] && (system === 'strata' || system === 'portable') ? freshPgliteDatabase() : freshPgliteDir();
}

function format(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}

/** The systems of `workload` that were asked for, in the order of this round (alternating). */
function order(workload: Workload, round: number): SystemName[] {
  const list = SYSTEMS_OF[workload].filter((s) => systems.has(s) && (s !== 'portable' || portableWorkloads.includes(workload)));
  return round % 2 === 1 ? list : [...list].reverse();
}

// ---------------------------------------------------------------------------------------------
// The table: which metrics to show, their units, which direction is better, and the floor they
// are compared with.
interface Row {
  readonly workload: Workload;
  readonly label: string;
  readonly metric: string;
  readonly unit: 'ms' | '/s';
  /** The floor metric this row is divided by (Strata/floor). */
  readonly floor?: string;
}
function rows(engine: 'postgres' | 'pglite'): Row[] {
  const list: Row[] = [
    { workload: 'floor', label: '7. raw INSERT commit, sequential p50', metric: 'floor.seq.p50', unit: 'ms' },
    { workload: 'floor', label: '7. raw INSERT commit, sequential p99', metric: 'floor.seq.p99', unit: 'ms' },
    { workload: 'floor', label: `7. raw INSERT commits/s, ${counts.floorWidth} connections`, metric: 'floor.par.cps', unit: '/s' },
    { workload: 'sequential', label: '1. 0-step workflow p50', metric: 'seq.wf0.p50', unit: 'ms', floor: 'floor.seq.p50' },
    { workload: 'sequential', label: '1. 0-step workflow p99', metric: 'seq.wf0.p99', unit: 'ms', floor: 'floor.seq.p99' },
    { workload: 'sequential', label: '1. 3-step workflow p50', metric: 'seq.wf3.p50', unit: 'ms' },
    { workload: 'sequential', label: '1. 3-step workflow p99', metric: 'seq.wf3.p99', unit: 'ms' },
    { workload: 'sequential', label: '1. per step p50', metric: 'seq.step.p50', unit: 'ms', floor: 'floor.seq.p50' },
    { workload: 'sequential', label: '1. per step p99', metric: 'seq.step.p99', unit: 'ms', floor: 'floor.seq.p99' },
  ];
  for (const width of counts.widths) {
    list.push(
      { workload: 'throughput', label: `2. 3-step workflows/s, ${width} in flight`, metric: `tput.${width}.wfps`, unit: '/s' },
      { workload: 'throughput', label: `2. steps/s, ${width} in flight`, metric: `tput.${width}.stepsps`, unit: '/s', floor: engine === 'postgres' ? 'floor.par.cps' : 'floor.seq.cps' },
      { workload: 'throughput', label: `2. workflow latency p50, ${width} in flight`, metric: `tput.${width}.p50`, unit: 'ms' },
      { workload: 'throughput', label: `2. workflow latency p99, ${width} in flight`, metric: `tput.${width}.p99`, unit: 'ms' },
    );
  }
  list.push(
    { workload: 'transactions', label: '3. transaction step p50 (sequential)', metric: 'tx.p50', unit: 'ms', floor: 'floor.seq.p50' },
    { workload: 'transactions', label: '3. transaction step p99 (sequential)', metric: 'tx.p99', unit: 'ms', floor: 'floor.seq.p99' },
    { workload: 'transactions', label: '3. transaction rows/s, 64 in flight', metric: 'tx.rowsps', unit: '/s', floor: 'floor.par.cps' },
    { workload: 'queue', label: `4. queue drain, ${counts.drain} workflows, concurrency ${counts.queueConcurrency}`, metric: 'queue.drain.wfps', unit: '/s' },
    { workload: 'queue', label: '4. queue drain time', metric: 'queue.drain.ms', unit: 'ms' },
    { workload: 'queue', label: '4. idle-queue start latency p50', metric: 'queue.idle.p50', unit: 'ms' },
    { workload: 'queue', label: '4. idle-queue start latency p99', metric: 'queue.idle.p99', unit: 'ms' },
    { workload: 'queue', label: '4. idle-queue start, enqueued by a client p50', metric: 'queue.client.p50', unit: 'ms' },
    { workload: 'queue', label: '4. idle-queue start, enqueued by a client p99', metric: 'queue.client.p99', unit: 'ms' },
    { workload: 'messages', label: '5. send/recv round trip p50', metric: 'msg.p50', unit: 'ms' },
    { workload: 'messages', label: '5. send/recv round trip p99', metric: 'msg.p99', unit: 'ms' },
    { workload: 'recovery', label: `6. recovery of ${counts.recovery} sleeping workflows`, metric: 'recovery.ms', unit: 'ms' },
    { workload: 'recovery', label: '6. of which launch()', metric: 'recovery.launch.ms', unit: 'ms' },
  );
  return list.filter((r) => (engine === 'postgres' || PGLITE_WORKLOADS.includes(r.workload)) && (engine === 'postgres' || r.metric !== 'floor.par.cps'));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median over rounds of `metric` for `system` on `engine`, or undefined when not measured. */
function med(engine: 'postgres' | 'pglite', system: SystemName, metric: string): number | undefined {
  const values = measurements.filter((m) => m.engine === engine && m.system === system && metric in m.metrics).map((m) => m.metrics[metric]!);
  return values.length > 0 ? median(values) : undefined;
}

/** "0.21 (4.8× better)": the ratio, and how many times better the first (Strata, or portable against native) is (or worse). */
function ratio(strata: number | undefined, other: number | undefined, unit: 'ms' | '/s'): string {
  if (strata === undefined || other === undefined || other === 0 || strata === 0) return '';
  const r = strata / other;
  const better = unit === 'ms' ? 1 / r : r;
  return `${r < 0.1 ? r.toPrecision(2) : r.toFixed(2)} (${better >= 1 ? `${better.toFixed(1)}× better` : `${(1 / better).toFixed(1)}× worse`})`;
}

/** Whether `system` was measured on `engine` in this run. */
function measured(engine: 'postgres' | 'pglite', system: SystemName): boolean {
  return measurements.some((m) => m.engine === engine && m.system === system);
}

function table(engine: 'postgres' | 'pglite'): { lines: string[]; rows: Array<Record<string, unknown>> } {
  // DBOS has no embedded engine: the PGlite table compares Strata with the floor only. Columns of
  // a system that was not asked for (--systems) are left out.
  const withDbos = engine === 'postgres' && systems.has('dbos');
  // The portable profile beside the native one (the Strata column), when it ran.
  const withPortable = measured(engine, 'portable');
  const header = ['workload', 'unit', 'Strata', ...(withPortable ? ['portable', 'portable/native'] : []), ...(withDbos ? ['DBOS', 'Strata/DBOS'] : []), 'floor', 'Strata/floor'];
  const body: string[][] = [];
  const json: Array<Record<string, unknown>> = [];
  for (const row of rows(engine)) {
    const isFloor = row.workload === 'floor';
    const strata = isFloor ? med(engine, 'floor', row.metric) : med(engine, 'strata', row.metric);
    const portable = isFloor || !withPortable ? undefined : med(engine, 'portable', row.metric);
    const dbos = isFloor || !withDbos ? undefined : med(engine, 'dbos', row.metric);
    const floor = row.floor ? med(engine, 'floor', row.floor) : undefined;
    if (strata === undefined && portable === undefined && dbos === undefined) continue;
    json.push({
      engine,
      label: row.label,
      metric: row.metric,
      unit: row.unit,
      strata: isFloor ? undefined : strata,
      portable,
      portableOverNative: portable !== undefined && strata !== undefined && strata !== 0 ? portable / strata : undefined,
      dbos,
      floor: isFloor ? strata : floor,
    });
    body.push([
      row.label,
      row.unit,
      isFloor ? '' : strata === undefined ? '–' : format(strata),
      ...(withPortable ? [isFloor ? '' : portable === undefined ? '–' : format(portable), isFloor ? '' : ratio(portable, strata, row.unit)] : []),
      ...(withDbos ? [dbos === undefined ? (isFloor ? '' : '–') : format(dbos), isFloor ? '' : ratio(strata, dbos, row.unit)] : []),
      isFloor ? format(strata!) : floor === undefined ? '' : format(floor),
      isFloor ? '' : ratio(strata, floor, row.unit),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return {
    lines: [line(header), `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...body.map(line)],
    rows: json,
  };
}

// ---------------------------------------------------------------------------------------------
const startedAt = new Date();
// From before the cluster starts to after the last child: other processes' CPU time is the noise.
const machineLoadMonitor = new MachineLoadMonitor();
console.error(`bench: ${rounds} round(s) at scale ${scale}; systems ${[...systems].join(', ')}; workloads ${workloads.join(', ')}`);
const cluster = await startCluster({ settings: DURABLE });
let settings: Record<string, string> = {};
try {
  // The server's processes are the bench's own, not load from others.
  machineLoadMonitor.addRoot(Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]));
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  const { rows: found } = await admin.query<{ name: string; setting: string; unit: string | null }>(
    'select name, setting, unit from pg_settings where name = any($1)',
    [REPORTED_SETTINGS],
  );
  settings = Object.fromEntries(found.map((r) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting]));
  await admin.end();
  for (const name of Object.keys(DURABLE)) {
    if (settings[name] !== 'on') throw new Error(`the benchmark cluster has ${name}=${settings[name]}; it must be on`);
  }

  let n = 0;
  for (let round = 1; round <= rounds; round++) {
    console.error(`round ${round} of ${rounds} (PostgreSQL)`);
    for (const workload of workloads) {
      for (const system of order(workload, round)) {
        await withDatabase(cluster, `bench_${system}_${workload}_${round}_${n++}`, (url) => measure(system, 'postgres', workload, round, url));
      }
    }
  }
} finally {
  await cluster.stop();
}

if (!args['no-pglite']) {
  for (let round = 1; round <= rounds; round++) {
    console.error(`round ${round} of ${rounds} (PGlite)`);
    for (const workload of workloads.filter((w) => PGLITE_WORKLOADS.includes(w))) {
      for (const system of order(workload, round).filter((s) => s !== 'dbos')) {
        await measure(system, 'pglite', workload, round, await pgliteDirFor(system));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
const machineLoad = machineLoadMonitor.finish();
const packageVersion = (path: string) => (JSON.parse(readFileSync(join(ROOT_DIR, 'node_modules', path, 'package.json'), 'utf8')) as { version: string }).version;
const versions = {
  node: process.version,
  postgres: settings.server_version,
  '@dbos-inc/dbos-sdk': packageVersion('@dbos-inc/dbos-sdk'),
  '@electric-sql/pglite': packageVersion('@electric-sql/pglite'),
  pg: packageVersion('pg'),
  strata: gitRevision(),
};
const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.release()}` };

const pgTable = table('postgres');
const pgliteTable = args['no-pglite'] ? undefined : table('pglite');
const withPortable = systems.has('portable');
const title = [withPortable ? 'Strata (native and portable profiles)' : 'Strata', ...(systems.has('dbos') ? ['DBOS Transact'] : []), 'the raw commit floor'].join(' vs ');
const out: string[] = [];
out.push('', `${title}: medians of ${rounds} round(s), scale ${scale}${warmUp === WARM_UP ? '' : `, warm-up ${warmUp} (not ${WARM_UP}: a smoke run)`}`);
out.push(`${machine.cores} cores (${machine.cpu}), Node ${versions.node}, PostgreSQL ${versions.postgres} with ${Object.entries(DURABLE).map(([k, v]) => `${k}=${v}`).join(', ')}${systems.has('dbos') ? `; DBOS Transact ${versions['@dbos-inc/dbos-sdk']} at its defaults` : ''}; Strata ${versions.strata}`);
out.push('Strata/X is Strata divided by X: below 1 is better for ms, above 1 for /s; "better" says by how much.');
if (withPortable) {
  out.push(
    "Strata is the native profile; portable is the same Strata with databaseProfile: 'portable' on the same engine (notifications polled from a table,",
    'queue claims without SKIP LOCKED, every transaction SERIALIZABLE, lease rows for locks); portable/native is portable divided by Strata, read the same way.',
  );
}
const loadAverages = (values: readonly number[]) => values.map((v) => v.toFixed(2)).join('/');
out.push(`Machine load: ${machineLoad.verdict}; load average ${loadAverages(machineLoad.loadAverageBefore)} before, ${loadAverages(machineLoad.loadAverageAfter)} after.`, '');
// A table measured on a busy machine must not be pasted into the README as if it were quiet.
const busyMark = machineLoad.busy ? ' — MACHINE BUSY during the run: not for the README' : '';
out.push(`PostgreSQL${busyMark}`, ...pgTable.lines);
if (pgliteTable) out.push('', `Embedded PGlite ${versions['@electric-sql/pglite']} (Strata only${withPortable ? ', both profiles' : ''}; the floor is raw PGlite inserts)${busyMark}`, ...pgliteTable.lines);
if (machineLoad.busy) out.push('', `${machineLoad.verdict}. Run again on an idle machine for the README's table.`);
console.log(out.join('\n'));

const resultsDir = args.out!;
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      rounds,
      scale,
      systems: [...systems],
      portableWorkloads: systems.has('portable') ? portableWorkloads.filter((w) => workloads.includes(w)) : [],
      warmUp,
      reuseInitdb: args['reuse-initdb'],
      childTimeoutS: childTimeoutMs / 1000,
      counts,
      machine,
      machineLoad,
      versions,
      postgresSettings: settings,
      table: [...pgTable.rows, ...(pgliteTable?.rows ?? [])],
      measurements,
      childLogs: log,
    },
    null,
    2,
  ),
);
console.log(`\nraw figures: ${file}`);
