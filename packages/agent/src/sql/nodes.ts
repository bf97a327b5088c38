// SQL of strata_cloud.nodes: an agent's registration and heartbeat.
import type { Queryable } from '@strata/store';

/** A node's registration as the agent writes it. */
export interface NodeRegistration {
  readonly nodeId: string;
  readonly rootDir: string;
  readonly capacityMemoryMb: number;
  readonly capacityInstances: number;
  /** The node's backup repository directory; null when it takes no backups. */
  readonly backupRepository: string | null;
}

/** Registers (or re-registers after a restart) a node: capacity and root as given, heartbeat and start time now. */
export async function upsertNode(db: Queryable, node: NodeRegistration): Promise<void> {
  await db.query(
    `insert into strata_cloud.nodes (node_id, root_dir, capacity_memory_mb, capacity_instances, backup_repository, heartbeat_at, started_at)
     values ($1, $2, $3, $4, $5, now(), now())
     on conflict (node_id) do update
       set root_dir = excluded.root_dir, capacity_memory_mb = excluded.capacity_memory_mb,
           capacity_instances = excluded.capacity_instances, backup_repository = excluded.backup_repository,
           heartbeat_at = now(), started_at = now()`,
    [node.nodeId, node.rootDir, node.capacityMemoryMb, node.capacityInstances, node.backupRepository],
  );
}

/** Renews a node's heartbeat; false when its row is gone (deregistered by an operator). */
export async function beat(db: Queryable, nodeId: string): Promise<boolean> {
  const { rows } = await db.query<{ node_id: string }>(`update strata_cloud.nodes set heartbeat_at = now() where node_id = $1 returning node_id`, [nodeId]);
  return rows.length === 1;
}
