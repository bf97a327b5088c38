// SQL: deleting finished workflows and their rows past the retention policy, a batch at a time.
import type { Database, Queryable } from '@strata/store';

/**
 * Deletes up to `batchSize` finished workflows (SUCCESS, ERROR, CANCELLED) that completed before
 * `cutoff`, oldest first, with their steps, failed step attempts and operator actions, in one
 * statement; their messages, events and streams go by the foreign keys' cascade. Returns the
 * deleted IDs.
 *
 * Steps (and step attempts, operator actions) have no foreign key to workflows, so they are deleted here explicitly, in the same
 * statement (and so the same transaction) as their workflows. Rows another transaction holds
 * locked are skipped (`skip locked`): concurrent passes of several executors split the work
 * instead of queueing behind each other, and a locked row waits for a later pass (on the portable
 * profile, without `skip locked`, two passes that pick the same rows serialize, and the store
 * retries the one SERIALIZABLE aborts). A child whose
 * parent is still PENDING or ENQUEUED is kept, because the parent may still read its result.
 *
 * The scan walks the partial index `workflows_completed_at` from its oldest end and stops after
 * `batchSize` matches, so a batch costs about the same however large the table is. The cascade
 * to `strata.messages` looks rows up by `destination_id`, which needs a plain index on that
 * column (the other messages indexes are partial): without one, every deleted workflow costs a
 * sequential scan of the messages table.
 *
 * @example
 * const ids = await deleteFinishedBefore(db, new Date(Date.now() - 7 * 24 * 3600_000), 1_000);
 */
export async function deleteFinishedBefore(db: Pick<Database, 'query' | 'profile'>, cutoff: Date, batchSize: number): Promise<string[]> {
  const lock = db.profile.capabilities.skipLocked ? 'for update of w skip locked' : '';
  const { rows } = await db.query<{ workflow_id: string }>(
    `with doomed as (
       select w.workflow_id
         from strata.workflows w
        where w.completed_at is not null
          and w.completed_at < $1
          and w.status in ('SUCCESS', 'ERROR', 'CANCELLED')
          -- A scalar subquery, not NOT EXISTS: that one is planned as a hash of every unfinished
          -- workflow, built on each batch; this is one primary-key probe per candidate child.
          and (w.parent_workflow_id is null or not coalesce(
                (select p.status in ('PENDING', 'ENQUEUED') from strata.workflows p where p.workflow_id = w.parent_workflow_id),
                false))
        order by w.completed_at
        limit $2
        ${lock}
     ), deleted_steps as (
       delete from strata.steps s using doomed d where s.workflow_id = d.workflow_id
     ), deleted_attempts as (
       delete from strata.step_attempts a using doomed d where a.workflow_id = d.workflow_id
     ), deleted_actions as (
       -- Operator actions live as long as their workflow (an explicit delete keeps its record).
       delete from strata.operator_actions a using doomed d where a.workflow_id = d.workflow_id
     )
     delete from strata.workflows w using doomed d where w.workflow_id = d.workflow_id
     returning w.workflow_id`,
    // Not prepared: a generic plan does not know the limit, guesses a large batch and hash-joins
    // whole tables (measured: seq scans of steps and workflows); planning once per batch is cheap.
    [cutoff, batchSize],
  );
  return rows.map((row) => row.workflow_id);
}

/**
 * The cutoff that applies `maxCount` with {@link deleteFinishedBefore}: deleting the finished
 * workflows that completed before it keeps the newest `maxCount`. `undefined` when at most
 * `maxCount` workflows are finished (nothing is over the count).
 *
 * The cutoff is the completion time of the `maxCount`-th newest finished workflow (the oldest
 * one to keep), truncated to the millisecond (a `Date` holds no finer time). Ties are kept, never
 * cut: workflows that completed in the same millisecond as that one all survive, so a pass may
 * keep a few more than `maxCount` (e.g. a cancelled tree, whose members share one completion
 * time) but never fewer; later passes delete them once newer workflows push them out. Everything
 * strictly before the cutoff ranks beyond `maxCount`.
 *
 * Cost: an index scan over the newest `maxCount` entries of `workflows_completed_at` with a heap
 * check of each status, once per pass.
 *
 * @example
 * const cutoff = await countCutoffForMaxCount(db, 1_000_000);
 * if (cutoff) await deleteFinishedBefore(db, cutoff, 1_000);
 */
export async function countCutoffForMaxCount(db: Queryable, maxCount: number): Promise<Date | undefined> {
  const { rows } = await db.query<{ cutoff_ms: number }>(
    `select (extract(epoch from date_trunc('milliseconds', completed_at)) * 1000)::float8 as cutoff_ms
       from strata.workflows
      where completed_at is not null and status in ('SUCCESS', 'ERROR', 'CANCELLED')
      order by completed_at desc
      offset $1 limit 2`,
    // The maxCount-th newest and the one after it: without the latter, nothing is over the count.
    [maxCount - 1],
  );
  if (rows.length < 2) return undefined;
  return new Date(rows[0]!.cutoff_ms);
}

/**
 * In a separate application database: deletes the transaction outputs of `workflowIds` (after
 * {@link deleteFinishedBefore} removed them from the system database). Returns the rows deleted.
 *
 * @example
 * const ids = await deleteFinishedBefore(systemDb, cutoff, 1_000);
 * await deleteTransactionOutputs(appDb, ids);
 */
export async function deleteTransactionOutputs(appDb: Queryable, workflowIds: readonly string[]): Promise<number> {
  if (workflowIds.length === 0) return 0;
  const { rowCount } = await appDb.query(
    'delete from strata.transaction_outputs where workflow_id = any($1::text[])',
    [workflowIds],
  );
  return rowCount;
}
