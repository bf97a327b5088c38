// Highly available PostgreSQL: the app's system database is a Patroni + etcd cluster of three
// nodes with synchronous replication, reached through a multi-host URL
// (`target_session_attrs=read-write`). While the outage test's workload runs (pairs of workflows
// with steps, transactions, messages, a sleep, half of them on a queue; in a child process),
// the primary's postmaster is SIGKILLed (Patroni promotes the synchronous standby), or an operator
// switches over. Nobody touches the app: every workflow finishes, and SQL on the new primary
// shows no acknowledged checkpoint lost and none done twice. The write gap (the kill to the first
// commit on the new primary) is printed as a diagnostic.
//
// The moment of the fault comes from a seeded PRNG, printed; replay with
//   STRATA_TEST_SEED=<seed> node --conditions=development --import tsx --test packages/transact/test/ha-failover.test.ts
// Skipped, with the reason, when Patroni and etcd are not installed and cannot be.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { HaClusterError, ensureHaToolsInstalled, startHaCluster, type HaCluster } from '@strata/postgres';
import { SeededRandom, engines, testSeed } from '@strata/testing';
import { Serializer } from '@strata/transact';
import { delay, killedAfterFile } from './helpers.js';
import {
  EFFECTS_TABLE,
  MESSAGE_TOPIC,
  ROUNDS,
  TOTAL_CHECKPOINTS,
  allWorkflowIds,
  exchangedMessage,
  expectedOutput,
  expectedSteps,
  partnerOf,
} from './outage/shape.js';

const WORKER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'outage', 'worker.ts');

/** The whole file (cluster start, two workloads, stop) stays under two minutes on a quiet machine; this bounds a stuck run. */
const TEST_TIMEOUT_MS = 110_000;
/** The worker's launch and its workflows' start. */
const WORKER_START_BOUND_MS = 40_000;
/** After the fault, the workload must finish within this: Patroni's failover takes seconds, the rest far less. */
const RECOVERY_BOUND_MS = 45_000;
/** The fault lands once this fraction range of the workload's checkpoints has committed (seeded). */
const FAULT_PROGRESS_MIN = 0.15;
const FAULT_PROGRESS_MAX = 0.5;
/** Words in the worker's stderr that mean it lost an exception. */
const UNCAUGHT_PATTERN = /uncaught|unhandled/i;

const liveWorkers = killedAfterFile();

/** Why the file is skipped, or false: decided before the suite runs. */
async function skipReason(): Promise<string | false> {
  if (!engines().includes('postgres')) return 'needs PostgreSQL: STRATA_TEST_ENGINES excludes postgres';
  try {
    await ensureHaToolsInstalled();
    return false;
  } catch (error) {
    if (error instanceof HaClusterError && error.code === 'HA_TOOLS_NOT_INSTALLED') return `Patroni/etcd cannot be installed here: ${error.message}`;
    throw error;
  }
}
const skip = await skipReason();
if (skip !== false) process.stdout.write(`# ha-failover skipped: ${skip}\n`);

