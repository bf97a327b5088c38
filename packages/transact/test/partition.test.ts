// Executors on many machines: executor processes run in network namespaces of their own (made
// here: a veth pair each on a private /30, no route off the host, so nothing leaves the machine)
// and share one PostgreSQL database that listens on the root side of every pair. One namespace is
// cut off from the database while its executors run (its link goes down; the processes and their
// TCP connections live on), or cut off and its executors SIGKILLed at once (a machine lost). The
// executors of the other namespaces take its unfinished workflows over once its lease expired and
// finish them, each once; and fencing holds: no statement the cut-off executors queued writes
// anything when it arrives late, after the takeover, once their network is back.
//
// Every write to strata.workflows, strata.steps, strata.messages and the app table is audited by
// a trigger, in the writing transaction, with the writer's application_name (each worker's
// executor ID) and the moment it was written; the cluster keeps commit timestamps, so the test
// compares when each write was made and committed with when the takeover committed.
//
// Two more tests aim the cut at the moments this test first found a hole in: during a transaction
// step's checkpoint INSERT (its COMMIT then arrives after the takeover), and during a repeatable
// read transaction step (its late INSERT runs on a snapshot from before the takeover). The engine
// now locks the workflow row FOR SHARE in that INSERT, so the takeover waits for (or skips) the
// row until the stale transaction ends, and the server ends a transaction that sits idle longer
// than the lease (idle_in_transaction_session_timeout, set by the engine with BEGIN), so a lost
// machine's open transactions do not hold the row for the hours TCP takes to notice.
//
// Needs root (it makes namespaces with `ip netns`); skipped with the reason otherwise. The victim
// namespace and the moments of the cut and the restore come from a seeded PRNG, printed at the
// start; to replay a run:
//   STRATA_TEST_SEED=<seed> NODE_OPTIONS=--conditions=development node --import tsx --test packages/transact/test/partition.test.ts
// (The choices replay exactly; where the cut lands also depends on the machine's timing.)

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  SeededRandom,
  createNetnsLab,
  engines,
  netnsUnavailableReason,
  removeStaleNamespaces,
  startCluster,
  testSeed,
  type IsolatedNamespace,
  type NetnsLab,
  type PgCluster,
} from '@strata/testing';
import type { IsolationLevel } from '@strata/store';
import { Serializer, Strata } from '@strata/transact';
import { delay, quiet } from './helpers.js';
import {
  APP_TABLES_SQL,
  EFFECTS_TABLE,
  EXECUTOR_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  ROUNDS,
  expectedSteps,
  messageOf,
  topicOf,
  workflowIdsOf,
  type Runner,
} from './partition/shape.js';

const WORKER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'partition', 'worker.ts');

/** Starts every name this file gives a namespace or interface, so a crashed run's leftovers are found. */
const LAB_PREFIX = 'stp';
/** "Machines": one is cut off, the others' executors take over. */
const NAMESPACES = 3;
/** Executors per machine: a cut takes out several at once, each with a lease of its own. */
const EXECUTORS_PER_NAMESPACE = 2;
/** Workflows each executor starts (and so owns). */
const WORKFLOWS_PER_EXECUTOR = 6;

/** The cut comes once the victims committed this fraction (seeded, in this range) of their checkpoints. */
const CUT_PROGRESS_MIN = 0.15;
const CUT_PROGRESS_MAX = 0.5;
/**
 * The cut waits for a victim's transaction that reached the aimed state (see Aim) at most this
 * long ago: it stays there TRANSACTION_HOLD_MS or SLOW_CHECKPOINT_MS, so the cut lands inside it
 * (with time for `ip link set`).
 */
const AIM_AGE_MAX_MS = 60;
/**
 * How long a transaction step's checkpoint INSERT takes on the server in the test that aims its
 * cut at one (a slow statement, as a busy server has): far above the aim's reaction time.
 */
const SLOW_CHECKPOINT_MS = 400;
/** Makes every transaction step's checkpoint INSERT sleep SLOW_CHECKPOINT_MS after writing its row. */
const SLOW_CHECKPOINT_SQL = `
  create function partition_slow_checkpoint() returns trigger language plpgsql as $$
  begin
    perform pg_sleep(${SLOW_CHECKPOINT_MS / 1000});
    return null;
  end $$;
  create trigger partition_slow_checkpoint after insert on strata.steps for each row when (new.kind = 'transaction')
    execute function partition_slow_checkpoint();
`;
/** The network comes back once the survivors committed 0..this many (seeded) checkpoints of the taken-over workflows. */
const RESTORE_AFTER_CHECKPOINTS_MAX = 12;

