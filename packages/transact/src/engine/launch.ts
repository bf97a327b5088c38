// launch(): opens and migrates the databases, registers the executor, builds the launched engine's parts once, and recovers.
import { isConnectionError, loadMigrations, migrate, type Database } from '@strata/store';
import { UnknownQueueError, WorkflowCancelledError } from '../errors.js';
import type { EnqueueOptions, Logger, RetentionPolicy, StartOptions, StrataConfig, WorkflowStarter } from '../interfaces.js';
import { QueueRunner } from '../queues/queue-runner.js';
import { Scheduler } from '../schedules/index.js';
import type { Serializer } from '../serialization.js';
import { parseSignalKey, queueChangedKey, queueKey, SCHEDULES_CHANGED_KEY } from '../signals/keys.js';
import { Signals } from '../signals/signals.js';
import { getQueue, listQueues, markExecutorStopped, upsertQueue, type QueueLimits } from '../sql/index.js';
import { upsertSchedule, type ScheduleFields } from '../sql/schedules.js';
import { RetentionTask } from '../system/retention.js';
import { buildSystemSurface, type SystemSurface } from '../system/system-surface.js';
import type { Runtime } from '../workflow/runtime.js';
import { assert } from '../assert.js';
import { DEFAULT_EXECUTOR_ID } from '../config.js';
import { Availability } from './availability.js';
import { ClaimGuard } from './claim-guard.js';
import type { OwnedDatabases } from './databases.js';
import { Executions } from './executions.js';
import { CheckpointWriter, EnqueueWriter, WorkflowEndWriter, WorkflowStartWriter } from './group-commit.js';
import { Lease } from './lease.js';
import { Recovery } from './recovery.js';
import type { Registry } from './registry.js';
import { Starts } from './starts.js';

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

/** The life cycle of an engine. */
export type EngineState = 'new' | 'launching' | 'running' | 'draining' | 'stopped';

/** The validated settings of an engine (see config.ts). */
export interface EngineSettings {
  readonly executorId: string;
  readonly appVersion: string;
  readonly logger: Logger;
  readonly serializer: Serializer;
  readonly safetyPollIntervalMs: number;
  readonly maxRecoveryAttempts: number;
  readonly heartbeatIntervalMs: number;
  readonly executorTimeoutMs: number;
  readonly retention: RetentionPolicy | undefined;
}

/** What launch() is given by the engine façade. */
export interface LaunchInput {
  readonly config: StrataConfig;
  readonly settings: EngineSettings;
  readonly registry: Registry;
  /** Queues declared in code, upserted at launch. */
  readonly declaredQueues: ReadonlyMap<string, QueueLimits>;
  /** Schedules declared in code, upserted at launch. */
  readonly declaredSchedules: ReadonlyMap<string, ScheduleFields>;
  readonly databases: OwnedDatabases;
  /** Aborted when the engine stops. */
  readonly stopping: AbortSignal;
  state(): EngineState;
  ownsStarter(starter: WorkflowStarter<unknown[], unknown>): boolean;
  /** Starts a schedule tick's workflow through the engine's own starter. */
  startTick(workflowName: string, options: StartOptions & EnqueueOptions, tickAt: Date): Promise<void>;
  /**
   * Called once every part is built, before recovery starts workflows: from then on the façade
   * answers calls (a resumed workflow may call the engine) and its state is 'running'.
   */
  ready(launched: Launched): void;
}

/** A launched engine: every part exists (nothing here is ever undefined). */
export interface Launched {
  readonly db: Database;
  readonly appDb: Database;
  readonly signals: Signals;
  readonly runtime: Runtime;
  /** The admin objects and operations by ID (see system/system-surface.ts). */
  readonly system: SystemSurface;
  readonly executions: Executions;
  readonly starts: Starts;
  readonly recovery: Recovery;
  readonly lease: Lease;
  readonly queueRunner: QueueRunner;
  readonly scheduler: Scheduler;
  readonly retention: RetentionTask | undefined;
  /** The availability monitor of the system or the application database. */
  availabilityOf(db: Database): Availability;
  /** Stops the background work and releases what launch() acquired (the engine then closes its databases). */
  release(): Promise<void>;
}

/**
 * Opens the databases, applies migrations, registers this executor, starts listening for
 * signals, builds the engine's parts, resumes this executor's unfinished workflows (of this
 * application version), then starts taking work off queues, the schedules and heartbeating.
 * A failure releases what was acquired and rethrows.
 */
