// KV operations inside an existing SQL transaction (a workflow's ctx.transaction): the KV writes
// commit with the caller's own rows, so a workflow step's KV write happens exactly once.

import { InvalidArgumentError, type Transaction as SqlTransaction } from '@strata/store';
import type { Transaction } from './interfaces.js';
import { applyCommit, checkConflicts, lockCommits } from './sql/commit.js';
import { readValues, readVersion } from './sql/read.js';
import { KvTransaction } from './transaction.js';
import { versionstampOf } from './versionstamp.js';
import { KV_CHANNEL, commitPayload } from './watches.js';

/** SQLSTATE serialization_failure: the store (and a workflow step) runs the whole transaction again. */
const SERIALIZATION_FAILURE = '40001';

/**
 * Runs `fn` with a KV {@link Transaction} inside the SQL transaction `tx`: its reads see `tx`,
 * and its writes are applied in `tx` when `fn` returns, so they commit (or roll back) with
 * everything else `tx` does. In a workflow, `ctx.transaction` commits them with the step's
 * checkpoint: the KV write happens exactly once. A conflict with a concurrent KV commit throws a
 * serialization failure (SQLSTATE 40001), on which the store runs the whole SQL transaction
 * again. From the commit on, `tx` holds the KV commit lock until it ends: keep the rest of `tx` short.
 * Watches cannot be set here (use `kv.transact`). The KV tables must exist (`openKv` or `migrateKv`).
 *
 * @example
 * await ctx.transaction('reserve', (tx) =>
 *   kvIn(tx, async (tr) => {
 *     const left = decodeCount(await tr.get(stockKey));
 *     if (left > 0) tr.set(stockKey, encodeCount(left - 1));
 *     return left > 0;
 *   }),
 * );
 */
export async function kvIn<T>(tx: SqlTransaction, fn: (tr: Transaction) => Promise<T>): Promise<T> {
  if (tx === null || typeof tx !== 'object' || typeof tx.query !== 'function') {
    throw new InvalidArgumentError('kvIn() needs the store transaction (tx) of db.transaction or ctx.transaction');
  }
  if (typeof fn !== 'function') throw new InvalidArgumentError('kvIn() needs a function async (tr) => …');
  const version = await readVersion(tx);
  const tr = new KvTransaction({
    sql: tx,
    now: Date.now,
    startedAtMs: Date.now(),
    newWatch: () => {
      throw new InvalidArgumentError(
        'watch() is not available inside kvIn: the watch would start before the SQL transaction commits. Set it with kv.transact after this transaction',
        'STRATA_KV_WATCH_IN_SQL_TRANSACTION',
      );
    },
  });
  try {
    const value = await fn(tr);
    tr.beginCommit();
    if (tr.buffer.isEmpty) {
      tr.versionstamp.reject(new InvalidArgumentError('the transaction wrote nothing, so it has no versionstamp', 'STRATA_KV_NO_COMMIT_VERSION'));
      return value;
    }
    await lockCommits(tx);
    const check = await checkConflicts(tx, version, tr.readConflicts);
    if (check.conflict || version < check.prunedBelow) {
      throw Object.assign(new Error('a key read through kvIn was written by a KV transaction that committed first; the SQL transaction runs again'), {
        code: SERIALIZATION_FAILURE,
      });
    }
    const commitVersion = check.version + 1;
    const stamp = versionstampOf(commitVersion);
    const writes = tr.buffer.commitWrites(await readValues(tx, tr.buffer.atomicKeys()), stamp);
    // Under REPEATABLE READ or SERIALIZABLE a commit after tx's snapshot makes this a 40001 too.
    await applyCommit(tx, commitVersion, null, writes);
    await tx.notify(KV_CHANNEL, commitPayload([...writes.deletes, ...writes.sets.map((s) => s.key)], writes.clearRanges));
    tr.versionstamp.resolve(stamp);
    return value;
  } catch (error) {
    tr.versionstamp.reject(error);
    throw error;
  } finally {
    tr.finish();
  }
}
