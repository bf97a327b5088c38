// Surviving the database: the PostgreSQL server is stopped like a crash (`pg_ctl stop -m
// immediate`) and restarted after half a second, after three seconds, after longer than the
// executor timeout, twice in a row; or its connections are cut with pg_terminate_backend. The app
// process keeps running through it (no uncaught exception), its workflows pause and go on by
// themselves once the database is back, nothing committed is lost or done twice, waits either
// keep waiting or reject with the typed STRATA_DATABASE_UNAVAILABLE (never a raw driver error),
// calls made while the server is down reject with that error and work again after the restart,
// and a recv whose message was sent while the engine's LISTEN connection was down still wakes
// (the engine reaches the server through a TCP proxy the test cuts, so the message is certainly
// sent while the engine cannot listen).
//
// The tests run on two throwaway clusters of this file's own (the suite's shared one serves other
// files meanwhile), each test on a database of its own: on each cluster one test at a time (an
// initdb per test cost seconds), and the two clusters' tests at the same time, since the
// 30-second outage on the second is mostly waiting.
// The moments of the outages come from a seeded PRNG, printed at the start; to replay a run:
//   STRATA_TEST_SEED=<seed> node --import tsx --test packages/transact/test/outage.test.ts

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SeededRandom, engines, startCluster, testSeed, type PgCluster } from '@strata/testing';
import { Serializer, Strata, StrataClient } from '@strata/transact';
import { SETTLE_MS, WAIT_MS, delay, killedAfterFile, launchOrShutDown, quiet, within } from './helpers.js';
import {
  DATABASE_UNAVAILABLE_CODE,
  DONE_EVENT,
  EFFECTS_TABLE,
  EXECUTOR_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  MESSAGE_TOPIC,
  ROUNDS,
  TOTAL_CHECKPOINTS,
  allWorkflowIds,
  exchangedMessage,
  expectedOutput,
  expectedSteps,
  partnerOf,
} from './outage/shape.js';
import { TcpProxy } from './outage/tcp-proxy.js';

const WORKER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'outage', 'worker.ts');

/**
 * Prefix of the database each test's engines use, `app_<n>` (not `postgres`, which the harness's
 * admin connection uses): one per test, so nothing of an earlier test on the same cluster is seen.
 */
const APP_DATABASE_PREFIX = 'app';

/** Longest a test may take; a stuck engine fails it instead of hanging the suite. */
const TEST_TIMEOUT_MS = 120_000;

/** The worker's launch plus every start and enqueue: a few seconds when healthy. */
const WORKER_START_BOUND_MS = 60_000;

/**
 * Once the database is back, the workload must finish within this. A healthy run needs a few
 * seconds after the restart; the bound only keeps a stuck engine from hanging the file.
 */
const RECOVERY_BOUND_MS = 45_000;

/** A call made while the server is down must settle (reject) within this: well above any reconnect attempt. */
const CALL_WHILE_DOWN_BOUND_MS = 20_000;

/**
 * The engine's safety poll in the LISTEN tests: so long that a wake-up within
 * {@link LISTEN_WAKE_BOUND_MS} can only come from a re-established LISTEN or a re-scan.
 */
const LISTEN_TEST_SAFETY_POLL_MS = 60_000;

/** Far below LISTEN_TEST_SAFETY_POLL_MS, far above a healthy wake-up (milliseconds). */
const LISTEN_WAKE_BOUND_MS = 20_000;

/** The engine stays cut off this long after the message was sent: its reconnect attempts fail meanwhile. */
const LISTEN_DOWN_AFTER_SEND_MS = 1_000;

/** The outage begins once this fraction range of the workload's checkpoints has committed (seeded). */
const OUTAGE_PROGRESS_MIN = 0.1;
const OUTAGE_PROGRESS_MAX = 0.5;
/** The second of two crashes comes within this many checkpoints of the first's restart: well inside the half of the workload left. */
const SECOND_CRASH_AFTER_MAX_CHECKPOINTS = 20;

/** A graceful shutdown after the test; one that hangs fails the test instead of hanging the file. */
const SHUTDOWN_BOUND_MS = 20_000;

/** Words in the worker's stderr that mean it lost an exception. */
const UNCAUGHT_PATTERN = /uncaught|unhandled/i;

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL: STRATA_TEST_ENGINES excludes postgres';

