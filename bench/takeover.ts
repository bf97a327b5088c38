// `npm run bench:takeover`: how often live executors are falsely taken over when their heartbeats
// are starved, on an idle machine and under a CPU hog, for several heartbeat settings.
//
// Starts one throwaway PostgreSQL cluster (fsync and synchronous_commit on). For each condition
// (idle; a CPU hog: one busy-looping node process per core) and each (heartbeatIntervalMs,
// executorTimeoutMs), it creates a fresh database and runs three executor processes
// (takeover-worker.ts, distinct executor IDs) for a fixed time, each keeping 32 workflows in
// flight: three quick steps, some with a CPU-bound step of 50–200 ms, now and then a 20 MB step
// output whose serialization blocks the event loop. Nothing is ever killed, so every takeover is
// a false one. Measured per run:
//   - workflows/s finished within the window;
//   - heartbeat lapses: an executor's own "missed its heartbeats" (logger.error);
//   - takeovers: survivors' "stopped heartbeating; taking over N" (logger.info), and the rows with
//     recovery_attempts > 0 in strata.workflows, per 1,000 workflows;
//   - fenced executions: "is not finished here" (logger.warn), a stale execution refused with
//     WorkflowTakenOverError;
//   - the largest heartbeat gap per executor (strata.executors.heartbeat_at sampled every 100 ms)
//     and the largest event-loop delay each executor saw;
//   - invariants after a drain: every workflow SUCCESS, and every workflow's transaction effect
//     (a row in bench_effects) committed exactly once.
// Prints a table and writes every raw figure to bench/results/takeover-<time>.json (gitignored).
// Exits 1 when an invariant is violated.
//
//   npm run bench:takeover                                  6 runs of 60 s (about 10 minutes)
//   npm run bench:takeover -- --duration-s 20               shorter runs
//   npm run bench:takeover -- --conditions hog --configs 200/1000
//   npm run bench:takeover -- --big-mb 0                    no large values
//   (also --executors N, --in-flight N, --drain-s N, --seed N, --out DIR)
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startCluster } from '@strata/testing';
import { withDatabase } from './lib/databases.js';
import { gitRevision } from './lib/revision.js';
import type { RunnerMessage, WorkerConfig, WorkerMessage, WorkerReport } from './takeover-worker.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

/** The run's durability: the other benchmarks' (a heartbeat is a commit, so fsync is part of its cost). */
const DURABLE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } as const;
/** How often the runner reads strata.executors.heartbeat_at: well under the shortest heartbeat interval measured. */
const SAMPLE_INTERVAL_MS = 100;
/** Workers load tsx and launch an engine (migrations on a fresh database); on a loaded machine that takes a while. */
const READY_TIMEOUT_MS = 120_000;
/** Past the run's duration and drain, what a worker may take to report it drained or to shut down and report. */
const STRAGGLER_TIMEOUT_MS = 60_000;
/** Kept tail of a worker's stderr, for the error when it fails. */
const STDERR_TAIL_CHARS = 8_000;
/** Mix of workflows (see takeover-worker.ts): the issue's CPU-bound steps and large values, on top of quick steps. */
const CPU_SHARE = 0.1;
const CPU_MIN_MS = 50;
const CPU_MAX_MS = 200;
/** One workflow in 200 writes a large value: a few per second over three executors, enough to block loops, not to fill the disk. */
const BIG_SHARE = 1 / 200;
/** Bounds of the command line, so a typo cannot start a day-long run or a thousand processes. */
const MAX_DURATION_S = 3_600;
const MAX_DRAIN_S = 600;
const MAX_EXECUTORS = 8;
const MAX_IN_FLIGHT = 256;
/** jsonb holds at most 256 MiB; the engine's maxValueBytes tops out there too. */
const MAX_BIG_MB = 200;

type Condition = 'idle' | 'hog';
interface HeartbeatConfig {
  readonly heartbeatIntervalMs: number;
  readonly executorTimeoutMs: number;
}

