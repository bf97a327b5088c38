// The commit path: the commit lock, the conflict check against the log, applying the writes, and
// looking a commit up by its id after a lost acknowledgement.

import type { Queryable } from '@strata/store';
import { asBuffer, toHex } from '../bytes.js';
import type { KeyRange } from '../write-buffer.js';

/**
 * The transaction-scoped advisory lock every KV commit takes: commits happen one at a time, so
 * commit versions are allocated and become visible in commit order. Two-int form, class "STRK",
 * apart from single-key locks (migrations use 0x53545241).
 */
const COMMIT_LOCK_CLASS = 0x5354_524b;
const COMMIT_LOCK_ID = 1;

/** Takes the commit lock until the end of the SQL transaction. */
export async function lockCommits(q: Queryable): Promise<void> {
  await q.query('select pg_advisory_xact_lock($1, $2)', [COMMIT_LOCK_CLASS, COMMIT_LOCK_ID], { prepare: true });
}

/** What the conflict check found. */
export interface ConflictCheck {
  /** The last commit version. */
  readonly version: number;
  /** Conflict ranges of versions up to here are pruned: a read version below it cannot be checked. */
  readonly prunedBelow: number;
  /** A commit after the read version wrote into one of the read ranges. */
  readonly conflict: boolean;
}

/** Checks `readRanges` against the ranges written by commits after `readVersion` (call under the lock). */
export async function checkConflicts(q: Queryable, readVersion: number, readRanges: readonly KeyRange[]): Promise<ConflictCheck> {
  const { rows } = await q.query<{ version: string; pruned_below: string; conflict: boolean }>(
    `select m.version::text as version, m.pruned_below::text as pruned_below,
       exists (select 1 from strata.kv_write_ranges w
                 join unnest($2::text[], $3::text[]) as r(b, e)
                   on w.begin_key < decode(r.e, 'hex') and decode(r.b, 'hex') < w.end_key
                where w.version > $1::bigint) as conflict
     from strata.kv_meta m`,
    [readVersion, readRanges.map((r) => toHex(r.begin)), readRanges.map((r) => toHex(r.end))],
    { prepare: true },
  );
  const row = rows[0];
  if (row === undefined) throw new Error('strata.kv_meta has no row: the kv migrations did not run');
  return { version: Number(row.version), prunedBelow: Number(row.pruned_below), conflict: row.conflict };
}

/** The writes of one commit, final per key. */
export interface CommitWrites {
  readonly clearRanges: readonly KeyRange[];
  readonly deletes: readonly Uint8Array[];
  readonly sets: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>;
  readonly writeRanges: readonly KeyRange[];
}

/** Applies `writes` as commit `version` (call under the lock, with `version` = last version + 1). */
export async function applyCommit(q: Queryable, version: number, commitId: Uint8Array | null, writes: CommitWrites): Promise<void> {
  await q.query(
    'select strata.kv_apply($1::bigint, $2::bytea, $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])',
    [
      version,
      commitId === null ? null : asBuffer(commitId),
      writes.clearRanges.map((r) => toHex(r.begin)),
      writes.clearRanges.map((r) => toHex(r.end)),
      writes.deletes.map(toHex),
      writes.sets.map((s) => toHex(s.key)),
      writes.sets.map((s) => toHex(s.value)),
      writes.writeRanges.map((r) => toHex(r.begin)),
      writes.writeRanges.map((r) => toHex(r.end)),
    ],
    { prepare: true },
  );
}

/** The version commit `commitId` committed as, or undefined when it did not commit (call under the lock). */
export async function findCommit(q: Queryable, commitId: Uint8Array): Promise<number | undefined> {
  const { rows } = await q.query<{ version: string }>('select version::text as version from strata.kv_commits where commit_id = $1::bytea', [
    asBuffer(commitId),
  ]);
  const row = rows[0];
  return row === undefined ? undefined : Number(row.version);
}
