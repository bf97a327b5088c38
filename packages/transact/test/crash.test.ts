// Crash safety: executor processes are SIGKILLed at seeded random points (while opening the
// database, during recovery, in the middle of steps, transactions, message exchanges and commits),
// restarted on the same database, and finally run to the end. Afterwards the invariants of
// DESIGN.md must hold: every workflow finishes, no committed step runs again, every transaction's
// effect appears exactly once, every message is delivered exactly once and in order.
//
// The kill schedule comes from a seeded PRNG; the seed is in the test name. To replay a run:
//   STRATA_CRASH_SEED=<seed> npm test -- crash
// (The schedule replays exactly; where a kill lands also depends on the machine's timing, so a
// failure that depends on a narrow window may need a few runs.)

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@strata/store';
import { engines, freshDatabaseUrl, type EngineKind } from '@strata/testing';
import { Serializer } from '@strata/transact';
import { MESSAGE_TOPIC, STEP_PAIRS, exchangedMessage, expectedSteps, partnerOf } from './crash/shape.js';
import { delay, killedAfterFile, mulberry32, seedFromEnv } from './helpers.js';

const WORKER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'crash', 'worker.ts');

/** Env var that sets the seed of the kill schedule (a whole number), to replay a failing run. */
const SEED_ENV = 'STRATA_CRASH_SEED';
/** Seed when the env var is not set: a fixed default keeps CI runs comparable. */
const DEFAULT_SEED = 0x5eed_2025;

/**
 * Per-engine tuning. PGlite pays ~1 s per process start (WebAssembly Postgres) and runs one
 * statement at a time, so it gets fewer workflows and longer windows than a server.
 */
interface EngineTuning {
  /** Workflows wf-0..wf-(N-1); enough that the kills land with many workflows in flight. */
  readonly workflowCount: number;
  /** Killed incarnations before the final, uninterrupted one. */
  readonly killCount: number;
  /** A "launch" kill lands up to this long after the worker registered its workflow (opening, migrating, recovering). */
  readonly launchWindowMs: number;
  /** A "run" kill lands after 0..this many ms past the incarnation's commit-count target. */
  readonly runKillExtraDelayMsMax: number;
  /** Longest an incarnation may take to reach its kill point (or finish) before the test gives up. */
  readonly incarnationTimeoutMs: number;
  /** Longest the final, uninterrupted incarnation may take to finish everything. */
  readonly finalTimeoutMs: number;
}

const TUNING: Record<EngineKind, EngineTuning> = {
  pglite: {
    workflowCount: 40,
    killCount: 6,
    launchWindowMs: 1_500,
    runKillExtraDelayMsMax: 25,
    incarnationTimeoutMs: 60_000,
    finalTimeoutMs: 90_000,
  },
  postgres: {
    workflowCount: 40,
    killCount: 8,
    launchWindowMs: 400,
    runKillExtraDelayMsMax: 25,
    incarnationTimeoutMs: 30_000,
    finalTimeoutMs: 60_000,
  },
};

/** Longest the whole test of one engine may take; a hung worker fails it instead of hanging the suite. */
const TEST_TIMEOUT_MS = 150_000;

/**
 * A "run" kill lands once the incarnation committed this fraction (at most) of the checkpoints
 * still missing when it started. Below one half, so some work is always left for the next one.
 */
const RUN_KILL_PROGRESS_MAX = 0.5;

/** Where one incarnation is killed. */
type KillPlan =
  /** `delayMs` after the worker printed REGISTERED: opening the database, migrating, recovering, first starts. */
  | { readonly at: 'launch'; readonly delayMs: number }
  /**
   * `extraDelayMs` after the incarnation committed `progress` × (checkpoints still missing) new
   * checkpoints (0: right after LAUNCHED, during the first wave of re-executed steps). Measured in
   * commits, not time, because all workflows move in waves: a time- or execution-based kill would
   * keep landing inside the first wave, before any checkpoint commits.
   */
  | { readonly at: 'run'; readonly progress: number; readonly extraDelayMs: number };

