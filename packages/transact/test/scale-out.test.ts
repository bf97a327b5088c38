// Scale-out: several executor processes share one PostgreSQL database. They drain queues within
// the queues' global and per-partition limits, and when one is SIGKILLed the survivors take its
// unfinished workflows over (each exactly once) after executorTimeoutMs and finish them.
// PostgreSQL only: embedded PGlite serves one process.
//
// The headline test's kill (which executor, and when) comes from a seeded PRNG; the seed is in the
// test name. To replay a run:
//   STRATA_SCALE_SEED=<seed> npm test -- scale-out
// (The choice replays exactly; where the kill lands also depends on the machine's timing.)

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '@strata/store';
import { engines, freshPostgresUrl } from '@strata/testing';
import { Serializer, Strata } from '@strata/transact';
import { delay, killedAfterFile, mulberry32, quiet, seedFromEnv } from './helpers.js';
import {
  APP_TABLES_SQL,
  DRAIN_CONCURRENCY,
  EXECUTOR_TIMEOUT_ENV,
  EXECUTOR_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  LAUNCH_FAILED_EXIT_CODE,
  PARTS_CONCURRENCY,
  PARTS_PARTITION_CONCURRENCY,
  SCALE_STEPS,
  type Runner,
} from './scale-out/shape.js';

const WORKER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'scale-out', 'worker.ts');

/** Env var that sets the seed of the headline test's kill (a whole number), to replay a run. */
const SEED_ENV = 'STRATA_SCALE_SEED';
/** Seed when the env var is not set: a fixed default keeps CI runs comparable. */
const DEFAULT_SEED = 0x5ca1e;

/** Workload of the headline test: enough that every executor keeps claiming for seconds. */
const DRAIN_WORKFLOWS = 300;
const PARTS_WORKFLOWS = 100;
const PARTITIONS = 10;
/** Work per step of a queued workflow, so runs overlap and the limits bind. */
const DRAIN_STEP_MS = 25;
const PARTS_STEP_MS = 40;
/** The kill lands once this fraction of all queued workflows finished (seeded, in this range). */
const KILL_PROGRESS_MIN = 0.2;
const KILL_PROGRESS_MAX = 0.45;

/** A worker's start (tsx compiles on the fly, two CPUs shared with PostgreSQL) takes seconds: be generous. */
const WORKER_START_TIMEOUT_MS = 30_000;
/** Longest everything may take to finish after the kill. */
const DRAIN_TIMEOUT_MS = 60_000;
/** How often the test samples the database while workers run. */
const SAMPLE_INTERVAL_MS = 10;

/** Every worker process started, so the ones a failing test left behind are killed after the file. */
const liveWorkers = killedAfterFile();

/** A running worker process (scale-out/worker.ts): its stdout lines, commands to it, its exit. */
class Worker {
  readonly executorId: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[] = [];
  stderr = '';
  #partial = '';
  #listeners = new Set<() => void>();

  constructor(databaseUrl: string, executorId: string, env: Record<string, string> = {}) {
    this.executorId = executorId;
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER_PATH, databaseUrl, executorId], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    liveWorkers.add(this.child);
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => {
        liveWorkers.delete(this.child);
        resolve({ code, signal });
      });
    });
    // A killed worker's stdin breaks; the exit tells the test what happened.
    this.child.stdin!.on('error', () => {});
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop()!;
      this.lines.push(...parts);
      for (const listener of this.#listeners) listener();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** Resolves once a stdout line satisfies `match`; rejects if the process exits first or after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const found = () => this.lines.find(match);
    const already = found();
    if (already !== undefined) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = found();
        if (line === undefined) return;
        finish();
        resolve(line);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`worker ${this.executorId} did not print ${what} within ${timeoutMs} ms; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      void this.exited.then(({ code, signal }) => {
        if (!this.#listeners.has(check)) return;
        finish();
        const line = found();
        if (line !== undefined) resolve(line);
        else reject(new Error(`worker ${this.executorId} exited (${code ?? signal}) before printing ${what}; stderr: ${this.stderr}`));
      });
    });
  }

  launched(): Promise<string> {
    return this.waitForLine((line) => line === 'LAUNCHED', WORKER_START_TIMEOUT_MS, 'LAUNCHED');
  }

  /** SIGKILLs the process and waits until it is gone. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    const { signal } = await this.exited;
    assert.equal(signal, 'SIGKILL', `worker ${this.executorId} died of the SIGKILL`);
  }

  /** SIGSTOP: the process stays alive but runs nothing (no heartbeats) until {@link resume}. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** Graceful shutdown through the worker's own `strata.shutdown()`; it must exit 0. */
  async shutDown(timeoutMs = 5_000): Promise<void> {
    this.send(`SHUTDOWN ${timeoutMs}`);
    const exit = await this.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `worker ${this.executorId} shut down cleanly; stderr: ${this.stderr}`);
  }
}

/** Polls `check` every SAMPLE_INTERVAL_MS until it returns true; fails with `what` after `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(SAMPLE_INTERVAL_MS);
  }
}

