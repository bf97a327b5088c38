// The index build as a Strata workflow: one step per batch, each a KV transaction that records its cursor.

import type { RetryPolicy, Strata, Workflow } from '@strata/transact';
import { InvalidArgumentError } from '@strata/store';
import type { KvDatabase, Transaction } from '../core/interfaces.js';
import { DEFAULT_INDEX_BUILD_BATCH_SIZE, type IndexBuildProgress, type IndexBuildReport } from './record-store.js';

/** What the workflow needs of a store: a `RecordStore` of any record type. */
export interface IndexBuildable {
  buildIndexBatch(tr: Transaction, indexName: string, options?: { batchSize?: number }): Promise<IndexBuildProgress>;
}

/** Default name of the registered workflow. */
export const INDEX_BUILD_WORKFLOW_NAME = 'strata.kv.build-index';

/**
 * Retries of one batch step (a batch that keeps failing, e.g. while the database is down,
 * fails the workflow after these; starting it again resumes from the recorded cursor).
 */
const BATCH_STEP_RETRY: RetryPolicy = { maxAttempts: 10, intervalMs: 500, backoffFactor: 2 };

/** Options of {@link indexBuildWorkflow}. */
export interface IndexBuildWorkflowOptions {
  /** The KV database the stores live in. */
  readonly database: KvDatabase;
  /** The record stores the workflow can build indexes of, by the name the workflow is started with. */
  readonly stores: Readonly<Record<string, IndexBuildable>>;
  /** Records per batch (one step, one KV transaction); default {@link DEFAULT_INDEX_BUILD_BATCH_SIZE}. */
  readonly batchSize?: number;
  /** Workflow name; default {@link INDEX_BUILD_WORKFLOW_NAME}. */
  readonly name?: string;
}

/**
 * Registers (before `strata.launch()`) a workflow that builds an index online: each step indexes
 * one bounded batch of records in one KV transaction and records how far it got in the same
 * transaction, so the build is resumable from the last committed batch after a crash, and a step
 * that runs again (its checkpoint lost) just continues from the recorded position. Writes to
 * the store go on during the build and keep the part already built exact.
 *
 * @example
 * const buildIndex = indexBuildWorkflow(strata, { database: kv, stores: { users } });
 * await strata.launch();
 * await buildIndex.with({ workflowId: 'build-users-by_email' }).run('users', 'by_email');
 * // { batches: 5, recordsIndexed: 812 }; the index is readable now
 */
export function indexBuildWorkflow(strata: Strata, options: IndexBuildWorkflowOptions): Workflow<[storeName: string, indexName: string], IndexBuildReport> {
  const batchSize = options.batchSize ?? DEFAULT_INDEX_BUILD_BATCH_SIZE;
  const { database, stores } = options;
  return strata.workflow(options.name ?? INDEX_BUILD_WORKFLOW_NAME, async (ctx, storeName: string, indexName: string) => {
    const store = Object.hasOwn(stores, storeName) ? stores[storeName] : undefined;
    if (store === undefined) {
      throw new InvalidArgumentError(`no record store named ${JSON.stringify(storeName)} was given to indexBuildWorkflow; known: ${Object.keys(stores).join(', ') || '(none)'}`);
    }
    let batches = 0;
    let recordsIndexed = 0;
    for (;;) {
      const progress = await ctx.step(
        'index batch',
        () => database.transact((tr) => store.buildIndexBatch(tr, indexName, { batchSize })),
        { retry: BATCH_STEP_RETRY },
      );
      batches++;
      recordsIndexed += progress.recordsIndexed;
      if (progress.done) return { batches, recordsIndexed };
    }
  });
}
