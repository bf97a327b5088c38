// DBOS Transact's side of every workload (see lib/protocol.ts for what each measures), mirroring
// systems/strata.ts workflow for workflow: same shapes, same timers, same warm-up. DBOS runs at its
// defaults (pool sizes, polling intervals, queue dispatch); only its logging is turned down to
// errors (on stderr). PostgreSQL only: DBOS has no PGlite system database.
//
// Written against @dbos-inc/dbos-sdk 5.3.0, whose API differs from older 5.x in ways this file
// relies on (checked in the package's dist/src/*.d.ts):
// - queues are database-backed and made with `await DBOS.registerQueue(name, options)` after
//   launch; `WorkflowQueue` is exported as a type only, and `concurrency` is deprecated for
//   `globalConcurrency`;
// - `DBOS.recv(topic, n)` takes a timeout in seconds; `DBOS.sleep(ms)` takes milliseconds;
// - a handle from `DBOS.startWorkflow(wf, { queueName })` is a RetrievedHandle whose `getResult()`
//   polls `dbos.workflow_status` once a second; a direct call (`await wf()`) awaits the run in process.
import { AsyncLocalStorage } from 'node:async_hooks';
import { DBOS } from '@dbos-inc/dbos-sdk';
import {
  type DataSourceTransactionHandler,
  assertStillOwnsWorkflow,
  DBOSError,
  DBOSStepAlreadyRecordedError,
  DBOSWorkflowConflictError,
  guardDataSourcePoolPG,
  isPGRetriableTransactionError,
  migrateDataSourcePG,
  registerDataSource,
  replayRecordedStep,
  runTransaction,
} from '@dbos-inc/dbos-sdk/datasource';
import pg from 'pg';
import { InWorkflowTimers, idleGap, inFlight, p50p99, reportParkedAndWait, sleep, timeEach, timeRecovery, waitForCount } from '../lib/measure.js';
import { PARKED_PREFIX, WARM_UP, type ChildConfig, type Metrics, type WorkloadName } from '../lib/protocol.js';

/** DBOS's application name: the same in every process, so a restarted one recovers the parked workflows. */
const APP_NAME = 'strata-bench';
/** The data source's name, and the schema of its `transaction_completion` table (DBOS's default). */
const DATA_SOURCE = 'bench';
const DATA_SOURCE_SCHEMA = 'dbos';

const timers = new InWorkflowTimers();

// ---------------------------------------------------------------------------------------------
// The transaction data source.
//
// None of the published data sources works with dbos-sdk 5.3.0: @dbos-inc/postgres-datasource
// 4.24.16, @dbos-inc/knex-datasource 4.5.13 and @dbos-inc/drizzle-datasource 4.27.6 (the latest on
// the registry) all call `checkSchemaInstallationPG` / `createTransactionCompletionSchemaPG` from
// '@dbos-inc/dbos-sdk/datasource', which 5.3.0 no longer exports, so `DBOS.launch()` fails in
// their `initialize()` ("… is not a function"). 5.3.0's data source contract instead offers
// `migrateDataSourcePG`, `assertStillOwnsWorkflow`, `DBOSStepAlreadyRecordedError`,
// `replayRecordedStep` and the optional `deleteCheckpoints`, and no published data source uses it
// yet. What follows is a node-postgres data source written to that contract, doing per transaction
// what the data sources in DBOS's repository that use it do (packages/drizzle-datasource; the
// node-postgres one, packages/nodepg-datasource, has the same transaction path): look up an
// earlier outcome in dbos.transaction_completion; BEGIN; run the user's SQL; insert the outcome;
// check the workflow is still owned (assertStillOwnsWorkflow); COMMIT. DBOS itself then
// checkpoints the step in dbos.operation_outputs and, when the workflow finishes, calls
// `deleteCheckpoints`. A pg.Pool at its defaults (10 connections), as theirs. It lives on the
// child's database, next to DBOS's system tables (both default to the `dbos` schema; the data
// source's migrations table is its own, dbos_transaction_completion_migrations).
// ---------------------------------------------------------------------------------------------