/** The database's clock, in microseconds since the epoch (timestamps in JS Dates lose the microseconds). */
async function dbNowUs(db: Database): Promise<number> {
  const { rows } = await db.query<{ us: string }>(`select (extract(epoch from clock_timestamp()) * 1000000)::bigint::text as us`);
  return Number(rows[0]!.us);
}

/** A fresh PostgreSQL database with the app tables, and a connection the test keeps for its checks. */
async function setUpDatabase(): Promise<{ url: string; db: Database }> {
  const url = await freshPostgresUrl();
  const db = await openDatabase(url);
  await db.exec(APP_TABLES_SQL);
  // Migrate once before the workers start, so their launches do not queue on the migration lock.
  const migrator = new Strata({ database: db, executorId: 'migrator', logger: quiet });
  await migrator.launch();
  await migrator.shutdown();
  return { url, db };
}

interface WorkflowRow {
  workflow_id: string;
  status: string;
  executor_id: string | null;
  queue_name: string | null;
  queue_partition: string | null;
  recovery_attempts: number;
  completed_us: string | null;
}

interface LogRow {
  workflow_id: string;
  step: string;
  executor_id: string;
  pid: number;
  at_us: string;
}

async function readWorkflows(db: Database, prefix: string): Promise<WorkflowRow[]> {
  const { rows } = await db.query<WorkflowRow & Record<string, unknown>>(
    `select workflow_id, status, executor_id, queue_name, queue_partition, recovery_attempts,
            (extract(epoch from completed_at) * 1000000)::bigint::text as completed_us
       from strata.workflows where workflow_id like $1 order by workflow_id`,
    [`${prefix}%`],
  );
  return rows;
}

async function readLog(db: Database): Promise<LogRow[]> {
  const { rows } = await db.query<LogRow & Record<string, unknown>>(
    `select workflow_id, step, executor_id, pid, (extract(epoch from at) * 1000000)::bigint::text as at_us from scale_log order by at`,
  );
  return rows;
}

/** Who each checkpoint of each workflow names as its writer: workflowId → step name → runner. */
async function readCheckpointWriters(db: Database): Promise<Map<string, Map<string, Runner>>> {
  const serializer = new Serializer();
  const { rows } = await db.query<{ workflow_id: string; name: string; kind: string; output: string | null }>(
    `select workflow_id, name, kind, output from strata.steps where kind in ('step', 'transaction') order by workflow_id, step_id`,
  );
  const writers = new Map<string, Map<string, Runner>>();
  for (const row of rows) {
    let steps = writers.get(row.workflow_id);
    if (!steps) writers.set(row.workflow_id, (steps = new Map()));
    assert.ok(!steps.has(row.name), `${row.workflow_id} has one checkpoint named ${row.name}`);
    steps.set(row.name, serializer.deserialize<Runner>(row.output!));
  }
  return writers;
}

interface EffectRow {
  workflow_id: string;
  executor_id: string;
  pid: number;
}