const { values: args } = parseArgs({
  options: {
    'duration-s': { type: 'string', default: '60' },
    'drain-s': { type: 'string', default: '60' },
    conditions: { type: 'string', default: 'idle,hog' },
    configs: { type: 'string', default: '1000/10000,200/3000,200/1000' },
    executors: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '32' },
    'big-mb': { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: join(BENCH_DIR, 'results') },
  },
});

function fail(message: string): never {
  console.error(`bench:takeover: ${message}`);
  process.exit(2);
}
function wholeNumber(name: string, min: number, max: number): number {
  const value = Number(args[name as keyof typeof args]);
  if (!Number.isInteger(value) || value < min || value > max) fail(`--${name} must be a whole number from ${min} to ${max}, got "${String(args[name as keyof typeof args])}"`);
  return value;
}
const durationS = wholeNumber('duration-s', 5, MAX_DURATION_S);
const drainS = wholeNumber('drain-s', 5, MAX_DRAIN_S);
const executors = wholeNumber('executors', 2, MAX_EXECUTORS);
const inFlight = wholeNumber('in-flight', 1, MAX_IN_FLIGHT);
const bigMb = wholeNumber('big-mb', 0, MAX_BIG_MB);
const seed = wholeNumber('seed', 0, 0xffff_ffff);
const conditions = args.conditions!.split(',').map((s) => s.trim()) as Condition[];
for (const c of conditions) if (c !== 'idle' && c !== 'hog') fail(`unknown condition "${c}"; use idle, hog`);
const configs: HeartbeatConfig[] = args.configs!.split(',').map((pair) => {
  const [interval, timeout] = pair.split('/').map(Number);
  if (!Number.isInteger(interval) || !Number.isInteger(timeout) || interval! < 10 || timeout! <= interval!) {
    fail(`--configs takes heartbeatIntervalMs/executorTimeoutMs pairs (interval ≥ 10, timeout above it), got "${pair}"`);
  }
  return { heartbeatIntervalMs: interval!, executorTimeoutMs: timeout! };
});

// ---------------------------------------------------------------------------------------------
// Every process started here dies with the runner, on every exit path: a normal end, an error,
// Ctrl-C, SIGTERM. (The cluster is stopped by @strata/postgres's exit hook, which these
// handlers' process.exit runs; without them its own SIGINT/SIGTERM handlers would stop it.)
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * One busy loop per core. Each also exits when its parent changes (the runner was SIGKILLed and
 * could not kill it), checked every few hundred million turns so the check costs nothing.
 */
const HOG_SCRIPT = 'const parent = process.ppid; for (let i = 1; ; i++) if ((i & 0x3ffffff) === 0 && process.ppid !== parent) process.exit(0);';

function startHog(): ChildProcess[] {
  return os.cpus().map(() => track(spawn(process.execPath, ['-e', HOG_SCRIPT], { stdio: 'ignore' })));
}

async function stopAll(processes: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    processes.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? undefined
        : new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
    ),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A forked takeover-worker.ts and the promises of its messages. */
class Worker {
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly drained: Promise<void>;
  readonly report: Promise<WorkerReport>;
  #stderr = '';

  constructor(readonly config: WorkerConfig) {
    this.process = track(
      fork(join(BENCH_DIR, 'takeover-worker.ts'), [JSON.stringify(config)], {
        cwd: BENCH_DIR,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      }),
    );
    this.process.stderr!.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS)));
    const exited = new Promise<never>((_, reject) =>
      this.process.once('exit', (code, signal) => reject(new Error(`executor ${config.executorId} exited (${code ?? signal}) before reporting:\n${this.#stderr}`))),
    );
    exited.catch(() => {}); // observed through the promises below
    const message = <T extends WorkerMessage['type']>(type: T) =>
      Promise.race([new Promise<Extract<WorkerMessage, { type: T }>>((resolve) => this.process.on('message', (m: WorkerMessage) => m.type === type && resolve(m as Extract<WorkerMessage, { type: T }>))), exited]);
    this.ready = message('ready').then(() => {});
    this.drained = message('drained').then(() => {});
    this.report = message('report').then((m) => m.report);
    for (const p of [this.ready, this.drained, this.report]) p.catch(() => {});
  }

  send(message: RunnerMessage): void {
    this.process.send(message);
  }
}

