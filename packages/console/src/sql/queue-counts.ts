import type { Queryable } from '@strata/store';

/** How many workflows of one queue wait and run. */
export interface QueueCounts {
  readonly queued: number;
  readonly running: number;
}

/**
 * Queued (`ENQUEUED`) and running (`PENDING`) workflows per queue. Two grouped counts, one per
 * status, so each reads its partial index (`workflows_enqueued`, `workflows_queue_running`) and
 * never the finished workflows, however many there are.
 */
export async function queueCounts(db: Queryable): Promise<Map<string, QueueCounts>> {
  const { rows } = await db.query<{ queue_name: string; status: 'ENQUEUED' | 'PENDING'; n: number }>(
    `select queue_name, 'ENQUEUED' as status, count(*)::int as n
       from strata.workflows where status = 'ENQUEUED' and queue_name is not null group by queue_name
     union all
     select queue_name, 'PENDING' as status, count(*)::int as n
       from strata.workflows where status = 'PENDING' and queue_name is not null group by queue_name`,
    [],
    { prepare: true },
  );
  const counts = new Map<string, { queued: number; running: number }>();
  for (const row of rows) {
    const entry = counts.get(row.queue_name) ?? { queued: 0, running: 0 };
    if (row.status === 'ENQUEUED') entry.queued = row.n;
    else entry.running = row.n;
    counts.set(row.queue_name, entry);
  }
  return counts;
}
