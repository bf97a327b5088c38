import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { isProcessAlive, loadMigrations, migrate, openDatabase, type Database, type Queryable } from '@strata/store';
import { CheckpointWriter, EnqueueWriter, WorkflowEndWriter, WorkflowStartWriter } from './group-commit.js';
import { Context, currentContext, useContextInstead, workflowCodeContext } from './context.js';
import { assertQueuedIfQueueOptions, attributesJson, enqueue, validateAttributes, validateEnqueueOptions } from './enqueue.js';
import {
  DuplicateEnqueueError,
  DuplicateWorkflowError,
  EngineStateError,
  ExecutorConflictError,
  QueueStateError,
  UnknownQueueError,
  InvalidArgumentError,
  WorkflowNotFoundError,
  StrataError,
  UnknownWorkflowError,
  WaitTimeoutError,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowStateError,
  WorkflowTimeoutError,
  WorkflowTakenOverError,
} from './errors.js';
import type {
  EnqueueOptions,
  ExecutorInfo,
  Logger,
  Queue,
  QueueAdmin,
  QueueConfig,
  ReadStreamOptions,
  RetentionPolicy,
  ScheduleAdmin,
  ScheduleConfig,
  ShutdownOptions,
  StartOptions,
  StrataConfig,
  WaitOptions,
  Workflow,
  WorkflowAdmin,
  WorkflowContext,
  CheckDeployReport,
  WorkflowFunction,
  WorkflowHandle,
  WorkflowStarter,
} from './interfaces.js';
import { SystemDatabaseError, abortable, isConnectionError, setLongTimeout, type Owner, type ParentLink, type Runtime, type Terminal } from './runtime.js';
import { Availability } from './availability.js';
import { ClaimGuard } from './claim-guard.js';
import { assert } from './assert.js';
import { WorkflowAdminImpl } from './management.js';
import { replayWorkflow, type ReplayReport } from './replay.js';
import { Operations, toExecutorInfo, type SendOptions } from './operations.js';
import { QueueAdminImpl, assertQueueName, queueLimits } from './queue-admin.js';
import { RetentionTask } from './retention.js';
import { DEFAULT_SCHEDULE_TIMEZONE, ScheduleAdminImpl, Scheduler, validateSchedule } from './schedules.js';
import { upsertSchedule, type ScheduleFields } from './sql/schedules.js';
import { QueueRunner, type QueueRunnerHost } from './queue-runner.js';
import { Serializer } from './serialization.js';
import { Signals } from './signals.js';
import { activeTraceParent, startSpan, withSpan } from './tracing.js';
import {
  executorsToTakeOver,
  getQueue,
  heartbeat,
  listExecutors,
  listQueues,
  markExecutorStopped,
  registerExecutor,
  registeredWorkflowNames,
  unfinishedWithHistory,
  takeOverWorkflows,
  upsertQueue,
  type DequeuedWorkflow,
  type QueueLimits,
  type QueueRow,
  cancelWorkflowTree,
  expiredRoot,
  RECOVERY_PAGE_SIZE,
  claimPendingWorkflows,
  ownedPendingWorkflows,
  resetRecoveryAttempts,
  countOtherVersionPending,
  getWorkflow,
  insertWorkflow,
  loadSteps,
  loadStepsOf,
  type ClaimedWorkflow,
  type StepRow,
} from './sql/index.js';
import { assertDuration, assertFunction, assertIdentifier, assertOptions } from './validate.js';
import { SHUTDOWN_OPTION_KEYS, validateStrataConfig } from './config.js';

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
/**
 * Concurrent writes of each group-commit writer (checkpoints, starts and enqueues, ends) on a
 * server. Few, so that under load each write carries many rows (one round trip and one commit
 * for all of them), and pool connections stay free for transactions and waits. Embedded PGlite
 * has one connection.
 */
const POSTGRES_CHECKPOINT_WRITES_IN_FLIGHT = 4;
const POSTGRES_START_WRITES_IN_FLIGHT = 2;
const POSTGRES_END_WRITES_IN_FLIGHT = 2;
/** One connection: heartbeats are sequential (never two at once). */
const HEARTBEAT_POOL_SIZE = 1;

/** How one execution ended, as far as this process knows. */
interface Outcome {
  readonly terminal: Terminal | undefined;
}

interface Execution {
  readonly controller: AbortController;
  readonly context: Context;
  readonly done: Promise<Outcome>;
  /** The queue it was taken from, if any (counts against the queue's per-executor limit). */
  readonly queue: string | null;
  /** Its trace span (children started here nest under it). */
  readonly span: Span;
}

interface Registration {
  readonly name: string;
  readonly fn: WorkflowFunction<unknown[], unknown>;
}

type EngineState = 'new' | 'launching' | 'running' | 'draining' | 'stopped';

/**
 * A durable workflow engine. Register workflows, `launch()` (migrates the system database and
 * resumes unfinished workflows), then start them; every step is checkpointed in the database,
 * so a crashed process resumes where it stopped. Several engines may live in one process.
 *
 * @example
 * import { Strata } from '@strata/transact';
 * const strata = new Strata({ database: './.strata' });   // or 'postgres://…'
 * const order = strata.workflow('order', async (ctx, id: string) => {
 *   const paid = await ctx.step('charge', () => chargeCard(id), { retry: { maxAttempts: 3 } });
 *   await ctx.transaction('ship', (tx) => tx.query('insert into shipments (order_id) values ($1)', [id]));
 *   return paid;
 * });
 * await strata.launch();
 * const handle = await order.with({ workflowId: 'order-42' }).start('42');
 * console.log(await handle.result());
 * await strata.shutdown();
 */
export class Strata {
  /** This process's executor ID (see {@link StrataConfig.executorId}). */
  readonly executorId: string;
  /** The application version this engine runs (see {@link StrataConfig.appVersion}). */
  readonly appVersion: string;
  readonly #config: StrataConfig;
  readonly #logger: Logger;
  readonly #serializer: Serializer;
  readonly #registry = new Map<string, Registration>();
  readonly #running = new Map<string, Execution>();
  readonly #safetyPollIntervalMs: number;
  readonly #maxRecoveryAttempts: number;
  readonly #heartbeatIntervalMs: number;
  readonly #executorTimeoutMs: number;
  /** Queues declared in code, upserted at launch. */
  readonly #declaredQueues = new Map<string, QueueLimits>();
  /** Schedules declared in code, upserted at launch. */
  readonly #declaredSchedules = new Map<string, ScheduleFields>();
  readonly #retentionPolicy: RetentionPolicy | undefined;
  #state: EngineState = 'new';
  #ownedDatabases: Database[] = [];
  #runtime: Runtime | undefined;
  #operations: Operations | undefined;
  #workflowAdmin: WorkflowAdminImpl | undefined;
  #stopWakeListener: (() => void) | undefined;
  #queueRunner: QueueRunner | undefined;
  #queueAdmin: QueueAdminImpl | undefined;
  #scheduleAdmin: ScheduleAdminImpl | undefined;
  #scheduler: Scheduler | undefined;
  #retention: RetentionTask | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatPass: Promise<void> | undefined;
  /** The takeover of dead executors' workflows in progress, if any. */
  #takeoverPass: Promise<void> | undefined;
  /**
   * The `performance.now()` until which no other executor can have taken this one's workflows
   * over: when the last successful heartbeat (or registration) was sent, plus executorTimeoutMs.
   * The monotonic clock keeps running while the process is paused, so a pause lapses it.
   */
  #leaseUntil = 0;
  /** Executions waiting for a heartbeat to renew the lapsed lease. */
  #leaseWaiters: (() => void)[] = [];
  /** The launch in progress or done. */
  #launching: Promise<void> | undefined;
  /** The database this executor registered in, once it did. */
  #registered: Database | undefined;
  /** The epoch of this executor's current registration: the fencing token of its writes. */
  #epoch = 0;
  /** Where heartbeats are written: a one-connection pool of their own on a server, else the system database. */
  #heartbeatDb: Database | undefined;
  /** Claim paths (shared) against the adoption of orphans (exclusive); see ClaimGuard. */
  readonly #claimGuard = new ClaimGuard();
  /** While orphans are searched for after an outage: every workflow that ran here meanwhile. */
  #adopting: Set<string> | undefined;
  /** Availability of the system database (and of the application database, when separate). */
  #availability = new Map<Database, Availability>();
  /** Aborted when the engine stops: ends waits for a lost database that would outlive it. */
  readonly #stopping = new AbortController();

