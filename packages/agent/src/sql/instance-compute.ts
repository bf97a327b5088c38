// SQL of strata_cloud.instance_compute: each instance's running time per minute, added in batches.
import type { Queryable } from '@strata/store';

/** Running time of one instance in one minute (`minute` is the minute's start). */
export interface ComputeRow {
  readonly instanceId: string;
  readonly minute: Date;
  readonly runningMs: number;
}

/**
 * Adds a batch of running times in one statement (unnest); each (instance, minute) at most once
 * in a batch, added to what the minute already has.
 */
export async function addComputeTime(db: Queryable, rows: readonly ComputeRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `insert into strata_cloud.instance_compute (instance_id, minute, running_ms)
     select instance_id, minute::timestamptz, running_ms from unnest($1::text[], $2::text[], $3::bigint[]) as r(instance_id, minute, running_ms)
     on conflict (instance_id, minute) do update set running_ms = strata_cloud.instance_compute.running_ms + excluded.running_ms`,
    [rows.map((row) => row.instanceId), rows.map((row) => row.minute.toISOString()), rows.map((row) => Math.round(row.runningMs))],
  );
}
