// StrataClient: a database-only client (enqueue, send, events, streams, cancel, results, admin) for processes that run no executor.
import { randomUUID } from 'node:crypto';
import { loadMigrations, migrate, openDatabase, type Database } from '@strata/store';
import { useContextInstead, workflowCodeContext } from './workflow/context.js';
import { enqueue, validateAttributes, validateEnqueueOptions } from './queues/enqueue.js';
import type { QueueCounts } from './queues/queue-counts.js';
import { EngineStateError, InvalidArgumentError, UnknownQueueError, UnknownWorkflowError } from './errors.js';
import type {
  ClientConfig,
  ClientEnqueueOptions,
  ExecutorInfo,
  QueueAdmin,
  ReadStreamOptions,
  ScheduleAdmin,
  SendOptions,
  WaitOptions,
  WorkflowAdmin,
  WorkflowHandle,
  WorkflowStatus,
  ActorOptions,
} from './interfaces.js';
import { toExecutorInfo, type Operations } from './system/operations.js';
import { buildSystemSurface, type SystemSurface } from './system/system-surface.js';
import { Serializer } from './serialization.js';
import { Signals } from './signals/signals.js';
import { listExecutors, listQueues, queueForEnqueue, registeredWorkflowNames } from './sql/index.js';
import { assertDuration, assertIdentifier, assertOptions } from './validate.js';
import { CLIENT_ENQUEUE_OPTION_KEYS, validateClientConfig } from './config.js';

export type { ClientConfig, ClientEnqueueOptions } from './interfaces.js';



/**
 * A database-only client of Strata: enqueue workflows (also inside your own transaction), send
 * messages, read events and streams, cancel, wait for results, and manage queues — from any
 * process that can reach the system database (an API server, a script), without running an
 * executor.
 *
 * @example
 * import { StrataClient } from '@strata/transact';
 * const client = await StrataClient.connect({ database: process.env.DATABASE_URL! });
 * const handle = await client.enqueue({ workflow: 'sendEmail', queue: 'emails', priority: 1 }, 'ada@example.com');
 * console.log(await handle.result({ timeoutMs: 30_000 }));
 * await db.transaction(async (tx) => {                 // db: a Database on the same system database
 *   await tx.query('insert into signups (email) values ($1)', ['bob@example.com']);
 *   await client.enqueue({ workflow: 'sendEmail', queue: 'emails', transaction: tx }, 'bob@example.com');
 * });
 * await client.close();
 */
export class StrataClient {
  /** Lists, inspects and steers workflows (filters, steps, cancel, resume, restart, fork, delete). */
  readonly workflows: WorkflowAdmin;
  /** Creates, changes, lists and deletes queues. */
  readonly queues: QueueAdmin;
  /** Creates, pauses, resumes, changes and deletes cron schedules. */
  readonly schedules: ScheduleAdmin;
  readonly #db: Database;
  readonly #ownsDatabase: boolean;
  readonly #signals: Signals;
  readonly #serializer: Serializer;
  readonly #operations: Operations;
  readonly #system: SystemSurface;
  readonly #executorTimeoutMs: number;
  #closed = false;

  private constructor(db: Database, ownsDatabase: boolean, signals: Signals, serializer: Serializer, safetyPollIntervalMs: number, executorTimeoutMs: number) {
    this.#db = db;
    this.#ownsDatabase = ownsDatabase;
    this.#signals = signals;
    this.#serializer = serializer;
    this.#executorTimeoutMs = executorTimeoutMs;
    this.#system = buildSystemSurface({ db, use: () => this.#open(), signals, serializer, safetyPollIntervalMs, logger: SILENT_LOGGER });
    this.#operations = this.#system.operations;
    this.workflows = this.#system.workflows;
    this.queues = this.#system.queues;
    this.schedules = this.#system.schedules;
  }

  /** Connects to the system database (creating Strata's tables if no executor has yet). */
  static async connect(config: ClientConfig): Promise<StrataClient> {
    const { safetyPollIntervalMs, executorTimeoutMs, maxValueBytes } = validateClientConfig(config);
    const owns = typeof config.database === 'string';
    if (!owns && typeof (config.database as Database).transaction !== 'function') {
      throw new InvalidArgumentError('database must be a postgres:// URL, a directory path, or a Database from @strata/store');
    }
    const db = owns ? await openDatabase({ url: config.database as string, ...(config.databaseProfile === undefined ? {} : { profile: config.databaseProfile }) }) : (config.database as Database);
    try {
      await migrate(db, 'transact', loadMigrations(new URL('../migrations/', import.meta.url)));
      const signals = new Signals(db);
      await signals.start();
      return new StrataClient(db, owns, signals, new Serializer(maxValueBytes), safetyPollIntervalMs, executorTimeoutMs);
    } catch (error) {
      if (owns) await db.close().catch(() => {});
      throw error;
    }
  }

  /** The system database. */
  get database(): Database {
    return this.#open();
  }

  /**
   * Queued (ENQUEUED) and running (PENDING) workflows per queue; `names` narrows it to those queues.
   *
   * @example
   * const counts = await client.queueCounts(['emails']);
   * console.log(counts.get('emails') ?? { queued: 0, running: 0 });
   */
  queueCounts(names?: readonly string[]): Promise<Map<string, QueueCounts>> {
    return this.#system.queueCounts(names);
  }

