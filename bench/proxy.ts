// Strata's Postgres proxy (issue 14) measured on one machine, side by side with PgBouncer:
//
//  1. pgbench throughput and latency — select-only (-S) and TPC-B-like, 1/10/50 clients, -M simple
//     — straight to an instance, through Strata's proxy in session and transaction mode, and
//     through PgBouncer (Debian's) in session and transaction mode; then -M prepared at 10 clients
//     for the transaction poolers;
//  2. wake latency through the proxy: connect → first result of `select 1` when the instance was
//     frozen, and when it was stopped (the agent's power control);
//  3. density: N instances all running, then with the proxy stopping the idle ones and 10 kept busy.
//
//   npm run bench:proxy [-- --seconds 10 --clients 1,10,50 --wake-rounds 30 --density 1000]
//   npm run bench:proxy -- --quick          # a short smoke run through the same code
//   npm run bench:proxy -- --sections pgbench,wake,density
//
// The control plane, the agent and the proxies run in a process of their own (bench/proxy-host.ts);
// this process is their client: it runs pgbench, PgBouncer, the probes and the query loops.

import { mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NodeFiles } from '@strata/agent';
import { ManagedCluster, ensurePostgresInstalled } from '@strata/postgres';
import { resetPlatform } from '@strata/platform';
import { MachineLoadMonitor } from './lib/machine-load.js';
import { gitRevision } from './lib/revision.js';
import { ensurePgBouncerInstalled, pgBouncerVersion, tracksPreparedStatements } from './pgbouncer.js';
import { startHost, type Host } from './proxy-host.js';
import { SCRIPTS, TARGET_LABELS, TARGETS, initPgbench, runCell, sharesServerConnections, warmUp, type CellResult, type PgbenchContext, type Target } from './proxy-pgbench.js';
import { DENSITY_ACTIVE, machineUsedMib, measureDensity, measureWake, type BenchInstance, type DensityResult, type WakeResult } from './proxy-scale-to-zero.js';
import type { InstanceJson } from './lib/platform-process.js';

const SECTIONS = ['pgbench', 'wake', 'density'] as const;
type Section = (typeof SECTIONS)[number];
const PASSWORD = 'bench-password-1';
const USER = 'app';
const DATABASE = 'app';
/** One create that takes this long is stuck, not slow. */
const CREATE_TIMEOUT_MS = 180_000;
/** Creates in flight: twice the agent's jobs at once, so its queue never runs dry. */
const CREATE_CONCURRENCY = 8;
/** The issue's density figure. */
const DENSITY_TARGET = 1_000;
/**
 * What one idle tiny instance takes of the machine, for the density cap: bench:cloud measured
 * 12–13 MiB of MemAvailable per instance; 16 leaves room for the processes around them.
 */
const ESTIMATED_MIB_PER_INSTANCE = 16;
/** Files of one new instance: the template's copy (16 MB of WAL, ~40 MB in all) and a little room. */
const DISK_MIB_PER_INSTANCE = 48;
/** Processes of one idle instance (postmaster and five background processes, bench:cloud), and one to spare. */
const PROCESSES_PER_INSTANCE = 7;
/**
 * The host's agent keeps template copies ready, so a create starts a copy made ahead instead of
 * copying first. No started spares: they would run outside the measured instances (and their
 * memory) and be left for the clean-up to find.
 */
