// The retention task: deletes finished workflows older than the policy, on a timer, in bounded batches.
import type { Database } from '@strata/store';
import { InvalidArgumentError } from '../errors.js';
import { MAX_TIMER_MS } from '../timers.js';
import type { Logger, RetentionPolicy } from '../interfaces.js';
import { countCutoffForMaxCount, deleteFinishedBefore, deleteTransactionOutputs } from '../sql/retention.js';

/** Default time between passes: old rows may wait a minute; an idle pass costs an index probe (with maxCount, a scan of the newest maxCount entries). */
export const DEFAULT_RETENTION_INTERVAL_MS = 60_000;

/** Default workflows per delete statement: short row locks and a bounded WAL burst per commit. */
export const DEFAULT_RETENTION_BATCH_SIZE = 1_000;

/** Larger batches would hold thousands of row locks and a huge statement for no throughput gain. */
export const MAX_RETENTION_BATCH_SIZE = 100_000;


/** The first pass starts within this long after start() (jittered), so executors started together spread out. */
const MAX_FIRST_PASS_DELAY_MS = 5_000;

/** No workflow completed before year 1; an earlier age cutoff (huge maxAgeMs) deletes nothing by age. */
const EARLIEST_CUTOFF_MS = Date.parse('0001-01-01T00:00:00Z');

const POLICY_KEYS = ['maxAgeMs', 'maxCount', 'intervalMs', 'batchSize'] as const;

/** What one {@link runRetention} pass did. */
export interface RetentionResult {
  /** Workflows deleted (with their steps, messages, events, streams and transaction outputs). */
  readonly deleted: number;
  /** Delete statements run against the system database. */
  readonly batches: number;
}

/**
 * Checks a retention policy: every option it sets must be a positive integer (`intervalMs` at
 * most 2^31 - 1, `batchSize` at most 100,000). Unknown keys are ignored. Returns the policy.
 *
 * @throws {InvalidArgumentError} naming the first offending option.
 *
 * @example
 * validateRetentionPolicy({ maxAgeMs: 7 * 24 * 3600_000 });  // ok
 * validateRetentionPolicy({ maxCount: 0 });                  // throws: maxCount must be a positive integer
 */
export function validateRetentionPolicy(policy: unknown): RetentionPolicy {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
    throw new InvalidArgumentError(`retention must be an options object such as { maxAgeMs: 604800000 }, got ${describe(policy)}`);
  }
  const record = policy as Record<string, unknown>;
  for (const key of POLICY_KEYS) {
    const value = record[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidArgumentError(`retention.${key} must be a positive integer, got ${describe(value)}`);
    }
  }
  if (record.intervalMs !== undefined && (record.intervalMs as number) > MAX_TIMER_MS) {
    throw new InvalidArgumentError(`retention.intervalMs must be at most ${MAX_TIMER_MS} (about 24.8 days), got ${String(record.intervalMs)}`);
  }
  if (record.batchSize !== undefined && (record.batchSize as number) > MAX_RETENTION_BATCH_SIZE) {
    throw new InvalidArgumentError(`retention.batchSize must be at most ${MAX_RETENTION_BATCH_SIZE}, got ${String(record.batchSize)}`);
  }
  return policy as RetentionPolicy;
}

/**
 * One retention pass: deletes the finished workflows (SUCCESS, ERROR, CANCELLED) that completed
 * more than `maxAgeMs` before `now`, or that are older than the newest `maxCount`, with their
 * steps, messages, events and streams. PENDING and ENQUEUED workflows are never deleted, nor a
 * finished child whose parent is still PENDING or ENQUEUED (the parent may still read its result).
 *
 * Deletes in batches of `batchSize` workflows, oldest first, one statement each, yielding to the
 * event loop between batches, until a batch comes back short. When `appDb` is a separate
 * application database, the transaction outputs of each batch are deleted there after the batch
 * commits in the system database; a crash in between leaves orphaned outputs, which nothing reads
 * and no later pass removes. `appDb` is ignored when it is `db` itself.
 *
 * The age cutoff uses this process's clock (`now`); completion times are the database's clock,
 * so clock skew shifts the cutoff by that much. A deleted workflow's ID is free again: starting a
 * workflow under it runs a new one.
 *
 * @example
 * const { deleted } = await runRetention(systemDb, undefined, { maxAgeMs: 24 * 3600_000, maxCount: 100_000 });
 * console.log(`retention deleted ${deleted} workflows`);
 */