const txClient = new AsyncLocalStorage<pg.PoolClient>();

/** The connection of the running transaction, for the transaction's own SQL. */
function transactionClient(): pg.PoolClient {
  const client = txClient.getStore();
  if (!client) throw new Error('transactionClient() outside a transaction');
  return client;
}

type Outcome = { output: string | null } | { error: string };

class NodePostgresTransactions implements DataSourceTransactionHandler {
  readonly name = DATA_SOURCE;
  #pool: pg.Pool | undefined;

  constructor(private readonly url: string) {}

  /** Called by DBOS.launch(): opens the pool and creates or migrates dbos.transaction_completion. */
  async initialize(): Promise<void> {
    const previous = this.#pool;
    this.#pool = new pg.Pool({ connectionString: this.url });
    guardDataSourcePoolPG(this.#pool, 'NodePostgresTransactions');
    await previous?.end();
    await this.#transaction(async (client) => {
      await migrateDataSourcePG(async (text) => (await client.query(text)).rows, DATA_SOURCE_SCHEMA);
    });
  }

  async destroy(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end();
  }

  get #db(): pg.Pool {
    if (!this.#pool) throw new Error(`data source ${this.name} is not initialized`);
    return this.#pool;
  }

  async #transaction<R>(body: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await this.#db.connect();
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  async deleteCheckpoints(workflowID: string, startStep: number, beforeCommit?: () => Promise<void>): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query(`DELETE FROM "${DATA_SOURCE_SCHEMA}".transaction_completion WHERE workflow_id = $1 AND function_num >= $2`, [workflowID, startStep]);
      await beforeCommit?.();
    });
  }

  async #recorded(workflowID: string, stepID: number): Promise<Outcome | undefined> {
    const { rows } = await this.#db.query<{ output: string | null; error: string | null }>(
      `SELECT output, error FROM "${DATA_SOURCE_SCHEMA}".transaction_completion WHERE workflow_id = $1 AND function_num = $2`,
      [workflowID, stepID],
    );
    const row = rows[0];
    if (!row) return undefined;
    return row.error !== null ? { error: row.error } : { output: row.output };
  }

  async #record(db: pg.PoolClient | pg.Pool, workflowID: string, stepID: number, column: 'output' | 'error', value: string): Promise<void> {
    const { rows } = await db.query(
      `INSERT INTO "${DATA_SOURCE_SCHEMA}".transaction_completion (workflow_id, function_num, ${column}) VALUES ($1, $2, $3)
       ON CONFLICT (workflow_id, function_num) DO NOTHING RETURNING workflow_id`,
      [workflowID, stepID, value],
    );
    if (rows.length === 0) throw new DBOSStepAlreadyRecordedError(workflowID, stepID);
  }

  async #replay<R>(workflowID: string, stepID: number): Promise<R> {
    const recorded = await this.#recorded(workflowID, stepID);
    if (!recorded) throw new DBOSError(`Step ${stepID} of workflow ${workflowID} conflicted with a concurrent execution, but no recorded outcome was found`);
    return replayRecordedStep<R>(recorded);
  }

  async invokeTransactionFunction<This, Args extends unknown[], Return>(
    _config: unknown,
    target: This,
    func: (this: This, ...args: Args) => Promise<Return>,
    ...args: Args
  ): Promise<Return> {
    const workflowID = DBOS.workflowID;
    const stepID = DBOS.stepID;
    if (workflowID !== undefined && stepID === undefined) throw new Error('DBOS.stepID is undefined inside a workflow');
    const inWorkflow = workflowID !== undefined && stepID !== undefined;
    let retryWaitMs = 1;
    while (true) {
      if (inWorkflow) {
        const previous = await this.#recorded(workflowID, stepID);
        if (previous) return replayRecordedStep<Return>(previous);
      }
      try {
        return await this.#transaction(async (client) => {
          const result = await txClient.run(client, () => func.call(target, ...args));
          if (inWorkflow) {
            // The data sources serialize with SuperJSON (replayRecordedStep parses with it); `{"json": v}`
            // is its form of a plain JSON value, which is all this benchmark's transactions return.
            await this.#record(client, workflowID, stepID, 'output', JSON.stringify({ json: result ?? null }));
            // Holding this step's row, so a later owner's insert waits on this commit.
            await assertStillOwnsWorkflow(workflowID);
          }
          return result;
        });
      } catch (error) {
        if (inWorkflow && error instanceof DBOSStepAlreadyRecordedError) return await this.#replay<Return>(workflowID, stepID);
        if (error instanceof DBOSWorkflowConflictError) throw error;
        if (isPGRetriableTransactionError(error)) {
          await sleep(retryWaitMs);
          retryWaitMs = Math.min(retryWaitMs * 1.5, 2000);
          continue;
        }
        if (inWorkflow) {
          const e = error as Error;
          try {
            // SuperJSON's form of an Error, which replayRecordedStep revives as one.
            const serialized = JSON.stringify({ json: { name: e.name, message: e.message }, meta: { values: ['Error'], v: 1 } });
            await this.#record(this.#db, workflowID, stepID, 'error', serialized);
          } catch (recordError) {
            if (recordError instanceof DBOSStepAlreadyRecordedError) return await this.#replay<Return>(workflowID, stepID);
            throw recordError;
          }
        }
        throw error;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** DBOS is a process-wide singleton: configure it once per child, before registering and launching. */
function configure(config: ChildConfig) {
  DBOS.setConfig({
    name: APP_NAME,
    systemDatabaseUrl: config.url,
    // Errors only, and those through console.error (stderr); OTLP is off by default and stays off.
    logLevel: 'error',
    enableOTLP: false,
  });
}

/** Registers every benchmark workflow, so all processes of a run have the same ones (and so the same application version). */
function register() {
  const empty = DBOS.registerWorkflow(async () => 0, { name: 'empty' });
  const three = DBOS.registerWorkflow(
    async () => {
      let sum = 0;
      for (const name of ['a', 'b', 'c']) {
        const t0 = performance.now();
        sum += await DBOS.runStep(async () => 1, { name });
        if (timers.recording) timers.steps.push(performance.now() - t0);
      }
      return sum;
    },
    { name: 'three' },
  );
  const insert = DBOS.registerWorkflow(
    async (i: number) => {
      const t0 = performance.now();
      await runTransaction(
        async () => {
          await transactionClient().query('insert into bench_rows (v) values ($1)', [`row ${i}`]);
        },
        'insert',
        { dsName: DATA_SOURCE },
      );
      if (timers.recording) timers.transactions.push(performance.now() - t0);
    },
    { name: 'insert' },
  );
  const one = DBOS.registerWorkflow(async (i: number) => DBOS.runStep(async () => i, { name: 'one' }), { name: 'one' });
  const firstLine = DBOS.registerWorkflow(
    async () => {
      // A recovered or re-dispatched run may run this line again: only the first signal counts.
      const id = DBOS.workflowID!;
      timers.started.get(id)?.(performance.now());
      timers.started.delete(id);
      const result = await DBOS.runStep(async () => 1, { name: 'one' });
      timers.ended.get(id)?.();
      return result;
    },
    { name: 'first-line' },
  );
  const pong = DBOS.registerWorkflow(
    async (rounds: number, pinger: string) => {
      for (let i = 0; i < rounds; i++) {
        // DBOS.recv's numeric timeout is in seconds: 60 s, as Strata's timeoutMs: 60_000.
        const ping = await DBOS.recv<number>('ping', 60);
        await DBOS.send(pinger, ping, 'pong');
      }
    },
    { name: 'pong' },
  );
  const ping = DBOS.registerWorkflow(
    async (rounds: number, ponger: string) => {
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        await DBOS.send(ponger, i, 'ping');
        const reply = await DBOS.recv<number>('pong', 60);
        if (reply !== i) throw new Error(`round ${i}: got ${reply}`);
        timers.roundTrips.push(performance.now() - t0);
      }
    },
    { name: 'ping' },
  );
  const sleeper = DBOS.registerWorkflow(
    async (wakeAt: number) => {
      await DBOS.sleep(Math.max(0, wakeAt - Date.now()));
      return DBOS.runStep(async () => 1, { name: 'after' });
    },
    { name: 'sleeper' },
  );
  return { empty, three, insert, one, firstLine, pong, ping, sleeper };
}