async function readEffects(db: Database): Promise<Map<string, EffectRow[]>> {
  const { rows } = await db.query<EffectRow & Record<string, unknown>>(`select workflow_id, executor_id, pid from scale_effects`);
  return groupBy(rows, (row) => row.workflow_id);
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/**
 * Every plain step ran exactly once in the process that committed its checkpoint, and otherwise
 * only in a killed process (a run whose checkpoint never committed); the transaction's effect is
 * there exactly once, written by the process whose checkpoint committed with it.
 */
function assertExactlyOnce(
  workflowIds: readonly string[],
  plainSteps: readonly string[],
  logByWorkflow: ReadonlyMap<string, LogRow[]>,
  writers: ReadonlyMap<string, ReadonlyMap<string, Runner>>,
  effects: ReadonlyMap<string, EffectRow[]>,
  killedPids: ReadonlySet<number>,
): void {
  for (const workflowId of workflowIds) {
    const steps = writers.get(workflowId);
    assert.ok(steps, `${workflowId} has checkpoints`);
    for (const step of plainSteps) {
      const committer = steps.get(step);
      assert.ok(committer, `${workflowId} has a checkpoint of step ${step}`);
      const runs = (logByWorkflow.get(workflowId) ?? []).filter((row) => row.step === step).map((row) => row.pid);
      const describeRuns: string = `runs by pid: ${runs.join(', ')}; committed by ${committer.executorId} (pid ${committer.pid})`;
      assert.equal(runs.filter((pid) => pid === committer.pid).length, 1, `${workflowId} step ${step} ran once in the process that committed it (${describeRuns})`);
      for (const pid of runs.filter((pid) => pid !== committer.pid)) {
        assert.ok(killedPids.has(pid) && !killedPids.has(committer.pid), `${workflowId} step ${step} ran again only where it had not committed, in a killed process (${describeRuns})`);
      }
    }
    const rows = effects.get(workflowId) ?? [];
    assert.equal(rows.length, 1, `${workflowId}'s transaction wrote its effect exactly once (found ${rows.length})`);
    assert.equal(rows[0]!.pid, steps.get('effect')?.pid, `${workflowId}'s effect row and its checkpoint committed together`);
  }
}

/** One execution of a workflow in one process: from entering its body to its end there. */
interface Execution {
  readonly workflowId: string;
  readonly pid: number;
  readonly startUs: number;
  readonly endUs: number;
}

/**
 * Most intervals open at once. Intervals are half-open [start, end): an execution that ends when
 * the next begins does not overlap it.
 */
function peakOverlap(intervals: readonly Execution[]): number {
  const events = intervals.flatMap((interval) => [
    { atUs: interval.startUs, delta: 1 },
    { atUs: interval.endUs, delta: -1 },
  ]);
  events.sort((a, b) => a.atUs - b.atUs || a.delta - b.delta);
  let open = 0;
  let peak = 0;
  for (const event of events) {
    open += event.delta;
    peak = Math.max(peak, open);
  }
  return peak;
}

describe('scale-out: executor processes sharing one PostgreSQL database', { skip: engines().includes('postgres') ? false : 'PostgreSQL is not among STRATA_TEST_ENGINES' }, () => {
  const seed = seedFromEnv(SEED_ENV, DEFAULT_SEED);

  test(
    `seed ${seed}: three executors drain two queues, one is SIGKILLed mid-way; every workflow finishes once and the peak of live runs never exceeds the global or per-partition limit`,
    { timeout: 120_000 },
    async (t) => {
      const random = mulberry32(seed);
      const victimIndex = Math.floor(random() * 3);
      const killProgress = KILL_PROGRESS_MIN + random() * (KILL_PROGRESS_MAX - KILL_PROGRESS_MIN);
      const total = DRAIN_WORKFLOWS + PARTS_WORKFLOWS;
      const killAfterFinished = Math.floor(killProgress * total);
      t.diagnostic(`seed ${seed} (replay: ${SEED_ENV}=${seed}); victim exec-${victimIndex}, killed once ${killAfterFinished}/${total} workflows finished`);

      const { url, db } = await setUpDatabase();
      t.after(() => db.close());
      const startedAtMs = Date.now();
      const workers = [0, 1, 2].map((index) => new Worker(url, `exec-${index}`));
      await Promise.all(workers.map((worker) => worker.launched()));
      t.diagnostic(`3 workers launched in ${Date.now() - startedAtMs} ms`);

      // Each worker enqueues a third of each queue, all at once, so claims race from the start.
      const drainShare = Math.ceil(DRAIN_WORKFLOWS / 3);
      const partsShare = Math.ceil(PARTS_WORKFLOWS / 3);
      const enqueueStartedAtMs = Date.now();
      for (const [index, worker] of workers.entries()) {
        worker.send(`ENQUEUE drain ${index * drainShare} ${Math.min(DRAIN_WORKFLOWS, (index + 1) * drainShare)} ${DRAIN_STEP_MS}`);
        worker.send(`ENQUEUE parts ${index * partsShare} ${Math.min(PARTS_WORKFLOWS, (index + 1) * partsShare)} ${PARTS_STEP_MS} ${PARTITIONS}`);
      }

      const victim = workers[victimIndex]!;
      const survivors = workers.filter((worker) => worker !== victim);
      let killed = false;
      // While the workers run, the database's own count of running workflows must respect the limits at every sample.
      const maxPending = { drain: 0, parts: 0, partition: 0 };
      const sample = async () => {
        const { rows } = await db.query<{ queue_name: string; queue_partition: string; n: number }>(
          `select queue_name, queue_partition, count(*)::int as n from strata.workflows
            where status = 'PENDING' and queue_name is not null group by queue_name, queue_partition`,
        );
        const drainRunning = rows.filter((row) => row.queue_name === 'drain').reduce((sum, row) => sum + row.n, 0);
        const partsRunning = rows.filter((row) => row.queue_name === 'parts').reduce((sum, row) => sum + row.n, 0);
        maxPending.drain = Math.max(maxPending.drain, drainRunning);
        maxPending.parts = Math.max(maxPending.parts, partsRunning);
        for (const row of rows.filter((row) => row.queue_name === 'parts')) maxPending.partition = Math.max(maxPending.partition, row.n);
        const { rows: counts } = await db.query<{ done: number; failed: number }>(
          `select count(*) filter (where status = 'SUCCESS')::int as done, count(*) filter (where status in ('ERROR', 'CANCELLED'))::int as failed
             from strata.workflows where queue_name is not null`,
        );
        assert.equal(counts[0]!.failed, 0, 'no queued workflow ends in ERROR or CANCELLED');
        for (const worker of workers) {
          if (worker !== victim || !killed) assert.ok(worker.alive, `worker ${worker.executorId} is running; stderr: ${worker.stderr}`);
        }
        return counts[0]!.done;
      };

      // The kill: once enough finished and the victim holds running workflows, so it leaves work behind.
      await until(`${killAfterFinished} finished workflows with one early in its run on ${victim.executorId}`, DRAIN_TIMEOUT_MS, async () => {
        const done = await sample();
        if (done < killAfterFinished) return false;
        // A running workflow still short of its transaction has tens of ms to go: the kill lands before it ends.
        const held = await db.query(
          `select 1 from strata.workflows w where status = 'PENDING' and executor_id = $1
              and not exists (select 1 from strata.steps s where s.workflow_id = w.workflow_id and s.name = 'effect') limit 1`,
          [victim.executorId],
        );
        return held.rows.length > 0;
      });
      await victim.kill();
      killed = true;
      const killedAtMs = Date.now();
      const killUs = await dbNowUs(db);
      const { rows: heldAtKill } = await db.query<{ workflow_id: string; queue_name: string }>(
        `select workflow_id, queue_name from strata.workflows where status = 'PENDING' and executor_id = $1 order by workflow_id`,
        [victim.executorId],
      );
      const finishedAtKill = await sample();
      t.diagnostic(
        `killed ${victim.executorId} (pid ${victim.pid}) ${killedAtMs - enqueueStartedAtMs} ms after the enqueues began, with ${finishedAtKill}/${total} finished; ` +
          `it held ${heldAtKill.length} running workflow(s): ${heldAtKill.map((row) => row.workflow_id).join(', ')}`,
      );
      assert.ok(heldAtKill.length > 0, 'the victim held running workflows when it died, or the test proves nothing');

      // The survivors take its workflows over once its heartbeat is older than executorTimeoutMs.
      await until(`the survivors taking over ${victim.executorId}'s workflows`, DRAIN_TIMEOUT_MS, async () => {
        await sample();
        const { rows } = await db.query('select 1 from strata.workflows where status = $1 and executor_id = $2 limit 1', ['PENDING', victim.executorId]);
        return rows.length === 0;
      });
      const takeoverMs = Date.now() - killedAtMs;
      // Seen (on the database's clock) no sooner than executorTimeoutMs after the victim's last heartbeat.
      const seenUs = await dbNowUs(db);
      const { rows: beats } = await db.query<{ us: string }>(
        `select (extract(epoch from heartbeat_at) * 1000000)::bigint::text as us from strata.executors where executor_id = $1`,
        [victim.executorId],
      );
      const sinceHeartbeatMs = (seenUs - Number(beats[0]!.us)) / 1_000;
      t.diagnostic(
        `taken over ${takeoverMs} ms after the kill, ${Math.round(sinceHeartbeatMs)} ms after the victim's last heartbeat (executorTimeoutMs ${EXECUTOR_TIMEOUT_MS}, heartbeat ${HEARTBEAT_INTERVAL_MS} ms)`,
      );
      assert.ok(sinceHeartbeatMs >= EXECUTOR_TIMEOUT_MS, `no takeover before the victim's heartbeat was executorTimeoutMs old (${Math.round(sinceHeartbeatMs)} ms)`);

      await until(`all ${total} workflows finishing`, DRAIN_TIMEOUT_MS, async () => (await sample()) === total);
      const drainedMs = Date.now() - enqueueStartedAtMs;
      await Promise.all(survivors.map((worker) => worker.shutDown()));

      // ---- invariants, from the tables ----
      const workflows = [...(await readWorkflows(db, 'drain-')), ...(await readWorkflows(db, 'parts-'))];
      assert.equal(workflows.length, total, 'exactly the enqueued workflows exist');
      const survivorIds = new Set(survivors.map((worker) => worker.executorId));
      const held = new Set(heldAtKill.map((row) => row.workflow_id));
      for (const row of workflows) {
        assert.equal(row.status, 'SUCCESS', `${row.workflow_id} finished with SUCCESS`);
        if (held.has(row.workflow_id)) {
          assert.ok(survivorIds.has(row.executor_id ?? ''), `${row.workflow_id}, held by the victim, was finished by a survivor (got ${row.executor_id})`);
          assert.equal(row.recovery_attempts, 1, `${row.workflow_id} was taken over exactly once`);
        } else {
          assert.equal(row.recovery_attempts, 0, `${row.workflow_id}, not held by the victim, was never recovered`);
        }
      }

      const log = await readLog(db);
      const logByWorkflow = groupBy(log, (row) => row.workflow_id);
      const writers = await readCheckpointWriters(db);
      for (const row of workflows) {
        assert.deepEqual([...(writers.get(row.workflow_id)?.keys() ?? [])], [...SCALE_STEPS], `${row.workflow_id} has its three checkpoints in order`);
      }
      assertExactlyOnce(
        workflows.map((row) => row.workflow_id),
        ['a', 'b'],
        logByWorkflow,
        writers,
        await readEffects(db),
        new Set([victim.pid]),
      );

      // Executions: from entering the body to completion (the finishing one) or to the kill (the
      // victim's unfinished one); no workflow ran in two live processes at once.
      const executions: Execution[] = [];
      const byWorkflow = new Map(workflows.map((row) => [row.workflow_id, row]));
      for (const row of workflows) {
        const bodies = (logByWorkflow.get(row.workflow_id) ?? []).filter((entry) => entry.step === 'body');
        const describeBodies = `bodies by executor: ${bodies.map((entry) => entry.executor_id).join(', ')}; finished by ${row.executor_id}`;
        const finishing = bodies.filter((entry) => entry.executor_id === row.executor_id);
        assert.equal(finishing.length, 1, `${row.workflow_id} ran once in the process that finished it (${describeBodies})`);
        const others = bodies.filter((entry) => entry.executor_id !== row.executor_id);
        assert.ok(others.length <= 1 && others.every((entry) => entry.pid === victim.pid), `${row.workflow_id} ran elsewhere only once, in the victim (${describeBodies})`);
        if (others.length > 0) assert.ok(held.has(row.workflow_id), `${row.workflow_id} ran unfinished in the victim, so it was held at the kill`);
        executions.push({ workflowId: row.workflow_id, pid: finishing[0]!.pid, startUs: Number(finishing[0]!.at_us), endUs: Number(row.completed_us) });
        for (const body of others) executions.push({ workflowId: row.workflow_id, pid: body.pid, startUs: Number(body.at_us), endUs: killUs });
      }
      for (const [workflowId, runs] of groupBy(executions, (execution) => execution.workflowId)) {
        assert.equal(peakOverlap(runs), 1, `${workflowId} never ran in two processes at once`);
        for (const run of runs) assert.ok(run.startUs <= run.endUs, `${workflowId}'s execution in pid ${run.pid} ends after it starts`);
      }
      for (const row of heldAtKill) {
        const bodies = (logByWorkflow.get(row.workflow_id) ?? []).filter((entry) => entry.step === 'body');
        for (const body of bodies.filter((entry) => entry.pid !== victim.pid)) {
          assert.ok(Number(body.at_us) > killUs, `${row.workflow_id} ran in a survivor only after the victim died`);
        }
      }

      const inQueue = (queue: string) => executions.filter((execution) => byWorkflow.get(execution.workflowId)!.queue_name === queue);
      const drainPeak = peakOverlap(inQueue('drain'));
      const partsPeak = peakOverlap(inQueue('parts'));
      const partitionPeaks = [...groupBy(inQueue('parts'), (execution) => byWorkflow.get(execution.workflowId)!.queue_partition!)].map(
        ([partition, runs]) => [partition, peakOverlap(runs)] as const,
      );
      t.diagnostic(
        `drained in ${drainedMs} ms; peak of live runs: drain ${drainPeak}/${DRAIN_CONCURRENCY}, parts ${partsPeak}/${PARTS_CONCURRENCY}, ` +
          `per partition max ${Math.max(...partitionPeaks.map(([, peak]) => peak))}/${PARTS_PARTITION_CONCURRENCY}; ` +
          `sampled PENDING max: drain ${maxPending.drain}, parts ${maxPending.parts}, partition ${maxPending.partition}; ` +
          `finished by: ${[...groupBy(workflows, (row) => row.executor_id ?? '?')].map(([id, rows]) => `${id} ${rows.length}`).join(', ')}`,
      );
      assert.ok(drainPeak <= DRAIN_CONCURRENCY, `at most ${DRAIN_CONCURRENCY} 'drain' workflows ran at once (peak ${drainPeak})`);
      assert.ok(partsPeak <= PARTS_CONCURRENCY, `at most ${PARTS_CONCURRENCY} 'parts' workflows ran at once (peak ${partsPeak})`);
      for (const [partition, peak] of partitionPeaks) {
        assert.ok(peak <= PARTS_PARTITION_CONCURRENCY, `at most ${PARTS_PARTITION_CONCURRENCY} workflow of partition ${partition} ran at once (peak ${peak})`);
      }
      assert.equal(partitionPeaks.length, PARTITIONS, 'every partition ran');
      assert.ok(maxPending.drain <= DRAIN_CONCURRENCY, `the database never held more than ${DRAIN_CONCURRENCY} running 'drain' workflows (max ${maxPending.drain})`);
      assert.ok(maxPending.parts <= PARTS_CONCURRENCY, `the database never held more than ${PARTS_CONCURRENCY} running 'parts' workflows (max ${maxPending.parts})`);
      assert.ok(maxPending.partition <= PARTS_PARTITION_CONCURRENCY, `the database never held more than one running workflow per partition (max ${maxPending.partition})`);
      // The limits must actually have been reached, or the peaks prove nothing.
      assert.ok(drainPeak >= DRAIN_CONCURRENCY / 2, `the 'drain' limit was pressed (peak ${drainPeak})`);
      assert.ok(partsPeak >= 2, `'parts' ran partitions side by side (peak ${partsPeak})`);
      for (const worker of workers) {
        assert.ok(log.some((entry) => entry.executor_id === worker.executorId), `${worker.executorId} ran workflows`);
      }

      // strata.executors: the victim died (not alive, never stopped); the survivors shut down.
      const observer = new Strata({ database: db, executorId: 'observer', logger: quiet, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, executorTimeoutMs: EXECUTOR_TIMEOUT_MS });
      await observer.launch();
      try {
        const executors = new Map((await observer.listExecutors()).map((info) => [info.executorId, info]));
        const dead = executors.get(victim.executorId);
        assert.ok(dead, 'the victim is recorded');
        assert.equal(dead.alive, false, 'the victim is not alive');
        assert.equal(dead.stoppedAt, null, 'the victim was killed, not stopped');
        assert.equal(dead.pid, victim.pid);
        for (const worker of survivors) {
          const info = executors.get(worker.executorId);
          assert.ok(info, `${worker.executorId} is recorded`);
          assert.equal(info.alive, false, `${worker.executorId} is not alive after its shutdown`);
          assert.notEqual(info.stoppedAt, null, `${worker.executorId} is marked stopped`);
        }
      } finally {
        await observer.shutdown();
      }
    },
  );

  test(
    "a SIGKILLed executor's workflows are taken over by exactly one of two racing survivors, and resume where they stopped",
    { timeout: 90_000 },
    async (t) => {
      /** Held workflows, each in a durable sleep long enough to outlast the kill and the takeover. */
      const heldCount = 20;
      const sleepMs = 4_000;
      const { url, db } = await setUpDatabase();
      t.after(() => db.close());
      const victim = new Worker(url, 'victim');
      const survivors = [new Worker(url, 'survivor-a'), new Worker(url, 'survivor-b')];
      await Promise.all([victim, ...survivors].map((worker) => worker.launched()));

      victim.send(`START held ${heldCount} ${sleepMs}`);
      await victim.waitForLine((line) => line.startsWith('STARTED'), WORKER_START_TIMEOUT_MS, 'STARTED');
      await until(`all ${heldCount} held workflows in their sleep`, DRAIN_TIMEOUT_MS, async () => {
        const { rows } = await db.query<{ n: number }>(
          `select count(distinct workflow_id)::int as n from strata.steps where workflow_id like 'held-%' and kind = 'sleep'`,
        );
        return rows[0]!.n === heldCount;
      });
      await victim.kill();
      const killedAtMs = Date.now();
      const { rows: unfinished } = await db.query<{ n: number }>(`select count(*)::int as n from strata.workflows where workflow_id like 'held-%' and status = 'PENDING' and executor_id = 'victim'`);
      assert.equal(unfinished[0]!.n, heldCount, 'the victim held every workflow, unfinished, when it died');

      await until('the takeover of every held workflow', DRAIN_TIMEOUT_MS, async () => {
        const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from strata.workflows where workflow_id like 'held-%' and executor_id = 'victim'`);
        return rows[0]!.n === 0;
      });
      const takeoverMs = Date.now() - killedAtMs;
      t.diagnostic(`taken over ${takeoverMs} ms after the kill (executorTimeoutMs ${EXECUTOR_TIMEOUT_MS}, heartbeat ${HEARTBEAT_INTERVAL_MS} ms)`);

      await until('every held workflow finishing', DRAIN_TIMEOUT_MS, async () => {
        const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from strata.workflows where workflow_id like 'held-%' and status <> 'PENDING'`);
        return rows[0]!.n === heldCount;
      });
      await Promise.all(survivors.map((worker) => worker.shutDown()));

      const workflows = await readWorkflows(db, 'held-');
      const log = await readLog(db);
      const logByWorkflow = groupBy(log, (row) => row.workflow_id);
      const survivorPids = new Map(survivors.map((worker) => [worker.executorId, worker.pid]));
      assert.equal(workflows.length, heldCount);
      for (const row of workflows) {
        assert.equal(row.status, 'SUCCESS', `${row.workflow_id} finished with SUCCESS`);
        assert.ok(survivorPids.has(row.executor_id ?? ''), `${row.workflow_id} was finished by a survivor (got ${row.executor_id})`);
        assert.equal(row.recovery_attempts, 1, `${row.workflow_id} was taken over exactly once`);
        const entries = logByWorkflow.get(row.workflow_id) ?? [];
        const bodies = entries.filter((entry) => entry.step === 'body');
        assert.deepEqual(
          bodies.map((entry) => entry.pid),
          [victim.pid, survivorPids.get(row.executor_id!)],
          `${row.workflow_id}'s body ran twice: in the victim, then once in the survivor that took it over`,
        );
        // The sleep resumed at its recorded wake-up time, not a full sleep after the takeover.
        const ready = entries.find((entry) => entry.step === 'ready')!;
        const completedAfterReadyMs = (Number(row.completed_us) - Number(ready.at_us)) / 1_000;
        assert.ok(
          completedAfterReadyMs >= sleepMs && completedAfterReadyMs < sleepMs + EXECUTOR_TIMEOUT_MS,
          `${row.workflow_id} woke at its recorded time (${Math.round(completedAfterReadyMs)} ms after the sleep began, ${sleepMs} ms asked)`,
        );
      }
      assertExactlyOnce(
        workflows.map((row) => row.workflow_id),
        ['ready', 'after'],
        logByWorkflow,
        await readCheckpointWriters(db),
        await readEffects(db),
        new Set([victim.pid]),
      );
      t.diagnostic(`finished by: ${[...groupBy(workflows, (row) => row.executor_id ?? '?')].map(([id, rows]) => `${id} ${rows.length}`).join(', ')}`);
    },
  );

  test(
    'an executor paused past executorTimeoutMs (SIGSTOP) is taken over; when it wakes it stops its stale executions and runs no step the survivor committed',
    { timeout: 90_000 },
    async (t) => {
      const heldCount = 10;
      /** Ends while the executor is paused, after the survivor took over and finished: the paused one wakes to stale work. */
      const sleepMs = 2_500;
      const { url, db } = await setUpDatabase();
      t.after(() => db.close());
      const paused = new Worker(url, 'paused');
      const survivor = new Worker(url, 'survivor');
      await Promise.all([paused.launched(), survivor.launched()]);

      paused.send(`START stale ${heldCount} ${sleepMs}`);
      await paused.waitForLine((line) => line.startsWith('STARTED'), WORKER_START_TIMEOUT_MS, 'STARTED');
      await until(`all ${heldCount} workflows in their sleep`, DRAIN_TIMEOUT_MS, async () => {
        const { rows } = await db.query<{ n: number }>(`select count(distinct workflow_id)::int as n from strata.steps where workflow_id like 'stale-%' and kind = 'sleep'`);
        return rows[0]!.n === heldCount;
      });
      paused.pause();
      t.after(() => {
        if (paused.alive) paused.resume();
      });
      const pausedAtMs = Date.now();
      await until('the survivor finishing every workflow of the paused executor', DRAIN_TIMEOUT_MS, async () => {
        const { rows } = await db.query<{ n: number }>(
          `select count(*)::int as n from strata.workflows where workflow_id like 'stale-%' and status = 'SUCCESS' and executor_id = 'survivor'`,
        );
        return rows[0]!.n === heldCount;
      });
      t.diagnostic(`the survivor took over and finished everything ${Date.now() - pausedAtMs} ms after the pause`);

      // Wake the paused executor: its sleeps are over, but the workflows are no longer its own.
      paused.resume();
      await delay(EXECUTOR_TIMEOUT_MS + 5 * HEARTBEAT_INTERVAL_MS);
      assert.ok(paused.alive, `the woken executor keeps running; stderr: ${paused.stderr}`);
      await Promise.all([paused.shutDown(), survivor.shutDown()]);

      const workflows = await readWorkflows(db, 'stale-');
      for (const row of workflows) {
        assert.equal(row.status, 'SUCCESS');
        assert.equal(row.executor_id, 'survivor', `${row.workflow_id} stays finished by the survivor`);
        assert.equal(row.recovery_attempts, 1, `${row.workflow_id} was taken over once`);
      }
      const logByWorkflow = groupBy(await readLog(db), (row) => row.workflow_id);
      const wokenRuns = [...logByWorkflow.values()].flat().filter((entry) => entry.pid === paused.pid && entry.step !== 'body' && entry.step !== 'ready');
      assert.deepEqual(
        wokenRuns.map((entry) => `${entry.workflow_id}:${entry.step}`),
        [],
        'after waking, the executor ran no step of the workflows the survivor had taken over and committed',
      );
      // Every step committed by the survivor ran only there; the effect is there once.
      assertExactlyOnce(
        workflows.map((row) => row.workflow_id),
        ['ready', 'after'],
        logByWorkflow,
        await readCheckpointWriters(db),
        await readEffects(db),
        new Set(),
      );
      assert.match(paused.stderr, /missed its heartbeats/, 'the woken executor noticed it had lapsed');
    },
  );

  test(
    'a second process with a live executor ID fails with ExecutorConflictError and changes nothing; once the holder is SIGKILLed, a new process takes the ID at once and resumes its workflows',
    { timeout: 90_000 },
    async (t) => {
      /** Far above the test's duration: only the dead pid (same host) can let the new process in at once. */
      const longTimeout = { [EXECUTOR_TIMEOUT_ENV]: '60000' };
      const heldCount = 5;
      /** Outlasts a refused launch, the kill and a relaunch (each a tsx process start of seconds). */
      const sleepMs = 15_000;
      const { url, db } = await setUpDatabase();
      t.after(() => db.close());
      const first = new Worker(url, 'shared-id', longTimeout);
      await first.launched();
      first.send(`START dup ${heldCount} ${sleepMs}`);
      await first.waitForLine((line) => line.startsWith('STARTED'), WORKER_START_TIMEOUT_MS, 'STARTED');

      const executorRow = () =>
        db
          .query<{ pid: number; hostname: string; started_at: Date; stopped_at: Date | null; app_version: string }>(
            `select pid, hostname, started_at, stopped_at, app_version from strata.executors where executor_id = 'shared-id'`,
          )
          .then(({ rows }) => rows[0]);
      const workflowState = () =>
        db
          .query<{ workflow_id: string; executor_id: string; recovery_attempts: number; status: string }>(
            `select workflow_id, executor_id, recovery_attempts, status from strata.workflows where workflow_id like 'dup-%' order by workflow_id`,
          )
          .then(({ rows }) => rows);
      const before = { executor: await executorRow(), workflows: await workflowState() };
      assert.equal(before.executor?.pid, first.pid, 'the first process holds the ID');

      const second = new Worker(url, 'shared-id', longTimeout);
      const failure = await second.waitForLine((line) => line.startsWith('LAUNCH_FAILED'), WORKER_START_TIMEOUT_MS, 'LAUNCH_FAILED');
      assert.equal(failure, 'LAUNCH_FAILED STRATA_EXECUTOR_CONFLICT');
      assert.deepEqual(await second.exited, { code: LAUNCH_FAILED_EXIT_CODE, signal: null });
      assert.match(second.stderr, /executor ID "shared-id" is in use by a live process \(pid \d+/);
      assert.deepEqual(await executorRow(), before.executor, "the executor's row is as the first process left it");
      const during = await workflowState();
      assert.deepEqual(
        during.map(({ workflow_id, executor_id, recovery_attempts }) => ({ workflow_id, executor_id, recovery_attempts })),
        before.workflows.map(({ workflow_id, executor_id, recovery_attempts }) => ({ workflow_id, executor_id, recovery_attempts })),
        'no workflow was claimed or recovered by the refused process',
      );
      const { rows: refusedRuns } = await db.query('select 1 from scale_log where pid = $1', [second.pid]);
      assert.equal(refusedRuns.length, 0, 'the refused process ran no workflow code');
      assert.ok(first.alive, 'the first process still runs');

      await until(`all ${heldCount} workflows in their sleep`, DRAIN_TIMEOUT_MS, async () => {
        const { rows } = await db.query<{ n: number }>(`select count(distinct workflow_id)::int as n from strata.steps where workflow_id like 'dup-%' and kind = 'sleep'`);
        return rows[0]!.n === heldCount;
      });
      await first.kill();
      const killedAtMs = Date.now();
      assert.ok((await workflowState()).every((row) => row.status === 'PENDING'), 'the workflows were unfinished when their executor died');
      const third = new Worker(url, 'shared-id', longTimeout);
      await third.launched();
      const relaunchMs = Date.now() - killedAtMs;
      t.diagnostic(`a new process launched under the dead holder's ID ${relaunchMs} ms after the kill (executorTimeoutMs 60000)`);
      assert.ok(relaunchMs < 30_000, 'the ID was free at once, without waiting for the executor timeout');
      assert.equal((await executorRow())?.pid, third.pid, 'the new process holds the ID');

      await until('the resumed workflows finishing', DRAIN_TIMEOUT_MS, async () =>
        (await workflowState()).every((row) => row.status === 'SUCCESS'),
      );
      await third.shutDown();
      const workflows = await readWorkflows(db, 'dup-');
      const logByWorkflow = groupBy(await readLog(db), (row) => row.workflow_id);
      for (const row of workflows) {
        assert.equal(row.executor_id, 'shared-id');
        assert.equal(row.recovery_attempts, 1, `${row.workflow_id} was recovered once, by the new process`);
        const bodies = (logByWorkflow.get(row.workflow_id) ?? []).filter((entry) => entry.step === 'body').map((entry) => entry.pid);
        assert.deepEqual(bodies, [first.pid, third.pid], `${row.workflow_id} ran in the first process, then resumed in the new one`);
      }
      assertExactlyOnce(
        workflows.map((row) => row.workflow_id),
        ['ready', 'after'],
        logByWorkflow,
        await readCheckpointWriters(db),
        await readEffects(db),
        new Set([first.pid]),
      );
    },
  );
});
