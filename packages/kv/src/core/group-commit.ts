// Group commit: the commits of one process's concurrent transactions are checked and applied one
// after another in one SQL transaction under the commit lock, so they share one lock acquisition
// and one WAL flush instead of queueing for both one at a time.

import type { Database, Queryable } from '@strata/store';
import { mapKey } from './bytes.js';
import { applyCommit, checkConflicts, lockCommits } from './sql/commit.js';
import { readValues } from './sql/read.js';
import type { KvTransaction } from './transaction.js';
import { versionstampOf } from './versionstamp.js';
import { KV_CHANNEL, commitPayload } from './watches.js';

/** Commits per SQL transaction at most: bounds the batch's time under the lock and its size (64 × 10 MB at worst). */
const MAX_COMMITS_PER_BATCH = 64;

/** What one member's commit came to. */
export type MemberOutcome =
  | { readonly kind: 'committed'; readonly version: number; readonly references: Map<string, Uint8Array> }
  | { readonly kind: 'conflict'; readonly reason: string };

interface Member {
  readonly tr: KvTransaction;
  readonly snapshotVersion: number;
  readonly commitId: Uint8Array;
  readonly resolve: (outcome: MemberOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Queues commits and runs them in batches, one batch at a time: while a batch commits, the
 * commits that arrive wait and form the next one. A member that conflicts (with the log, or with
 * an earlier member of its batch, whose writes the check sees) is left out without affecting the
 * others; an error of the SQL transaction itself (a lost connection) is every member's error.
 */
export class GroupCommitter {
  readonly #db: Database;
  readonly #queue: Member[] = [];
  #draining = false;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Commits `tr` (read at `snapshotVersion`) with `commitId`, in the next batch. */
  commit(tr: KvTransaction, snapshotVersion: number, commitId: Uint8Array): Promise<MemberOutcome> {
    return new Promise<MemberOutcome>((resolve, reject) => {
      this.#queue.push({ tr, snapshotVersion, commitId, resolve, reject });
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_COMMITS_PER_BATCH);
        let outcomes: MemberOutcome[];
        try {
          outcomes = await this.#db.transaction(
            async (sql) => {
              await lockCommits(sql);
              const results: MemberOutcome[] = [];
              for (const member of batch) results.push(await commitMember(sql, member));
              return results;
            },
            { isolation: 'read committed', maxAttempts: 1 },
          );
        } catch (error) {
          for (const member of batch) member.reject(error);
          continue;
        }
        batch.forEach((member, i) => {
          const outcome = outcomes[i];
          if (outcome === undefined) member.reject(new Error('invariant: every member of a commit batch has an outcome'));
          else member.resolve(outcome);
        });
      }
    } finally {
      this.#draining = false;
    }
  }
}

/** Checks one member against the log (and the batch's earlier members) and applies it. */
async function commitMember(sql: Queryable, member: Member): Promise<MemberOutcome> {
  const { tr, snapshotVersion, commitId } = member;
  const check = await checkConflicts(sql, snapshotVersion, tr.readConflicts);
  if (snapshotVersion < check.prunedBelow) return { kind: 'conflict', reason: 'the conflict log no longer covers the read version' };
  if (check.conflict) return { kind: 'conflict', reason: 'a key it read was written by a transaction that committed first' };
  const version = check.version + 1;
  const bases = await readValues(sql, tr.buffer.atomicKeys());
  const writes = tr.buffer.commitWrites(bases, versionstampOf(version));
  await applyCommit(sql, version, commitId, writes);
  const references = tr.watches.length > 0 ? await readValues(sql, tr.watches.map((w) => mapKey(w.key))) : new Map<string, Uint8Array>();
  await sql.notify(KV_CHANNEL, commitPayload([...writes.deletes, ...writes.sets.map((s) => s.key)], writes.clearRanges));
  return { kind: 'committed', version, references };
}