/** Every worker process started, so the ones a failing test left behind are killed after the file. */
const liveWorkers = killedAfterFile();

/** One seed for the file; each test forks its own stream by name, so tests do not shift each other. */
let fileRandom: SeededRandom | undefined;
function randomFor(t: TestContext, name: string): SeededRandom {
  fileRandom ??= new SeededRandom(testSeed('outage.test.ts'));
  t.diagnostic(`seed ${fileRandom.seed} (replay: STRATA_TEST_SEED=${fileRandom.seed})`);
  return fileRandom.fork(name);
}

/** A test's place: a cluster it may crash and restart, and a database of its own on it. */
interface TestDatabase {
  readonly cluster: PgCluster;
  /** The database's name, for `terminateBackends`. */
  readonly database: string;
  readonly url: string;
}

/** A throwaway cluster; stopped and removed by its user (at the latest when the process exits). */
function startDurableCluster(): Promise<PgCluster> {
  // synchronous_commit=on: an immediate stop must not lose commits the server acknowledged
  // (the harness turns it off for speed), or "nothing committed is lost" could not be checked.
  return startCluster({ settings: { synchronous_commit: 'on' } });
}

/** Databases created so far in this file, so each test's gets a new name. */
let databasesCreated = 0;

/** A new database on `cluster`, for one test. */
async function createTestDatabase(cluster: PgCluster): Promise<TestDatabase> {
  const database = `${APP_DATABASE_PREFIX}_${++databasesCreated}`;
  await withClient(cluster.url, (client) => client.query(`create database ${database}`));
  const url = new URL(cluster.url);
  url.pathname = `/${database}`;
  return { cluster, database, url: url.toString() };
}

/**
 * A cluster that the tests of one describe share, one test at a time, each on a database of its
 * own: an initdb per test cost seconds. Started by the first test, stopped by the describe's after().
 */
class SharedCluster {
  #start: Promise<PgCluster> | undefined;

  /**
   * A new database for test `t`. The test may crash and restart the server as it likes: after the
   * test the server is started again if it was left down (a failed test must not fail the next),
   * and no other test uses the cluster meanwhile.
   */
  async database(t: TestContext): Promise<TestDatabase> {
    this.#start ??= startDurableCluster();
    const cluster = await this.#start;
    t.after(() => cluster.startServer());
    return createTestDatabase(cluster);
  }

  /** Stops and removes the cluster, if a test started it. */
  async stop(): Promise<void> {
    const cluster = await this.#start?.catch(() => undefined);
    await cluster?.stop();
  }
}

/** Runs `use` on a fresh connection to `url`, closed afterwards. */
async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // The server may go away under this connection; that must be a failed query, not a crash.
  client.on('error', () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Checkpoints in strata.steps of `url`, or undefined when the database does not answer. */
async function committedCheckpoints(url: string): Promise<number | undefined> {
  try {
    return await withClient(url, async (client) => {
      const { rows } = await client.query<{ n: number }>('select count(*)::int as n from strata.steps');
      return rows[0]!.n;
    });
  } catch {
    return undefined;
  }
}

/** The status of `workflowId` in the database at `url`, or undefined when it does not answer. */
async function workflowStatus(url: string, workflowId: string): Promise<string | undefined> {
  try {
    return await withClient(url, async (client) => {
      const { rows } = await client.query<{ status: string }>('select status from strata.workflows where workflow_id = $1', [workflowId]);
      return rows[0]?.status;
    });
  } catch {
    return undefined;
  }
}

/**
 * Records uncaught exceptions and unhandled rejections of this process while the test runs (an
 * engine running in the test's own process must not raise any), and fails the test if any came.
 */
function trapUncaught(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const record = (error: unknown) => seen.push(error);
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  t.after(() => {
    process.off('uncaughtException', record);
    process.off('unhandledRejection', record);
  });
  return seen;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code === undefined ? '' : ` [${String(code)}]`}: ${error.message}`;
}

function assertTypedUnavailable(error: unknown, what: string): void {
  assert.equal(
    (error as { code?: unknown } | undefined)?.code,
    DATABASE_UNAVAILABLE_CODE,
    `${what} rejects with the typed ${DATABASE_UNAVAILABLE_CODE}, not a raw driver error; got ${describeError(error)}`,
  );
}

/** The rejection of `promise`; fails when it fulfils. */
async function rejectionOf(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    const value = await promise;
    assert.fail(`${what} was expected to reject, but returned ${JSON.stringify(value)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error;
  }
}