export async function launch(input: LaunchInput): Promise<Launched> {
  const { config, settings, registry, databases } = input;
  const { logger, serializer } = settings;
  const isRunning = () => input.state() === 'running';
  const availability = new Map<Database, Availability>();
  const availabilityOf = (db: Database): Availability => {
    const monitor = availability.get(db);
    assert(monitor, 'an availability monitor exists for every database the engine opened');
    return monitor;
  };
  let lease: Lease | undefined;
  let signals: Signals | undefined;
  let stopListening: (() => void) | undefined;
  let background: { queueRunner: QueueRunner; scheduler: Scheduler; retention: RetentionTask | undefined } | undefined;
  const release = async (): Promise<void> => {
    stopListening?.();
    for (const monitor of availability.values()) monitor.stop();
    if (lease?.registered) {
      await markExecutorStopped(lease.registered, settings.executorId, process.pid).catch((error: unknown) =>
        logger.warn('strata: could not mark this executor stopped; others take over its workflows after executorTimeoutMs', error),
      );
    }
    await signals?.stop().catch(() => {});
  };
  try {
    // Two processes under the default executor ID on one embedded directory would fence each other.
    const db = await databases.open(config.database, undefined, settings.executorId !== DEFAULT_EXECUTOR_ID);
    // Heartbeats get a connection of their own on a server, so a pool busy with workflows'
    // transactions never delays them past the lease (a false takeover, if safe, costs work).
    const heartbeatDb = db.engine === 'postgres' && typeof config.database === 'string' ? await databases.open(config.database, HEARTBEAT_POOL_SIZE) : db;
    const appDb = config.appDatabase === undefined ? db : await databases.open(config.appDatabase);
    await migrate(db, 'transact', loadMigrations(new URL('../../migrations/', import.meta.url)));
    if (appDb !== db) await migrate(appDb, 'transact-app', loadMigrations(new URL('../../app-migrations/', import.meta.url)));

    const claimGuard = new ClaimGuard();
    // Parts built below; the callbacks that reach them run only after launch built them all.
    let recovery!: Recovery;
    let executions!: Executions;
    let starts!: Starts;
    const onBackgroundFailure = (what: string, error: unknown): void => {
      if (input.state() === 'stopped') return;
      if (isConnectionError(error)) availabilityOf(db).whenBack(error).catch(() => {});
      else logger.warn(`strata: ${what} failed`, error);
    };
    lease = new Lease({
      executorId: settings.executorId,
      appVersion: settings.appVersion,
      workflowNames: registry.names(),
      executorTimeoutMs: settings.executorTimeoutMs,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      heartbeatDb,
      beating: () => input.state() === 'running' || input.state() === 'draining',
      isRunning,
      onHeartbeat: () => recovery.takeOverDead(),
      onLapsed: (state) => recovery.afterLapse(state),
      onFailure: (error) => onBackgroundFailure('heartbeat', error),
    });
    await lease.register(db);
    const changedQueues: string[] = [];
    for (const [name, limits] of input.declaredQueues) if (await upsertQueue(db, name, limits)) changedQueues.push(name);
    let schedulesChanged = false;
    for (const [name, fields] of input.declaredSchedules) {
      if (fields.queueName !== null && !(await getQueue(db, fields.queueName))) {
        throw new UnknownQueueError(fields.queueName, (await listQueues(db)).map((q) => q.name));
      }
      if (await upsertSchedule(db, name, fields)) schedulesChanged = true;
    }
    const started = new Signals(db);
    signals = started;
    for (const each of new Set([db, appDb])) availability.set(each, new Availability(each, logger, () => started.resync()));
    await started.start();
    // Running executors re-read what this launch's declarations changed.
    for (const name of changedQueues) await started.publish(queueChangedKey(name));
    if (schedulesChanged) await started.publish(SCHEDULES_CHANGED_KEY);

    const system = buildSystemSurface({
      db,
      use: () => db,
      signals: started,
      serializer,
      safetyPollIntervalMs: settings.safetyPollIntervalMs,
      availability: availabilityOf(db),
      logger,
    });
    const held = lease;
    const embedded = db.engine === 'pglite';
    const runtime: Runtime = {
      db,
      appDb,
      serializer,
      writer: new CheckpointWriter(db, embedded ? 1 : POSTGRES_CHECKPOINT_WRITES_IN_FLIGHT),
      starts: new WorkflowStartWriter(db, embedded ? 1 : POSTGRES_START_WRITES_IN_FLIGHT),
      ends: new WorkflowEndWriter(db, embedded ? 1 : POSTGRES_END_WRITES_IN_FLIGHT),
      enqueues: new EnqueueWriter(db, embedded ? 1 : POSTGRES_START_WRITES_IN_FLIGHT),
      signals: started,
      logger,
      safetyPollIntervalMs: settings.safetyPollIntervalMs,
      holdLease: (signal) => held.hold(signal),
      stepTransactions: { idleTimeoutMs: settings.executorTimeoutMs },
      durable: (target, operation, signal) => availabilityOf(target).retry(operation, signal),
      owner: () => held.owner(),
      startWorkflow: (starter, args, options, parent, tx) => starts.startWorkflow(starter, args, options, parent, tx),
      awaitTerminal: (workflowId, timeoutMs, signal) => executions.awaitTerminal(workflowId, timeoutMs, signal),
      decodeTerminal: (workflowId, terminal) => system.operations.decodeTerminal(workflowId, terminal),
    };
    const queueRunner = new QueueRunner({
      db,
      executorId: settings.executorId,
      epoch: () => held.epoch,
      appVersion: settings.appVersion,
      workflowNames: registry.names(),
      logger,
      safetyPollIntervalMs: settings.safetyPollIntervalMs,
      localRunning: (queue) => executions.countOnQueue(queue),
      run: async (queue, claimed) => {
        await Promise.all(claimed.map((row) => recovery.runDequeued(queue, row)));
      },
      claiming: (fn) => claimGuard.shared(fn),
      connectionLost: (error) => onBackgroundFailure('a queue claim', error),
    });
    /** A workflow of `queue` ended here: this executor may take another; others may too if the queue has global limits. */
    const queueSlotFreed = (queue: string): void => {
      if (!isRunning()) return;
      queueRunner.slotFreed(queue);
      const limits = queueRunner.queues.get(queue);
      if (limits && (limits.concurrency !== null || limits.partition_concurrency !== null)) {
        // Coalesced: many workflows ending at once need one notification, not one each.
        started.announceSoon(queueKey(queue), (error) => logger.warn(`strata: could not notify queue "${queue}"`, error));
      }
    };
    executions = new Executions({
      runtime,
      operations: system.operations,
      serializer,
      logger,
      executorId: settings.executorId,
      appVersion: settings.appVersion,
      stopping: input.stopping,
      isRunning,
      availabilityOf,
      queueSlotFreed,
    });
    starts = new Starts({
      db,
      runtime,
      registry,
      executions,
      lease: held,
      queueRunner,
      signals: started,
      serializer,
      logger,
      executorId: settings.executorId,
      appVersion: settings.appVersion,
      ownsStarter: input.ownsStarter,
    });
    recovery = new Recovery({
      db,
      registry,
      executions,
      lease: held,
      claimGuard,
      serializer,
      logger,
      executorId: settings.executorId,
      appVersion: settings.appVersion,
      maxRecoveryAttempts: settings.maxRecoveryAttempts,
      executorTimeoutMs: settings.executorTimeoutMs,
      isRunning,
      queueSlotFreed,
      onFailure: onBackgroundFailure,
    });
    const scheduler = new Scheduler({
      db,
      logger,
      reloadIntervalMs: Math.max(settings.safetyPollIntervalMs, 1_000),
      canRun: (name) => registry.has(name),
      startTick: (schedule, tickAt, workflowId) =>
        input.startTick(schedule.workflowName, { workflowId, ...(schedule.queue === null ? {} : { queue: schedule.queue }) }, tickAt),
    });
    const retention = settings.retention ? new RetentionTask({ db, appDb: appDb === db ? undefined : appDb, policy: settings.retention, logger }) : undefined;
    background = { queueRunner, scheduler, retention };

    const offWake = started.onWake((key) => {
      const signal = parseSignalKey(key);
      if (signal.kind === 'cancelled') executions.abortLocal(signal.workflowId, (id) => new WorkflowCancelledError(id));
      else if (signal.kind === 'queue') queueRunner.wake(signal.queueName);
      else if (signal.kind === 'schedules-changed') scheduler.reload();
      else if (signal.kind === 'queue-changed') {
        queueRunner.refresh().then(
          () => queueRunner.wake(signal.queueName),
          (error: unknown) => logger.warn('strata: could not re-read the queues', error),
        );
      }
    });
    // The database is back after an outage, or the LISTEN connection was re-established:
    // notifications may have been lost, so queues and schedules are looked at again, and orphans adopted.
    const offResync = started.onResync(() => {
      if (!isRunning()) return;
      queueRunner.wakeAll();
      scheduler.reload();
      recovery.adoptOrphansSoon();
    });
    stopListening = () => {
      offWake();
      offResync();
    };
    const launched: Launched = {
      db,
      appDb,
      signals: started,
      runtime,
      system,
      executions,
      starts,
      recovery,
      lease: held,
      queueRunner,
      scheduler,
      retention,
      availabilityOf,
      release,
    };
    // Claim what to recover before accepting starts, so nothing started from now on (new
    // workflows, children of resumed ones) can be claimed and run a second time.
    await claimGuard.shared(async () => {
      const unfinished = await recovery.claimUnfinished();
      input.ready(launched);
      await recovery.recover(unfinished);
    });
    await queueRunner.start();
    await scheduler.start();
    retention?.start();
    held.start();
    return launched;
  } catch (error) {
    await lease?.stop();
    await Promise.allSettled([background?.queueRunner.stop(), background?.scheduler.stop(), background?.retention?.stop()]);
    await release();
    throw error;
  }
}
