// The system surface: the admin objects (workflows, queues, schedules), operations by ID and queue counts, built once from a database.
import type { Database } from '@strata/store';
import { UnknownQueueError, UnknownWorkflowError } from '../errors.js';
import type { Logger } from '../interfaces.js';
import { Availability } from '../engine/availability.js';
import { QueueAdminImpl } from '../queues/queue-admin.js';
import { queueCounts, type QueueCounts } from '../queues/queue-counts.js';
import { ScheduleAdminImpl } from '../schedules/index.js';
import type { Serializer } from '../serialization.js';
import { queueChangedKey, SCHEDULES_CHANGED_KEY } from '../signals/keys.js';
import type { Signals } from '../signals/signals.js';
import { getQueue, listQueues, registeredWorkflowNames } from '../sql/index.js';
import { WorkflowAdminImpl } from './management.js';
import { Operations } from './operations.js';

/** What the system surface is built from: the system database and its signals. */
export interface SystemSurfaceOptions {
  /** The system database. */
  readonly db: Database;
  /**
   * The system database for each call, or a typed error when its owner (the engine or the
   * client) is not running: admin calls made before launch or after close fail clearly.
   */
  readonly use: () => Database;
  readonly signals: Signals;
  readonly serializer: Serializer;
  readonly safetyPollIntervalMs: number;
  /** The availability monitor of `db` (waits through outages), made here with `logger` when not given. */
  readonly availability?: Availability;
  readonly logger: Logger;
}

/**
 * The objects that read and steer what is in the system database, whoever holds it: the engine
 * (`strata.workflows`, `strata.queues`, `strata.schedules`), the database-only `StrataClient`,
 * and through the client the console and the CLI.
 */
export interface SystemSurface {
  /** Send, events, streams, cancel, status and results by workflow ID. */
  readonly operations: Operations;
  readonly workflows: WorkflowAdminImpl;
  readonly queues: QueueAdminImpl;
  readonly schedules: ScheduleAdminImpl;
  /** Queued and running workflows per queue (see {@link queueCounts}). */
  queueCounts(names?: readonly string[]): Promise<Map<string, QueueCounts>>;
}

/**
 * Builds the system surface once. Changes made through it are announced on the signals, so every
 * executor re-reads queues and schedules.
 *
 * @example
 * const system = buildSystemSurface({ db, use: () => db, signals, serializer, safetyPollIntervalMs: 2_000, logger: console });
 * await system.queues.create('emails', { concurrency: 5 });
 * console.log(await system.queueCounts(['emails']));
 */
export function buildSystemSurface(options: SystemSurfaceOptions): SystemSurface {
  const { db, use, signals, serializer } = options;
  const availability = options.availability ?? new Availability(db, options.logger, () => signals.resync());
  const operations = new Operations(db, signals, serializer, options.safetyPollIntervalMs, availability);
  return {
    operations,
    workflows: new WorkflowAdminImpl(use, signals, serializer, operations),
    queues: new QueueAdminImpl(use, (name) => signals.publish(queueChangedKey(name))),
    schedules: new ScheduleAdminImpl({
      db,
      onChange: () => signals.publish(SCHEDULES_CHANGED_KEY),
      knownWorkflow: async (name) => {
        const names = await registeredWorkflowNames(use());
        if (!names.includes(name)) throw new UnknownWorkflowError(name, names);
      },
      knownQueue: async (name) => {
        if (!(await getQueue(use(), name))) throw new UnknownQueueError(name, (await listQueues(use())).map((q) => q.name));
      },
    }),
    queueCounts: (names) => queueCounts(use(), names),
  };
}