function killSchedule(random: () => number, tuning: EngineTuning): KillPlan[] {
  const plans: KillPlan[] = [];
  for (let index = 0; index < tuning.killCount; index++) {
    // One kill in three lands during startup and recovery; the others while workflows run.
    if (random() < 1 / 3) {
      plans.push({ at: 'launch', delayMs: Math.floor(random() * tuning.launchWindowMs) });
    } else {
      plans.push({
        at: 'run',
        progress: Math.round(random() * RUN_KILL_PROGRESS_MAX * 1000) / 1000,
        extraDelayMs: Math.floor(random() * (tuning.runKillExtraDelayMsMax + 1)),
      });
    }
  }
  return plans;
}

function describePlan(plan: KillPlan): string {
  return plan.at === 'launch' ? `launch+${plan.delayMs}ms` : `run:${(plan.progress * 100).toFixed(1)}% of missing commits+${plan.extraDelayMs}ms`;
}

/** Every worker process started, so the ones a failing test left behind are killed after the file. */
const liveWorkers = killedAfterFile();

/** A running worker: its stdout lines as they arrive and a promise of its exit. */
class Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[] = [];
  stderr = '';
  executions = 0;
  commits = 0;
  #partial = '';
  #listeners = new Set<() => void>();

  constructor(databaseUrl: string, effectsLogPath: string, incarnation: number, workflowCount: number) {
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER_PATH, databaseUrl, effectsLogPath, String(incarnation), String(workflowCount)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveWorkers.add(this.child);
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => {
        liveWorkers.delete(this.child);
        resolve({ code, signal });
      });
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop()!;
      for (const line of parts) {
        this.lines.push(line);
        if (line.startsWith('EXEC ')) this.executions++;
        else if (line.startsWith('COMMIT ')) this.commits++;
      }
      for (const listener of this.#listeners) listener();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  saw(line: string): boolean {
    return this.lines.includes(line);
  }

  /** Resolves true once `condition` holds, false if the process exits first; rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        finish();
        resolve(true);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`worker did not reach ${what} within ${timeoutMs} ms; stdout tail: ${this.lines.slice(-5).join(' | ')}; stderr: ${this.stderr}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      void this.exited.then(() => {
        // Lines that arrived with the exit are already in `lines`; look once more.
        finish();
        resolve(condition());
      });
    });
  }
}

/** What happened to one killed incarnation. */
interface KillReport {
  readonly incarnation: number;
  readonly plan: KillPlan;
  /** The kill landed before the worker finished everything (it interrupted work). */
  readonly interrupted: boolean;
  /** The kill landed before launch() returned. */
  readonly beforeLaunched: boolean;
  readonly executions: number;
  /** Checkpoints this incarnation committed (as far as it printed before the kill). */
  readonly commits: number;
  readonly signal: NodeJS.Signals | null;
  readonly durationMs: number;
}

async function runKilledIncarnation(
  kind: EngineKind,
  databaseUrl: string,
  effectsLogPath: string,
  incarnation: number,
  plan: KillPlan,
  tuning: EngineTuning,
  missingCommits: number,
): Promise<KillReport> {
  const startedAtMs = Date.now();
  const worker = new Worker(databaseUrl, effectsLogPath, incarnation, tuning.workflowCount);
  const timeoutMs = tuning.incarnationTimeoutMs;
  let reached: boolean;
  if (plan.at === 'launch') {
    reached = await worker.until(() => worker.saw('REGISTERED'), timeoutMs, 'REGISTERED');
    if (reached) await delay(plan.delayMs);
  } else {
    const commitTarget = Math.floor(plan.progress * missingCommits);
    reached = await worker.until(
      () => worker.saw('DONE') || (worker.saw('LAUNCHED') && worker.commits >= commitTarget),
      timeoutMs,
      `LAUNCHED and ${commitTarget} commits`,
    );
    if (reached) await delay(plan.extraDelayMs);
  }
  const finishedBeforeKill = worker.saw('DONE');
  const beforeLaunched = !worker.saw('LAUNCHED');
  worker.child.kill('SIGKILL');
  const { code, signal } = await worker.exited;
  // A worker that ended on its own must have ended well: anything else is a bug to report.
  if (signal !== 'SIGKILL') {
    assert.equal(code, 0, `incarnation ${incarnation} (${describePlan(plan)}) exited ${code} before its kill; stdout tail: ${worker.lines.slice(-5).join(' | ')}; stderr:\n${worker.stderr}`);
  }
  if (kind === 'pglite' && signal === 'SIGKILL' && !beforeLaunched && !finishedBeforeKill) {
    // The killed process held the directory's lock; the next incarnation must take it over.
    const lockPath = join(databaseUrl, 'lock');
    assert.ok(existsSync(lockPath), `a SIGKILLed PGlite process leaves its lock file behind (${lockPath})`);
    const holder = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown };
    assert.equal(holder.pid, worker.child.pid, 'the lock file names the killed process');
  }
  return {
    incarnation,
    plan,
    interrupted: signal === 'SIGKILL' && !finishedBeforeKill,
    beforeLaunched: signal === 'SIGKILL' && beforeLaunched,
    executions: worker.executions,
    commits: worker.commits,
    signal,
    durationMs: Date.now() - startedAtMs,
  };
}

