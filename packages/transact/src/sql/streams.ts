// SQL: appending to and reading workflows' streams.
import type { Queryable } from '@strata/store';

/** Rows read per query when reading a stream. */
export const STREAM_READ_BATCH = 100;

/**
 * Appends a value (or, with `closed`, the closing marker) at the next offset of a stream.
 * Returns 'closed' when the stream was already closed.
 */
export async function appendStream(tx: Queryable, workflowId: string, key: string, value: string | null, closed: boolean): Promise<'ok' | 'closed'> {
  const { rows } = await tx.query<{ closed: boolean | null }>(
    `select bool_or(closed) as closed from strata.streams where workflow_id = $1 and key = $2`,
    [workflowId, key],
    { prepare: true },
  );
  if (rows[0]?.closed) return 'closed';
  await tx.query(
    `insert into strata.streams (workflow_id, key, stream_offset, value, closed)
     select $1, $2, coalesce(max(stream_offset) + 1, 0), $3, $4 from strata.streams where workflow_id = $1 and key = $2`,
    [workflowId, key, value, closed],
    { prepare: true },
  );
  return 'ok';
}

/** Reads stream entries from `fromOffset` on, in order, at most {@link STREAM_READ_BATCH}. */
export async function readStreamEntries(
  db: Queryable,
  workflowId: string,
  key: string,
  fromOffset: number,
): Promise<Array<{ stream_offset: number; value: string | null; closed: boolean }>> {
  const { rows } = await db.query<{ stream_offset: number; value: string | null; closed: boolean }>(
    `select stream_offset, value, closed from strata.streams
      where workflow_id = $1 and key = $2 and stream_offset >= $3 order by stream_offset limit ${STREAM_READ_BATCH}`,
    [workflowId, key, fromOffset],
    { prepare: true },
  );
  return rows;
}