describe('Strata on a Patroni cluster (3 nodes, synchronous_mode) through a multi-host URL', { skip, timeout: TEST_TIMEOUT_MS }, () => {
  let ha: HaCluster;
  let random: SeededRandom;

  before(async () => {
    random = new SeededRandom(testSeed('ha-failover.test.ts'));
    ha = await startHaCluster();
  });
  after(() => ha?.stop());

  test('the primary\'s postmaster is SIGKILLed mid-workload: Patroni promotes a replica, the engine follows by itself, every workflow finishes exactly once', async (t) => {
    t.diagnostic(`seed ${random.seed} (replay: STRATA_TEST_SEED=${random.seed})`);
    const { url, worker, effectsLogPath } = await startWorkload(t, ha, 'app_failover');
    const target = random.int(Math.floor(FAULT_PROGRESS_MIN * TOTAL_CHECKPOINTS), Math.floor(FAULT_PROGRESS_MAX * TOTAL_CHECKPOINTS));
    const before = await untilCheckpoints(ha, url, worker, target);
    const { node: killed, killedAtMs } = await ha.killPrimary();
    const promoted = await ha.waitForLeader({ notName: killed.name, withSyncStandby: false });
    const promotedAtMs = Date.now();
    t.diagnostic(`killed ${killed.name}'s postmaster after ${before}/${TOTAL_CHECKPOINTS} checkpoints (target ${target}); Patroni reported ${promoted.name} leading ${promotedAtMs - killedAtMs} ms later`);

    await finishAndCheck(t, ha, url, worker, effectsLogPath);
    const gap = await writeGap(ha, url, killedAtMs);
    // The longest pause, not "the first commit after the kill": a backend of the killed postmaster
    // may still finish a commit it had begun (its standby received the WAL), a few ms after the kill.
    t.diagnostic(
      `write gap: the longest pause between two commits around the kill was ${Math.round(gap.longestPauseMs)} ms ` +
        `(Patroni reported ${promoted.name} leading ${promotedAtMs - killedAtMs} ms after the kill, polled every 100 ms)`,
    );
    assert.ok(gap.firstAfterMs > killedAtMs, 'the workload committed on the new primary after the kill');
  });

  test('a planned switchover mid-workload: the engine follows the new primary by itself, every workflow finishes exactly once', async (t) => {
    t.diagnostic(`seed ${random.seed} (replay: STRATA_TEST_SEED=${random.seed})`);
    await ha.waitForLeader(); // the killed node has rejoined as a synchronous standby
    const { url, worker, effectsLogPath } = await startWorkload(t, ha, 'app_switchover');
    const target = random.int(Math.floor(FAULT_PROGRESS_MIN * TOTAL_CHECKPOINTS), Math.floor(FAULT_PROGRESS_MAX * TOTAL_CHECKPOINTS));
    const before = await untilCheckpoints(ha, url, worker, target);
    const startedAtMs = Date.now();
    const { from, to } = await ha.switchover();
    t.diagnostic(`switched over ${from.name} -> ${to.name} after ${before}/${TOTAL_CHECKPOINTS} checkpoints (target ${target}) in ${Date.now() - startedAtMs} ms`);

    await finishAndCheck(t, ha, url, worker, effectsLogPath);
    const gap = await writeGap(ha, url, startedAtMs);
    t.diagnostic(`write gap: the longest pause between two commits from the switchover request on was ${Math.round(gap.longestPauseMs)} ms`);
  });
});

/** Creates `database` and the effects table on the primary, and starts the outage worker on the multi-host URL. */
async function startWorkload(t: TestContext, cluster: HaCluster, database: string): Promise<{ url: string; worker: Worker; effectsLogPath: string }> {
  const leader = await cluster.waitForLeader();
  await withClient(leader.url, (client) => client.query(`create database ${database}`));
  await withClient(inDatabase(leader.url, database), (client) =>
    client.query(`create table ${EFFECTS_TABLE} (workflow_id text not null, step text not null)`));
  const url = cluster.url.replace('/postgres?', `/${database}?`);
  const scratchDir = await mkdtemp(join(tmpdir(), 'strata-ha-'));
  t.after(() => rm(scratchDir, { recursive: true, force: true }));
  const effectsLogPath = join(scratchDir, 'effects.log');
  writeFileSync(effectsLogPath, '');
  const worker = new Worker(url, effectsLogPath);
  t.after(() => {
    if (!worker.hasExited) worker.child.kill('SIGKILL');
  });
  await worker.until('STARTED', WORKER_START_BOUND_MS);
  return { url, worker, effectsLogPath };
}