describe('crash safety under SIGKILL', () => {
  const seed = seedFromEnv(SEED_ENV, DEFAULT_SEED);

  for (const kind of engines()) {
    const tuning = TUNING[kind];
    test(
      `${kind}, seed ${seed}: after ${tuning.killCount} SIGKILLed executors every workflow finishes, no committed step runs again, each transaction commits once, each message is received once`,
      { timeout: TEST_TIMEOUT_MS },
      async (t) => {
        const random = mulberry32(seed);
        const schedule = killSchedule(random, tuning);
        t.diagnostic(`seed ${seed} (replay: ${SEED_ENV}=${seed}); schedule: ${schedule.map(describePlan).join(', ')}`);

        const databaseUrl = await freshDatabaseUrl(kind);
        const scratchDir = await mkdtemp(join(tmpdir(), 'strata-crash-'));
        t.after(() => rm(scratchDir, { recursive: true, force: true }));
        const effectsLogPath = join(scratchDir, 'effects.log');
        writeFileSync(effectsLogPath, '');

        // The app table: no unique constraint, so a transaction that committed twice would show.
        const setup = await openDatabase(databaseUrl);
        try {
          await setup.exec('create table crash_effects (workflow_id text not null, step text not null, incarnation integer not null)');
        } finally {
          await setup.close();
        }

        // Commits are printed after they happen, so a kill can hide a few: this count is a floor, good enough to aim the kills.
        const totalCommits = tuning.workflowCount * STEP_PAIRS * 2;
        let committed = 0;
        const reports: KillReport[] = [];
        for (const [incarnation, plan] of schedule.entries()) {
          const report = await runKilledIncarnation(kind, databaseUrl, effectsLogPath, incarnation, plan, tuning, totalCommits - committed);
          committed += report.commits;
          reports.push(report);
        }
        const killedIncarnations = new Set(reports.filter((report) => report.signal === 'SIGKILL').map((report) => report.incarnation));

        // The final incarnation runs undisturbed and must finish everything.
        const finalIncarnation = schedule.length;
        const finalStartedAtMs = Date.now();
        const finalWorker = new Worker(databaseUrl, effectsLogPath, finalIncarnation, tuning.workflowCount);
        const finished = await finalWorker.until(() => finalWorker.saw('DONE'), tuning.finalTimeoutMs, 'DONE (final incarnation)');
        const finalExit = await finalWorker.exited;
        assert.ok(finished, `the final incarnation prints DONE; stderr:\n${finalWorker.stderr}`);
        assert.deepEqual(finalExit, { code: 0, signal: null }, `the final incarnation exits 0; stderr:\n${finalWorker.stderr}`);

        const interrupted = reports.filter((report) => report.interrupted);
        t.diagnostic(
          `kills: ${interrupted.length}/${reports.length} interrupted work (${reports.filter((report) => report.beforeLaunched).length} before launch finished); ` +
            `step executions/commits per incarnation: ${reports.map((report) => `#${report.incarnation} ${report.executions}/${report.commits} in ${report.durationMs}ms${report.interrupted ? '' : ' (done)'}`).join(', ')}, final ${finalWorker.executions}/${finalWorker.commits} in ${Date.now() - finalStartedAtMs}ms`,
        );
        assert.ok(interrupted.length > 0, 'at least one kill interrupted work, or the test proves nothing');

        await checkInvariants(t, databaseUrl, effectsLogPath, tuning.workflowCount, killedIncarnations, finalIncarnation);
      },
    );
  }
});