/** Strata's queues: 'drain' with a queue-wide concurrency of 50 (`globalConcurrency`, 5.3's name for `concurrency`), 'idle' unlimited. */
async function registerQueues() {
  await DBOS.registerQueue('drain', { globalConcurrency: 50 });
  await DBOS.registerQueue('idle');
}

/** count(*) as n of `sql` on `client`. */
async function count(client: pg.Client, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await client.query<{ n: string }>(sql, params);
  return Number(rows[0]!.n);
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function run(workload: WorkloadName, config: ChildConfig): Promise<Metrics> {
  if (config.engine !== 'postgres') throw new Error('DBOS runs on PostgreSQL only');
  const { counts } = config;
  configure(config);
  // Called as plain functions: DBOS takes a method call's `this` for a ConfiguredInstance.
  const { empty, three, insert, one, firstLine, pong, ping, sleeper } = register();
  if (workload === 'transactions') {
    // Only this workload uses the data source; registering it elsewhere would only add its
    // initialize() to launch (and to recovery.launch.ms). Its schema is migrated by launch().
    registerDataSource(new NodePostgresTransactions(config.url));
  }
  const metrics: Metrics = {};
  if (workload !== 'recovery-resume') {
    await DBOS.launch();
    // recovery-resume finds the queues already in dbos.queues, registered by the parking process.
    await registerQueues();
    // Warm-up: pool connections, prepared statements and the JIT, as a long-running app has them.
    await Promise.all(Array.from({ length: 20 }, () => three()));
    await timeEach(config.warmUp ?? WARM_UP, () => three());
  }
  timers.recording = true;

  switch (workload) {
    case 'sequential': {
      Object.assign(metrics, p50p99('seq.wf0', await timeEach(counts.sequential, () => empty())));
      Object.assign(metrics, p50p99('seq.wf3', await timeEach(counts.sequential, () => three())));
      Object.assign(metrics, p50p99('seq.step', timers.steps));
      break;
    }
    case 'throughput': {
      for (const width of counts.widths) {
        const { wallMs, samples } = await inFlight(counts.throughput, width, () => three());
        metrics[`tput.${width}.wfps`] = counts.throughput / (wallMs / 1000);
        metrics[`tput.${width}.stepsps`] = (3 * counts.throughput) / (wallMs / 1000);
        Object.assign(metrics, p50p99(`tput.${width}`, samples));
      }
      break;
    }
    case 'transactions': {
      const db = await connect(config.url);
      await db.query('create table if not exists bench_rows (id bigserial primary key, v text not null)');
      await timeEach(counts.transactions, (i) => insert(i));
      Object.assign(metrics, p50p99('tx', timers.transactions));
      const { wallMs } = await inFlight(counts.transactions, 64, (i) => insert(i));
      metrics['tx.rowsps'] = counts.transactions / (wallMs / 1000);
      const rows = await count(db, 'select count(*) as n from bench_rows');
      await db.end();
      if (rows !== 2 * counts.transactions) throw new Error(`expected ${2 * counts.transactions} rows, found ${rows}`);
      break;
    }
    case 'queue': {
      // DBOS.registerQueue (after launch) leaves a new queue to the dispatcher's next reconcile
      // (within 1 s) and its first poll (1 s after that); Strata's queues are live from launch. So
      // one workflow goes through each queue first, untimed: both are then polled at their steady cadence.
      await Promise.all(['drain', 'idle'].map(async (queueName) => (await DBOS.startWorkflow(one, { queueName })(-1)).getResult()));
      // As Strata, each enqueue's result promise is collected as it goes. A handle of an enqueued
      // DBOS workflow is a RetrievedHandle: its getResult() polls dbos.workflow_status once a second
      // (DBOS's default), so the end is seen within a second of the last workflow finishing.
      // (DBOS.waitAll(handles), one query a second for all of them, measured the same: 47 wf/s.)
      const t0 = performance.now();
      const handles: Array<Promise<number>> = [];
      await inFlight(counts.drain, 64, async (i) => handles.push((await DBOS.startWorkflow(one, { queueName: 'drain' })(i)).getResult()));
      await Promise.all(handles);
      metrics['queue.drain.ms'] = performance.now() - t0;
      metrics['queue.drain.wfps'] = counts.drain / (metrics['queue.drain.ms'] / 1000);
      const latencies: number[] = [];
      for (let i = 0; i < counts.idleSamples; i++) {
        const id = `idle-${i}`;
        const seen = new Promise<number>((resolve) => timers.started.set(id, resolve));
        const done = new Promise<void>((resolve) => timers.ended.set(id, resolve));
        await DBOS.startWorkflow(firstLine, { workflowID: id, queueName: 'idle' })();
        const returned = performance.now();
        latencies.push((await seen) - returned);
        // The queue is idle again before the next sample; awaited in process, as for Strata (a
        // handle's getResult() polls once a second, which would only make the run longer).
        await done;
        await idleGap(); // see idleGap: a random pause spreads the enqueues over DBOS's poll cycle
      }
      Object.assign(metrics, p50p99('queue.idle', latencies));
      break;
    }
    case 'messages': {
      const ponger = await DBOS.startWorkflow(pong, { workflowID: 'pong' })(counts.messages, 'ping');
      const pinger = await DBOS.startWorkflow(ping, { workflowID: 'ping' })(counts.messages, 'pong');
      await Promise.all([pinger.getResult(), ponger.getResult()]);
      Object.assign(metrics, p50p99('msg', timers.roundTrips));
      break;
    }
    case 'recovery-park': {
      if (config.parkBudgetMs === undefined) throw new Error('recovery-park needs parkBudgetMs');
      const wakeAt = Date.now() + config.parkBudgetMs;
      await inFlight(counts.recovery, 64, (i) => DBOS.startWorkflow(sleeper, { workflowID: `sleeper-${i}` })(wakeAt));
      // A parked sleeper has its DBOS.sleep checkpoint (the wake-up time) in dbos.operation_outputs.
      const db = await connect(config.url);
      await waitForCount(
        () =>
          count(
            db,
            "select count(*) as n from dbos.operation_outputs o join dbos.workflow_status w using (workflow_uuid) where w.name = 'sleeper' and o.function_name = 'DBOS.sleep'",
          ),
        counts.recovery,
        'parked sleepers',
      );
      return reportParkedAndWait(wakeAt, PARKED_PREFIX);
    }
    case 'recovery-resume': {
      const probe = await connect(config.url);
      // Executor 'local' and the same application version (a hash of the registered workflows):
      // launch re-enqueues the parked workflows on DBOS's internal queue, which dispatches them.
      Object.assign(
        metrics,
        await timeRecovery(() => DBOS.launch(), () => count(probe, "select count(*) as n from dbos.workflow_status where name = 'sleeper' and status = 'SUCCESS'"), counts.recovery),
      );
      await probe.end();
      break;
    }
    default:
      throw new Error(`unknown workload "${workload}"`);
  }
  await DBOS.shutdown();
  return metrics;
}

export { run };
