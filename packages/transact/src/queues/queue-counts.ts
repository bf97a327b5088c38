// How many workflows wait in and run from each queue: one query, used by the console, the CLI and the client.
import type { Queryable } from '@strata/store';

/** How many workflows of one queue wait and run. */
export interface QueueCounts {
  /** Workflows waiting in the queue (ENQUEUED). */
  readonly queued: number;
  /** Workflows taken off the queue and running (PENDING). */
  readonly running: number;
}

/**
 * Queued (`ENQUEUED`) and running (`PENDING`) workflows per queue; `names` narrows it to those
 * queues. Two grouped counts, one per status, so each reads its partial index
 * (`workflows_enqueued`, `workflows_queue_running`) and never the finished workflows, however
 * many there are. A queue with neither has no entry.
 *
 * @example
 * const counts = await queueCounts(client.database);
 * for (const queue of await client.queues.list()) console.log(queue.name, counts.get(queue.name) ?? { queued: 0, running: 0 });
 */
export async function queueCounts(db: Queryable, names?: readonly string[]): Promise<Map<string, QueueCounts>> {
  const { rows } = await db.query<{ queue_name: string; status: 'ENQUEUED' | 'PENDING'; n: number }>(
    `select queue_name, 'ENQUEUED' as status, count(*)::int as n
       from strata.workflows where status = 'ENQUEUED' and queue_name is not null and ($1::text[] is null or queue_name = any($1::text[]))
      group by queue_name
     union all
     select queue_name, 'PENDING' as status, count(*)::int as n
       from strata.workflows where status = 'PENDING' and queue_name is not null and ($1::text[] is null or queue_name = any($1::text[]))
      group by queue_name`,
    [names ?? null],
    { prepare: true },
  );
  const counts = new Map<string, { queued: number; running: number }>();
  for (const row of rows) {
    const entry = counts.get(row.queue_name) ?? { queued: 0, running: 0 };
    if (row.status === 'ENQUEUED') entry.queued = Number(row.n);
    else entry.running = Number(row.n);
    counts.set(row.queue_name, entry);
  }
  return counts;
}