  /**
   * Puts a workflow on a queue by name. The queue must exist and some executor must have
   * registered the workflow name; with `transaction`, the enqueue commits or rolls back with it.
   *
   * @example
   * await client.enqueue({ workflow: 'report', queue: 'reports', deduplicationKey: 'report:2026-11', onDuplicate: 'return' }, '2026-11');
   */
  async enqueue<R = unknown>(options: ClientEnqueueOptions, ...args: unknown[]): Promise<WorkflowHandle<R>> {
    assertOptions(options, 'enqueue options', CLIENT_ENQUEUE_OPTION_KEYS);
    if (options === undefined) throw new InvalidArgumentError('enqueue() needs { workflow, queue } as its first argument');
    assertIdentifier(options.workflow, 'workflow');
    assertIdentifier(options.queue, 'queue');
    if (options.workflowId !== undefined) assertIdentifier(options.workflowId, 'workflowId');
    if (options.appVersion !== undefined) assertIdentifier(options.appVersion, 'appVersion');
    if (options.timeoutMs !== undefined) assertDuration(options.timeoutMs, 'timeoutMs');
    validateAttributes(options.attributes);
    validateEnqueueOptions(options, CLIENT_ENQUEUE_OPTION_KEYS, 'enqueue options');
    const tx = options.transaction;
    if (tx !== undefined && (typeof tx.query !== 'function' || typeof tx.notify !== 'function')) {
      throw new InvalidArgumentError('transaction must be a transaction on the system database (from db.transaction(async (tx) => …))');
    }
    const db = this.#open();
    const inputs = this.#serializer.serialize(args, `input of workflow "${options.workflow}"`);
    // Inside the caller's transaction, read through it (an embedded database has one connection).
    const via = tx ?? db;
    const { queue, workflowKnown } = await queueForEnqueue(via, options.queue, options.workflow);
    if (!queue) throw new UnknownQueueError(options.queue, (await listQueues(via)).map((q) => q.name));
    if (!workflowKnown) throw new UnknownWorkflowError(options.workflow, await registeredWorkflowNames(via));
    const { workflowId } = await enqueue(tx ?? db, {
      workflowId: options.workflowId ?? randomUUID(),
      name: options.workflow,
      inputs,
      queueName: options.queue,
      queue,
      options,
      parentWorkflowId: null,
      deadlineAt: null,
      appVersion: options.appVersion ?? null,
    });
    return this.retrieve<R>(workflowId);
  }

  /**
   * A handle to a workflow by ID: its status, and its result once it finishes.
   *
   * @example
   * const { status } = await client.retrieve('order-42').status();
   */
  retrieve<R = unknown>(workflowId: string): WorkflowHandle<R> {
    assertIdentifier(workflowId, 'workflow ID');
    this.#open();
    return this.#operations.handle<R>(workflowId, (id, timeoutMs) => this.#operations.awaitStored(id, timeoutMs, Date.now() + timeoutMs));
  }

  /** The status row of a workflow. */
  status(workflowId: string): Promise<WorkflowStatus> {
    this.#open();
    return this.#operations.status(workflowId);
  }

  /** Sends a message to a workflow (see `Strata.send`). */
  send(destinationId: string, message: unknown, options: SendOptions = {}): Promise<void> {
    this.#open();
    return this.#operations.send(destinationId, message, options);
  }

  /** Reads an event of a workflow, waiting up to `timeoutMs` (see `Strata.getEvent`). */
  getEvent<T = unknown>(workflowId: string, key: string, options: WaitOptions = {}): Promise<T | null> {
    this.#open();
    return this.#operations.getEvent<T>(workflowId, key, options);
  }

  /** Reads a workflow's stream (see `Strata.readStream`). */
  readStream<T = unknown>(workflowId: string, key: string, options: ReadStreamOptions = {}): AsyncGenerator<T, void, undefined> {
    this.#open();
    return this.#operations.readStream<T>(workflowId, key, options);
  }

  /**
   * Cancels a workflow and its unfinished children (see `Strata.cancel`), recording the operator
   * action by `options.actor` (default `api`).
   *
   * @example
   * await client.cancel('order-42', { actor: 'alice' });
   */
  cancel(workflowId: string, options: ActorOptions = {}): Promise<void> {
    this.#open();
    return this.#operations.cancel(workflowId, options);
  }

  /** The executors recorded in `strata.executors`, with whether each is alive. */
  async listExecutors(): Promise<ExecutorInfo[]> {
    return (await listExecutors(this.#open(), this.#executorTimeoutMs)).map(toExecutorInfo);
  }

  /** Stops listening and closes the database if the client opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#signals.stop().catch(() => {});
    if (this.#ownsDatabase) await this.#db.close();
  }

  #open(): Database {
    if (this.#closed) throw new EngineStateError('this StrataClient was closed; connect a new one');
    // Workflow code that used the client directly would repeat the call on recovery.
    if (workflowCodeContext()) throw useContextInstead('a StrataClient method', 'the ctx methods (ctx.send, ctx.getEvent, ctx.startChild, …), or call the client inside ctx.step(…)');
    return this.#db;
  }
}

/** The client logs nothing of its own: a waiting call's outcome is its caller's to report. */
const SILENT_LOGGER = { info: () => {}, warn: () => {}, error: () => {} };