async function checkInvariants(
  t: { diagnostic(message: string): void },
  databaseUrl: string,
  effectsLogPath: string,
  workflowCount: number,
  killedIncarnations: ReadonlySet<number>,
  finalIncarnation: number,
): Promise<void> {
  const serializer = new Serializer();
  const workflowIds = Array.from({ length: workflowCount }, (_, index) => `wf-${index}`);
  const db = await openDatabase(databaseUrl);
  try {
    // Every workflow finished, successfully, with its own ID as its result.
    const { rows: workflows } = await db.query<{ workflow_id: string; status: string; output: string | null; error: string | null; recovery_attempts: number }>(
      `select workflow_id, status, output, error, recovery_attempts from strata.workflows order by workflow_id`,
    );
    assert.deepEqual(workflows.map((row) => row.workflow_id).sort(), [...workflowIds].sort(), 'exactly the workflows wf-0..wf-(N-1) exist');
    for (const row of workflows) {
      assert.equal(row.status, 'SUCCESS', `${row.workflow_id} finished with SUCCESS (error: ${row.error})`);
      assert.equal(serializer.deserialize(row.output!), row.workflow_id, `${row.workflow_id}'s result is its ID`);
    }

    // Every workflow has exactly its checkpoints (steps, transactions, sleep, sends and recvs), numbered in call order.
    const { rows: steps } = await db.query<{ workflow_id: string; step_id: number; name: string; kind: string; output: string | null; error: string | null }>(
      `select workflow_id, step_id, name, kind, output, error from strata.steps order by workflow_id, step_id`,
    );
    const stepsByWorkflow = groupBy(steps, (row) => row.workflow_id);
    for (const [index, workflowId] of workflowIds.entries()) {
      const rows = stepsByWorkflow.get(workflowId) ?? [];
      const expected = expectedSteps(index);
      assert.deepEqual(
        rows.map((row) => ({ stepId: row.step_id, name: row.name, kind: row.kind })),
        expected.map((step, stepId) => ({ stepId, ...step })),
        `${workflowId} has ${expected.length} contiguous checkpoints in call order`,
      );
      for (const row of rows) assert.equal(row.error, null, `${workflowId} step ${row.name} recorded no error`);
    }

    // Each workflow got exactly its partner's messages, once each and in order: one row per send
    // (none sent twice), all consumed, and its recvs recorded them in order.
    const { rows: messages } = await db.query<{ destination_id: string; topic: string; message: string; consumed: boolean }>(
      `select destination_id, topic, message, consumed_at is not null as consumed from strata.messages order by message_id`,
    );
    const messagesByWorkflow = groupBy(messages, (row) => row.destination_id);
    for (const [index, workflowId] of workflowIds.entries()) {
      const expectedMessages = Array.from({ length: STEP_PAIRS }, (_, pair) => exchangedMessage(partnerOf(index), pair));
      const inbox = messagesByWorkflow.get(workflowId) ?? [];
      assert.deepEqual(
        inbox.map((row) => ({ topic: row.topic, message: serializer.deserialize(row.message), consumed: row.consumed })),
        expectedMessages.map((message) => ({ topic: MESSAGE_TOPIC, message, consumed: true })),
        `${workflowId} was sent each of its partner's ${STEP_PAIRS} messages once, and consumed them all`,
      );
      const received = (stepsByWorkflow.get(workflowId) ?? []).filter((row) => row.kind === 'recv').map((row) => serializer.deserialize(row.output!));
      assert.deepEqual(received, expectedMessages, `${workflowId}'s recvs recorded its partner's messages in order, each once`);
    }

    // Each transaction's effect is there exactly once, written by the incarnation whose
    // checkpoint committed with it.
    const { rows: effects } = await db.query<{ workflow_id: string; step: string; incarnation: number }>(
      `select workflow_id, step, incarnation from crash_effects`,
    );
    const effectsByKey = groupBy(effects, (row) => `${row.workflow_id} ${row.step}`);
    assert.equal(effects.length, workflowCount * STEP_PAIRS, 'one crash_effects row per transaction step, no more');
    for (const row of steps.filter((step) => step.kind === 'transaction')) {
      const key = `${row.workflow_id} ${row.name}`;
      const rowsOfStep = effectsByKey.get(key) ?? [];
      assert.equal(rowsOfStep.length, 1, `transaction ${key} wrote its row exactly once (found ${rowsOfStep.length})`);
      const { incarnation } = serializer.deserialize<{ incarnation: number }>(row.output!);
      assert.equal(rowsOfStep[0]!.incarnation, incarnation, `transaction ${key}'s row and checkpoint committed together`);
    }

    // Each plain step ran exactly once in the incarnation that committed its checkpoint, never
    // after it, and before it only in incarnations that were killed.
    const executions = groupBy(
      readFileSync(effectsLogPath, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [workflowId, step, incarnation, ...rest] = line.split(' ');
          assert.equal(rest.length, 0, `effects log line ${JSON.stringify(line)} has three fields`);
          return { key: `${workflowId} ${step}`, incarnation: Number(incarnation) };
        }),
      (execution) => execution.key,
    );
    const plainSteps = steps.filter((step) => step.kind === 'step');
    assert.deepEqual(
      [...executions.keys()].sort(),
      plainSteps.map((row) => `${row.workflow_id} ${row.name}`).sort(),
      'the effects log names exactly the plain steps of the workflows',
    );
    let reExecutedSteps = 0;
    for (const row of plainSteps) {
      const key = `${row.workflow_id} ${row.name}`;
      const { incarnation: committedBy } = serializer.deserialize<{ incarnation: number }>(row.output!);
      const runs = (executions.get(key) ?? []).map((execution) => execution.incarnation);
      const later = runs.filter((incarnation) => incarnation > committedBy);
      assert.deepEqual(later, [], `step ${key} committed by incarnation ${committedBy} never ran after it (runs: ${runs.join(',')})`);
      const inCommitting = runs.filter((incarnation) => incarnation === committedBy);
      assert.equal(inCommitting.length, 1, `step ${key} ran exactly once in its committing incarnation ${committedBy} (runs: ${runs.join(',')})`);
      for (const incarnation of runs.filter((run) => run < committedBy)) {
        assert.ok(killedIncarnations.has(incarnation), `step ${key} ran uncommitted in incarnation ${incarnation}, which was killed`);
      }
      assert.ok(committedBy <= finalIncarnation);
      if (runs.length > 1) reExecutedSteps++;
    }
    // Each launch claims each PENDING workflow once; more claims than launches means the
    // recovery loop re-claimed rows (and enough of them mark a healthy workflow ERROR).
    const launches = finalIncarnation + 1;
    const maxRecoveries = Math.max(...workflows.map((row) => row.recovery_attempts));
    for (const row of workflows) {
      assert.ok(
        row.recovery_attempts <= launches,
        `${row.workflow_id} was claimed for recovery ${row.recovery_attempts} times in ${launches} launches; each launch must claim a PENDING workflow at most once`,
      );
    }
    t.diagnostic(
      `invariants hold: ${workflowCount} workflows SUCCESS, ${steps.length} checkpoints, ${effects.length} transaction rows (no duplicates), ${messages.length} messages each received once, ` +
        `${reExecutedSteps} step(s) re-executed after a kill between effect and checkpoint; most recoveries of one workflow: ${maxRecoveries}`,
    );
  } finally {
    await db.close();
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