export async function runRetention(
  db: Database,
  appDb: Database | undefined,
  policy: RetentionPolicy,
  now: Date = new Date(),
  signal?: AbortSignal,
): Promise<RetentionResult> {
  validateRetentionPolicy(policy);
  const batchSize = policy.batchSize ?? DEFAULT_RETENTION_BATCH_SIZE;
  let cutoffMs = -Infinity;
  if (policy.maxAgeMs !== undefined && now.getTime() - policy.maxAgeMs >= EARLIEST_CUTOFF_MS) {
    cutoffMs = now.getTime() - policy.maxAgeMs;
  }
  if (policy.maxCount !== undefined) {
    const countCutoff = await countCutoffForMaxCount(db, policy.maxCount);
    if (countCutoff !== undefined) cutoffMs = Math.max(cutoffMs, countCutoff.getTime());
  }
  if (cutoffMs === -Infinity) return { deleted: 0, batches: 0 };
  const cutoff = new Date(cutoffMs);

  // Bounded: the cutoff is fixed and in the past, so only a finite set of rows ever matches it,
  // and every full batch removes batchSize of them.
  let deleted = 0;
  let batches = 0;
  for (;;) {
    signal?.throwIfAborted();
    const ids = await deleteFinishedBefore(db, cutoff, batchSize);
    batches++;
    deleted += ids.length;
    if (appDb !== undefined && appDb !== db) await deleteTransactionOutputs(appDb, ids);
    if (ids.length < batchSize) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { deleted, batches };
}

/** Options of a {@link RetentionTask}. */
export interface RetentionTaskOptions {
  /** The system database. */
  readonly db: Database;
  /** A separate application database, whose transaction outputs are deleted too; omit when it is the system database. */
  readonly appDb?: Database | undefined;
  /** What to delete and how often. */
  readonly policy: RetentionPolicy;
  /** Where failed passes are reported (as warnings). */
  readonly logger: Logger;
}

/**
 * Runs {@link runRetention} in the background: a first pass shortly after `start()` (after a
 * random delay of up to 5 s, less than `intervalMs`, so executors started together do not all
 * delete at once), then one every `intervalMs` after the previous pass ended. Passes of several
 * executors may overlap safely: each skips the rows another holds locked. A failed pass is
 * logged with `logger.warn` and the next one runs on schedule. Timers are unref'd, so the task
 * never keeps the process alive.
 *
 * @example
 * const task = new RetentionTask({ db, policy: { maxAgeMs: 7 * 24 * 3600_000 }, logger: console });
 * task.start();
 * // … on shutdown, before closing db:
 * await task.stop();
 */
export class RetentionTask {
  readonly #db: Database;
  readonly #appDb: Database | undefined;
  readonly #policy: RetentionPolicy;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #abort: AbortController | undefined;

  /** @throws {InvalidArgumentError} when the policy is invalid (see {@link validateRetentionPolicy}). */
  constructor(options: RetentionTaskOptions) {
    this.#db = options.db;
    this.#appDb = options.appDb;
    this.#policy = validateRetentionPolicy(options.policy);
    this.#logger = options.logger;
    this.#intervalMs = this.#policy.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS;
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.#abort !== undefined;
  }

  /** Schedules the first pass and the ones after it. Does nothing if already running. */
  start(): void {
    if (this.#abort !== undefined) return;
    this.#abort = new AbortController();
    this.#schedule(Math.floor(Math.random() * Math.min(this.#intervalMs, MAX_FIRST_PASS_DELAY_MS)));
  }

  /**
   * Stops scheduling passes and waits for a pass in progress; that pass stops after its current
   * batch. Call it before closing the databases. Safe to call more than once.
   */
  async stop(): Promise<void> {
    const abort = this.#abort;
    this.#abort = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    abort?.abort();
    await this.#inFlight;
  }

  #schedule(delayMs: number): void {
    const abort = this.#abort;
    if (abort === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const pass: Promise<void> = this.#pass(abort.signal).finally(() => {
        if (this.#inFlight === pass) this.#inFlight = undefined;
        // Only the task that scheduled this pass schedules the next (not one restarted meanwhile).
        if (this.#abort === abort) this.#schedule(this.#intervalMs);
      });
      this.#inFlight = pass;
    }, delayMs);
    this.#timer.unref();
  }

  async #pass(signal: AbortSignal): Promise<void> {
    try {
      const { deleted } = await runRetention(this.#db, this.#appDb, this.#policy, new Date(), signal);
      if (deleted > 0) this.#logger.info(`retention deleted ${deleted} finished workflow(s)`);
    } catch (error) {
      if (signal.aborted) return; // stop() interrupted the pass between batches
      this.#logger.warn(`retention pass failed (the next one runs in ${this.#intervalMs} ms)`, error);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? 'an array' : typeof value;
}
