// SQL of strata_cloud.instance_power: each instance's power state on its node (src/power/).
import type { Queryable } from '@strata/store';

/**
 * An instance's power state: `running` (not suspended), `frozen` (its processes stopped by the
 * cgroup freezer, memory kept) or `stopped` (shut down by a suspension; its next wake starts it).
 */
export type PowerState = 'running' | 'frozen' | 'stopped';

/** One row of strata_cloud.instance_power. */
export interface PowerRecord {
  readonly instanceId: string;
  readonly state: PowerState;
  readonly changedAt: Date;
  readonly wakes: number;
  readonly lastWakeMs: number | null;
  readonly lastWakeFrom: 'frozen' | 'stopped' | null;
}

interface Row extends Record<string, unknown> {
  instance_id: string;
  state: PowerState;
  changed_at: Date | string;
  wakes: number | string;
  last_wake_ms: number | null;
  last_wake_from: 'frozen' | 'stopped' | null;
}

/** The power records of this node's instances. */
export async function listPowerRecords(db: Queryable, nodeId: string): Promise<PowerRecord[]> {
  const { rows } = await db.query<Row>(
    `select instance_id, state, changed_at, wakes, last_wake_ms, last_wake_from from strata_cloud.instance_power where node_id = $1 order by instance_id`,
    [nodeId],
  );
  return rows.map((row) => ({
    instanceId: row.instance_id,
    state: row.state,
    changedAt: new Date(row.changed_at),
    wakes: Number(row.wakes),
    lastWakeMs: row.last_wake_ms === null ? null : Number(row.last_wake_ms),
    lastWakeFrom: row.last_wake_from,
  }));
}

/** One instance's power changes since they were last written: its state now, and the wakes meanwhile. */
export interface PowerChange {
  readonly instanceId: string;
  readonly state: PowerState;
  /** When it entered `state`. */
  readonly changedAt: Date;
  /** Wakes since the last write (0: none), and the latest one's duration and origin. */
  readonly wakes: number;
  readonly lastWakeMs: number | null;
  readonly lastWakeFrom: 'frozen' | 'stopped' | null;
}

/** Writes the power changes of several instances in one statement (unnest), each instance at most once. */
export async function savePowerChanges(db: Queryable, nodeId: string, changes: readonly PowerChange[]): Promise<void> {
  if (changes.length === 0) return;
  await db.query(
    `insert into strata_cloud.instance_power (node_id, instance_id, state, changed_at, wakes, last_wake_ms, last_wake_from)
     select $1, instance_id, state, changed_at::timestamptz, wakes, last_wake_ms, last_wake_from
       from unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[], $7::text[]) as c(instance_id, state, changed_at, wakes, last_wake_ms, last_wake_from)
     on conflict (node_id, instance_id) do update
       set state = excluded.state, changed_at = excluded.changed_at,
           wakes = strata_cloud.instance_power.wakes + excluded.wakes,
           last_wake_ms = coalesce(excluded.last_wake_ms, strata_cloud.instance_power.last_wake_ms),
           last_wake_from = coalesce(excluded.last_wake_from, strata_cloud.instance_power.last_wake_from)`,
    [
      nodeId,
      changes.map((change) => change.instanceId),
      changes.map((change) => change.state),
      changes.map((change) => change.changedAt.toISOString()),
      changes.map((change) => change.wakes),
      changes.map((change) => change.lastWakeMs),
      changes.map((change) => change.lastWakeFrom),
    ],
  );
}

/** Forgets a destroyed instance's power record. */
export async function deletePowerRecord(db: Queryable, nodeId: string, instanceId: string): Promise<void> {
  await db.query(`delete from strata_cloud.instance_power where node_id = $1 and instance_id = $2`, [nodeId, instanceId]);
}

/** Forgets the power records of instances no longer on the node (a destroy cut short between its two deletes). */
export async function deleteOrphanPowerRecords(db: Queryable, nodeId: string): Promise<void> {
  await db.query(
    `delete from strata_cloud.instance_power p where p.node_id = $1
       and not exists (select 1 from strata_cloud.node_instances n where n.node_id = p.node_id and n.instance_id = p.instance_id)`,
    [nodeId],
  );
}
