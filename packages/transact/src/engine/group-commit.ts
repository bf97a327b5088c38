// Group commit: the batched writers of checkpoints, starts, ends and enqueues (many rows, one statement, one commit).
import { isForeignKeyViolation, type Database } from '@strata/store';
import { assert } from '../assert.js';
import { CapacityExceededError } from '../errors.js';
import { queueKey, workflowEndedKey } from '../signals/keys.js';
import {
  completeWorkflows,
  enqueueWorkflows,
  insertStep,
  insertSteps,
  insertWorkflows,
  type NewQueuedWorkflow,
  type NewStep,
  type NewWorkflow,
  type WorkflowEnd,
} from '../sql/index.js';
import { SIGNAL_CHANNEL, inStatementChannel } from '../signals/signals.js';

/** Most rows written in one statement: keeps the statement and its arrays a bounded size. */
const MAX_BATCH = 500;

/**
 * Most rows in one statement where every statement is SERIALIZABLE (the portable profile): a
 * batch reads each of its rows, and past 32 rows of one table PostgreSQL's serializable snapshot
 * isolation trades its row locks for one on the whole table (max_pred_locks_per_relation's
 * default), after which concurrent batches all conflict; measured, 256 workflows in flight then
 * failed their ends with 40001 on every retry.
 */
const SERIALIZABLE_MAX_BATCH = 32;

/** The batch bound for writers on `db`. */
function maxBatchFor(db: Database): number {
  return db.profile.capabilities.weakIsolation ? MAX_BATCH : SERIALIZABLE_MAX_BATCH;
}

/**
 * Most items one writer holds waiting for a write (100 full batches). A backlog this long means
 * the database cannot keep up; refusing more (CapacityExceededError) bounds the process's memory
 * instead of letting it grow until the process dies with every workflow in it.
 */
export const MAX_GROUP_COMMIT_BACKLOG = 100 * MAX_BATCH;

interface Pending<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: an item is written at once when fewer than `maxInFlight` writes are under way;
 * items that arrive while all are in flight are gathered and written together by one statement
 * (one round trip, one commit), so concurrent workflows share commits and a lone workflow waits
 * for nothing. `flush` returns one result per item, in order.
 */
export class GroupCommit<T, R> {
  readonly #flush: (items: T[]) => Promise<R[]>;
  readonly #maxInFlight: number;
  readonly #maxBacklog: number;
  readonly #maxBatch: number;
  #queue: Array<Pending<T, R>> = [];
  #inFlight = 0;

  constructor(flush: (items: T[]) => Promise<R[]>, maxInFlight: number, maxBacklog = MAX_GROUP_COMMIT_BACKLOG, maxBatch = MAX_BATCH) {
    this.#flush = flush;
    this.#maxInFlight = maxInFlight;
    this.#maxBacklog = maxBacklog;
    this.#maxBatch = maxBatch;
  }

  /** Writes `item` with whatever else is waiting; resolves with its result once committed. */
  write(item: T): Promise<R> {
    // A lone write (nothing waiting, a write slot free) goes out at once as a batch of one, as
    // #pump would send it, without the Pending record, the splice and the outer promise: the
    // same statement and result, about 6% of a sequential step's CPU less. The backlog is empty
    // here, so its bound is not in play.
    if (this.#queue.length === 0 && this.#inFlight < this.#maxInFlight) return this.#writeAlone(item);
    return new Promise<R>((resolve, reject) => {
      if (this.#queue.length >= this.#maxBacklog) {
        reject(new CapacityExceededError('the group-commit backlog', this.#maxBacklog, 'MAX_GROUP_COMMIT_BACKLOG'));
        return;
      }
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      void this.#write(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #writeAlone(item: T): Promise<R> {
    this.#inFlight++;
    try {
      const results = await this.#flush([item]);
      assert(results.length === 1, 'a group-commit flush returns exactly one result per item');
      return results[0] as R;
    } finally {
      this.#inFlight--;
      this.#pump();
    }
  }

  async #write(batch: Array<Pending<T, R>>): Promise<void> {
    try {
      const results = await this.#flush(batch.map((pending) => pending.item));
      assert(results.length === batch.length, 'a group-commit flush returns exactly one result per item');
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i] as R);
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }
}

/** Step checkpoints; each resolves true when written, false when not (already recorded, or workflow not PENDING). */
export class CheckpointWriter extends GroupCommit<NewStep, boolean> {
  constructor(db: Database, maxInFlight: number) {
    super(async (steps) => {
      // A lone checkpoint (a sequential workflow's) takes the single-row statement directly, without the key set.
      if (steps.length === 1) return [await insertStep(db, steps[0]!)];
      const written = await insertSteps(db, steps);
      return steps.map((step) => written.has(`${step.workflowId}/${step.stepId}`));
    }, maxInFlight, MAX_GROUP_COMMIT_BACKLOG, maxBatchFor(db));
  }
}

/**
 * New workflow rows of direct starts; each resolves true when this call created the row, false
 * when the ID existed (also when the same ID was started twice in one batch: only the first
 * call creates it, so the workflow runs once).
 */
export class WorkflowStartWriter extends GroupCommit<NewWorkflow, boolean> {
  constructor(db: Database, maxInFlight: number) {
    super(async (rows) => {
      const created = await insertWorkflows(db, rows);
      return rows.map((row) => created.delete(row.workflowId));
    }, maxInFlight, MAX_GROUP_COMMIT_BACKLOG, maxBatchFor(db));
  }
}

/**
 * Ends of workflows (SUCCESS or ERROR with its output or error). Each resolves true when this
 * call moved the row out of PENDING. The `w:<id>` notification of each end is sent in the same
 * statement, so the end costs one commit.
 */
export class WorkflowEndWriter extends GroupCommit<WorkflowEnd, boolean> {
  constructor(db: Database, maxInFlight: number) {
    super(async (ends) => {
      const channel = inStatementChannel(db);
      const ended = await completeWorkflows(db, ends, channel);
      // Polled notifications are rows of their own table: sent after the ends committed.
      if (channel === null) for (const id of ended) await db.notify(SIGNAL_CHANNEL, workflowEndedKey(id));
      return ends.map((end) => ended.has(end.workflowId));
    }, maxInFlight, MAX_GROUP_COMMIT_BACKLOG, maxBatchFor(db));
  }
}

/**
 * Enqueues made outside a transaction; each resolves true when its row was inserted, false when
 * not (an existing ID or a live deduplication key; or, in a batch, a queue deleted meanwhile):
 * the caller then enqueues that one alone, which tells which.
 */
export class EnqueueWriter extends GroupCommit<NewQueuedWorkflow, boolean> {
  constructor(db: Database, maxInFlight: number) {
    super(async (rows) => {
      const channel = inStatementChannel(db);
      let inserted: Set<string>;
      try {
        inserted = await enqueueWorkflows(db, rows, channel);
      } catch (error) {
        // One row's deleted queue (foreign key) fails the batch: each is retried alone.
        if (isForeignKeyViolation(error) && rows.length > 1) return rows.map(() => false);
        throw error;
      }
      if (channel === null) {
        for (const queue of new Set(rows.filter((row) => inserted.has(row.workflowId)).map((row) => row.queueName))) await db.notify(SIGNAL_CHANNEL, queueKey(queue));
      }
      return rows.map((row) => inserted.delete(row.workflowId));
    }, maxInFlight, MAX_GROUP_COMMIT_BACKLOG, maxBatchFor(db));
  }
}
