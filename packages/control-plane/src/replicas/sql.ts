// SQL of replicas: what a promotion and a detach change in strata_cloud.instances.
import type { Queryable } from '@strata/store';

/**
 * Records a promotion: the replica becomes a primary (synchronous if its old primary was), and
 * the old primary's other replicas become its replicas.
 */
export async function recordPromotion(db: Queryable, replicaId: string, oldPrimaryId: string): Promise<void> {
  await db.query(
    `update strata_cloud.instances set replica_of = null, updated_at = now(),
            synchronous = (select synchronous from strata_cloud.instances where instance_id = $2)
      where instance_id = $1`,
    [replicaId, oldPrimaryId],
  );
  await db.query(`update strata_cloud.instances set replica_of = $1, updated_at = now() where replica_of = $2 and status <> 'DELETED'`, [replicaId, oldPrimaryId]);
}

/** Records a detach: the replica is a primary of its own, asynchronous. */
export async function recordDetach(db: Queryable, replicaId: string): Promise<void> {
  await db.query(`update strata_cloud.instances set replica_of = null, synchronous = false, updated_at = now() where instance_id = $1`, [replicaId]);
}

/** Sets whether a primary's commits wait for a replica. */
export async function setSynchronous(db: Queryable, instanceId: string, synchronous: boolean): Promise<void> {
  await db.query(`update strata_cloud.instances set synchronous = $2, updated_at = now() where instance_id = $1`, [instanceId, synchronous]);
}

/** Marks an instance ERROR with a reason, outside any operation of its own (a sibling that could not follow a promotion). */
export async function markError(db: Queryable, instanceId: string, reason: string): Promise<void> {
  await db.query(`update strata_cloud.instances set status = 'ERROR', error = $2, updated_at = now() where instance_id = $1 and operation_id is null`, [instanceId, reason]);
}

/**
 * Numbers a read of `primaryId`'s replicas: the next replication generation, taken under the
 * primary row's lock, so a read made later (in the same transaction, after this) has a greater one.
 */
export async function nextReplicationGeneration(db: Queryable, primaryId: string): Promise<number | undefined> {
  const { rows } = await db.query<{ generation: string | number }>(
    `update strata_cloud.instances set replication_generation = replication_generation + 1 where instance_id = $1 returning replication_generation as generation`,
    [primaryId],
  );
  return rows[0] === undefined ? undefined : Number(rows[0].generation);
}
