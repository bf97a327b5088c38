import type { Queryable } from '@strata/store';

/** Workflows waiting in and running from a queue. */
export interface QueueCounts {
  readonly queued: number;
  readonly running: number;
}

/**
 * Queued (ENQUEUED) and running (PENDING) workflows per queue, from the `strata.queue_status`
 * view; `names` narrows it to those queues.
 */
export async function queueCounts(db: Queryable, names?: readonly string[]): Promise<Map<string, QueueCounts>> {
  const { rows } = await db.query<{ name: string; queued: number; running: number }>(
    `select name, queued::int as queued, running::int as running from strata.queue_status
      where $1::text[] is null or name = any($1::text[])`,
    [names ?? null],
  );
  return new Map(rows.map((row) => [row.name, { queued: Number(row.queued), running: Number(row.running) }]));
}