const AGENT_SPARES = 0;
const AGENT_WARM_COPIES = 8;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    clients: { type: 'string' },
    scale: { type: 'string' },
    'pool-size': { type: 'string' },
    'wake-rounds': { type: 'string' },
    density: { type: 'string' },
    'density-minutes': { type: 'string' },
    sections: { type: 'string' },
  },
});
const quick = values.quick;
const wholeNumber = (name: string, text: string | undefined, fallback: number, min: number) => {
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got ${text}`);
  return value;
};
const seconds = wholeNumber('seconds', values.seconds, quick ? 2 : 10, 1);
const warmUpSeconds = quick ? 1 : 3;
const clientCounts = (values.clients ?? '1,10,50').split(',').map((text) => wholeNumber('clients', text, 0, 1));
const scale = wholeNumber('scale', values.scale, 10, 1);
/** Server connections of a transaction pool: PgBouncer's default_pool_size and the proxy's default per-instance limit are both 20. */
const transactionPoolSize = wholeNumber('pool-size', values['pool-size'], 20, 1);
const wakeRounds = wholeNumber('wake-rounds', values['wake-rounds'], quick ? 5 : 30, 1);
const densityWanted = wholeNumber('density', values.density, quick ? 50 : DENSITY_TARGET, DENSITY_ACTIVE + 1);
const densityBudgetMs = wholeNumber('density-minutes', values['density-minutes'], quick ? 5 : 45, 1) * 60_000;
const sections = (values.sections ?? SECTIONS.join(',')).split(',') as Section[];
if (sections.some((section) => !SECTIONS.includes(section))) throw new Error(`--sections is a comma-separated list of ${SECTIONS.join(', ')}`);
const maxClients = Math.max(...clientCounts, 10);
/** Session pools hold one server connection per client: above the most clients of any cell. */
const sessionPoolSize = maxClients + 10;
/** The pgbench instance's flavor: max_connections must take a session pool and the direct runs (medium: 100, large: 200). */
const pgbenchFlavor = sessionPoolSize + 10 <= 100 ? 'medium' : 'large';
if (sessionPoolSize + 10 > 200) throw new Error('--clients above 180 do not fit the largest flavor\'s max_connections (200)');

const startedAt = Date.now();
const root = await mkdtemp(join(os.tmpdir(), 'strata-bench-proxy-'));
await chmod(root, 0o755); // the unprivileged server user passes through to the instances
const nodeRootDir = join(root, 'node');
const workDir = join(root, 'work');
await mkdir(join(workDir, 'logs'), { recursive: true });
await chmod(workDir, 0o755);
const monitor = new MachineLoadMonitor({ ownPaths: [root] });

const pgbench = join(await ensurePostgresInstalled(), 'pgbench');
const bouncerVersion = sections.includes('pgbench') ? await pgBouncerVersion(await ensurePgBouncerInstalled()) : undefined;
let host: Host | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`${signal}: cleaning up (the host, its instances, ${root})\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

/**
 * Stops the host, then destroys every instance it left as the agent's delete does (thawed if
 * frozen, stopped, its files and its cgroups removed), sweeps up any other server under the node's
 * root, and removes the temporary directory.
 */
async function cleanUp(): Promise<void> {
  const complain = (what: string) => (error: unknown) => process.stderr.write(`clean-up, ${what}: ${(error as Error).message}\n`);
  await host?.close().catch(complain('closing the proxy host'));
  const files = new NodeFiles(nodeRootDir);
  const ids = await files.instanceIdsOnDisk().catch(() => [] as string[]);
  let next = 0;
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      await ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(complain(`destroying ${id}`));
    }
  }));
  await resetPlatform(join(root, 'platform'), nodeRootDir).catch(complain('stopping what is left'));
  await rm(root, { recursive: true, force: true });
}