/** A worker's start (tsx compiles on the fly, six processes on two CPUs with PostgreSQL) takes seconds: be generous. */
const WORKER_START_BOUND_MS = 60_000;
/** Bound of every other wait: a healthy run needs a few seconds for each; it only ends a stuck run. */
const WAIT_BOUND_MS = 60_000;
/** Longest a test may take. */
const TEST_TIMEOUT_MS = 240_000;
/** How often the test samples the database while it waits. */
const SAMPLE_INTERVAL_MS = 5;

/** Codes a stale execution may stop with: a write refused by fencing, or the abort of a lapsed executor. */
const STALE_STOP_CODES = ['STRATA_WORKFLOW_TAKEN_OVER', 'STRATA_ENGINE_STATE'];

const skip = engines().includes('postgres') ? ((await netnsUnavailableReason()) ?? false) : 'needs PostgreSQL: STRATA_TEST_ENGINES excludes postgres';

/** One seed for the file; each test forks its own stream by name. */
let fileRandom: SeededRandom | undefined;
function randomFor(t: TestContext, name: string): SeededRandom {
  fileRandom ??= new SeededRandom(testSeed('partition.test.ts'));
  t.diagnostic(`seed ${fileRandom.seed} (replay: STRATA_TEST_SEED=${fileRandom.seed})`);
  return fileRandom.fork(name);
}

/** Every worker process started and not yet exited, so a failing test leaves none behind. */
const liveWorkers = new Set<Worker>();

/** An executor process (partition/worker.ts) inside a namespace: its stdout lines, commands to it, its exit. */
class Worker {
  readonly executorId: string;
  readonly machine: IsolatedNamespace;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[] = [];
  stderr = '';
  #partial = '';
  #listeners = new Set<() => void>();
  #hasExited = false;

  constructor(machine: IsolatedNamespace, databaseUrl: string, executorId: string, isolation: IsolationLevel | undefined) {
    this.executorId = executorId;
    this.machine = machine;
    const { file, args } = machine.command(process.execPath, ['--import', 'tsx', WORKER_PATH, databaseUrl, executorId, ...(isolation === undefined ? [] : [isolation])]);
    // NODE_OPTIONS (--conditions=development) comes along, so @strata/* resolves to the sources.
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PGAPPNAME: executorId } });
    liveWorkers.add(this);
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => {
        liveWorkers.delete(this);
        this.#hasExited = true;
        resolve({ code, signal });
        for (const listener of this.#listeners) listener();
      });
    });
    // A killed worker's stdin breaks; its exit tells the test what happened.
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

  get hasExited(): boolean {
    return this.#hasExited;
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** What a failure message should show: the last lines of stdout and the stderr. */
  describe(): string {
    return `${this.executorId} stdout tail:\n  ${this.lines.slice(-10).join('\n  ')}\nstderr:\n${this.stderr}`;
  }

  /** Resolves with the first stdout line that satisfies `match`; rejects if the process exits first or after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, what: string, timeoutMs = WAIT_BOUND_MS): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find(match);
        if (line !== undefined) {
          finish();
          resolve(line);
        } else if (this.#hasExited) {
          finish();
          reject(new Error(`worker ${this.executorId} exited before printing ${what}; ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`worker ${this.executorId} did not print ${what} within ${timeoutMs} ms; ${this.describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** SIGKILL, without waiting: the cut and the kills of one machine happen together. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Graceful shutdown through the worker's own `strata.shutdown()`; it must exit 0. */
  async shutDown(): Promise<void> {
    this.send('SHUTDOWN 5000');
    const exit = await this.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `worker ${this.executorId} shut down cleanly; ${this.describe()}`);
  }
}

/** Polls `check` every SAMPLE_INTERVAL_MS until it returns true; fails with `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = WAIT_BOUND_MS, explain?: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${explain ? `; ${await explain()}` : ''}`);
    await delay(SAMPLE_INTERVAL_MS);
  }
}

async function count(db: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from (${sql}) counted`, params);
  return rows[0]!.n;
}

/** Backends waiting for a lock, with what blocks them: what a stuck wait should explain. */
async function lockWaits(db: pg.Pool): Promise<string> {
  const { rows } = await db.query<{ pid: number; app: string; blocked_by: number[]; query: string }>(
    `select pid, application_name as app, pg_blocking_pids(pid) as blocked_by, left(query, 120) as query
       from pg_stat_activity where wait_event_type = 'Lock'`,
  );
  return rows.length === 0 ? 'no backend waits for a lock' : `lock waits: ${JSON.stringify(rows)}`;
}