/** The worker finishes by itself, and what it left on the (new) primary holds the invariants. */
async function finishAndCheck(t: TestContext, cluster: HaCluster, url: string, worker: Worker, effectsLogPath: string): Promise<void> {
  await worker.until('DONE', RECOVERY_BOUND_MS);
  assert.deepEqual(await worker.exited, { code: 0, signal: null }, `the app process exits 0 after DONE; ${worker.describe()}`);
  assert.doesNotMatch(worker.stderr, UNCAUGHT_PATTERN, 'the app process had no uncaught exception or unhandled rejection');
  assert.deepEqual(worker.linesStartingWith('BAD '), [], 'no wait rejected with anything but the typed STRATA_DATABASE_UNAVAILABLE');
  const outcomesLine = worker.linesStartingWith('OUTCOMES ')[0];
  assert.ok(outcomesLine !== undefined, `the worker reported its waits' outcomes; ${worker.describe()}`);
  const outcomes = JSON.parse(outcomesLine.slice('OUTCOMES '.length)) as Record<string, { value?: unknown }>;
  const workflowIds = allWorkflowIds();
  for (const workflowId of workflowIds) {
    assert.deepEqual(outcomes[`result ${workflowId}`], { value: expectedOutput(workflowId) }, `${workflowId}'s result() returned its output`);
  }
  const serializer = new Serializer();
  const leader = await cluster.waitForLeader({ withSyncStandby: false });
  await withClient(inDatabase(leader.url, databaseOf(url)), async (db) => {
    const { rows: workflows } = await db.query<{ workflow_id: string; status: string; output: string | null; error: string | null }>(
      'select workflow_id, status, output, error from strata.workflows order by workflow_id',
    );
    assert.deepEqual(workflows.map((row) => row.workflow_id).sort(), [...workflowIds].sort(), 'exactly the workload\'s workflows exist');
    for (const row of workflows) {
      assert.equal(row.status, 'SUCCESS', `${row.workflow_id} finished with SUCCESS (error: ${row.error})`);
      assert.equal(serializer.deserialize(row.output ?? ''), expectedOutput(row.workflow_id), `${row.workflow_id}'s stored output`);
    }
    // No acknowledged checkpoint lost: each workflow's checkpoints are contiguous and are its operations, in order, each once.
    const { rows: steps } = await db.query<{ workflow_id: string; step_id: number; name: string; kind: string; error: string | null; completed_ms: number }>(
      `select workflow_id, step_id, name, kind, error, extract(epoch from completed_at)::float8 * 1000 as completed_ms
         from strata.steps order by workflow_id, step_id`,
    );
    const ownKinds = new Set(['step', 'transaction', 'send', 'recv', 'sleep']);
    for (const workflowId of workflowIds) {
      const rows = steps.filter((row) => row.workflow_id === workflowId);
      assert.deepEqual(rows.map((row) => row.step_id), rows.map((_, index) => index), `${workflowId}'s checkpoints are numbered without a gap`);
      assert.deepEqual(
        rows.filter((row) => ownKinds.has(row.kind)).map((row) => ({ name: row.name, kind: row.kind })),
        expectedSteps(workflowId).map((step) => ({ ...step })),
        `${workflowId}'s checkpoints are its operations, in call order, each once`,
      );
      for (const row of rows) assert.equal(row.error, null, `${workflowId} step ${row.step_id} (${row.name}) recorded no error`);
    }
    // Every message delivered once.
    const { rows: messages } = await db.query<{ destination_id: string; message: string; consumed: boolean }>(
      'select destination_id, message, consumed_at is not null as consumed from strata.messages order by message_id',
    );
    for (const workflowId of workflowIds) {
      assert.deepEqual(
        messages.filter((row) => row.destination_id === workflowId).map((row) => ({ message: serializer.deserialize(row.message), consumed: row.consumed })),
        Array.from({ length: ROUNDS }, (_, round) => ({ message: exchangedMessage(partnerOf(workflowId), round), consumed: true })),
        `${workflowId} was sent each of its partner's ${MESSAGE_TOPIC} messages once, and consumed each`,
      );
    }
    // Each transaction's row exactly once (the table has no unique constraint, so a double commit would show).
    const { rows: effects } = await db.query<{ n: number; distinct_n: number; max_n: number }>(
      `select count(*)::int as n, count(distinct (workflow_id, step))::int as distinct_n from ${EFFECTS_TABLE}`,
    );
    assert.deepEqual(effects[0], { n: workflowIds.length * ROUNDS, distinct_n: workflowIds.length * ROUNDS }, `each transaction's row is in ${EFFECTS_TABLE} exactly once`);
    // No plain step ran after its checkpoint committed (a rerun is allowed only before that).
    const plain = new Map(steps.filter((row) => row.kind === 'step').map((row) => [`${row.workflow_id} ${row.name}`, row.completed_ms]));
    let reruns = 0;
    const seen = new Set<string>();
    for (const line of readFileSync(effectsLogPath, 'utf8').split('\n').filter((l) => l !== '')) {
      const [workflowId, step, atMs] = line.split(' ');
      const key = `${workflowId} ${step}`;
      const committedMs = plain.get(key);
      assert.ok(committedMs !== undefined, `the executed step ${key} has a checkpoint`);
      assert.ok(Number(atMs) <= committedMs, `step ${key} ran at ${atMs}, after its checkpoint committed at ${committedMs.toFixed(3)}: an acknowledged step ran again`);
      if (seen.has(key)) reruns++;
      seen.add(key);
    }
    assert.equal(seen.size, plain.size, 'every plain step ran');
    t.diagnostic(`invariants hold on ${leader.name}: ${workflows.length} workflows SUCCESS, ${steps.length} checkpoints, ${messages.length} messages once each; ${reruns} step(s) ran again before their checkpoint committed; ${worker.linesStartingWith('REJECTED ').length} wait(s) rejected with the typed error and were called again`);
  });
}