async function api<T>(key: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${host!.apiUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as T;
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Creates an instance (one database and user) through the API and waits until it is ACTIVE with no operation running. */
async function createInstance(key: string, name: string, flavor: string): Promise<BenchInstance> {
  const made = await api<InstanceJson>(key, 'POST', '/v1/instances', { name, flavor, databases: [DATABASE], users: [{ name: USER, password: PASSWORD }] });
  const deadline = Date.now() + CREATE_TIMEOUT_MS;
  for (;;) {
    const instance = await api<InstanceJson>(key, 'GET', `/v1/instances/${made.id}/wait?timeoutMs=60000`);
    if (instance.status === 'ERROR') throw new Error(`instance ${name} (${made.id}) failed: ${instance.error}`);
    if (instance.status === 'ACTIVE' && instance.currentOperation === null && instance.port !== null) return { id: instance.id, host: instance.host ?? '127.0.0.1', port: instance.port };
    if (Date.now() > deadline) throw new Error(`instance ${name} (${made.id}) is still ${instance.status} after ${CREATE_TIMEOUT_MS / 1000} s`);
  }
}

/** Creates failed past this many stop the density run's creates: the host is in trouble, not unlucky. */
const MAX_CREATE_ERRORS = 20;

/** Creates up to `count` instances, CREATE_CONCURRENCY at a time, until done, `budgetMs` is spent or MAX_CREATE_ERRORS failed. */
async function createMany(key: string, prefix: string, count: number, budgetMs: number): Promise<{ instances: BenchInstance[]; elapsedMs: number; outOfTime: boolean; errors: string[] }> {
  const instances: BenchInstance[] = [];
  const errors: string[] = [];
  const began = performance.now();
  let next = 0;
  let outOfTime = false;
  await Promise.all(
    Array.from({ length: Math.min(CREATE_CONCURRENCY, count) }, async () => {
      while (next < count && !interrupted && errors.length < MAX_CREATE_ERRORS) {
        if (performance.now() - began > budgetMs) {
          outOfTime = true;
          return;
        }
        const name = `${prefix}${++next}`;
        try {
          instances.push(await createInstance(key, name, 'tiny'));
          if (instances.length % 50 === 0) process.stderr.write(`  ${instances.length}/${count} instances in ${((performance.now() - began) / 1000).toFixed(0)} s\n`);
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
    }),
  );
  return { instances, elapsedMs: performance.now() - began, outOfTime, errors };
}

/** The most instances this machine takes now: by memory (80 % of MemAvailable), by free process ids and by free disk (80 %). */
function densityCap(): { cap: number; why: string } {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const availableMib = Number(/^MemAvailable:\s+(\d+) kB/m.exec(meminfo)?.[1]) / 1024;
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
  const processes = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]?.split('/')[1] ?? 0);
  const disk = statfsSync(root);
  const freeDiskMib = (disk.bavail * disk.bsize) / 2 ** 20;
  const caps = [
    { cap: Math.floor((0.8 * availableMib) / ESTIMATED_MIB_PER_INSTANCE), why: `memory: ${availableMib.toFixed(0)} MiB available, ~${ESTIMATED_MIB_PER_INSTANCE} MiB per running instance` },
    { cap: Math.floor((pidMax - processes - 2_000) / PROCESSES_PER_INSTANCE), why: `process ids: pid_max ${pidMax}, ~${PROCESSES_PER_INSTANCE} processes per instance` },
    { cap: Math.floor((0.8 * freeDiskMib) / DISK_MIB_PER_INSTANCE), why: `disk: ${(freeDiskMib / 1024).toFixed(0)} GiB free under ${os.tmpdir()}, ~${DISK_MIB_PER_INSTANCE} MiB per instance` },
  ];
  return caps.reduce((a, b) => (a.cap <= b.cap ? a : b));
}

const results: {
  pgbench?: { cells: CellResult[]; transactionPooling: Partial<Record<Target, { shared?: boolean; error?: string }>>; initSeconds: number; instanceFlavor: string; pgbouncerVersion?: string; pgbouncerPreparedStatements?: boolean };
  wake?: { frozen?: WakeResult; stopped?: WakeResult; skipped?: string };
  density?: DensityResult & { requested: number; cappedBy?: string; createSeconds: number; createdPerSecond: number; outOfTime: boolean; createErrors: string[] };
  /** A section that stopped with an error: the rest ran, and what it measured before is kept. */
  errors: Partial<Record<Section, string>>;
} = { errors: {} };

async function pgbenchSection(host: Host, key: string): Promise<void> {
  process.stderr.write(`pgbench: a ${pgbenchFlavor} instance, pgbench -i -s ${scale}\n`);
  const instance = await createInstance(key, 'pgbench', pgbenchFlavor);
  const context: PgbenchContext = { host, pgbench, instance, user: USER, password: PASSWORD, database: DATABASE, workDir, transactionPoolSize, sessionPoolSize, onPgBouncer: (pid) => monitor.addRoot(pid) };
  const initSeconds = await initPgbench(context, scale);
  const transactionPooling: Partial<Record<Target, { shared?: boolean; error?: string }>> = {};
  for (const target of ['strata-transaction', 'pgbouncer-transaction'] as const) transactionPooling[target] = await sharesServerConnections(context, target);
  const cells: CellResult[] = [];
  results.pgbench = { cells, transactionPooling, initSeconds, instanceFlavor: pgbenchFlavor, ...(bouncerVersion ? { pgbouncerVersion: bouncerVersion, pgbouncerPreparedStatements: tracksPreparedStatements(bouncerVersion) } : {}) };
  process.stderr.write(`pgbench: warm-up, ${warmUpSeconds} s per target\n`);
  await warmUp(context, TARGETS, warmUpSeconds, Math.min(10, maxClients));
  let group = 0;
  const runGroup = async (script: (typeof SCRIPTS)[number], protocol: 'simple' | 'prepared', clients: number, targets: readonly Target[]) => {
    // The order of the targets turns from group to group: no target always runs first after the vacuum.
    const turned = targets.map((_, i) => targets[(i + group) % targets.length]!);
    group += 1;
    for (const target of turned) {
      if (interrupted) return;
      process.stderr.write(`pgbench -M ${protocol} ${script} -c ${clients}: ${TARGET_LABELS[target]}\n`);
      const cell = await runCell(context, { script, protocol, clients, target }, seconds);
      if (!cell.ok) process.stderr.write(`  failed: ${cell.error?.split('\n')[0]}\n`);
      cells.push(cell);
    }
  };
  for (const script of SCRIPTS) for (const clients of clientCounts) await runGroup(script, 'simple', clients, TARGETS);
  for (const script of SCRIPTS) await runGroup(script, 'prepared', 10, ['direct', 'strata-transaction', 'pgbouncer-transaction']);
}

async function wakeSection(host: Host, key: string): Promise<void> {
  if (!host.power) {
    results.wake = { skipped: 'the agent has no power control (RunningAgent.power, packages/agent/src/power) yet' };
    return;
  }
  const wake: NonNullable<typeof results.wake> = (results.wake = {});
  for (const tier of ['frozen', 'stopped'] as const) {
    process.stderr.write(`wake: ${wakeRounds} rounds from ${tier}\n`);
    const instance = await createInstance(key, `wake-${tier}`, 'tiny');
    wake[tier] = await measureWake({ host, user: USER, password: PASSWORD, database: DATABASE, nodeRootDir }, instance, tier, wakeRounds);
  }
}

async function densitySection(host: Host, key: string): Promise<void> {
  const { cap, why } = densityCap();
  const count = Math.min(densityWanted, cap);
  if (count < densityWanted) process.stderr.write(`density: ${densityWanted} instances do not fit (${why}): ${count} instead\n`);
  const machineUsedBefore = machineUsedMib();
  process.stderr.write(`density: creating ${count} tiny instances, ${CREATE_CONCURRENCY} creates in flight\n`);
  const created = await createMany(key, 'd', count, densityBudgetMs);
  if (created.outOfTime) process.stderr.write(`density: the ${densityBudgetMs / 60_000}-minute budget ran out after ${created.instances.length} instances\n`);
  process.stderr.write(`density: ${created.instances.length} instances in ${(created.elapsedMs / 1000).toFixed(0)} s; measuring all running, then with the proxy stopping the idle ones\n`);
  const density = await measureDensity({ host, user: USER, password: PASSWORD, database: DATABASE, nodeRootDir }, created.instances, machineUsedBefore, host.power);
  results.density = {
    ...density,
    requested: densityWanted,
    ...(count < densityWanted ? { cappedBy: why } : {}),
    createSeconds: created.elapsedMs / 1000,
    createdPerSecond: created.instances.length / (created.elapsedMs / 1000),
    outOfTime: created.outOfTime,
    createErrors: created.errors,
  };
}

try {
  host = await startHost({ rootDir: nodeRootDir, spares: AGENT_SPARES, warmCopies: AGENT_WARM_COPIES });
  monitor.addRoot(host.pid);
  monitor.addRoot(host.systemPostmasterPid);
  const unlimited = { instances: 1_000_000, storageMb: 1_000_000_000, connections: 1_000_000_000 };
  const { token: key } = await api<{ token: string }>(host.bootstrapKey, 'POST', '/v1/tenants', { name: 'bench', quotas: unlimited });
  const run = { pgbench: pgbenchSection, wake: wakeSection, density: densitySection } satisfies Record<Section, (host: Host, key: string) => Promise<void>>;
  for (const section of SECTIONS) {
    if (!sections.includes(section) || interrupted) continue;
    try {
      await run[section](host, key);
    } catch (error) {
      results.errors[section] = (error as Error).stack ?? String(error);
      process.stderr.write(`${section} failed (the run goes on): ${results.errors[section]}\n`);
    }
  }
} finally {
  if (!interrupted) await cleanUp();
}
const load = monitor.finish();

report();

function report(): void {
  const f = (value: number | undefined, digits = 2) => (value === undefined || !Number.isFinite(value) ? '–' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);
  const failures: string[] = [];
  const cellText = (cell: CellResult | undefined, show: (cell: CellResult) => string) => {
    if (!cell) return '–';
    if (cell.ok) return show(cell);
    failures.push(`${cell.script} -M ${cell.protocol}, ${cell.clients} clients, ${TARGET_LABELS[cell.target]}: ${cell.error}`);
    return `failed [${failures.length}]`;
  };

  console.log(`\nStrata's proxy${bouncerVersion ? ` beside PgBouncer ${bouncerVersion}` : ''} on ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB (${os.cpus()[0]?.model ?? 'unknown CPU'})`);
  console.log(`Machine load: ${load.verdict}${quick ? '  (--quick: a smoke run, not figures to quote)' : ''}`);

  const bench = results.pgbench;
  if (bench) {
    const simple = bench.cells.filter((cell) => cell.protocol === 'simple');
    const find = (cells: readonly CellResult[], script: string, clients: number, target: Target) => cells.find((cell) => cell.script === script && cell.clients === clients && cell.target === target);
    console.log(`\n## pgbench -M simple: TPS (average latency, ms) — scale ${scale}, ${seconds} s per cell, -j min(clients, 2); transaction pools ${transactionPoolSize} server connections, session pools ${sessionPoolSize}`);
    console.log(`| script | clients | ${TARGETS.map((target) => TARGET_LABELS[target]).join(' | ')} | Strata session ÷ direct | Strata session ÷ PgBouncer session | Strata transaction ÷ PgBouncer transaction |`);
    console.log(`|---|---:|${TARGETS.map(() => '---:').join('|')}|---:|---:|---:|`);
    for (const script of SCRIPTS) {
      for (const clients of clientCounts) {
        const row = TARGETS.map((target) => cellText(find(simple, script, clients, target), (cell) => `${f(cell.tps, 0)} (${f(cell.latencyAvgMs, 3)})`));
        const tps = (target: Target) => find(simple, script, clients, target)?.tps;
        console.log(`| ${script} | ${clients} | ${row.join(' | ')} | ${ratio(tps('strata-session'), tps('direct'))} | ${ratio(tps('strata-session'), tps('pgbouncer-session'))} | ${ratio(tps('strata-transaction'), tps('pgbouncer-transaction'))} |`);
      }
    }
    console.log('\n## Latency per transaction p50 / p99 in ms (pgbench -l), and the p50 added vs direct');
    console.log(`| script | clients | ${TARGETS.map((target) => TARGET_LABELS[target]).join(' | ')} |`);
    console.log(`|---|---:|${TARGETS.map(() => '---:').join('|')}|`);
    for (const script of SCRIPTS) {
      for (const clients of clientCounts) {
        const direct = find(simple, script, clients, 'direct')?.p50Ms;
        const row = TARGETS.map((target) => {
          const cell = find(simple, script, clients, target);
          if (!cell?.ok) return cell ? 'failed' : '–';
          const added = target === 'direct' || direct === undefined || cell.p50Ms === undefined ? '' : ` (${cell.p50Ms - direct >= 0 ? '+' : ''}${f(cell.p50Ms - direct, 3)})`;
          return `${f(cell.p50Ms, 3)} / ${f(cell.p99Ms, 3)}${added}`;
        });
        console.log(`| ${script} | ${clients} | ${row.join(' | ')} |`);
      }
    }
    const prepared = bench.cells.filter((cell) => cell.protocol === 'prepared');
    const preparedTargets: Target[] = ['direct', 'strata-transaction', 'pgbouncer-transaction'];
    console.log(`\n## pgbench -M prepared, 10 clients: TPS (average latency, ms) — named prepared statements in transaction mode (PgBouncer ${bouncerVersion}: max_prepared_statements ${bench.pgbouncerPreparedStatements ? 'set' : 'not supported before 1.21, so not set'})`);
    console.log(`| script | ${preparedTargets.map((target) => TARGET_LABELS[target]).join(' | ')} | Strata transaction ÷ PgBouncer transaction |`);
    console.log(`|---|${preparedTargets.map(() => '---:').join('|')}|---:|`);
    for (const script of SCRIPTS) {
      const row = preparedTargets.map((target) => cellText(find(prepared, script, 10, target), (cell) => `${f(cell.tps, 0)} (${f(cell.latencyAvgMs, 3)})`));
      console.log(`| ${script} | ${row.join(' | ')} | ${ratio(find(prepared, script, 10, 'strata-transaction')?.tps, find(prepared, script, 10, 'pgbouncer-transaction')?.tps)} |`);
    }
    const pooling = (target: Target) => {
      const probe = bench.transactionPooling[target];
      return probe?.error ? `could not tell (${probe.error.split('\n')[0]})` : probe?.shared ? 'yes' : 'NO: each client got a server connection of its own';
    };
    console.log(`\nTransaction pooling in effect (a second client reused the idle server backend of the first): Strata ${pooling('strata-transaction')}; PgBouncer ${pooling('pgbouncer-transaction')}`);
    const held = simple.filter((cell) => cell.target === 'strata-transaction' && cell.ok && cell.serverConnectionsMax !== undefined).map((cell) => `${cell.script} ${cell.clients}: ${cell.serverConnectionsMax}`);
    if (held.length > 0) console.log(`Strata transaction mode, most server connections held per cell: ${held.join('; ')}`);
    console.log(`pgbench -i -s ${scale}: ${bench.initSeconds.toFixed(1)} s (${bench.instanceFlavor} instance)`);
  }

  const wake = results.wake;
  if (wake) {
    console.log(`\n## Wake latency: connect → first result of select 1 through the proxy, ms (${wakeRounds} rounds per tier)`);
    if (wake.skipped) console.log(`skipped: ${wake.skipped}`);
    else {
      console.log('| suspended | p50 | p99 | running, through the proxy p50 | running, direct p50 | added by the wake p50 | power control\'s wake p50 / p99 | errors |');
      console.log('|---|---:|---:|---:|---:|---:|---:|---|');
      for (const tier of ['frozen', 'stopped'] as const) {
        const result = wake[tier];
        if (!result) continue;
        const added = result.suspended && result.running ? result.suspended.p50Ms - result.running.p50Ms : undefined;
        console.log(`| ${tier} | ${f(result.suspended?.p50Ms)} | ${f(result.suspended?.p99Ms)} | ${f(result.running?.p50Ms)} | ${f(result.direct?.p50Ms)} | ${f(added)} | ${f(result.powerWake?.p50Ms)} / ${f(result.powerWake?.p99Ms)} | ${result.errors.length === 0 ? 'none' : result.errors.slice(0, 3).join('; ')} |`);
      }
    }
  }

  const density = results.density;
  for (const [section, error] of Object.entries(results.errors)) console.log(`\n${section} stopped with an error (figures above are what it measured before): ${error.split('\n')[0]}`);
  if (density) {
    const n = density.instances;
    console.log(`\n## Density: ${n} tiny instances${density.cappedBy ? ` (asked ${density.requested}; capped by ${density.cappedBy})` : ''}${density.outOfTime ? ' (the creation budget ran out)' : ''}`);
    if (density.createErrors.length > 0) console.log(`${density.createErrors.length} creates failed, first: ${density.createErrors[0]}`);
    console.log(`created through the API in ${density.createSeconds.toFixed(0)} s (${density.createdPerSecond.toFixed(1)}/s, ${CREATE_CONCURRENCY} in flight, the agent keeping ${AGENT_WARM_COPIES} template copies ready)`);
    console.log(`| state | servers running | processes | Σ RSS MiB | Σ PSS MiB | proxy host RSS MiB | machine used MiB (before: ${f(density.machineUsedBeforeMib, 0)}) | machine used − before |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    const line = (label: string, reading: DensityResult['allRunning']) => console.log(`| ${label} | ${reading.running} | ${reading.processes} | ${f(reading.rssMib, 0)} | ${f(reading.pssMib, 0)} | ${f(reading.hostRssMib, 0)} | ${f(reading.machineUsedMib, 0)} | ${f(reading.machineUsedMib - density.machineUsedBeforeMib, 0)} |`);
    line('all running', density.allRunning);
    if (density.suspending) line(`proxy suspending (${density.active} busy, idle ones stopped)`, density.suspending);
    else console.log(`proxy suspending: skipped — ${density.suspendingSkipped}`);
    if (density.suspending) {
      const s = density.suspending;
      console.log(`idle instances stopped ${(s.suspendMs / 1000).toFixed(1)} s after the last was visited; ${s.notSuspended} not stopped; busy instances ran ${s.activeQueries} select 1, p50 ${f(s.activeLatency?.p50Ms, 3)} / p99 ${f(s.activeLatency?.p99Ms, 3)} ms meanwhile; errors: ${s.activeErrors.length} busy, ${s.touchErrors.length} visits, ${s.suspendErrors.length} suspends`);
    }
    if (n < DENSITY_TARGET) {
      // Running servers grow with the instances; stopped ones have no process, so with the proxy suspending only the busy ones' memory stays.
      const perRunning = density.allRunning.pssMib / Math.max(1, density.allRunning.running);
      console.log(`EXTRAPOLATED to ${DENSITY_TARGET} instances (linear, from the ${n} measured): all running ≈ ${f(perRunning * DENSITY_TARGET, 0)} MiB PSS (${f(perRunning)} MiB each)${density.suspending ? `; proxy suspending ≈ ${f(density.suspending.pssMib, 0)} MiB PSS (the ${density.suspending.running} still running; a stopped instance has no process)` : ''}`);
    }
  }

  // The issue's targets beside what was measured.
  console.log('\n## Targets (issue 14)');
  console.log('| target | measured | met |');
  console.log('|---|---|---|');
  const met = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'yes' : 'NO');
  if (bench) {
    const direct = bench.cells.find((cell) => cell.protocol === 'simple' && cell.script === 'select-only' && cell.clients === 1 && cell.target === 'direct');
    const session = bench.cells.find((cell) => cell.protocol === 'simple' && cell.script === 'select-only' && cell.clients === 1 && cell.target === 'strata-session');
    const added = direct?.p50Ms !== undefined && session?.p50Ms !== undefined ? session.p50Ms - direct.p50Ms : undefined;
    console.log(`| session mode adds < 0.1 ms at p50 (select-only, 1 client) | ${added === undefined ? 'not measured' : `+${f(added, 3)} ms (direct ${f(direct?.p50Ms, 3)}, through the proxy ${f(session?.p50Ms, 3)})`} | ${met(added === undefined ? undefined : added < 0.1)} |`);
    const pairs = bench.cells.filter((cell) => cell.target === 'strata-transaction').map((cell) => {
      const bouncer = bench.cells.find((other) => other.target === 'pgbouncer-transaction' && other.script === cell.script && other.clients === cell.clients && other.protocol === cell.protocol);
      return { label: `${cell.script} ${cell.clients}${cell.protocol === 'prepared' ? ' prepared' : ''}`, strata: cell.ok ? cell.tps : undefined, bouncer: bouncer?.ok ? bouncer.tps : undefined };
    });
    const compared = pairs.filter((pair) => pair.strata !== undefined && pair.bouncer !== undefined);
    const worst = compared.length === 0 ? undefined : compared.reduce((a, b) => (a.strata! / a.bouncer! <= b.strata! / b.bouncer! ? a : b));
    const missing = pairs.filter((pair) => pair.strata === undefined).map((pair) => pair.label);
    console.log(`| transaction mode TPS ≥ PgBouncer's (transaction mode, every cell) | ${worst ? `worst ${(worst.strata! / worst.bouncer!).toFixed(2)}× (${worst.label}); ${compared.filter((pair) => pair.strata! >= pair.bouncer!).length} of ${compared.length} cells ≥ 1` : 'no cell of both'}${missing.length > 0 ? `; Strata failed: ${missing.join(', ')}` : ''} | ${met(compared.length === 0 ? undefined : missing.length === 0 && compared.every((pair) => pair.strata! >= pair.bouncer!))} |`);
  }
  for (const [tier, limitMs] of [['stopped', 100], ['frozen', 5]] as const) {
    const result = results.wake?.[tier];
    const p50 = result?.suspended?.p50Ms;
    const added = result?.suspended && result.running ? result.suspended.p50Ms - result.running.p50Ms : undefined;
    // A new connection pays for SCRAM (the client's 4,096 PBKDF2 rounds) and a backend's fork whether or not the instance slept: the wake's share is the difference.
    const measured = p50 === undefined ? (results.wake?.skipped ? `not measured: ${results.wake.skipped}` : 'not measured') : `the wake adds ${f(added)} ms at p50 over a running instance; connect → first result ${f(p50)} ms (running: ${f(result?.running?.p50Ms)} ms)`;
    const verdict = added === undefined || p50 === undefined ? met(undefined) : `${added < limitMs ? 'yes' : 'NO'} (wake's share); end to end ${p50 < limitMs ? 'yes' : 'no'}`;
    console.log(`| wake from ${tier} < ${limitMs} ms p50 | ${measured} | ${verdict} |`);
  }
  if (density) {
    const s = density.suspending;
    console.log(`| ${DENSITY_TARGET} instances on one host, the idle ones suspended | ${density.instances} measured: ${f(density.allRunning.pssMib, 0)} MiB PSS all running${s ? `, ${f(s.pssMib, 0)} MiB with the proxy suspending (${s.running} running)` : ''} | ${density.instances >= DENSITY_TARGET ? (s && s.notSuspended === 0 ? 'yes' : 'partly') : 'extrapolated'} |`);
  }

  if (failures.length > 0) {
    console.log('\nFailed cells (recorded, the run went on):');
    failures.forEach((failure, i) => console.log(`[${i + 1}] ${failure.replaceAll('\n', '\n    ')}`));
  }

  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `proxy-${new Date().toISOString().replaceAll(':', '-')}.json`);
  const settings = { quick, seconds, warmUpSeconds, clients: clientCounts, scale, transactionPoolSize, sessionPoolSize, wakeRounds, density: densityWanted, sections };
  writeFileSync(file, `${JSON.stringify({ revision: gitRevision(), node: process.version, pgbouncer: bouncerVersion, machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryMib: os.totalmem() / 2 ** 20 }, machineLoad: load, settings, wallSeconds: (Date.now() - startedAt) / 1000, ...results }, null, 2)}\n`);
  console.log(`\nRaw figures: ${file} (the run took ${((Date.now() - startedAt) / 60_000).toFixed(1)} min)`);
}