/** A wait in progress: how it settled, observed without awaiting it. */
interface ObservedWait {
  readonly promise: Promise<unknown>;
  state: 'waiting' | 'resolved' | 'rejected';
  value?: unknown;
  error?: unknown;
}

function observe(promise: Promise<unknown>): ObservedWait {
  const observed: ObservedWait = { promise, state: 'waiting' };
  promise.then(
    (value) => Object.assign(observed, { state: 'resolved', value }),
    (error: unknown) => Object.assign(observed, { state: 'rejected', error }),
  );
  return observed;
}

// ---------------------------------------------------------------------------------------------
// The worker: the app process, a child, so "the app stays up" is its exit status and stderr.
// ---------------------------------------------------------------------------------------------

class Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[] = [];
  stderr = '';
  #partial = '';
  #listeners = new Set<() => void>();
  #exitedNow = false;

  constructor(databaseUrl: string, effectsLogPath: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER_PATH, databaseUrl, effectsLogPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    liveWorkers.add(this.child);
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => {
        liveWorkers.delete(this.child);
        this.#exitedNow = true;
        resolve({ code, signal });
        for (const listener of this.#listeners) listener();
      });
    });
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

  get hasExited(): boolean {
    return this.#exitedNow;
  }

  saw(prefix: string): boolean {
    return this.lines.some((line) => line.startsWith(prefix));
  }

  linesStartingWith(prefix: string): string[] {
    return this.lines.filter((line) => line.startsWith(prefix));
  }

  /** What a failure message should show: the last lines of stdout and the stderr. */
  describe(): string {
    return `stdout tail:\n  ${this.lines.slice(-15).join('\n  ')}\nstderr:\n${this.stderr}`;
  }

  /** Resolves once the worker printed a line starting with `prefix`; rejects if it exits first or `timeoutMs` passes. */
  until(prefix: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.saw(prefix)) {
          finish();
          resolve();
        } else if (this.#exitedNow) {
          finish();
          reject(new Error(`the worker exited before printing ${prefix}; ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`the worker did not print ${prefix} within ${timeoutMs} ms; ${this.describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }
}

/** Polls until `url` has at least `target` checkpoints (or the worker is gone or finished). */
async function untilCheckpoints(url: string, worker: Worker, target: number): Promise<number> {
  const deadline = Date.now() + WORKER_START_BOUND_MS;
  for (;;) {
    const committed = await committedCheckpoints(url);
    if (committed !== undefined && committed >= target) return committed;
    if (worker.hasExited || worker.saw('OUTCOMES')) throw new Error(`the workload ended before ${target} checkpoints committed; ${worker.describe()}`);
    if (Date.now() > deadline) throw new Error(`${target} checkpoints did not commit within ${WORKER_START_BOUND_MS} ms (at ${committed}); ${worker.describe()}`);
    await delay(20);
  }
}

// ---------------------------------------------------------------------------------------------
// What must hold after the workload, whatever the outage.
// ---------------------------------------------------------------------------------------------

async function checkWorkload(t: TestContext, url: string, worker: Worker, effectsLogPath: string): Promise<void> {
  const workflowIds = allWorkflowIds();
  const serializer = new Serializer();

  // The app's waits: nothing but the typed error on the way, then every output and event.
  assert.deepEqual(worker.linesStartingWith('BAD '), [], 'no wait rejected with anything but the typed STRATA_DATABASE_UNAVAILABLE');
  const outcomesLine = worker.linesStartingWith('OUTCOMES ')[0];
  assert.ok(outcomesLine !== undefined, `the worker reported its waits' outcomes; ${worker.describe()}`);
  const outcomes = JSON.parse(outcomesLine.slice('OUTCOMES '.length)) as Record<string, { value?: unknown }>;
  for (const workflowId of workflowIds) {
    assert.deepEqual(outcomes[`result ${workflowId}`], { value: expectedOutput(workflowId) }, `${workflowId}'s result() returned its output`);
    assert.deepEqual(outcomes[`getEvent ${workflowId}`], { value: expectedOutput(workflowId) }, `getEvent(${workflowId}, '${DONE_EVENT}') returned its output`);
  }

  await withClient(url, async (db) => {
    // Every workflow finished, successfully, with its exact output.
    const { rows: workflows } = await db.query<{ workflow_id: string; status: string; output: string | null; error: string | null }>(
      'select workflow_id, status, output, error from strata.workflows order by workflow_id',
    );
    assert.deepEqual(workflows.map((row) => row.workflow_id).sort(), [...workflowIds].sort(), 'exactly the workload\'s workflows exist');
    for (const row of workflows) {
      assert.equal(row.status, 'SUCCESS', `${row.workflow_id} finished with SUCCESS (error: ${row.error})`);
      assert.equal(serializer.deserialize(row.output!), expectedOutput(row.workflow_id), `${row.workflow_id}'s stored output`);
    }

    // Nothing committed was lost: each workflow's checkpoints are contiguous from 0 and are its
    // operations in call order, none failed.
    const { rows: steps } = await db.query<{ workflow_id: string; step_id: number; name: string; kind: string; output: string | null; error: string | null; completed_ms: number }>(
      `select workflow_id, step_id, name, kind, output, error, extract(epoch from completed_at)::float8 * 1000 as completed_ms
         from strata.steps order by workflow_id, step_id`,
    );
    const stepsOf = groupBy(steps, (row) => row.workflow_id);
    const ownKinds = new Set(['step', 'transaction', 'send', 'recv', 'sleep']);
    for (const workflowId of workflowIds) {
      const rows = stepsOf.get(workflowId) ?? [];
      assert.deepEqual(rows.map((row) => row.step_id), rows.map((_, index) => index), `${workflowId}'s checkpoints are numbered 0..${rows.length - 1} without a gap`);
      assert.deepEqual(
        rows.filter((row) => ownKinds.has(row.kind)).map((row) => ({ name: row.name, kind: row.kind })),
        expectedSteps(workflowId).map((step) => ({ ...step })),
        `${workflowId}'s checkpoints are its operations, in call order, each once`,
      );
      for (const row of rows) assert.equal(row.error, null, `${workflowId} step ${row.step_id} (${row.name}) recorded no error`);
      const received = rows.filter((row) => row.kind === 'recv').map((row) => serializer.deserialize(row.output!));
      const partner = partnerOf(workflowId);
      assert.deepEqual(received, Array.from({ length: ROUNDS }, (_, round) => exchangedMessage(partner, round)), `${workflowId}'s recvs recorded its partner's messages in order`);
    }

    // Every message sent once and received once.
    const { rows: messages } = await db.query<{ destination_id: string; topic: string; message: string; consumed: boolean }>(
      'select destination_id, topic, message, consumed_at is not null as consumed from strata.messages order by message_id',
    );
    const inboxes = groupBy(messages, (row) => row.destination_id);
    for (const workflowId of workflowIds) {
      const partner = partnerOf(workflowId);
      assert.deepEqual(
        (inboxes.get(workflowId) ?? []).map((row) => ({ topic: row.topic, message: serializer.deserialize(row.message), consumed: row.consumed })),
        Array.from({ length: ROUNDS }, (_, round) => ({ topic: MESSAGE_TOPIC, message: exchangedMessage(partner, round), consumed: true })),
        `${workflowId} was sent each of its partner's messages once, and consumed each`,
      );
    }

    // Each transaction's row exactly once.
    const { rows: effects } = await db.query<{ workflow_id: string; step: string; n: number }>(
      `select workflow_id, step, count(*)::int as n from ${EFFECTS_TABLE} group by workflow_id, step order by workflow_id, step`,
    );
    const expectedEffects = workflowIds
      .flatMap((workflowId) => Array.from({ length: ROUNDS }, (_, round) => ({ workflow_id: workflowId, step: `t${round}`, n: 1 })))
      .sort((a, b) => (a.workflow_id === b.workflow_id ? a.step.localeCompare(b.step) : a.workflow_id < b.workflow_id ? -1 : 1));
    assert.deepEqual(effects, expectedEffects, `each transaction's row is in ${EFFECTS_TABLE} exactly once`);

    // No plain step ran after its checkpoint committed: every execution (a line in the effects
    // log, written when the step's code ran) is older than its committed checkpoint. A step may
    // have run more than once only before that, when an outage lost its first checkpoint.
    const executions = groupBy(
      readFileSync(effectsLogPath, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [workflowId, step, atMs, ...rest] = line.split(' ');
          assert.equal(rest.length, 0, `effects log line ${JSON.stringify(line)} has three fields`);
          return { key: `${workflowId} ${step}`, atMs: Number(atMs) };
        }),
      (execution) => execution.key,
    );
    const plainSteps = steps.filter((row) => row.kind === 'step');
    assert.deepEqual([...executions.keys()].sort(), plainSteps.map((row) => `${row.workflow_id} ${row.name}`).sort(), 'the effects log names exactly the plain steps');
    let reExecuted = 0;
    for (const row of plainSteps) {
      const key = `${row.workflow_id} ${row.name}`;
      const runs = executions.get(key) ?? [];
      for (const run of runs) {
        assert.ok(
          run.atMs <= row.completed_ms,
          `step ${key} ran at ${run.atMs}, after its checkpoint committed at ${row.completed_ms.toFixed(3)}: a committed step ran again`,
        );
      }
      if (runs.length > 1) reExecuted++;
    }
    t.diagnostic(
      `invariants hold: ${workflows.length} workflows SUCCESS, ${steps.length} checkpoints, ${effects.length} transaction rows once each, ${messages.length} messages once each; ` +
        `${reExecuted} step(s) ran again before their checkpoint committed; ${worker.linesStartingWith('REJECTED ').length} wait(s) rejected with the typed error and were called again; ` +
        `${worker.linesStartingWith('LOG warn').length + worker.linesStartingWith('LOG error').length} engine warning/error lines`,
    );
  });
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

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/** One way the database goes away while the workload runs; returns once it is back. */
interface Outage {
  readonly name: string;
  /**
   * Mostly waiting for the server to come back: it runs on the second cluster, at the same time as
   * the other outages on the first, instead of after them.
   */
  readonly alongside?: true;
  run(where: TestDatabase, random: SeededRandom, t: TestContext): Promise<void>;
}

const OUTAGES: readonly Outage[] = [
  {
    name: 'the server crashes (stop -m immediate) and is back after 0.5 s',
    run: ({ cluster }) => cluster.restartServer({ mode: 'immediate', downMs: 500 }),
  },
  {
    name: 'the server crashes (stop -m immediate) and is back after 3 s',
    run: ({ cluster }) => cluster.restartServer({ mode: 'immediate', downMs: 3_000 }),
  },
  {
    name: `the server is down for 4.5 s, longer than the executor timeout (${EXECUTOR_TIMEOUT_MS} ms, heartbeat ${HEARTBEAT_INTERVAL_MS} ms)`,
    run: ({ cluster }) => cluster.restartServer({ mode: 'immediate', downMs: 4_500 }),
  },
  {
    name: 'the server crashes (stop -m immediate) and is back after 30 s',
    alongside: true,
    run: ({ cluster }) => cluster.restartServer({ mode: 'immediate', downMs: 30_000 }),
  },
  {
    name: 'the server crashes twice in a row',
    run: async ({ cluster, url }, random, t) => {
      await cluster.restartServer({ mode: 'immediate', downMs: 500 });
      // The second crash is aimed at progress, like the first: a few more commits after the restart.
      // An up-time could outlast the rest of the workload on a quick run (the app then finished,
      // exited, and the second crash hit nothing).
      const more = random.int(1, SECOND_CRASH_AFTER_MAX_CHECKPOINTS);
      const start = (await committedCheckpoints(url)) ?? 0;
      const deadline = Date.now() + WORKER_START_BOUND_MS;
      let committed = start;
      while (committed < start + more && Date.now() < deadline) {
        await delay(5);
        committed = (await committedCheckpoints(url)) ?? committed;
      }
      t.diagnostic(`second crash after ${committed - start} more checkpoints (aimed at ${more})`);
      await cluster.restartServer({ mode: 'immediate', downMs: 500 });
    },
  },
  {
    name: 'every connection is killed with pg_terminate_backend, twice',
    run: async ({ cluster, database }, random, t) => {
      const first = await cluster.terminateBackends(database);
      const betweenMs = random.int(50, 800);
      await delay(betweenMs);
      const second = await cluster.terminateBackends(database);
      t.diagnostic(`terminated ${first} backends, then ${second} backends ${betweenMs} ms later`);
      assert.ok(first > 0, 'the first pg_terminate_backend cut the engine\'s connections');
    },
  },
];

/** The name of an outage's test. */
function outageTestName(outage: Outage): string {
  return `${outage.name}: the app stays up, every workflow (direct and queued) goes on by itself and finishes exactly once, waits never see a raw driver error`;
}

/**
 * An outage's test: the app process runs the workload on `where`, the outage hits it at a seeded
 * point, and the workload must finish by itself with every invariant of {@link checkWorkload}.
 */
async function outageTest(t: TestContext, outage: Outage, where: TestDatabase): Promise<void> {
  const random = randomFor(t, outage.name);
  const { url } = where;
  await withClient(url, (client) => client.query(`create table ${EFFECTS_TABLE} (workflow_id text not null, step text not null)`));
  const scratchDir = await mkdtemp(join(tmpdir(), 'strata-outage-'));
  t.after(() => rm(scratchDir, { recursive: true, force: true }));
  const effectsLogPath = join(scratchDir, 'effects.log');
  writeFileSync(effectsLogPath, '');

  const worker = new Worker(url, effectsLogPath);
  t.after(() => {
    if (!worker.hasExited) worker.child.kill('SIGKILL');
  });
  await worker.until('STARTED', WORKER_START_BOUND_MS);

  // Aim the outage at a seeded point of the workload, counted in commits (time would
  // depend on the machine's load).
  const target = random.int(Math.floor(OUTAGE_PROGRESS_MIN * TOTAL_CHECKPOINTS), Math.floor(OUTAGE_PROGRESS_MAX * TOTAL_CHECKPOINTS));
  const committedBefore = await untilCheckpoints(url, worker, target);
  await outage.run(where, random, t);
  t.diagnostic(`outage began after ${committedBefore}/${TOTAL_CHECKPOINTS} checkpoints (target ${target})`);
  assert.ok(!worker.hasExited, `the app process is still running after the outage; ${worker.describe()}`);

  // Nobody restarts the app or touches anything: it must finish by itself.
  await worker.until('DONE', RECOVERY_BOUND_MS);
  const exit = await worker.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `the app process exits 0 after DONE; ${worker.describe()}`);
  assert.doesNotMatch(worker.stderr, UNCAUGHT_PATTERN, 'the app process had no uncaught exception or unhandled rejection');
  await checkWorkload(t, url, worker, effectsLogPath);
}

describe('surviving the database (PostgreSQL)', { skip, concurrency: 2 }, () => {
  describe('the harness and the app process through short outages, one test at a time on a cluster they share', { concurrency: 1 }, () => {
    const shared = new SharedCluster();
    after(() => shared.stop());

    test('the harness: a restarted server keeps its data and port, refuses connections while down, and terminateBackends cuts connections', async (t) => {
      const { cluster, database, url } = await shared.database(t);
      await withClient(url, async (client) => {
        await client.query('create table kept (x int)');
        await client.query('insert into kept values (1)');
        await cluster.restartServer({ mode: 'immediate', downMs: 200 });
        await assert.rejects(client.query('select 1'), 'a connection open across the restart is broken');
      });
      assert.deepEqual(await withClient(url, async (client) => (await client.query('select x from kept')).rows), [{ x: 1 }], 'a committed row survives an immediate stop');
      await cluster.stopServer();
      await assert.rejects(withClient(url, (client) => client.query('select 1')), /ECONNREFUSED/, 'a new connection is refused while the server is down');
      await cluster.startServer();
      await withClient(url, async (client) => {
        const killed = await cluster.terminateBackends(database);
        assert.equal(killed, 1, 'terminateBackends cut the one connection to the app database');
        await assert.rejects(client.query('select 1'), 'the terminated connection is broken');
      });
    });

    for (const outage of OUTAGES.filter((each) => each.alongside !== true)) {
      test(outageTestName(outage), { timeout: TEST_TIMEOUT_MS }, async (t) => outageTest(t, outage, await shared.database(t)));
    }
  });

  // At the same time, on a second cluster: the 30-second outage, mostly waiting, then the tests of
  // an engine in this process. The two groups take about as long.
  describe('the long outage, then the engine in this process, one test at a time on a cluster they share', { concurrency: 1 }, () => {
    const shared = new SharedCluster();
    after(() => shared.stop());

    for (const outage of OUTAGES.filter((each) => each.alongside === true)) {
      test(outageTestName(outage), { timeout: TEST_TIMEOUT_MS }, async (t) => outageTest(t, outage, await shared.database(t)));
    }

    test(
      'calls made while the server is down reject with STRATA_DATABASE_UNAVAILABLE and work again after the restart; waits in progress keep waiting or reject with it',
      { timeout: TEST_TIMEOUT_MS },
      async (t) => {
        const uncaught = trapUncaught(t);
        const { cluster, url } = await shared.database(t);
        const strata = new Strata({ database: url, logger: quiet, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, executorTimeoutMs: EXECUTOR_TIMEOUT_MS });
        const gate = strata.workflow('gate', async (ctx) => {
          await ctx.setEvent('ready', true);
          const message = await ctx.recv<string>('go', { timeoutMs: Infinity });
          await ctx.setEvent('got', message);
          return `gate got ${message}`;
        });
        const echo = strata.workflow('echo', async (_ctx, text: string) => text);
        await launchOrShutDown(strata);
        t.after(() => within(strata.shutdown(), 'strata.shutdown()', SHUTDOWN_BOUND_MS));

        const handle = await gate.with({ workflowId: 'gate' }).start();
        assert.equal(await strata.getEvent('gate', 'ready', { timeoutMs: WAIT_MS }), true);
        await delay(SETTLE_MS); // let the gate reach its recv
        const waits: Record<string, { call: () => Promise<unknown>; observed: ObservedWait; expected: unknown }> = {};
        const addWait = (name: string, call: () => Promise<unknown>, expected: unknown) => {
          waits[name] = { call, observed: observe(call()), expected };
        };
        addWait('handle.result()', () => handle.result({ timeoutMs: TEST_TIMEOUT_MS }), 'gate got go');
        addWait("strata.retrieve('gate').result()", () => strata.retrieve('gate').result({ timeoutMs: TEST_TIMEOUT_MS }), 'gate got go');
        addWait("strata.getEvent('gate', 'got')", () => strata.getEvent('gate', 'got', { timeoutMs: TEST_TIMEOUT_MS }), 'go');

        await cluster.stopServer({ mode: 'immediate' });
        const startError = await within(rejectionOf(echo.with({ workflowId: 'during' }).start('x'), 'workflow.start() while down'), 'workflow.start() while the server is down to reject', CALL_WHILE_DOWN_BOUND_MS);
        assertTypedUnavailable(startError, 'workflow.start() while the server is down');
        const sendError = await within(rejectionOf(strata.send('gate', 'early', { topic: 'other' }), 'strata.send() while down'), 'strata.send() while the server is down to reject', CALL_WHILE_DOWN_BOUND_MS);
        assertTypedUnavailable(sendError, 'strata.send() while the server is down');
        const statusError = await within(rejectionOf(handle.status(), 'handle.status() while down'), 'handle.status() while the server is down to reject', CALL_WHILE_DOWN_BOUND_MS);
        assertTypedUnavailable(statusError, 'handle.status() while the server is down');
        const duringOutage = Object.entries(waits).map(([name, wait]) => `${name}: ${wait.observed.state}${wait.observed.state === 'rejected' ? ` (${describeError(wait.observed.error)})` : ''}`);
        for (const [name, wait] of Object.entries(waits)) {
          if (wait.observed.state === 'rejected') assertTypedUnavailable(wait.observed.error, `${name}, waiting when the server went down,`);
          assert.notEqual(wait.observed.state, 'resolved', `${name} cannot have finished: the gate's message was never sent`);
        }
        await cluster.startServer();

        // The same calls work again, with no restart of the engine.
        await strata.send('gate', 'go', { topic: 'go' });
        const after = await echo.with({ workflowId: 'after' }).start('y');
        assert.equal(await within(after.result(), 'the workflow started after the restart to finish', RECOVERY_BOUND_MS), 'y');
        assert.equal(
          await withClient(url, async (client) => (await client.query<{ n: number }>("select count(*)::int as n from strata.workflows where workflow_id = 'during'")).rows[0]!.n),
          0,
          'the start that was refused while the server was down wrote nothing',
        );
        // Each wait in progress either kept waiting and now returns, or rejected with the typed error and, called again, returns.
        for (const [name, wait] of Object.entries(waits)) {
          const value = wait.observed.state === 'rejected'
            ? await within(wait.call(), `${name}, called again after the restart,`, RECOVERY_BOUND_MS)
            : await within(wait.observed.promise, `${name}, waiting across the outage,`, RECOVERY_BOUND_MS);
          assert.deepEqual(value, wait.expected, `${name} returns the workflow's value`);
        }
        t.diagnostic(`waits while the server was down: ${duringOutage.join('; ')}`);
        assert.deepEqual(uncaught.map(describeError), [], 'no uncaught exception or unhandled rejection in the process');
      },
    );

    for (const cut of ['restart', 'terminate'] as const) {
      const how = cut === 'restart'
        ? 'the server crashed and restarted'
        : "the engine's connections were killed with pg_terminate_backend";
      test(
        `a recv whose message was sent after ${how}, while the engine could not yet LISTEN again, wakes once it can, without waiting for the safety poll`,
        { timeout: TEST_TIMEOUT_MS },
        async (t) => {
          const uncaught = trapUncaught(t);
          const { cluster, database, url } = await shared.database(t);
          // The engine reaches the server through a proxy the test can cut, so the message below is
          // sent (and its NOTIFY goes out) while the engine certainly has no LISTEN connection.
          const proxy = await TcpProxy.start(cluster.port);
          t.after(() => proxy.close());
          const engineUrl = new URL(url);
          engineUrl.port = String(proxy.port);
          // Default heartbeat and executor timeout: the engine's link is down for a few seconds,
          // and it must not take itself for dead (its recovery would re-read the message anyway).
          const strata = new Strata({ database: engineUrl.toString(), logger: quiet, safetyPollIntervalMs: LISTEN_TEST_SAFETY_POLL_MS });
          const waiter = strata.workflow('waiter', async (ctx) => {
            await ctx.step('ready', async () => true);
            return ctx.recv<string>('wake', { timeoutMs: Infinity });
          });
          await launchOrShutDown(strata);
          t.after(() => within(strata.shutdown(), 'strata.shutdown()', SHUTDOWN_BOUND_MS));
          await waiter.with({ workflowId: 'waiter' }).start();
          await within(
            (async () => {
              while (((await committedCheckpoints(url)) ?? 0) < 1) await delay(20);
            })(),
            'the waiter to record its first step',
            WAIT_MS,
          );
          await delay(SETTLE_MS); // let it reach its recv and wait there

          if (cut === 'restart') {
            proxy.cut();
            await cluster.restartServer({ mode: 'immediate', downMs: 500 });
          } else {
            proxy.refuse();
            assert.ok((await cluster.terminateBackends(database)) > 0, "pg_terminate_backend cut the engine's connections");
          }

          // Another, independent sender on the same database sends while the engine cannot
          // connect: nobody is listening for its NOTIFY.
          const client = await StrataClient.connect({ database: url });
          t.after(() => within(client.close(), 'client.close()', SHUTDOWN_BOUND_MS));
          await client.send('waiter', 'wake up', { topic: 'wake' });
          await delay(LISTEN_DOWN_AFTER_SEND_MS);
          assert.equal(await workflowStatus(url, 'waiter'), 'PENDING', 'the waiter cannot have received the message while the engine could not reach the database');
          await proxy.accept();
          const restoredAtMs = Date.now();

          await within(
            (async () => {
              while ((await workflowStatus(url, 'waiter')) !== 'SUCCESS') await delay(50);
            })(),
            `the waiter to receive the message once the engine can reach the database (safety poll ${LISTEN_TEST_SAFETY_POLL_MS} ms)`,
            LISTEN_WAKE_BOUND_MS,
          );
          t.diagnostic(`woke ${Date.now() - restoredAtMs} ms after the engine could connect again`);
          assert.equal(await strata.retrieve<string>('waiter').result({ timeoutMs: WAIT_MS }), 'wake up');
          assert.deepEqual(uncaught.map(describeError), [], 'no uncaught exception or unhandled rejection in the process');
        },
      );
    }
  });
});
