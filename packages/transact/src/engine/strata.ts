// The Strata engine façade: registration and declarations, launch and shutdown, and the public calls, composed from engine/*.
import { isConnectionError, type Database, type Queryable } from '@strata/store';
import { assert } from '../assert.js';
import { SHUTDOWN_OPTION_KEYS, validateStrataConfig } from '../config.js';
import { EngineStateError, InvalidArgumentError, QueueStateError } from '../errors.js';
import type {
  ActorOptions,
  CheckDeployReport,
  EnqueueOptions,
  ExecutorInfo,
  Queue,
  QueueAdmin,
  QueueConfig,
  ReadStreamOptions,
  ScheduleAdmin,
  ScheduleConfig,
  SendOptions,
  ShutdownOptions,
  StartOptions,
  StrataConfig,
  WaitOptions,
  Workflow,
  WorkflowAdmin,
  WorkflowFunction,
  WorkflowHandle,
  WorkflowStarter,
} from '../interfaces.js';
import { validateAttributes, validateEnqueueOptions } from '../queues/enqueue.js';
import { assertQueueName, queueLimits } from '../queues/queue-admin.js';
import { DEFAULT_SCHEDULE_TIMEZONE, validateSchedule } from '../schedules/index.js';
import { Serializer } from '../serialization.js';
import { listExecutors, type QueueLimits } from '../sql/index.js';
import type { ScheduleFields } from '../sql/schedules.js';
import { toExecutorInfo, type Operations } from '../system/operations.js';
import { assertDuration, assertFunction, assertIdentifier, assertOptions } from '../validate.js';
import { Context, currentContext, useContextInstead, workflowCodeContext } from '../workflow/context.js';
import type { ReplayReport } from '../workflow/replay.js';
import { OwnedDatabases, withDatabase } from './databases.js';
import { launch, type EngineSettings, type EngineState, type Launched } from './launch.js';
import { checkDeploy, replayById, type OfflineReplayHost } from './offline-replay.js';
import { Registry } from './registry.js';

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

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
  readonly #settings: EngineSettings;
  readonly #registry = new Registry();
  /** Queues declared in code, upserted at launch. */
  readonly #declaredQueues = new Map<string, QueueLimits>();
  /** Schedules declared in code, upserted at launch. */
  readonly #declaredSchedules = new Map<string, ScheduleFields>();
  readonly #databases: OwnedDatabases;
  #state: EngineState = 'new';
  /** The launch in progress or done. */
  #launching: Promise<void> | undefined;
  /** Every part of the launched engine; set when launch() built them, just before the state turns 'running'. */
  #launched: Launched | undefined;
  /** Aborted when the engine stops: ends waits for a lost database that would outlive it. */
  readonly #stopping = new AbortController();

  constructor(config: StrataConfig = {}) {
    const settings = validateStrataConfig(config);
    this.#config = config;
    this.#databases = new OwnedDatabases(config.databaseProfile);
    this.executorId = settings.executorId;
    this.appVersion = settings.appVersion;
    this.#settings = {
      executorId: settings.executorId,
      appVersion: settings.appVersion,
      logger: settings.logger,
      serializer: new Serializer(settings.maxValueBytes),
      safetyPollIntervalMs: settings.safetyPollIntervalMs,
      maxRecoveryAttempts: settings.maxRecoveryAttempts,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      executorTimeoutMs: settings.executorTimeoutMs,
      retention: settings.retention,
    };
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
    this.#registry.add(name, fn as unknown as WorkflowFunction<unknown[], unknown>);
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
    return this.#requireRunning().system.schedules;
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
    return this.#requireRunning().system.workflows;
  }

  /** Creates, changes, lists and deletes queues at runtime (after {@link launch}). */
  get queues(): QueueAdmin {
    return this.#requireRunning().system.queues;
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
    return (await listExecutors(db, this.#settings.executorTimeoutMs)).map(toExecutorInfo);
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
    return withDatabase(options.database, this.#config.database, this.#runningDb(), this.#config.databaseProfile, (db) => replayById(this.#offlineReplayHost(), db, workflowId));
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
    return withDatabase(options.database, this.#config.database, this.#runningDb(), this.#config.databaseProfile, (db) => checkDeploy(this.#offlineReplayHost(), db, options.allVersions ?? false));
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
      await launch({
        config: this.#config,
        settings: this.#settings,
        registry: this.#registry,
        declaredQueues: this.#declaredQueues,
        declaredSchedules: this.#declaredSchedules,
        databases: this.#databases,
        stopping: this.#stopping.signal,
        state: () => this.#state,
        ownsStarter: (starter) => starter?.binding?.owner === this,
        startTick: async (workflowName, options, tickAt) => {
          await this.#starter(workflowName, options).start(tickAt);
        },
        ready: (launched) => {
          this.#launched = launched;
          this.#state = 'running';
        },
      });
    } catch (error) {
      this.#state = 'stopped';
      this.#stopping.abort(new EngineStateError('the engine stopped'));
      await this.#databases.closeAll();
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
    const launched = this.#launched;
    assert(launched, 'a running or draining engine is launched');
    // Heartbeats go on while draining (and takeovers stop): a drain longer than executorTimeoutMs
    // must not let another executor take over workflows whose steps still run here.
    // A takeover in progress finishes starting what it claimed first, so the drain covers it too.
    await Promise.all([launched.queueRunner.stop(), launched.scheduler.stop(), launched.retention?.stop(), launched.recovery.takeoverPass]);
    await launched.executions.drain(new EngineStateError('the engine is shutting down; the workflow resumes from its last checkpoint on recovery'), timeoutMs);
    await launched.lease.stop();
    await launched.recovery.takeoverPass;
    this.#state = 'stopped';
    // The end of a launched engine: no more signals, the executor marked stopped, owned databases closed.
    this.#stopping.abort(new EngineStateError('the engine stopped'));
    await launched.release();
    await this.#databases.closeAll();
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
    this.#registry.require(name);
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
   * nothing; cancelling a finished one is a {@link WorkflowStateError}. The cancel is recorded in
   * `strata.operator_actions` with `options.actor` (default `api`).
   *
   * @example
   * await strata.cancel('order-42', { actor: 'alice' });
   */
  async cancel(workflowId: string, options: ActorOptions = {}): Promise<void> {
    if (this.#workflowCode('strata.cancel()')) throw useContextInstead('strata.cancel()', 'a step: ctx.step("cancel", () => strata.cancel(id))');
    await this.#ops().cancel(workflowId, options);
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
    return this.#launched?.executions.owns(context) ? context : undefined;
  }

  #starter<A extends unknown[], R>(name: string, options: StartOptions & EnqueueOptions): Workflow<A, R> {
    validateStartOptions(options);
    const binding = { owner: this, options };
    const start = async (...args: A): Promise<WorkflowHandle<R>> => {
      const context = currentContext.getStore();
      if (context && (context.replaying || this.#launched?.executions.owns(context))) {
        // Started from inside a workflow of this engine: a child, so replay finds it again.
        return context.startChild(starter, ...args);
      }
      const { runtime, db, availabilityOf } = this.#requireRunning();
      let workflowId: string;
      try {
        workflowId = await runtime.startWorkflow(starter as unknown as WorkflowStarter<unknown[], unknown>, args, options);
      } catch (error) {
        // The start may have committed unanswered: the monitor's resync adopts it once the database is back.
        if (isConnectionError(error)) availabilityOf(db).whenBack(error).catch(() => {});
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
    const bound = () => {
      const { system, executions } = this.#requireRunning();
      return system.operations.handle<R>(workflowId, (id, timeoutMs) => executions.awaitTerminal(id, timeoutMs));
    };
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
    return this.#requireRunning().system.operations;
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

  #offlineReplayHost(): OfflineReplayHost {
    const { serializer, logger } = this.#settings;
    return { registry: this.#registry, serializer, logger, appVersion: this.appVersion };
  }

  /** The running engine's system database, if it runs. */
  #runningDb(): Database | undefined {
    return this.#state === 'running' ? this.#launched?.db : undefined;
  }

  /** The launched engine; before launch() finished or after shutdown() an EngineStateError that says which. */
  #requireRunning(): Launched {
    const launched = this.#launched;
    if (this.#state !== 'running' || !launched) {
      throw new EngineStateError(
        this.#state === 'stopped' ? 'this Strata engine was shut down; create a new one' : 'call strata.launch() before starting or querying workflows',
      );
    }
    return launched;
  }
}

function validateStartOptions(options: StartOptions & EnqueueOptions): void {
  assertOptions(options, 'start options');
  if (options.workflowId !== undefined) assertIdentifier(options.workflowId, 'workflowId');
  if (options.timeoutMs !== undefined) assertDuration(options.timeoutMs, 'timeoutMs');
  validateAttributes(options.attributes);
  validateEnqueueOptions(options);
}
