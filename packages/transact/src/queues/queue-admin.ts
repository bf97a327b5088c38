// The runtime admin API of queues (`strata.queues`): create, change, list and delete queues, with their limits validated.
import type { Database } from '@strata/store';
import { InvalidArgumentError, QueueStateError, UnknownQueueError } from '../errors.js';
import type { QueueAdmin, QueueConfig, QueueInfo } from '../interfaces.js';
import { deleteQueue, getQueue, insertQueue, listQueues, updateQueue, type QueueLimits, type QueueRow } from '../sql/index.js';
import { assertIdentifier, assertOptions } from '../validate.js';
import { QUEUE_CONFIG_KEYS, RATE_LIMIT_KEYS } from '../config.js';

/** Checks a name for a new queue: names starting with `_` are Strata's own (`_strata`). */
export function assertQueueName(name: unknown): asserts name is string {
  assertIdentifier(name, 'queue name');
  if (name.startsWith('_')) throw new InvalidArgumentError(`queue names starting with "_" are reserved for Strata; got "${name}"`);
}

const NO_LIMITS: QueueLimits = { concurrency: null, worker_concurrency: null, partition_concurrency: null, rate_limit: null, rate_period_ms: null };

/**
 * The stored limits for `config` applied over `base` (undefined keeps a limit, null removes it),
 * validated: every limit is a whole number ≥ 1.
 */
export function queueLimits(name: string, config: QueueConfig | undefined, base: QueueLimits = NO_LIMITS): QueueLimits {
  assertOptions(config, `config of queue "${name}"`, QUEUE_CONFIG_KEYS);
  const limit = (value: unknown, what: string, current: number | null): number | null => {
    if (value === undefined) return current;
    if (value === null) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
      throw new InvalidArgumentError(`${what} of queue "${name}" must be a whole number ≥ 1 (or null for no limit), got ${typeof value === 'number' ? value : typeof value}`);
    }
    return value;
  };
  let rateLimit = base.rate_limit;
  let ratePeriodMs = base.rate_period_ms;
  if (config?.rateLimit === null) {
    rateLimit = ratePeriodMs = null;
  } else if (config?.rateLimit !== undefined) {
    assertOptions(config.rateLimit, `rateLimit of queue "${name}"`, RATE_LIMIT_KEYS);
    rateLimit = limit(config.rateLimit.limit, 'rateLimit.limit', null);
    ratePeriodMs = limit(config.rateLimit.periodMs, 'rateLimit.periodMs', null);
    if (rateLimit === null || ratePeriodMs === null) {
      throw new InvalidArgumentError(`rateLimit of queue "${name}" needs both limit and periodMs, e.g. { limit: 100, periodMs: 1000 }`);
    }
  }
  return {
    concurrency: limit(config?.concurrency, 'concurrency', base.concurrency),
    worker_concurrency: limit(config?.workerConcurrency, 'workerConcurrency', base.worker_concurrency),
    partition_concurrency: limit(config?.partitionConcurrency, 'partitionConcurrency', base.partition_concurrency),
    rate_limit: rateLimit,
    rate_period_ms: ratePeriodMs,
  };
}

/** A stored queue in the public shape. */
export function toQueueInfo(row: QueueRow): QueueInfo {
  return {
    name: row.name,
    concurrency: row.concurrency,
    workerConcurrency: row.worker_concurrency,
    partitionConcurrency: row.partition_concurrency,
    rateLimit: row.rate_limit === null || row.rate_period_ms === null ? null : { limit: row.rate_limit, periodMs: row.rate_period_ms },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** {@link QueueAdmin} over `strata.queues`; `changed` announces a change to every executor. */
export class QueueAdminImpl implements QueueAdmin {
  readonly #db: () => Database;
  readonly #changed: (name: string) => Promise<void>;

  constructor(db: () => Database, changed: (name: string) => Promise<void>) {
    this.#db = db;
    this.#changed = changed;
  }

  async create(name: string, config: QueueConfig = {}): Promise<QueueInfo> {
    assertQueueName(name);
    const row = await insertQueue(this.#db(), name, queueLimits(name, config));
    if (!row) throw new QueueStateError(name, `queue "${name}" already exists; change it with queues.update()`);
    await this.#changed(name);
    return toQueueInfo(row);
  }

  async update(name: string, config: QueueConfig): Promise<QueueInfo> {
    assertQueueName(name);
    const db = this.#db();
    const current = await getQueue(db, name);
    if (!current) throw new UnknownQueueError(name, (await listQueues(db)).map((q) => q.name));
    const row = await updateQueue(db, name, queueLimits(name, config, current));
    if (!row) throw new UnknownQueueError(name, []);
    await this.#changed(name);
    return toQueueInfo(row);
  }

  async get(name: string): Promise<QueueInfo | undefined> {
    assertIdentifier(name, 'queue name');
    const row = await getQueue(this.#db(), name);
    return row && toQueueInfo(row);
  }

  async list(): Promise<QueueInfo[]> {
    return (await listQueues(this.#db())).map(toQueueInfo);
  }

  async delete(name: string): Promise<void> {
    assertQueueName(name);
    const db = this.#db();
    const outcome = await deleteQueue(db, name);
    if (outcome === 'missing') throw new UnknownQueueError(name, (await listQueues(db)).map((q) => q.name));
    if (outcome === 'busy') throw new QueueStateError(name, `queue "${name}" still has queued or running workflows; cancel them or let them finish before deleting it`);
    await this.#changed(name);
  }
}