/**
 * When writes stopped around the fault at `sinceMs`, from the checkpoints on the current primary:
 * the first commit after it, and the longest pause between two consecutive commits from the last
 * one before it on (the workload commits every few ms when healthy, so that pause is the outage).
 */
async function writeGap(cluster: HaCluster, url: string, sinceMs: number): Promise<{ firstAfterMs: number; longestPauseMs: number }> {
  const leader = await cluster.waitForLeader({ withSyncStandby: false });
  return withClient(inDatabase(leader.url, databaseOf(url)), async (client) => {
    const { rows } = await client.query<{ at_ms: number }>(
      `select extract(epoch from completed_at)::float8 * 1000 as at_ms from strata.steps
        where completed_at >= (select max(completed_at) from strata.steps where completed_at <= to_timestamp($1::float8 / 1000))
        order by completed_at`,
      [sinceMs],
    );
    const times = rows.map((row) => row.at_ms);
    const firstAfterMs = times.find((atMs) => atMs > sinceMs);
    assert.ok(firstAfterMs !== undefined, 'a checkpoint committed after the fault');
    let longestPauseMs = 0;
    for (let index = 1; index < times.length; index++) longestPauseMs = Math.max(longestPauseMs, (times[index] as number) - (times[index - 1] as number));
    return { firstAfterMs, longestPauseMs };
  });
}

/** Polls the primary until the workload has `target` checkpoints. */
async function untilCheckpoints(cluster: HaCluster, url: string, worker: Worker, target: number): Promise<number> {
  const leader = await cluster.waitForLeader({ withSyncStandby: false });
  const deadlineMs = Date.now() + WORKER_START_BOUND_MS;
  for (;;) {
    const { rows } = await withClient(inDatabase(leader.url, databaseOf(url)), (client) => client.query<{ n: number }>('select count(*)::int as n from strata.steps'));
    const committed = rows[0]?.n ?? 0;
    if (committed >= target) return committed;
    if (worker.hasExited || worker.saw('OUTCOMES')) throw new Error(`the workload ended before ${target} checkpoints; ${worker.describe()}`);
    if (Date.now() > deadlineMs) throw new Error(`${target} checkpoints did not commit within ${WORKER_START_BOUND_MS} ms (at ${committed}); ${worker.describe()}`);
    await delay(20);
  }
}

function inDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function databaseOf(multiHostUrl: string): string {
  const match = /\/([a-z_0-9]+)\?/.exec(multiHostUrl);
  assert.ok(match?.[1] !== undefined, `the URL ${multiHostUrl} names a database`);
  return match[1];
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The app process (the outage test's worker), a child, so "the app stays up" is its exit status and stderr. */
class Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[] = [];
  stderr = '';
  hasExited = false;
  #partial = '';
  readonly #listeners = new Set<() => void>();

  constructor(databaseUrl: string, effectsLogPath: string) {
    this.child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', WORKER_PATH, databaseUrl, effectsLogPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    liveWorkers.add(this.child);
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => {
        liveWorkers.delete(this.child);
        this.hasExited = true;
        resolve({ code, signal });
        for (const listener of this.#listeners) listener();
      });
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const listener of this.#listeners) listener();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  saw(prefix: string): boolean {
    return this.lines.some((line) => line.startsWith(prefix));
  }

  linesStartingWith(prefix: string): string[] {
    return this.lines.filter((line) => line.startsWith(prefix));
  }

  describe(): string {
    return `stdout tail:\n  ${this.lines.slice(-15).join('\n  ')}\nstderr:\n${this.stderr.slice(-4_000)}`;
  }

  until(prefix: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.saw(prefix)) {
          finish();
          resolve();
        } else if (this.hasExited) {
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