/** The backends of `machine`'s connections: what a stuck wait of its executors should explain. */
async function victimBackends(db: pg.Pool, machine: IsolatedNamespace): Promise<string> {
  const { rows } = await db.query<{ pid: number; app: string; state: string; xid: string | null; wait: string | null; query: string }>(
    `select pid, application_name as app, state, backend_xid::text as xid, wait_event_type || ':' || wait_event as wait, left(query, 100) as query
       from pg_stat_activity where client_addr = $1::inet order by pid`,
    [machine.address],
  );
  return `backends of ${machine.name}: ${JSON.stringify(rows)}`;
}

/** A scenario's victim transactions open on the server at the cut. */
interface OpenTransaction {
  readonly pid: number;
  readonly xid: string;
  readonly state: string;
  /** What it waits for, `wait_event` of pg_stat_activity (`PgSleep` in a slowed checkpoint INSERT). */
  readonly wait: string | null;
  readonly query: string;
}

/** What a scenario does to the victim's namespace. */
type Scenario = 'partition' | 'machine lost';

/**
 * Where in a transaction step of the victims the cut lands: in its function (its effect row
 * written, its checkpoint and COMMIT not sent yet), or in its checkpoint's INSERT (made slow with
 * SLOW_CHECKPOINT_SQL: the row written, the answer and so the COMMIT not sent before the cut).
 */
type Aim = 'transaction function' | 'checkpoint insert';

/** How a test runs its scenario. */
interface ScenarioOptions {
  readonly scenario: Scenario;
  /** Default: 'transaction function'. */
  readonly aim?: Aim;
  /** The isolation of the workflows' transactions (default: read committed). */
  readonly isolation?: IsolationLevel;
  /**
   * The survivors' transactions wait behind a lock of the test from the cut until the victims'
   * transactions open at the cut have ended, so those meet their takeover before the survivors
   * write the same steps again (a deterministic reproduction of the known hole).
   */
  readonly pauseSurvivors?: boolean;
}