/** The largest gap between successive heartbeats of each executor, read from strata.executors. */
class HeartbeatSampler {
  readonly maxGapMs = new Map<string, number>();
  /** The runner's own largest pause between samples: a gap below it may be the sampler's, not the executor's. */
  samplerMaxIntervalMs = 0;
  readonly #last = new Map<string, number>();
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(readonly client: pg.Client) {
    this.#done = this.#loop();
    this.#done.catch(() => {}); // reported by stop()
  }

  async #loop(): Promise<void> {
    let previous = performance.now();
    while (!this.#stopped) {
      const { rows } = await this.client.query<{ executor_id: string; at_ms: number }>(
        `select executor_id, extract(epoch from heartbeat_at)::float8 * 1000 as at_ms from strata.executors`,
      );
      for (const { executor_id: id, at_ms: at } of rows) {
        const last = this.#last.get(id);
        if (last !== undefined && at > last) this.maxGapMs.set(id, Math.max(this.maxGapMs.get(id) ?? 0, at - last));
        this.#last.set(id, at);
      }
      const now = performance.now();
      this.samplerMaxIntervalMs = Math.max(this.samplerMaxIntervalMs, now - previous);
      previous = now;
      await sleep(SAMPLE_INTERVAL_MS);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

interface RunResult {
  readonly condition: Condition;
  readonly heartbeatIntervalMs: number;
  readonly executorTimeoutMs: number;
  readonly durationS: number;
  readonly workflowsPerS: number;
  readonly workflows: number;
  readonly lapses: number;
  readonly takeoverEvents: number;
  readonly workflowsTakenOver: number;
  /** Rows with recovery_attempts > 0 at the end. */
  readonly recoveredWorkflows: number;
  /** Rows owned at the end by another executor than the one that started them. */
  readonly movedWorkflows: number;
  readonly falseTakeoversPer1000: number;
  readonly fenced: number;
  readonly maxHeartbeatGapMs: number;
  readonly heartbeatGapMsByExecutor: Record<string, number>;
  readonly samplerMaxIntervalMs: number;
  readonly maxEventLoopDelayMs: number;
  readonly notSuccess: number;
  readonly statuses: Record<string, number>;
  /** Workflows not SUCCESS at the end, by status and error code ("ERROR STRATA_MAX_RECOVERY_ATTEMPTS"). */
  readonly notSuccessByError: Record<string, number>;
  /** The largest recovery_attempts left on any workflow. */
  readonly maxRecoveryAttempts: number;
  readonly duplicatedEffects: number;
  readonly missingEffects: number;
  readonly workers: WorkerReport[];
}

async function run(url: string, condition: Condition, hb: HeartbeatConfig): Promise<RunResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let hog: ChildProcess[] = [];
  const workers: Worker[] = [];
  try {
    await client.query(`create table bench_effects (workflow_id text not null, executor_id text not null)`);
    await client.query(`create index on bench_effects (workflow_id)`);
    for (let i = 1; i <= executors; i++) {
      workers.push(
        new Worker({
          url,
          executorId: `executor-${i}`,
          ...hb,
          inFlight,
          durationMs: durationS * 1000,
          drainMs: drainS * 1000,
          seed,
          cpuShare: CPU_SHARE,
          cpuMinMs: CPU_MIN_MS,
          cpuMaxMs: CPU_MAX_MS,
          bigShare: bigMb > 0 ? BIG_SHARE : 0,
          bigBytes: bigMb * 1_000_000,
        }),
      );
    }
    await withTimeout(Promise.all(workers.map((w) => w.ready)), READY_TIMEOUT_MS, 'launching the executors');
    if (condition === 'hog') hog = startHog();
    const sampler = new HeartbeatSampler(client);
    for (const w of workers) w.send({ type: 'go' });
    await withTimeout(Promise.all(workers.map((w) => w.drained)), (durationS + drainS) * 1000 + STRAGGLER_TIMEOUT_MS, 'the run and its drain');
    await sampler.stop();
    await stopAll(hog);
    for (const w of workers) w.send({ type: 'stop' });
    const reports = await withTimeout(Promise.all(workers.map((w) => w.report)), STRAGGLER_TIMEOUT_MS, 'shutting the executors down');

    const { rows: statusRows } = await client.query<{ status: string; n: number }>(`select status, count(*)::int as n from strata.workflows group by status`);
    const statuses = Object.fromEntries(statusRows.map((r) => [r.status, r.n]));
    const { rows: failedRows } = await client.query<{ kind: string; n: number }>(
      `select status || coalesce(' ' || substring(error from '"code":"([A-Z_]+)"'), '') as kind, count(*)::int as n
         from strata.workflows where status <> 'SUCCESS' group by 1`,
    );
    const { rows: [tally] } = await client.query<{ total: number; recovered: number; moved: number; max_attempts: number }>(
      `select count(*)::int as total,
              coalesce(max(recovery_attempts), 0)::int as max_attempts,
              count(*) filter (where recovery_attempts > 0)::int as recovered,
              count(*) filter (where executor_id is distinct from split_part(workflow_id, '/', 1))::int as moved
         from strata.workflows`,
    );
    const { rows: [effects] } = await client.query<{ duplicated: number; missing: number }>(
      `select (select count(*)::int from (select 1 from bench_effects group by workflow_id having count(*) > 1) d) as duplicated,
              (select count(*)::int from strata.workflows w
                where w.status = 'SUCCESS' and not exists (select 1 from bench_effects e where e.workflow_id = w.workflow_id)) as missing`,
    );
    const sum = (f: (r: WorkerReport) => number) => reports.reduce((total, r) => total + f(r), 0);
    const total = tally!.total;
    return {
      condition,
      ...hb,
      durationS,
      workflowsPerS: sum((r) => r.completedInWindow) / durationS,
      workflows: total,
      lapses: sum((r) => r.log.lapses + r.log.lostRows),
      takeoverEvents: sum((r) => r.log.takeoverEvents),
      workflowsTakenOver: sum((r) => r.log.workflowsTakenOver),
      recoveredWorkflows: tally!.recovered,
      movedWorkflows: tally!.moved,
      falseTakeoversPer1000: total === 0 ? 0 : (tally!.recovered / total) * 1000,
      fenced: sum((r) => r.log.fenced),
      maxHeartbeatGapMs: Math.max(0, ...sampler.maxGapMs.values()),
      heartbeatGapMsByExecutor: Object.fromEntries(sampler.maxGapMs),
      samplerMaxIntervalMs: sampler.samplerMaxIntervalMs,
      maxEventLoopDelayMs: Math.max(0, ...reports.map((r) => r.eventLoopDelayMaxMs)),
      notSuccess: total - (statuses.SUCCESS ?? 0),
      statuses,
      notSuccessByError: Object.fromEntries(failedRows.map((r) => [r.kind, r.n])),
      maxRecoveryAttempts: tally!.max_attempts,
      duplicatedEffects: effects!.duplicated,
      missingEffects: effects!.missing,
      workers: reports,
    };
  } finally {
    await stopAll([...hog, ...workers.map((w) => w.process)]);
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
const startedAt = new Date();
const loadAtStart = os.loadavg();
console.error(
  `bench:takeover: ${conditions.length * configs.length} runs of ${durationS} s (+ up to ${drainS} s drain), ${executors} executors × ${inFlight} in flight, ` +
    `conditions ${conditions.join(', ')}, heartbeat/timeout ${configs.map((c) => `${c.heartbeatIntervalMs}/${c.executorTimeoutMs}`).join(', ')} ms; load average ${loadAtStart.map((l) => l.toFixed(1)).join(' ')}`,
);
const results: RunResult[] = [];
let postgresVersion = '';
const cluster = await startCluster({ settings: DURABLE });
try {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  postgresVersion = (await admin.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  await admin.end();
  let n = 0;
  for (const condition of conditions) {
    for (const hb of configs) {
      const result = await withDatabase(cluster, `takeover_${n++}_${condition}`, (url) => run(url, condition, hb));
      results.push(result);
      console.error(
        `  ${condition.padEnd(4)} ${`${hb.heartbeatIntervalMs}/${hb.executorTimeoutMs}`.padEnd(10)} ${result.workflowsPerS.toFixed(0).padStart(5)} wf/s  ` +
          `lapses ${result.lapses}  takeovers ${result.takeoverEvents} (${result.workflowsTakenOver} wf)  fenced ${result.fenced}  ` +
          `max heartbeat gap ${result.maxHeartbeatGapMs.toFixed(0)} ms  max loop delay ${result.maxEventLoopDelayMs.toFixed(0)} ms`,
      );
    }
  }
} finally {
  await cluster.stop();
}

// ---------------------------------------------------------------------------------------------
const header = ['condition', 'heartbeat / timeout ms', 'workflows/s', 'lapses', 'takeovers (wf)', 'false takeovers /1k wf', 'moved /1k wf', 'fenced', 'max heartbeat gap ms', 'max loop delay ms', 'not SUCCESS', 'dup. effects'];
const body = results.map((r) => [
  r.condition,
  `${r.heartbeatIntervalMs} / ${r.executorTimeoutMs}`,
  r.workflowsPerS.toFixed(0),
  String(r.lapses),
  `${r.takeoverEvents} (${r.workflowsTakenOver})`,
  r.falseTakeoversPer1000.toFixed(2),
  (r.workflows === 0 ? 0 : (r.movedWorkflows / r.workflows) * 1000).toFixed(2),
  String(r.fenced),
  r.maxHeartbeatGapMs.toFixed(0),
  r.maxEventLoopDelayMs.toFixed(0),
  String(r.notSuccess),
  String(r.duplicatedEffects + r.missingEffects),
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.release()}` };
console.log(
  [
    '',
    `False takeovers under load: ${executors} executors × ${inFlight} workflows in flight, ${durationS} s per run; ${machine.cores} cores, Node ${process.version}, PostgreSQL ${postgresVersion} (fsync on)`,
    `Workflows: 3 quick steps; ${CPU_SHARE * 100}% with a ${CPU_MIN_MS}–${CPU_MAX_MS} ms CPU-bound step; ${bigMb > 0 ? `1 in ${1 / BIG_SHARE} with a ${bigMb} MB step output` : 'no large values'}; each ends with a transaction inserting its effect.`,
    'Nothing is killed, so every takeover is false. "takeovers (wf)": survivors\' takeover events (workflows they moved, counting repeats);',
    '"false takeovers /1k wf": rows with recovery_attempts > 0 (taken over, or recovered by their own executor after a lapse) per 1,000 workflows;',
    '"moved /1k wf": rows that ended owned by another executor than the one that started them. Max gaps and delays are the largest of any executor.',
    '',
    line(header),
    `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...body.map(line),
  ].join('\n'),
);

const resultsDir = args.out!;
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `takeover-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      loadAverageAtStart: loadAtStart,
      options: { durationS, drainS, executors, inFlight, bigMb, seed, conditions, configs, cpuShare: CPU_SHARE, cpuMinMs: CPU_MIN_MS, cpuMaxMs: CPU_MAX_MS, bigShare: BIG_SHARE },
      machine,
      versions: { node: process.version, postgres: postgresVersion, strata: gitRevision() },
      results,
    },
    null,
    2,
  ),
);
console.log(`\nraw figures: ${file}`);

const violations = results.filter((r) => r.notSuccess > 0 || r.duplicatedEffects > 0 || r.missingEffects > 0);
for (const r of violations) {
  console.error(
    `bench:takeover: invariant violated in ${r.condition} ${r.heartbeatIntervalMs}/${r.executorTimeoutMs}: ${r.notSuccess} workflows not SUCCESS (${JSON.stringify(r.notSuccessByError)}; largest recovery_attempts ${r.maxRecoveryAttempts}), ` +
      `${r.duplicatedEffects} effects committed twice, ${r.missingEffects} missing`,
  );
}
process.exit(violations.length > 0 ? 1 : 0);