  constructor(config: StrataConfig = {}) {
    const settings = validateStrataConfig(config);
    this.#config = config;
    this.executorId = settings.executorId;
    this.appVersion = settings.appVersion;
    this.#logger = settings.logger;
    this.#serializer = new Serializer(settings.maxValueBytes);
    this.#safetyPollIntervalMs = settings.safetyPollIntervalMs;
    this.#maxRecoveryAttempts = settings.maxRecoveryAttempts;
    this.#heartbeatIntervalMs = settings.heartbeatIntervalMs;
    this.#executorTimeoutMs = settings.executorTimeoutMs;
    this.#retentionPolicy = settings.retention;
  }

  /**
   * Registers a workflow under a unique name. Call before {@link launch}.
   *
   * @example
   * const greet = strata.workflow('greet', async (ctx, name: string) => {
   *   const at = await ctx.now();
   *   return `hello ${name} at ${at}`;
   * });
   */
  workflow<A extends unknown[], R>(name: string, fn: WorkflowFunction<A, R>): Workflow<A, R> {
    assertIdentifier(name, 'workflow name');
    assertFunction(fn, `function of workflow "${name}"`);
    if (this.#state !== 'new') throw new EngineStateError(`workflow "${name}" must be registered before launch()`);
    if (this.#registry.has(name)) throw new DuplicateWorkflowError(name);
    this.#registry.set(name, { name, fn: fn as unknown as WorkflowFunction<unknown[], unknown> });
    return this.#starter<A, R>(name, {});
  }

  /**
   * Declares a queue in code (before {@link launch}); launch creates it, or sets its limits to
   * these if it exists. Limits changed at runtime with {@link queues} hold until the next launch
   * of an executor that declares the queue.
   *
   * @example
   * const emails = strata.queue('emails', { concurrency: 50, rateLimit: { limit: 100, periodMs: 1_000 } });
   * await strata.launch();
   * await emails.enqueue(sendEmail.with({ priority: 1 }), 'ada@example.com');
   */
  queue(name: string, config: QueueConfig = {}): Queue {
    assertQueueName(name);
    const limits = queueLimits(name, config);
    if (this.#state !== 'new') throw new EngineStateError(`queue "${name}" must be declared before launch(); create queues at runtime with strata.queues.create()`);
    if (this.#declaredQueues.has(name)) throw new QueueStateError(name, `queue "${name}" is declared twice`);
    this.#declaredQueues.set(name, limits);
    return this.#queueHandle(name);
  }

  /**
   * Declares a cron schedule in code (before {@link launch}); launch creates it, or updates its
   * expression, time zone, catch-up and queue if it exists (a runtime pause stays). Each tick
   * starts `workflow` once, with the tick's time as its argument, under the workflow ID
   * `sched:<name>:<tick ISO time>`, however many executors run.
   *
   * @example
   * const report = strata.workflow('report', async (ctx, scheduledAt: Date) => buildReport(scheduledAt));
   * strata.schedule('nightly-report', report, { cron: '0 3 * * *', timezone: 'Europe/Paris' });
   */
  schedule(name: string, workflow: WorkflowStarter<[Date], unknown>, config: ScheduleConfig): void {
    assertIdentifier(name, 'schedule name');
    if (!workflow || typeof workflow !== 'object' || workflow.binding?.owner !== this) {
      throw new InvalidArgumentError(`schedule "${name}" needs a workflow registered with this engine's strata.workflow()`);
    }
    validateSchedule(config);
    if (this.#state !== 'new') throw new EngineStateError(`schedule "${name}" must be declared before launch(); create schedules at runtime with strata.schedules.create()`);
    if (this.#declaredSchedules.has(name)) throw new InvalidArgumentError(`schedule "${name}" is declared twice`);
    this.#declaredSchedules.set(name, {
      workflowName: workflow.name,
      cron: config.cron,
      timezone: config.timezone ?? DEFAULT_SCHEDULE_TIMEZONE,
      catchUp: config.catchUp ?? false,
      queueName: config.queue ?? null,
    });
  }

  /** Creates, pauses, resumes, changes and deletes cron schedules at runtime (after {@link launch}). */
  get schedules(): ScheduleAdmin {
    this.#requireRunning();
    return this.#scheduleAdmin!;
  }

  /**
   * A queue by name, declared in code or created at runtime (checked when enqueuing).
   *
   * @example
   * await strata.queues.create('reports', { concurrency: 2 });
   * await strata.queueNamed('reports').enqueue(report, 'q3');
   */
  queueNamed(name: string): Queue {
    assertIdentifier(name, 'queue name');
    return this.#queueHandle(name);
  }

  /**
   * Lists, inspects and steers workflows: filters and paging, steps, cancel, resume, restart,
   * fork, delete, and bulk forms (after {@link launch}).
   *
   * @example
   * const { workflows } = await strata.workflows.list({ status: 'ERROR', limit: 20 });
   * await strata.workflows.resume(workflows[0]!.workflowId);
   */
  get workflows(): WorkflowAdmin {
    if (this.#workflowCode('strata.workflows')) throw useContextInstead('strata.workflows', 'a step: ctx.step("list", () => strata.workflows.list(…))');
    this.#requireRunning();
    return this.#workflowAdmin!;
  }

  /** Creates, changes, lists and deletes queues at runtime (after {@link launch}). */
  get queues(): QueueAdmin {
    this.#requireRunning();
    return this.#queueAdmin!;
  }

  /**
   * The executors recorded in `strata.executors`, with whether each is alive (heartbeating
   * within `executorTimeoutMs` and not stopped).
   *
   * @example
   * for (const e of await strata.listExecutors()) console.log(e.executorId, e.alive, e.heartbeatAt);
   */
  async listExecutors(): Promise<ExecutorInfo[]> {
    const { db } = this.#requireRunning();
    return (await listExecutors(db, this.#executorTimeoutMs)).map(toExecutorInfo);
  }

  /**
   * Replays a recorded workflow with the code registered in this engine, without running any
   * step or writing anything: recorded operations return their recorded results, and the replay
   * stops at the first divergence or where the history ends. Needs no launch.
   *
   * @example
   * const report = await strata.replay('order-42', { database: process.env.DATABASE_URL });
   * console.log(formatReplayReport(report));
   */
  async replay(workflowId: string, options: { readonly database?: Database | string } = {}): Promise<ReplayReport> {
    assertIdentifier(workflowId, 'workflow ID');
    assertOptions(options, 'replay options', ['database']);
    return this.#withDatabase(options.database, async (db) => {
      const row = await getWorkflow(db, workflowId);
      if (!row) throw new WorkflowNotFoundError(workflowId);
      const registration = this.#registry.get(row.name);
      if (!registration) throw new UnknownWorkflowError(row.name, [...this.#registry.keys()]);
      return this.#replayRow(db, row.workflow_id, row.name, row.status, row.inputs, row.deadline_at, registration);
    });
  }

  /**
   * Replays every unfinished workflow (PENDING, or ENQUEUED with recorded steps) of this engine's
   * application version — or of every version with `allVersions` — against the code registered
   * here, as a check before deploying it: `diverged` lists those whose history the code would
   * not follow, `unregistered` those whose workflow name the code no longer registers.
   *
   * @example
   * const check = await strata.checkDeploy({ database: process.env.DATABASE_URL });
   * if (check.diverged.length + check.unregistered.length > 0) process.exit(1);
   */
  async checkDeploy(options: { readonly database?: Database | string; readonly allVersions?: boolean } = {}): Promise<CheckDeployReport> {
    assertOptions(options, 'checkDeploy options', ['database', 'allVersions']);
    return this.#withDatabase(options.database, async (db) => {
      const reports: ReplayReport[] = [];
      const unregistered: Array<{ workflowId: string; name: string }> = [];
      for (const row of await unfinishedWithHistory(db, options.allVersions ? null : this.appVersion)) {
        const registration = this.#registry.get(row.name);
        if (!registration) {
          unregistered.push({ workflowId: row.workflow_id, name: row.name });
          continue;
        }
        reports.push(await this.#replayRow(db, row.workflow_id, row.name, row.status, row.inputs, row.deadline_at, registration));
      }
      return { checked: reports.length + unregistered.length, reports, diverged: reports.filter((r) => r.diverged), unregistered };
    });
  }

  /**
   * Opens the databases, applies migrations, registers this executor, starts listening for
   * signals, resumes this executor's unfinished workflows (of this application version), then
   * starts taking work off queues and heartbeating; from then on it also takes over the
   * unfinished workflows of executors that stop heartbeating.
   */
  launch(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new EngineStateError(`launch() was already called (engine is ${this.#state})`));
    this.#state = 'launching';
    this.#launching = this.#launch();
    return this.#launching;
  }

  async #launch(): Promise<void> {
    try {
      const db = await this.#open(this.#config.database);
      // Heartbeats get a connection of their own on a server, so a pool busy with workflows'
      // transactions never delays them past the lease (a false takeover, if safe, costs work).
      this.#heartbeatDb = db.engine === 'postgres' && typeof this.#config.database === 'string' ? await this.#open(this.#config.database, HEARTBEAT_POOL_SIZE) : db;
      const appDb = this.#config.appDatabase === undefined ? db : await this.#open(this.#config.appDatabase);
      await migrate(db, 'transact', loadMigrations(new URL('../migrations/', import.meta.url)));
      if (appDb !== db) await migrate(appDb, 'transact-app', loadMigrations(new URL('../app-migrations/', import.meta.url)));
      await this.#register(db);
      const changedQueues: string[] = [];
      for (const [name, limits] of this.#declaredQueues) if (await upsertQueue(db, name, limits)) changedQueues.push(name);
      let schedulesChanged = false;
      for (const [name, fields] of this.#declaredSchedules) {
        if (fields.queueName !== null && !(await getQueue(db, fields.queueName))) {
          throw new UnknownQueueError(fields.queueName, (await listQueues(db)).map((q) => q.name));
        }
        if (await upsertSchedule(db, name, fields)) schedulesChanged = true;
      }
      const signals = new Signals(db);
      for (const each of new Set([db, appDb])) this.#availability.set(each, new Availability(each, this.#logger, () => signals.resync()));
      await signals.start();
      // Running executors re-read what this launch's declarations changed.
      for (const name of changedQueues) await signals.publish(`qc:${name}`);
      if (schedulesChanged) await signals.publish('sc:');
      this.#operations = new Operations(db, signals, this.#serializer, this.#safetyPollIntervalMs, this.#availability.get(db)!);
      this.#workflowAdmin = new WorkflowAdminImpl(() => this.#requireRunning().db, signals, this.#serializer, this.#operations);
      this.#runtime = this.#makeRuntime(db, appDb, signals);
      this.#queueRunner = new QueueRunner(this.#queueRunnerHost(db));
      this.#queueAdmin = new QueueAdminImpl(
        () => this.#requireRunning().db,
        (name) => this.#requireRunning().signals.publish(`qc:${name}`),
      );
      this.#scheduleAdmin = new ScheduleAdminImpl({
        db,
        onChange: () => signals.publish('sc:'),
        knownWorkflow: async (name) => {
          const names = await registeredWorkflowNames(db);
          if (!names.includes(name)) throw new UnknownWorkflowError(name, names);
        },
        knownQueue: async (name) => void (await this.#knownQueue(name)),
      });
      this.#scheduler = new Scheduler({
        db,
        logger: this.#logger,
        reloadIntervalMs: Math.max(this.#safetyPollIntervalMs, 1_000),
        canRun: (name) => this.#registry.has(name),
        startTick: async (schedule, tickAt, workflowId) => {
          await this.#starter(schedule.workflowName, { workflowId, ...(schedule.queue === null ? {} : { queue: schedule.queue }) }).start(tickAt);
        },
      });
      if (this.#retentionPolicy) this.#retention = new RetentionTask({ db, appDb: appDb === db ? undefined : appDb, policy: this.#retentionPolicy, logger: this.#logger });
      const offWake = signals.onWake((key) => this.#onSignal(key));
      const offResync = signals.onResync(() => this.#resync());
      this.#stopWakeListener = () => {
        offWake();
        offResync();
      };
      // Claim what to recover before accepting starts, so nothing started from now on (new
      // workflows, children of resumed ones) can be claimed and run a second time.
      await this.#claimGuard.shared(async () => {
        const unfinished = await this.#claimUnfinished(db);
        this.#state = 'running';
        await this.#recover(unfinished);
      });
      await this.#queueRunner.start();
      await this.#scheduler.start();
      this.#retention?.start();
      this.#heartbeatTimer = setInterval(() => this.#beat(), this.#heartbeatIntervalMs);
      this.#heartbeatTimer.unref();
    } catch (error) {
      this.#state = 'stopped';
      clearInterval(this.#heartbeatTimer);
      await Promise.allSettled([this.#queueRunner?.stop(), this.#scheduler?.stop(), this.#retention?.stop()]);
      await this.#release();
      throw error;
    }
  }

  /**
   * Stops this engine gracefully: it stops taking work off queues and taking over other
   * executors' workflows; running workflows get `timeoutMs` (default 10 s) to reach their next
   * checkpoint (a step in progress finishes and is recorded, waits end at once), then the rest
   * are interrupted. They all stay PENDING. The executor is marked stopped, so another live
   * executor takes them over at once; otherwise the next launch with this executor ID resumes
   * them. Closes databases the engine opened itself.
   *
   * @example
   * process.on('SIGTERM', () => void strata.shutdown({ timeoutMs: 5_000 }));
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    assertOptions(options, 'shutdown options', SHUTDOWN_OPTION_KEYS);
    const timeoutMs = options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    assertDuration(timeoutMs, 'shutdown timeoutMs');
    // A shutdown during launch waits for it, then stops what it started.
    if (this.#state === 'launching') await this.#launching?.catch(() => {});
    if (this.#state === 'stopped' || this.#state === 'draining') return;
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'draining';
    // Heartbeats go on while draining (and takeovers stop): a drain longer than executorTimeoutMs
    // must not let another executor take over workflows whose steps still run here.
    // A takeover in progress finishes starting what it claimed first, so the drain covers it too.
    await Promise.all([this.#queueRunner?.stop(), this.#scheduler?.stop(), this.#retention?.stop(), this.#takeoverPass]);
    const executions = [...this.#running.values()];
    const reason = new EngineStateError('the engine is shutting down; the workflow resumes from its last checkpoint on recovery');
    for (const execution of executions) execution.context.drain(reason);
    const settled = Promise.allSettled(executions.map((execution) => execution.done));
    if (timeoutMs > 0) await withTimeout(settled, timeoutMs, 'shutdown').catch(() => {});
    for (const execution of executions) execution.controller.abort(reason);
    await settled;
    clearInterval(this.#heartbeatTimer);
    await Promise.all([this.#heartbeatPass, this.#takeoverPass]);
    this.#state = 'stopped';
    await this.#release();
  }

  /** The end of a launched (or half-launched) engine: no more signals, the executor marked stopped, owned databases closed. */
  async #release(): Promise<void> {
    this.#stopWakeListener?.();
    this.#stopping.abort(new EngineStateError('the engine stopped'));
    for (const availability of this.#availability.values()) availability.stop();
    if (this.#registered) {
      await markExecutorStopped(this.#registered, this.executorId, process.pid).catch((error: unknown) =>
        this.#logger.warn('strata: could not mark this executor stopped; others take over its workflows after executorTimeoutMs', error),
      );
    }
    await this.#runtime?.signals.stop().catch(() => {});
    await this.#closeOwned();
  }

  /** The system database (for queries over the `strata` tables). */
  get systemDatabase(): Database {
    return this.#requireRunning().db;
  }

  /**
   * Starts a registered workflow by name (for callers without the typed object, e.g. an HTTP layer).
   *
   * @example
   * const handle = await strata.startByName('greet', ['ada'], { workflowId: 'greet-ada' });
   */
  async startByName<R = unknown>(name: string, args: unknown[] = [], options: StartOptions & EnqueueOptions = {}): Promise<WorkflowHandle<R>> {
    assertIdentifier(name, 'workflow name');
    if (!Array.isArray(args)) throw new InvalidArgumentError('startByName() takes the workflow arguments as an array');
    if (!this.#registry.has(name)) throw new UnknownWorkflowError(name, [...this.#registry.keys()]);
    return this.#starter<unknown[], R>(name, options).start(...args);
  }

  /**
   * A handle to an existing workflow, by ID.
   *
   * @example
   * const status = await strata.retrieve('order-42').status();
   */
  retrieve<R = unknown>(workflowId: string): WorkflowHandle<R> {
    assertIdentifier(workflowId, 'workflow ID');
    return this.#handle<R>(workflowId);
  }

  /**
   * Sends a message to a workflow. With `idempotencyKey`, repeating the send delivers once.
   *
   * @example
   * await strata.send('order-42', { approved: true }, { topic: 'approval', idempotencyKey: 'req-7' });
   */
  async send(destinationId: string, message: unknown, options: SendOptions = {}): Promise<void> {
    const context = this.#workflowCode('strata.send()', 'ctx.send(destinationId, message, topic)');
    if (context) {
      // From workflow code it is the workflow's own send: recorded, so a recovery does not send again.
      if (options.idempotencyKey !== undefined) throw useContextInstead('strata.send() with an idempotencyKey', 'ctx.send(), which is idempotent by itself');
      return context.send(destinationId, message, options.topic ?? '');
    }
    await this.#ops().send(destinationId, message, options);
  }

  /**
   * Reads an event a workflow set with `ctx.setEvent`, waiting up to `timeoutMs` (default 60 s)
   * for it to be set; `null` if it was not.
   *
   * @example
   * const progress = await strata.getEvent<number>('import-7', 'progress', { timeoutMs: 5_000 });
   */
  getEvent<T = unknown>(workflowId: string, key: string, options: WaitOptions = {}): Promise<T | null> {
    const context = this.#workflowCode('strata.getEvent()', 'ctx.getEvent(workflowId, key)');
    if (context) return context.getEvent<T>(workflowId, key, options); // recorded, like ctx.getEvent
    return this.#ops().getEvent<T>(workflowId, key, options);
  }

  /**
   * Reads a workflow's stream `key` from `fromOffset` on, waiting for new values, until the
   * stream is closed or the workflow finishes.
   *
   * @example
   * for await (const line of strata.readStream<string>('report-3', 'lines')) console.log(line);
   */
  readStream<T = unknown>(workflowId: string, key: string, options: ReadStreamOptions = {}): AsyncGenerator<T, void, undefined> {
    if (this.#workflowCode('strata.readStream()')) throw useContextInstead('strata.readStream()', 'a step: ctx.step("read", async () => { for await (const v of strata.readStream(…)) … })');
    return this.#ops().readStream<T>(workflowId, key, options);
  }

  /**
   * Cancels a PENDING or ENQUEUED workflow and its unfinished children. Running code is
   * interrupted at its next durable operation or wait. Cancelling a cancelled workflow does
   * nothing; cancelling a finished one is a {@link WorkflowStateError}.
   *
   * @example
   * await strata.cancel('order-42');
   */
  async cancel(workflowId: string): Promise<void> {
    if (this.#workflowCode('strata.cancel()')) throw useContextInstead('strata.cancel()', 'a step: ctx.step("cancel", () => strata.cancel(id))');
    await this.#ops().cancel(workflowId);
  }

  // ---- internals ----

  /**
   * The context of this engine's workflow whose code (outside its steps) is making an engine call,
   * if any. A replaying workflow's code never reaches the engine: it refuses.
   */
  #workflowCode(call: string, instead?: string): Context | undefined {
    const context = workflowCodeContext();
    if (!context) return undefined;
    if (context.replaying) throw useContextInstead(call, instead ?? 'a step');
    return this.#running.get(context.workflowId)?.context === context ? context : undefined;
  }

  #starter<A extends unknown[], R>(name: string, options: StartOptions & EnqueueOptions): Workflow<A, R> {
    validateStartOptions(options);
    const binding = { owner: this, options };
    const start = async (...args: A): Promise<WorkflowHandle<R>> => {
      const context = currentContext.getStore();
      if (context && (context.replaying || this.#running.get(context.workflowId)?.context === context)) {
        // Started from inside a workflow of this engine: a child, so replay finds it again.
        return context.startChild(starter, ...args);
      }
      const { runtime, db } = this.#requireRunning();
      let workflowId: string;
      try {
        workflowId = await runtime.startWorkflow(starter as unknown as WorkflowStarter<unknown[], unknown>, args, options);
      } catch (error) {
        // The start may have committed unanswered: the monitor's resync adopts it once the database is back.
        if (isConnectionError(error)) this.#availabilityOf(db).whenBack(error).catch(() => {});
        throw error;
      }
      return this.#handle<R>(workflowId);
    };
    const starter: Workflow<A, R> = {
      name,
      binding,
      start,
      run: async (...args: A) => (await start(...args)).result(),
      with: (more: StartOptions & EnqueueOptions) => {
        assertOptions(more, `options of workflow "${name}"`);
        return this.#starter<A, R>(name, { ...options, ...more });
      },
    };
    return starter;
  }

  #handle<R>(workflowId: string): WorkflowHandle<R> {
    // Bound lazily: a handle may outlive or predate the running engine; its calls then fail clearly.
    const bound = () => this.#ops().handle<R>(workflowId, (id, timeoutMs) => this.#awaitTerminal(id, timeoutMs));
    return {
      workflowId,
      status: async () => {
        if (this.#workflowCode('handle.status()')) throw useContextInstead('handle.status()', 'a step: ctx.step("status", () => handle.status())');
        return bound().status();
      },
      result: async (options) => {
        const context = this.#workflowCode('handle.result()');
        if (context) {
          if (options?.timeoutMs !== undefined) throw useContextInstead('handle.result({ timeoutMs })', 'handle.result() without a timeout, or ctx.getEvent with one');
          return context.resultOf<R>(workflowId); // recorded, so a recovered workflow sees the same outcome
        }
        return bound().result(options);
      },
    };
  }

  #ops(): Operations {
    this.#requireRunning();
    return this.#operations!;
  }

  #makeRuntime(db: Database, appDb: Database, signals: Signals): Runtime {
    const serializer = this.#serializer;
    const embedded = db.engine === 'pglite';
    return {
      db,
      appDb,
      serializer,
      writer: new CheckpointWriter(db, embedded ? 1 : POSTGRES_CHECKPOINT_WRITES_IN_FLIGHT),
      starts: new WorkflowStartWriter(db, embedded ? 1 : POSTGRES_START_WRITES_IN_FLIGHT),
      ends: new WorkflowEndWriter(db, embedded ? 1 : POSTGRES_END_WRITES_IN_FLIGHT),
      enqueues: new EnqueueWriter(db, embedded ? 1 : POSTGRES_START_WRITES_IN_FLIGHT),
      signals,
      logger: this.#logger,
      safetyPollIntervalMs: this.#safetyPollIntervalMs,
      holdLease: (signal) => (performance.now() < this.#leaseUntil ? null : this.#renewLease(signal)),
      durable: (target, operation, signal) => this.#availabilityOf(target).retry(operation, signal),
      owner: () => ({ executorId: this.executorId, epoch: this.#epoch }),
      startWorkflow: (starter, args, options, parent, tx) => this.#startWorkflow(starter, args, options, parent, tx),
      awaitTerminal: (workflowId, timeoutMs, signal) => this.#awaitTerminal(workflowId, timeoutMs, signal),
      decodeTerminal: <R>(workflowId: string, terminal: Terminal): R => this.#operations!.decodeTerminal<R>(workflowId, terminal),
    };
  }

  #queueHandle(name: string): Queue {
    const bind = (workflow: WorkflowStarter<unknown[], unknown>): WorkflowStarter<unknown[], unknown> => {
      if (!workflow || typeof workflow !== 'object' || workflow.binding?.owner !== this) {
        throw new InvalidArgumentError(`queue "${name}" enqueues workflows registered with this engine's strata.workflow(); got ${workflow === null ? 'null' : typeof workflow}`);
      }
      return this.#starter(workflow.name, { ...workflow.binding.options, queue: name });
    };
    return {
      name,
      enqueue: <A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A) =>
        bind(workflow as unknown as WorkflowStarter<unknown[], unknown>).start(...args) as Promise<WorkflowHandle<R>>,
      enqueueIn: async <A extends unknown[], R>(tx: Queryable, workflow: WorkflowStarter<A, R>, ...args: A) => {
        if (!tx || typeof tx.query !== 'function' || typeof tx.notify !== 'function') {
          throw new InvalidArgumentError('enqueueIn() takes a transaction on the system database (from db.transaction(async (tx) => …)) as its first argument');
        }
        const starter = bind(workflow as unknown as WorkflowStarter<unknown[], unknown>);
        const { runtime } = this.#requireRunning();
        const workflowId = await runtime.startWorkflow(starter, args, starter.binding.options, undefined, tx);
        return this.#handle<R>(workflowId);
      },
    };
  }

  async #startWorkflow(
    starter: WorkflowStarter<unknown[], unknown>,
    args: unknown[],
    options: StartOptions & EnqueueOptions,
    parent?: ParentLink,
    tx?: Queryable,
  ): Promise<string> {
    if (starter.binding?.owner !== this) {
      throw new InvalidArgumentError(`workflow "${String(starter?.name)}" is registered with another Strata engine; start it through that engine`);
    }
    const registration = this.#registry.get(starter.name);
    if (!registration) throw new UnknownWorkflowError(starter.name, [...this.#registry.keys()]);
    // `options` come from a starter's binding, validated when #starter bound them.
    const { db } = this.#requireRunning();
    const workflowId = options.workflowId ?? (parent ? `${parent.workflowId}-${parent.stepId}` : randomUUID());
    const inputs = this.#serializer.serialize(args, `input of workflow "${registration.name}"`);
    const ownDeadline = options.timeoutMs === undefined ? null : new Date(Date.now() + options.timeoutMs);
    const deadlineAt = earliest(ownDeadline, parent?.deadlineAt ?? null);
    if (options.queue !== undefined) return this.#enqueue(registration, workflowId, inputs, options, parent, tx);
    assertQueuedIfQueueOptions(options);
    const row = {
      workflowId,
      name: registration.name,
      inputs,
      executorId: this.executorId,
      epoch: this.#epoch,
      appVersion: this.appVersion,
      parentWorkflowId: parent?.workflowId ?? null,
      deadlineAt,
      attributes: attributesJson(options.attributes),
      traceParent: activeTraceParent(),
    };
    if (tx) throw new InvalidArgumentError('only queued starts can join a caller\'s transaction; give a queue');
    let created: boolean;
    if (parent) {
      const context = this.#contextOf(parent.workflowId);
      const outcome = await db
        .transaction(async (tx) => {
          const inserted = await insertWorkflow(tx, row);
          if (!inserted) await this.#assertSameName(tx, workflowId, registration.name);
          if (!(await context.recordChildStart(tx, parent.stepId, registration.name, workflowId))) throw new ChildStartUnwritten();
          return inserted;
        })
        .catch(async (error: unknown) => {
          if (error instanceof ChildStartUnwritten) return context.childStartedElsewhere(parent.stepId);
          throw error;
        });
      if (typeof outcome === 'string') return outcome;
      created = outcome;
    } else {
      created = await this.#runtime!.starts.write(row);
      if (!created) await this.#assertSameName(db, workflowId, registration.name);
    }
    if (created) this.#execute(workflowId, registration, args, deadlineAt, [], null, parent && this.#running.get(parent.workflowId)?.span);
    return workflowId;
  }

  /** Puts a workflow on its queue (inside the parent's or the caller's transaction, if any). */
  async #enqueue(
    registration: Registration,
    workflowId: string,
    inputs: string,
    options: StartOptions & EnqueueOptions,
    parent: ParentLink | undefined,
    tx: Queryable | undefined,
  ): Promise<string> {
    const queueName = options.queue!;
    const { db, signals } = this.#requireRunning();
    const queue = await this.#knownQueue(queueName, tx);
    const request = {
      workflowId,
      name: registration.name,
      inputs,
      queueName,
      queue,
      options,
      parentWorkflowId: parent?.workflowId ?? null,
      deadlineAt: parent?.deadlineAt ?? null,
    };
    let enqueuedId: string;
    if (parent) {
      const context = this.#contextOf(parent.workflowId);
      const outcome = await db
        .transaction(async (parentTx) => {
          let holder: string;
          try {
            holder = (await enqueue(parentTx, request)).workflowId;
          } catch (error) {
            if (!(error instanceof DuplicateEnqueueError)) throw error;
            // Recorded, so a replay meets the same rejection instead of enqueuing anew.
            if (!(await context.recordChildStart(parentTx, parent.stepId, registration.name, null, error))) throw new ChildStartUnwritten();
            return { rejected: error };
          }
          if (!(await context.recordChildStart(parentTx, parent.stepId, registration.name, holder))) throw new ChildStartUnwritten();
          return { holder };
        })
        .catch(async (error: unknown) => {
          if (error instanceof ChildStartUnwritten) return { holder: await context.childStartedElsewhere(parent.stepId) };
          throw error;
        });
      if ('rejected' in outcome) throw outcome.rejected;
      enqueuedId = outcome.holder;
    } else {
      enqueuedId = (tx ? await enqueue(tx, request) : await enqueue(db, request, (row) => this.#runtime!.enqueues.write(row))).workflowId;
    }
    if (!tx) {
      signals.wake(`q:${queueName}`); // this executor looks at once; others hear the NOTIFY
    }
    return enqueuedId;
  }

  /**
   * The queue's stored limits, from the runner's cache or the database (read through `tx` when
   * given: an embedded database has one connection). A queue deleted since it was cached is
   * caught by the enqueue's foreign key.
   */
  async #knownQueue(name: string, tx?: Queryable): Promise<QueueRow> {
    const runner = this.#queueRunner!;
    const cached = runner.queues.get(name);
    if (cached) return cached;
    const via = tx ?? this.#requireRunning().db;
    const row = await getQueue(via, name);
    if (!row) throw new UnknownQueueError(name, (await listQueues(via)).map((q) => q.name));
    return row;
  }

  async #assertSameName(db: Queryable, workflowId: string, name: string): Promise<void> {
    const existing = await getWorkflow(db, workflowId);
    if (existing && existing.name !== name) throw new WorkflowConflictError(workflowId, existing.name, name);
  }

  #contextOf(workflowId: string): Context {
    const context = this.#running.get(workflowId)?.context;
    if (!context) throw new EngineStateError(`workflow "${workflowId}" is not running in this process`);
    return context;
  }

  /** Runs a workflow in this process from its recorded history. */
  #execute(
    workflowId: string,
    registration: Registration,
    args: unknown[],
    deadlineAt: Date | null,
    history: StepRow[],
    queue: string | null,
    parentSpan?: Span | string | null,
    recoveryAttempts = 0,
  ): void {
    // One execution per workflow per process: a second would race the first for checkpoints.
    if (this.#running.has(workflowId)) return;
    this.#adopting?.add(workflowId);
    const runtime = this.#runtime!;
    const controller = new AbortController();
    // A workflow recovered more than once is forgiven its count once it gets past where it stopped.
    const onProgress =
      recoveryAttempts > 1
        ? () => void resetRecoveryAttempts(runtime.db, workflowId).catch((error: unknown) => this.#logger.warn(`strata: could not reset the recovery count of "${workflowId}"`, error))
        : undefined;
    const context = new Context(runtime, workflowId, controller.signal, history, deadlineAt, onProgress ? { onProgress } : {});
    // A child's span nests under its parent's when the parent runs here.
    const span = startSpan(
      `workflow ${registration.name}`,
      {
        'strata.workflow.id': workflowId,
        'strata.workflow.name': registration.name,
        'strata.executor.id': this.executorId,
        'strata.app.version': this.appVersion,
        'strata.workflow.replayed_steps': history.length,
        ...(queue === null ? {} : { 'strata.queue': queue }),
      },
      parentSpan,
    );
    const cancelDeadline = deadlineAt ? setLongTimeout(() => void this.#expire(workflowId, deadlineAt), deadlineAt.getTime() - Date.now(), true) : undefined;
    const done = (async (): Promise<Outcome> => {
      try {
        await Promise.resolve();
        let result: unknown;
        try {
          result = await withSpan(span, () => currentContext.run(context, () => registration.fn(context, ...args)));
          if (context.fatalError) throw context.fatalError;
          if (controller.signal.aborted) throw controller.signal.reason;
          await context.settle(); // what its last recvs took is recorded before its end
        } catch (error) {
          return await this.#finishFailed(workflowId, context, controller.signal, error);
        }
        let output: string;
        try {
          output = this.#serializer.serialize(result, `output of workflow "${registration.name}"`);
        } catch (error) {
          return await this.#finishFailed(workflowId, context, controller.signal, error);
        }
        return await this.#finish(workflowId, 'SUCCESS', output, null, context.owner, controller.signal);
      } finally {
        span.end();
        cancelDeadline?.();
        this.#running.delete(workflowId);
        this.#adopting?.add(workflowId);
        if (queue !== null) this.#freedQueueSlot(queue);
      }
    })();
    // Set before the workflow's first line runs (it starts after an await), so children find their parent.
    this.#running.set(workflowId, { controller, context, done, queue, span });
  }

  async #finishFailed(workflowId: string, context: Context, signal: AbortSignal, error: unknown): Promise<Outcome> {
    // What its recvs took is recorded before the end; a failure to record it is fatal (it stays PENDING).
    if (!context.fatalError && !signal.aborted) await context.settle().catch(() => {});
    const failure = context.fatalError ?? error;
    const span = this.#running.get(workflowId)?.span;
    if (span?.isRecording()) {
      span.recordException(failure instanceof Error ? failure : new Error(String(failure)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: (failure as Error)?.message ?? String(failure) });
    }
    if (signal.aborted && !context.fatalError) return { terminal: undefined }; // cancelled, timed out or shut down: recorded by whoever aborted
    if ((failure instanceof WorkflowTakenOverError && failure.workflowId === workflowId) || isConnectionError(failure)) {
      // Fenced (another executor owns it now) or the database is gone while the engine stops: nothing to record here.
      this.#logger.warn(`strata: workflow "${workflowId}" is not finished here: ${(failure as Error).message}`);
      return { terminal: undefined };
    }
    if (failure instanceof SystemDatabaseError || failure instanceof EngineStateError) {
      this.#logger.warn(`strata: workflow "${workflowId}" stays PENDING: ${(failure as Error).message}`);
      return { terminal: undefined };
    }
    // This workflow was cancelled or finished elsewhere: its row already says so. (The same error
    // about another workflow, e.g. a cancelled child, is an ordinary failure of this one.)
    if ((failure instanceof WorkflowCancelledError || failure instanceof WorkflowStateError) && failure.workflowId === workflowId) {
      return { terminal: undefined };
    }
    return this.#finish(workflowId, 'ERROR', null, this.#serializer.serializeError(failure), context.owner, signal);
  }

  /**
   * Records a workflow's end. Through an outage the write waits for the database until `signal`
   * aborts (the execution is stopped: a shutdown past its timeout) or the engine stops; then the
   * workflow stays PENDING and its recovery finishes it.
   */
  async #finish(
    workflowId: string,
    status: 'SUCCESS' | 'ERROR',
    output: string | null,
    error: string | null,
    owner: Owner = this.#owner(),
    signal: AbortSignal = this.#stopping.signal,
  ): Promise<Outcome> {
    const { ends, signals, db } = this.#runtime!;
    try {
      // The end and its notification to other processes commit together; through an outage the
      // write waits for the database (a repeat after an ambiguous commit finds the row ended).
      const end = { workflowId, status, output, error, executorId: owner.executorId, epoch: owner.epoch };
      let written: boolean;
      try {
        written = await ends.write(end);
      } catch (failure) {
        if (!isConnectionError(failure)) throw failure;
        // Only now the combined signal: AbortSignal.any on every end showed in profiles.
        const until = signal === this.#stopping.signal ? signal : AbortSignal.any([signal, this.#stopping.signal]);
        written = await this.#availabilityOf(db).retry(() => ends.write(end), until);
      }
      if (!written) return { terminal: undefined };
    } catch (failure) {
      this.#logger.warn(`strata: could not record the end of workflow "${workflowId}"; it stays PENDING and re-runs from its checkpoints on recovery`, failure);
      return { terminal: undefined };
    }
    signals.wake(`w:${workflowId}`);
    return { terminal: { status, output, error } };
  }

  /** Waits for a workflow to finish: the local execution if it runs here, else the database. */
  async #awaitTerminal(workflowId: string, timeoutMs: number, signal?: AbortSignal): Promise<Terminal> {
    const deadlineMs = Date.now() + timeoutMs;
    const local = this.#running.get(workflowId);
    if (local) {
      const outcome = await abortable(withTimeout(local.done, timeoutMs, `workflow "${workflowId}" finishing`), signal);
      if (outcome.terminal) return outcome.terminal;
    }
    return this.#ops().awaitStored(workflowId, timeoutMs, deadlineMs, signal);
  }

  /** A workflow passed its deadline: cancel it and its children, recording the timeout. */
  async #expire(workflowId: string, deadlineAt: Date): Promise<void> {
    if (this.#state !== 'running') return;
    try {
      const { db } = this.#runtime!;
      // Not before the deadline itself: a timer may fire a millisecond early, and then no ancestor
      // sharing the deadline would count as expired and a child alone would be cancelled.
      const root = await expiredRoot(db, workflowId, new Date(Math.max(Date.now(), deadlineAt.getTime())));
      const cancelled = await cancelWorkflowTree(db, root, this.#serializer.serialize(new WorkflowTimeoutError(root), 'error'));
      await this.#announceCancelled(cancelled, (id) => new WorkflowTimeoutError(id));
    } catch (error) {
      this.#logger.warn(`strata: could not time out workflow "${workflowId}"`, error);
    }
  }

  async #announceCancelled(workflowIds: readonly string[], reason: (id: string) => Error): Promise<void> {
    for (const id of workflowIds) this.#abortLocal(id, reason);
    await this.#operations!.announceEnded(workflowIds, true).catch((error: unknown) => this.#logger.warn('strata: could not notify a cancellation', error));
  }

  #abortLocal(workflowId: string, reason: (id: string) => Error): void {
    const execution = this.#running.get(workflowId);
    if (execution && !execution.controller.signal.aborted) execution.controller.abort(reason(workflowId));
  }

  /**
   * Claims this executor's PENDING workflows of this application version for its current epoch, a
   * page at a time; `countRecovery` adds one to their recovery counts (a restarted process).
   */
  async #claimUnfinished(db: Database, countRecovery = true): Promise<ClaimedWorkflow[]> {
    const claimed: ClaimedWorkflow[] = [];
    for (let after = ''; ; ) {
      const page = await claimPendingWorkflows(db, this.executorId, this.#epoch, this.appVersion, after, countRecovery);
      claimed.push(...page);
      if (page.length < RECOVERY_PAGE_SIZE) return claimed;
      after = page.at(-1)!.workflow_id;
    }
  }

  /** Resumes the claimed workflows and reports what it could not resume. */
  async #recover(claimed: readonly ClaimedWorkflow[]): Promise<void> {
    const resumed = await this.#resumeAll(claimed);
    if (resumed > 0) this.#logger.info(`strata: resumed ${resumed} unfinished workflow(s) of executor "${this.executorId}"`);
    for (const other of await countOtherVersionPending(this.#runtime!.db, this.executorId, this.appVersion)) {
      this.#logger.warn(
        `strata: ${other.count} PENDING workflow(s) of executor "${this.executorId}" belong to application version "${other.app_version}" and are not resumed by version "${this.appVersion}"; run that version to finish them`,
      );
    }
  }

  /** Resumes claimed workflows, loading the histories of a page of them in one query; returns how many run. */
  async #resumeAll(claimed: readonly ClaimedWorkflow[]): Promise<number> {
    let resumed = 0;
    for (let i = 0; i < claimed.length; i += RECOVERY_PAGE_SIZE) {
      const page = claimed.slice(i, i + RECOVERY_PAGE_SIZE);
      const histories = await loadStepsOf(this.#runtime!.db, page.map((row) => row.workflow_id));
      for (const row of page) if (await this.#resume(row, histories.get(row.workflow_id) ?? [])) resumed++;
    }
    return resumed;
  }

  async #resume(row: ClaimedWorkflow, history: StepRow[]): Promise<boolean> {
    const registration = this.#registry.get(row.name);
    if (!registration) {
      this.#logger.error(`strata: cannot resume workflow "${row.workflow_id}": no workflow named "${row.name}" is registered in this version`);
      return false;
    }
    if (row.recovery_attempts > this.#maxRecoveryAttempts) {
      const error = new StrataError(
        'STRATA_MAX_RECOVERY_ATTEMPTS',
        `workflow "${row.workflow_id}" was recovered ${row.recovery_attempts - 1} times without finishing (limit ${this.#maxRecoveryAttempts}); it was marked ERROR so it stops crashing its executor`,
      );
      await this.#finish(row.workflow_id, 'ERROR', null, this.#serializer.serialize(error, 'error'));
      return false;
    }
    if (row.deadline_at && row.deadline_at.getTime() <= Date.now()) {
      await this.#expire(row.workflow_id, row.deadline_at);
      return false;
    }
    if (this.#running.has(row.workflow_id)) return false;
    // Claimed PENDING just now; a cancel since then stops it at its first checkpoint.
    const args = this.#serializer.deserialize<unknown[]>(row.inputs);
    this.#execute(row.workflow_id, registration, args, row.deadline_at, history, row.queue_name, row.trace_parent, row.recovery_attempts);
    return true;
  }

  /** The availability monitor of `db` (the system or the application database). */
  #availabilityOf(db: Database): Availability {
    const availability = this.#availability.get(db);
    assert(availability, 'an availability monitor exists for every database the engine opened');
    return availability;
  }

  /** This executor's current registration, the owner its new executions write as. */
  #owner(): Owner {
    return { executorId: this.executorId, epoch: this.#epoch };
  }

  /**
   * The database is back after an outage, or the LISTEN connection was re-established:
   * notifications may have been lost, so queues and schedules are looked at again, and workflows
   * this executor owns that run nowhere (a start or dequeue whose commit's answer was lost) are
   * adopted.
   */
  #resync(): void {
    if (this.#state !== 'running') return;
    this.#queueRunner?.wakeAll();
    this.#scheduler?.reload();
    if (this.#adopting) return;
    const seen = new Set(this.#running.keys());
    this.#adopting = seen;
    this.#claimGuard
      .exclusive(() => this.#adoptOrphans(seen))
      .catch((error: unknown) => {
        if (this.#state === 'running') this.#logger.warn('strata: could not look for workflows left without an execution after the outage', error);
      })
      .finally(() => {
        this.#adopting = undefined;
      });
  }

  /**
   * Runs the PENDING workflows this registration owns that no execution here runs. `seen` holds
   * every workflow that ran here at any moment of the search (#execute adds to it), so a workflow
   * that finished meanwhile is never run again.
   */
  async #adoptOrphans(seen: Set<string>): Promise<void> {
    const { db } = this.#runtime!;
    const owned = await ownedPendingWorkflows(db, this.executorId, this.#epoch, this.appVersion);
    const orphans = owned.filter((row) => !seen.has(row.workflow_id));
    if (orphans.length === 0) return;
    const histories = await loadStepsOf(db, orphans.map((row) => row.workflow_id));
    let adopted = 0;
    for (const row of orphans) {
      if (seen.has(row.workflow_id) || this.#state !== 'running') continue;
      if (await this.#resume(row, histories.get(row.workflow_id) ?? [])) adopted++;
    }
    if (adopted > 0) this.#logger.info(`strata: resumed ${adopted} workflow(s) whose start or dequeue committed while the database connection was lost`);
  }

  /** A workflow of `queue` ended here: this executor may take another; others may too if the queue has global limits. */
  #freedQueueSlot(queue: string): void {
    if (this.#state !== 'running') return;
    this.#queueRunner?.wake(queue);
    const limits = this.#queueRunner?.queues.get(queue);
    if (limits && (limits.concurrency !== null || limits.partition_concurrency !== null)) {
      // Coalesced: many workflows ending at once need one notification, not one each.
      this.#runtime!.signals.announceSoon(`q:${queue}`, (error) => this.#logger.warn(`strata: could not notify queue "${queue}"`, error));
    }
  }

  #onSignal(key: string): void {
    if (key.startsWith('c:')) this.#abortLocal(key.slice(2), (id) => new WorkflowCancelledError(id));
    else if (key.startsWith('q:')) this.#queueRunner?.wake(key.slice(2));
    else if (key === 'sc:') this.#scheduler?.reload();
    else if (key.startsWith('qc:')) {
      const runner = this.#queueRunner;
      runner?.refresh().then(
        () => runner.wake(key.slice(3)),
        (error: unknown) => this.#logger.warn('strata: could not re-read the queues', error),
      );
    }
  }

  #queueRunnerHost(db: Database): QueueRunnerHost {
    return {
      db,
      executorId: this.executorId,
      epoch: () => this.#epoch,
      appVersion: this.appVersion,
      workflowNames: [...this.#registry.keys()],
      logger: this.#logger,
      safetyPollIntervalMs: this.#safetyPollIntervalMs,
      localRunning: (queue) => {
        let count = 0;
        for (const execution of this.#running.values()) if (execution.queue === queue) count++;
        return count;
      },
      run: async (queue, claimed) => {
        await Promise.all(claimed.map((row) => this.#runDequeued(queue, row)));
      },
      claiming: (fn) => this.#claimGuard.shared(fn),
    };
  }

  /** Starts a dequeued workflow's execution; resolves once it began (or could not). */
  async #runDequeued(queue: string, row: DequeuedWorkflow): Promise<void> {
    const registration = this.#registry.get(row.name)!; // the claim only takes names registered here
    let args: unknown[];
    try {
      args = this.#serializer.deserialize<unknown[]>(row.inputs);
    } catch (error) {
      void this.#finish(row.workflow_id, 'ERROR', null, this.#serializer.serializeError(error)).then(() => this.#freedQueueSlot(queue));
      return;
    }
    if (!row.has_steps) {
      this.#execute(row.workflow_id, registration, args, row.deadline_at, [], queue, row.trace_parent);
      return;
    }
    // Resumed or forked: it continues from its recorded steps.
    await loadSteps(this.#runtime!.db, row.workflow_id).then(
      (history) => this.#execute(row.workflow_id, registration, args, row.deadline_at, history, queue, row.trace_parent),
      (error: unknown) => this.#logger.warn(`strata: could not load the steps of "${row.workflow_id}"; it stays PENDING and resumes on recovery`, error),
    );
  }

  /** Registers this executor in `strata.executors`, refusing an ID a live process holds. */
  async #register(db: Database): Promise<void> {
    const self = hostname();
    const sentAt = performance.now();
    const registration = await registerExecutor(
      db,
      { executorId: this.executorId, appVersion: this.appVersion, hostname: self, pid: process.pid, processInstance: PROCESS_INSTANCE, workflowNames: [...this.#registry.keys()] },
      this.#executorTimeoutMs,
      // On this machine the process table says whether the holder runs; our own pid is another
      // engine of this process only if the row is this process's (a restarted container reuses
      // pids). Elsewhere the holder's fresh heartbeat must do.
      (row) => row.hostname !== self || (row.pid === process.pid ? row.process_instance === PROCESS_INSTANCE : isProcessAlive(row.pid)),
    );
    if ('holder' in registration) throw new ExecutorConflictError(this.executorId, `pid ${registration.holder.pid} on ${registration.holder.hostname}`);
    this.#epoch = registration.epoch;
    this.#registered = db;
    this.#leaseRenewed(sentAt);
  }

  /** One heartbeat, then a takeover of dead executors' workflows; never two at once. */
  #beat(): void {
    if (this.#heartbeatPass || (this.#state !== 'running' && this.#state !== 'draining')) return;
    this.#heartbeatPass = (async () => {
      const { db } = this.#runtime!;
      const sentAt = performance.now();
      const state = await heartbeat(this.#heartbeatDb ?? db, this.executorId, this.#executorTimeoutMs);
      if (state === 'ok') this.#leaseRenewed(sentAt);
      if (this.#state !== 'running') return; // draining: only keep the executor alive
      if (state !== 'ok') await this.#heartbeatLapsed(state);
      // Not awaited: a takeover (on the busy main pool) must not hold back the next heartbeat.
      else this.#takeOverDead();
    })()
      .catch((error: unknown) => this.#backgroundFailed('heartbeat', error))
      .finally(() => {
        this.#heartbeatPass = undefined;
      });
  }

  /** Takes over the workflows of dead executors; one pass at a time, beside the heartbeats. */
  #takeOverDead(): void {
    if (this.#takeoverPass) return;
    this.#takeoverPass = (async () => {
      const { db } = this.#runtime!;
      for (const dead of await executorsToTakeOver(db, this.executorId, this.#executorTimeoutMs)) {
        if (this.#state !== 'running') return;
        await this.#claimGuard.shared(async () => {
          const claimed = await takeOverWorkflows(db, dead, this.executorId, this.#epoch, this.#executorTimeoutMs, this.appVersion, [...this.#registry.keys()]);
          if (claimed.length === 0) return;
          this.#logger.info(`strata: executor "${dead}" stopped heartbeating; taking over ${claimed.length} unfinished workflow(s)`);
          await this.#resumeAll(claimed);
        });
      }
    })()
      .catch((error: unknown) => this.#backgroundFailed('takeover', error))
      .finally(() => {
        this.#takeoverPass = undefined;
      });
  }

  /** A heartbeat or takeover pass failed: a lost database goes to its monitor (one warning), anything else is logged. */
  #backgroundFailed(what: string, error: unknown): void {
    if (this.#state === 'stopped') return;
    if (isConnectionError(error)) this.#availabilityOf(this.#runtime!.db).whenBack(error).catch(() => {});
    else this.#logger.warn(`strata: ${what} failed`, error);
  }

  /** The heartbeat or registration sent at `sentAt` (performance.now()) succeeded. */
  #leaseRenewed(sentAt: number): void {
    this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.#executorTimeoutMs);
    const waiters = this.#leaseWaiters;
    this.#leaseWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Waits for a heartbeat to renew the lapsed lease, asking for one now rather than at the next
   * interval. If the heartbeat finds the executor lapsed, the executions are aborted, `signal`
   * among them, and this rejects with the reason.
   */
  async #renewLease(signal: AbortSignal): Promise<void> {
    this.#beat();
    while (performance.now() >= this.#leaseUntil) {
      await abortable(new Promise<void>((resolve) => this.#leaseWaiters.push(resolve)), signal);
    }
  }

  /**
   * This executor missed its heartbeats for longer than the timeout (a long pause, a lost
   * database): others may have taken its workflows over. Stop running them here, register again
   * and recover what is still ours.
   */
  async #heartbeatLapsed(state: 'lapsed' | 'missing'): Promise<void> {
    this.#logger.error(
      `strata: executor "${this.executorId}" ${state === 'lapsed' ? `missed its heartbeats for over ${this.#executorTimeoutMs} ms` : 'lost its row in strata.executors'}; other executors may have taken over its workflows, so it stops them here and recovers what is still its own`,
    );
    const executions = [...this.#running.values()];
    const reason = new EngineStateError(`executor "${this.executorId}" lost its heartbeat; the workflow continues from its last checkpoint`);
    for (const execution of executions) execution.controller.abort(reason);
    await Promise.allSettled(executions.map((execution) => execution.done));
    const { db } = this.#runtime!;
    await this.#register(db).catch((error: unknown) => {
      if (!(error instanceof ExecutorConflictError)) throw error;
      // Our own stale row (this process): take it back.
    });
    // Not a recovery of the workflows' own doing (this process lived on): their counts stay.
    await this.#claimGuard.shared(async () => this.#recover(await this.#claimUnfinished(db, false)));
  }

  async #replayRow(db: Database, workflowId: string, name: string, status: string, inputs: string, deadlineAt: Date | null, registration: Registration): Promise<ReplayReport> {
    return replayWorkflow({
      workflowId,
      name,
      recordedStatus: status,
      fn: registration.fn as (ctx: WorkflowContext, ...args: unknown[]) => Promise<unknown>,
      args: this.#serializer.deserialize<unknown[]>(inputs),
      history: await loadSteps(db, workflowId),
      serializer: this.#serializer,
      deadlineAt,
      logger: this.#logger,
    });
  }

  /** Runs `body` on the running engine's database, `target`, or the configured one (opened and closed here). */
  async #withDatabase<T>(target: Database | string | undefined, body: (db: Database) => Promise<T>): Promise<T> {
    if (target === undefined && this.#state === 'running') return body(this.#runtime!.db);
    const given = target ?? this.#config.database;
    if (given !== undefined && typeof given !== 'string') return body(given);
    const db = await openDatabase(given === undefined ? {} : { url: given });
    try {
      return await body(db);
    } finally {
      await db.close();
    }
  }

  async #open(target: Database | string | undefined, poolSize?: number): Promise<Database> {
    if (target !== undefined && typeof target !== 'string') {
      if (typeof (target as Database).transaction !== 'function') {
        throw new InvalidArgumentError('database must be a postgres:// URL, memory://, a directory path, or a Database from @strata/store');
      }
      return target;
    }
    const db = await openDatabase(target === undefined ? {} : { url: target, ...(poolSize === undefined ? {} : { poolSize }) });
    this.#ownedDatabases.push(db);
    return db;
  }

  async #closeOwned(): Promise<void> {
    const owned = this.#ownedDatabases;
    this.#ownedDatabases = [];
    await Promise.allSettled(owned.map((db) => db.close()));
  }

  #requireRunning(): { db: Database; signals: Signals; runtime: Runtime } {
    if (this.#state !== 'running' || !this.#runtime) {
      throw new EngineStateError(
        this.#state === 'stopped' ? 'this Strata engine was shut down; create a new one' : 'call strata.launch() before starting or querying workflows',
      );
    }
    return { db: this.#runtime.db, signals: this.#runtime.signals, runtime: this.#runtime };
  }
}

class ChildStartUnwritten extends Error {}

/** Identifies this process among processes that had its pid (see `strata.executors.process_instance`). */
const PROCESS_INSTANCE = randomUUID();

function validateStartOptions(options: StartOptions & EnqueueOptions): void {
  assertOptions(options, 'start options');
  if (options.workflowId !== undefined) assertIdentifier(options.workflowId, 'workflowId');
  if (options.timeoutMs !== undefined) assertDuration(options.timeoutMs, 'timeoutMs');
  validateAttributes(options.attributes);
  validateEnqueueOptions(options);
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a.getTime() <= b.getTime() ? a : b;
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  if (!Number.isFinite(timeoutMs)) return promise;
  return new Promise<T>((resolve, reject) => {
    const cancel = setLongTimeout(() => reject(new WaitTimeoutError(what, timeoutMs)), timeoutMs);
    promise.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error) => {
        cancel();
        reject(error);
      },
    );
  });
}