describe('executors on many machines: network namespaces sharing one PostgreSQL database', { skip, concurrency: 1 }, () => {
  let lab: NetnsLab | undefined;
  let cluster: PgCluster | undefined;
  let hbaDir: string | undefined;
  let databases = 0;

  before(async () => {
    const removed = await removeStaleNamespaces(LAB_PREFIX);
    if (removed.length > 0) process.stderr.write(`partition.test.ts: removed ${removed.length} namespace(s)/interface(s) of an earlier run: ${removed.join(', ')}\n`);
    lab = await createNetnsLab({ prefix: LAB_PREFIX, count: NAMESPACES });
    // The server listens on loopback (the test) and on the root side of every namespace's link,
    // and admits connections from the namespaces' addresses and nowhere else.
    hbaDir = await mkdtemp(join(tmpdir(), 'strata-partition-'));
    await chmod(hbaDir, 0o755); // the server runs as the postgres user
    const hbaFile = join(hbaDir, 'pg_hba.conf');
    const hba = ['local all all trust', 'host all all 127.0.0.1/32 trust', ...lab.namespaces.map((machine) => `host all all ${machine.address}/32 trust`)];
    await writeFile(hbaFile, `${hba.join('\n')}\n`, { mode: 0o644 });
    cluster = await startCluster({
      settings: {
        listen_addresses: ['127.0.0.1', ...lab.namespaces.map((machine) => machine.hostAddress)].join(','),
        hba_file: hbaFile,
        // The audit's commit times (pg_xact_commit_timestamp).
        track_commit_timestamp: 'on',
      },
    });
  });

  after(async () => {
    for (const worker of liveWorkers) worker.kill();
    await Promise.allSettled([...liveWorkers].map((worker) => worker.exited));
    await lab?.destroy();
    await cluster?.stop();
    if (hbaDir !== undefined) await rm(hbaDir, { recursive: true, force: true });
  });

  /** A new database with the engine's schema and the app tables and audit; its URLs for the test and for each namespace. */
  async function createDatabase(t: TestContext): Promise<{ db: pg.Pool; localUrl: string; urlFor: (machine: IsolatedNamespace) => string }> {
    const name = `partition_${++databases}`;
    const admin = new pg.Client({ connectionString: cluster!.url });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const local = new URL(cluster!.url);
    local.pathname = `/${name}`;
    const db = new pg.Pool({ connectionString: local.toString(), max: 4, application_name: 'partition-test' });
    db.on('error', () => {});
    t.after(() => db.end());
    // Migrate once before the workers start, so their launches do not queue on the migration lock.
    const migrator = new Strata({ database: local.toString(), executorId: 'migrator', logger: quiet });
    await migrator.launch();
    await migrator.shutdown();
    await db.query(APP_TABLES_SQL);
    const urlFor = (machine: IsolatedNamespace) => {
      const url = new URL(local);
      url.hostname = machine.hostAddress;
      return url.toString();
    };
    return { db, localUrl: local.toString(), urlFor };
  }

  async function runScenario(t: TestContext, options: ScenarioOptions): Promise<void> {
    const { scenario, isolation, pauseSurvivors = false, aim = 'transaction function' } = options;
    const random = randomFor(t, t.name);
    const victimIndex = random.int(0, NAMESPACES - 1);
    const cutProgress = CUT_PROGRESS_MIN + random.next() * (CUT_PROGRESS_MAX - CUT_PROGRESS_MIN);
    const restoreAfterCheckpoints = random.int(0, RESTORE_AFTER_CHECKPOINTS_MAX);
    const { db, localUrl, urlFor } = await createDatabase(t);
    if (aim === 'checkpoint insert') await db.query(SLOW_CHECKPOINT_SQL);
    const machines = lab!.namespaces;
    const victimMachine = machines[victimIndex]!;

    const workers = machines.flatMap((machine, index) =>
      Array.from({ length: EXECUTORS_PER_NAMESPACE }, (_, slot) => new Worker(machine, urlFor(machine), `n${index}${String.fromCharCode(97 + slot)}`, isolation)),
    );
    t.after(async () => {
      if (victimMachine.isCut) await victimMachine.restore();
      for (const worker of workers) if (!worker.hasExited) worker.kill();
      await Promise.allSettled(workers.map((worker) => worker.exited));
    });
    const victims = workers.filter((worker) => worker.machine === victimMachine);
    const survivors = workers.filter((worker) => worker.machine !== victimMachine);
    const victimIds = victims.map((worker) => worker.executorId);
    const survivorIds = new Set(survivors.map((worker) => worker.executorId));
    const startedAtMs = Date.now();
    await Promise.all(workers.map((worker) => worker.waitForLine((line) => line === 'LAUNCHED', 'LAUNCHED', WORKER_START_BOUND_MS)));
    t.diagnostic(`${workers.length} executors launched in ${NAMESPACES} namespaces in ${Date.now() - startedAtMs} ms; victim namespace ${victimMachine.name} (${victimIds.join(', ')})`);
    // Each connection comes from its namespace's address: the executors really are "elsewhere".
    const { rows: origins } = await db.query<{ app: string; addr: string }>(
      `select distinct application_name as app, host(client_addr) as addr from pg_stat_activity where application_name = any($1)`,
      [workers.map((worker) => worker.executorId)],
    );
    for (const worker of workers) {
      assert.deepEqual(
        origins.filter((row) => row.app === worker.executorId).map((row) => row.addr),
        [worker.machine.address],
        `${worker.executorId} reaches the database from its namespace's address only`,
      );
    }

    for (const worker of workers) worker.send(`START ${WORKFLOWS_PER_EXECUTOR}`);
    await Promise.all(workers.map((worker) => worker.waitForLine((line) => line.startsWith('STARTED'), 'STARTED')));
    const allWorkflowIds = workers.flatMap((worker) => workflowIdsOf(worker.executorId, WORKFLOWS_PER_EXECUTOR));
    const victimWorkflowIds = victims.flatMap((worker) => workflowIdsOf(worker.executorId, WORKFLOWS_PER_EXECUTOR));

    // Aim the cut at a seeded point of the victims' progress, counted in commits, then at a
    // moment when one of their transaction steps is open on the server (see Aim).
    const victimCheckpoints = () => count(db, 'select 1 from strata.steps where workflow_id = any($1)', [victimWorkflowIds]);
    const target = Math.floor(cutProgress * victimWorkflowIds.length * expectedSteps().length);
    await until(`${target} checkpoints of the victims' workflows`, async () => (await victimCheckpoints()) >= target);
    const inFunction = (row: OpenTransaction) => row.state === 'idle in transaction' && row.query.includes(EFFECTS_TABLE);
    // (A group commit's INSERT into strata.steps is neither slowed nor left open in a transaction.)
    const inCheckpointInsert = (row: OpenTransaction) =>
      row.query.startsWith('insert into strata.steps') && (row.wait === 'PgSleep' || row.state === 'idle in transaction');
    await until(`a victim's transaction step in its ${aim}`, async () => {
      const { rows } = await db.query<OpenTransaction & Record<string, unknown>>(
        `select pid, backend_xid::text as xid, state, wait_event as wait, left(query, 80) as query from pg_stat_activity
          where client_addr = $1::inet and backend_xid is not null and clock_timestamp() - state_change < $2 * interval '1 millisecond'`,
        [victimMachine.address, AIM_AGE_MAX_MS],
      );
      return rows.some((row) => (aim === 'transaction function' ? inFunction(row) : inCheckpointInsert(row) && row.wait === 'PgSleep'));
    });
    await victimMachine.cut();
    if (scenario === 'machine lost') for (const worker of victims) worker.kill();
    const checkpointsAtCut = await victimCheckpoints();

    // What the victims had in flight: unfinished workflows, and transactions open on the server.
    const { rows: pendingRows } = await db.query<{ workflow_id: string }>(
      `select workflow_id from strata.workflows where status = 'PENDING' and executor_id = any($1) order by workflow_id`,
      [victimIds],
    );
    const pendingAtCut = pendingRows.map((row) => row.workflow_id);
    const { rows: openAtCut } = await db.query<OpenTransaction & Record<string, unknown>>(
      `select pid, backend_xid::text as xid, state, wait_event as wait, left(query, 80) as query from pg_stat_activity
        where client_addr = $1::inet and backend_xid is not null order by pid`,
      [victimMachine.address],
    );
    t.diagnostic(
      `${scenario}: cut after ${checkpointsAtCut}/${victimWorkflowIds.length * expectedSteps().length} victim checkpoints (aimed at ${target}); ` +
        `${pendingAtCut.length} victim workflows unfinished, ${openAtCut.length} victim transactions open on the server: ${openAtCut.map((row) => `${row.state}: ${row.query}`).join(' | ')}`,
    );
    assert.ok(pendingAtCut.length > 0, 'the victims had unfinished workflows when they were cut off (else the test proves nothing)');
    // Nothing the victims send reaches the server now: an aimed transaction is still where it was
    // (a slowed checkpoint INSERT may have finished its sleep: its answer is what is lost then).
    assert.ok(openAtCut.some(aim === 'transaction function' ? inFunction : inCheckpointInsert), `the cut landed inside a transaction step of the victims, in its ${aim}`);
    const xactStatus = async (xid: string) =>
      (await db.query<{ status: string }>('select pg_xact_status($1::xid8) as status', [xid])).rows[0]!.status;

    // The pause: an EXCLUSIVE lock on the effects table, queued behind the victims' open
    // transactions (they wrote effects), holds back every later effect write, the survivors'.
    let pause: { readonly client: pg.Client; readonly locked: Promise<unknown> } | undefined;
    if (pauseSurvivors) {
      const client = new pg.Client({ connectionString: localUrl, application_name: 'partition-test' });
      client.on('error', () => {});
      await client.connect();
      t.after(() => client.end().catch(() => {}));
      await client.query('begin');
      const locked = client.query(`lock table ${EFFECTS_TABLE} in exclusive mode`);
      locked.catch(() => {}); // awaited after the restore; a failure must not be unhandled meanwhile
      pause = { client, locked };
    }

    // The survivors take every unfinished workflow over once the victims' leases expired.
    const cutAtMs = Date.now();
    await until(
      `the takeover of the victims' ${pendingAtCut.length} unfinished workflows`,
      async () => (await count(db, 'select 1 from strata.workflows where workflow_id = any($1) and executor_id = any($2)', [pendingAtCut, victimIds])) === 0,
    );
    t.diagnostic(`taken over ${Date.now() - cutAtMs} ms after the cut (executorTimeoutMs ${EXECUTOR_TIMEOUT_MS}, heartbeat ${HEARTBEAT_INTERVAL_MS} ms)`);
    const takenOverCheckpoints = () => count(db, 'select 1 from strata.steps where workflow_id = any($1)', [pendingAtCut]);
    const allFinished = async () => (await count(db, `select 1 from strata.workflows where workflow_id = any($1) and status <> 'SUCCESS'`, [allWorkflowIds])) === 0;

    if (scenario === 'partition') {
      // The network comes back while the survivors run the taken-over workflows (or once they are
      // done, or once they wait for a lock of a victim's open transaction: they would wait forever).
      const base = await takenOverCheckpoints();
      if (!pause) {
        await until(`${restoreAfterCheckpoints} more checkpoints of the taken-over workflows`, async () =>
          (await takenOverCheckpoints()) >= base + restoreAfterCheckpoints ||
          (await count(db, `select 1 from strata.workflows where workflow_id = any($1) and status = 'PENDING'`, [pendingAtCut])) === 0,
        );
      }
      const progressed = (await takenOverCheckpoints()) - base;
      await victimMachine.restore();
      for (const worker of victims) worker.send('MARK restored');
      t.diagnostic(`network restored after ${progressed} checkpoints of the survivors on the taken-over workflows (aimed at ${pause ? '0: the survivors are paused' : restoreAfterCheckpoints})`);
      if (pause) {
        await until('the victims\' transactions open at the cut to end (the survivors paused)', async () => {
          for (const row of openAtCut) if ((await xactStatus(row.xid)) === 'in progress') return false;
          return true;
        });
        await pause.locked;
        await pause.client.query('commit');
      }

      // Each victim learns that it lapsed (its heartbeat, queued since the cut, arrives late) and
      // stops its stale executions, each at a write that fencing refused or at the lapse's abort.
      for (const worker of victims) {
        for (const workflowId of pendingAtCut.filter((id) => id.startsWith(`${worker.executorId}-`))) {
          await worker.waitForLine((line) => line.startsWith(`ENDED ${workflowId} `), `the end of its stale execution of ${workflowId}`, WAIT_BOUND_MS);
        }
      }
      await until('every workflow to finish', allFinished, WAIT_BOUND_MS, () => lockWaits(db));
      await until('the victims\' transactions open at the cut to end', async () => {
        for (const row of openAtCut) if ((await xactStatus(row.xid)) === 'in progress') return false;
        return true;
      });
      for (const worker of victims) {
        assert.match(worker.stderr, /missed its heartbeats/, `${worker.executorId} noticed that it lapsed`);
        await worker.waitForLine((line) => line === 'MARK restored', 'MARK restored');
      }
    } else {
      // Nothing told the server its clients are gone (the FIN or RST of the kill never left the
      // namespace): the lost machine's open transactions end by the idle timeout the engine set
      // with their BEGIN (the lease), not by TCP keepalive hours later, and none commits.
      await until('every workflow to finish', allFinished, WAIT_BOUND_MS, () => lockWaits(db));
      await until('the lost machine\'s transactions open at the cut to end', async () => {
        for (const row of openAtCut) if ((await xactStatus(row.xid)) === 'in progress') return false;
        return true;
      });
      for (const row of openAtCut) {
        assert.equal(await xactStatus(row.xid), 'aborted', `the lost machine's transaction ${row.xid} (${row.query}) was ended by the server, not committed`);
      }
      for (const worker of victims) assert.equal((await worker.exited).signal, 'SIGKILL');
    }

    await Promise.all(workers.filter((worker) => !worker.hasExited).map((worker) => worker.shutDown()));
    if (scenario === 'partition') {
      // Everything the namespaces sent has been executed: none of their connections is left.
      await until(
        'every connection of the executors to end',
        async () => (await count(db, 'select 1 from pg_stat_activity where client_addr = any($1::inet[])', [machines.map((machine) => machine.address)])) === 0,
        WAIT_BOUND_MS,
        async () => (await Promise.all(machines.map((machine) => victimBackends(db, machine)))).join('; '),
      );
    }
    await checkOutcome(t, db, { scenario, allWorkflowIds, victimIds, survivorIds, pendingAtCut, openAtCut, victims, xactStatus });
  }

  test(
    "partition: a namespace's executors are cut off from the database while they run; the others take their workflows over after the lease and finish each once, and no statement the cut-off executors queued writes anything when their network comes back",
    { timeout: TEST_TIMEOUT_MS },
    (t) => runScenario(t, { scenario: 'partition' }),
  );

  test(
    "machine lost: a namespace's network is cut and its executors SIGKILLed at once; the others take over after the lease and finish each workflow once, and the server ends the lost executors' open transactions without committing them",
    { timeout: TEST_TIMEOUT_MS },
    (t) => runScenario(t, { scenario: 'machine lost' }),
  );

  // Aimed at the moments where a fencing check without a lock would let a late COMMIT through
  // (see the header): the engine's FOR SHARE and idle timeout must hold there too.
  test(
    'partition during a transaction step\'s checkpoint INSERT (read committed): nothing the cut-off executors wrote commits after the takeover of their workflows',
    { timeout: TEST_TIMEOUT_MS },
    (t) => runScenario(t, { scenario: 'partition', aim: 'checkpoint insert' }),
  );

  test(
    'partition during a repeatable read transaction step: nothing the cut-off executors wrote commits after the takeover of their workflows',
    { timeout: TEST_TIMEOUT_MS },
    // Its snapshot predates the takeover; the survivors are held back until its late statements
    // arrived, or their committed checkpoint would make it fail for another reason.
    (t) => runScenario(t, { scenario: 'partition', isolation: 'repeatable read', pauseSurvivors: true }),
  );
});

interface Outcome {
  readonly scenario: Scenario;
  readonly allWorkflowIds: readonly string[];
  readonly victimIds: readonly string[];
  readonly survivorIds: ReadonlySet<string>;
  readonly pendingAtCut: readonly string[];
  readonly openAtCut: readonly OpenTransaction[];
  readonly victims: readonly Worker[];
  readonly xactStatus: (xid: string) => Promise<string>;
}

interface AuditRow {
  table_name: string;
  op: string;
  workflow_id: string;
  detail: string;
  new_executor: string | null;
  writer: string;
  written_us: string;
  committed_us: string;
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

/** What must hold after either scenario: every workflow once, and fencing. */
async function checkOutcome(t: TestContext, db: pg.Pool, outcome: Outcome): Promise<void> {
  const { scenario, allWorkflowIds, victimIds, survivorIds, pendingAtCut, openAtCut, victims, xactStatus } = outcome;
  const serializer = new Serializer();
  const pending = new Set(pendingAtCut);

  // Every workflow finished, the unfinished ones of the victims by a survivor after one takeover.
  const { rows: workflows } = await db.query<{ workflow_id: string; status: string; executor_id: string; recovery_attempts: number }>(
    `select workflow_id, status, executor_id, recovery_attempts from strata.workflows where workflow_id = any($1) order by workflow_id`,
    [allWorkflowIds],
  );
  assert.equal(workflows.length, allWorkflowIds.length, 'every started workflow exists');
  for (const row of workflows) {
    assert.equal(row.status, 'SUCCESS', `${row.workflow_id} finished with SUCCESS`);
    const starter = row.workflow_id.split('-')[0]!;
    if (pending.has(row.workflow_id)) {
      assert.ok(survivorIds.has(row.executor_id), `${row.workflow_id} was finished by a survivor (got ${row.executor_id})`);
      assert.equal(row.recovery_attempts, 1, `${row.workflow_id} was taken over exactly once`);
    } else {
      assert.equal(row.executor_id, starter, `${row.workflow_id} was finished by the executor that started it`);
      assert.equal(row.recovery_attempts, 0, `${row.workflow_id} was never taken over`);
    }
  }

  // Each checkpoint once, in call order; each transaction's effect once, written with its checkpoint.
  const { rows: steps } = await db.query<{ workflow_id: string; step_id: number; name: string; kind: string; output: string | null; error: string | null }>(
    `select workflow_id, step_id, name, kind, output, error from strata.steps where workflow_id = any($1) order by workflow_id, step_id`,
    [allWorkflowIds],
  );
  const { rows: effects } = await db.query<{ workflow_id: string; step: string; executor_id: string }>(`select workflow_id, step, executor_id from ${EFFECTS_TABLE}`);
  const stepsOf = groupBy(steps, (row) => row.workflow_id);
  const effectsOf = groupBy(effects, (row) => `${row.workflow_id} ${row.step}`);
  const ownKinds = new Set(['step', 'transaction', 'send', 'recv']);
  for (const workflowId of allWorkflowIds) {
    const rows = stepsOf.get(workflowId) ?? [];
    assert.deepEqual(rows.map((row) => row.step_id), rows.map((_, index) => index), `${workflowId}'s checkpoints are numbered without a gap`);
    assert.deepEqual(
      rows.filter((row) => ownKinds.has(row.kind)).map((row) => ({ name: row.name, kind: row.kind })),
      expectedSteps().map((step) => ({ ...step })),
      `${workflowId}'s checkpoints are its operations, in call order, each once`,
    );
    for (const row of rows) assert.equal(row.error, null, `${workflowId} step ${row.step_id} (${row.name}) recorded no error`);
    for (let round = 0; round < ROUNDS; round++) {
      const rowsOfEffect = effectsOf.get(`${workflowId} t${round}`) ?? [];
      assert.equal(rowsOfEffect.length, 1, `${workflowId}'s transaction t${round} committed its effect exactly once (found ${rowsOfEffect.length})`);
      const checkpoint = rows.find((row) => row.name === `t${round}`)!;
      assert.equal(rowsOfEffect[0]!.executor_id, serializer.deserialize<Runner>(checkpoint.output!).executorId, `${workflowId}'s t${round} effect and checkpoint committed together`);
    }
  }

  // Each message sent once and consumed once.
  const { rows: messages } = await db.query<{ destination_id: string; topic: string; message: string; consumed: boolean }>(
    `select destination_id, topic, message, consumed_at is not null as consumed from strata.messages where destination_id = any($1) order by message_id`,
    [allWorkflowIds],
  );
  const inboxes = groupBy(messages, (row) => row.destination_id);
  for (const workflowId of allWorkflowIds) {
    assert.deepEqual(
      (inboxes.get(workflowId) ?? []).map((row) => ({ topic: row.topic, message: serializer.deserialize(row.message), consumed: row.consumed })),
      Array.from({ length: ROUNDS }, (_, round) => ({ topic: topicOf(round), message: messageOf(workflowId, round), consumed: true })),
      `${workflowId} sent itself each round's message once and consumed it`,
    );
  }

  // Fencing: no statement of a victim that ran after the takeover of its workflow wrote
  // anything, and (strict) nothing a victim wrote committed after the takeover, even the
  // transactions open at the cut, whose remaining statements arrived late (partition) or never.
  const { rows: audit } = await db.query<AuditRow & Record<string, unknown>>(
    `select table_name, op, workflow_id, detail, new_executor, writer,
            (extract(epoch from written_at) * 1000000)::bigint::text as written_us,
            (extract(epoch from pg_xact_commit_timestamp(xmin)) * 1000000)::bigint::text as committed_us
       from partition_audit order by committed_us, id`,
  );
  const writers = new Set(audit.map((row) => row.writer));
  for (const writer of writers) assert.ok(/^n\d[a-z]$/.test(writer), `every audited write names its executor (got ${JSON.stringify(writer)})`);
  const describeWrite = (row: AuditRow) => `${row.writer}: ${row.table_name} ${row.op} ${row.workflow_id} ${row.detail}`;
  const lateCommits: AuditRow[] = [];
  for (const victim of victimIds) {
    const takeovers = audit.filter((row) => row.table_name === 'workflows' && row.detail.startsWith(`PENDING ${victim}@`) && row.new_executor !== victim);
    const ownWorkflows = pendingAtCut.filter((workflowId) => workflowId.startsWith(`${victim}-`));
    assert.deepEqual(takeovers.map((row) => row.workflow_id).sort(), ownWorkflows, `${victim}'s unfinished workflows were each taken over once`);
    if (takeovers.length === 0) continue;
    // After its first takeover the victim's lease had expired: it owns nothing from then on.
    const firstTakeoverUs = Math.min(...takeovers.map((row) => Number(row.committed_us)));
    const afterTakeover = audit.filter((row) => row.writer === victim && Number(row.committed_us) >= firstTakeoverUs);
    assert.deepEqual(
      afterTakeover.filter((row) => Number(row.written_us) >= firstTakeoverUs).map(describeWrite),
      [],
      `no statement ${victim} ran after the takeover of its workflows wrote anything (fencing refused each)`,
    );
    lateCommits.push(...afterTakeover);
  }
  assert.deepEqual(lateCommits.map(describeWrite), [], 'the victims committed nothing after the takeover of their workflows');
  const statuses = await Promise.all(openAtCut.map(async (row) => ({ ...row, status: await xactStatus(row.xid) })));

  // The stale executions stopped (a fenced write or the lapse's abort); none ran a plain step once
  // the network was back. (A transaction whose BEGIN was queued at the cut may run its function
  // then: the lease held when it began, and its writes roll back at the fenced checkpoint.)
  let fenced = 0;
  if (scenario === 'partition') {
    for (const worker of victims) {
      const restoredAt = worker.lines.indexOf('MARK restored');
      assert.deepEqual(worker.lines.slice(restoredAt).filter((line) => / s\d+$/.test(line) && line.startsWith('RAN ')), [], `${worker.executorId} ran no step once its network was back`);
      for (const workflowId of pendingAtCut.filter((id) => id.startsWith(`${worker.executorId}-`))) {
        assert.ok(!worker.lines.includes(`DONE ${workflowId}`), `${worker.executorId} did not finish ${workflowId} after losing it`);
        const ended = worker.lines.find((line) => line.startsWith(`ENDED ${workflowId} `));
        assert.ok(ended !== undefined, `${worker.executorId}'s stale execution of ${workflowId} stopped`);
        const code = ended.split(' ')[2]!;
        assert.ok(STALE_STOP_CODES.includes(code), `${workflowId}'s stale execution stopped with ${STALE_STOP_CODES.join(' or ')}, got ${code}`);
        if (code === 'STRATA_WORKFLOW_TAKEN_OVER') fenced++;
      }
    }
  }
  t.diagnostic(
    `invariants hold: ${workflows.length} workflows SUCCESS (${pendingAtCut.length} taken over), ${steps.length} checkpoints, ${effects.length} effects and ${messages.length} messages once each; ` +
      `victim transactions open at the cut: ${statuses.map((row) => row.status).join(', ')}; ` +
      (scenario === 'partition' ? `stale executions stopped by a fenced write: ${fenced}, by the lapse: ${pendingAtCut.length - fenced}` : 'victims SIGKILLed'),
  );
}
