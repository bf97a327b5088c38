// Nodes as the control plane sees them: placement (the live node with the most free capacity) and the node list.
import type { Queryable } from '@strata/store';

/**
 * A node whose last heartbeat is older than this is not live: placement skips it and liveness
 * marks its instances UNKNOWN. Ten agent heartbeats (1 s apart by default), so a loaded machine
 * or a brief database hiccup does not flap instances.
 */
export const DEFAULT_NODE_STALE_AFTER_MS = 10_000;

/** A node with what it has left. */
export interface NodeInfo {
  readonly nodeId: string;
  readonly rootDir: string;
  readonly capacityMemoryMb: number;
  readonly capacityInstances: number;
  readonly usedMemoryMb: number;
  readonly instances: number;
  readonly heartbeatAt: Date;
  readonly startedAt: Date;
  readonly live: boolean;
}

const NODE_USAGE = `
  select n.node_id, n.root_dir, n.capacity_memory_mb, n.capacity_instances, n.heartbeat_at, n.started_at,
         coalesce(sum(i.memory_mb), 0)::int as used_memory_mb, count(i.instance_id)::int as instances,
         n.heartbeat_at > now() - $1::integer * interval '1 millisecond' as live
    from strata_cloud.nodes n
    left join strata_cloud.instances i on i.node_id = n.node_id and i.status <> 'DELETED'
   group by n.node_id`;

function toNode(row: Record<string, unknown>): NodeInfo {
  return {
    nodeId: row.node_id as string,
    rootDir: row.root_dir as string,
    capacityMemoryMb: Number(row.capacity_memory_mb),
    capacityInstances: Number(row.capacity_instances),
    usedMemoryMb: Number(row.used_memory_mb),
    instances: Number(row.instances),
    heartbeatAt: new Date(row.heartbeat_at as string | Date),
    startedAt: new Date(row.started_at as string | Date),
    live: row.live === true,
  };
}

/**
 * Whether any agent has created strata_cloud.nodes yet (the agent's migrations make it; a control
 * plane that never saw an agent has no nodes).
 */
export async function nodesTableExists(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(`select to_regclass('strata_cloud.nodes') is not null as present`);
  return rows[0]?.present === true;
}

/** Every registered node with its usage, by node ID. */
export async function listNodes(db: Queryable, staleAfterMs = DEFAULT_NODE_STALE_AFTER_MS): Promise<NodeInfo[]> {
  if (!(await nodesTableExists(db))) return [];
  const { rows } = await db.query(`${NODE_USAGE} order by n.node_id`, [staleAfterMs]);
  return rows.map(toNode);
}

/**
 * Picks the node for a new instance of `memoryMb`: among live nodes with room (memory and an
 * instance slot), the one with the most free memory, then the most free slots; undefined when
 * none has room.
 *
 * @example
 * const node = await placeInstance(tx, 256);
 * if (!node) throw new ApiError(503, 'no_capacity', 'no live node has room for this flavor; try a smaller one or add a node');
 */
export async function placeInstance(db: Queryable, memoryMb: number, staleAfterMs = DEFAULT_NODE_STALE_AFTER_MS): Promise<string | undefined> {
  if (!(await nodesTableExists(db))) return undefined;
  const { rows } = await db.query<{ node_id: string }>(
    `select node_id from (${NODE_USAGE}) usage
      where live and capacity_memory_mb - used_memory_mb >= $2 and capacity_instances - instances >= 1
      order by capacity_memory_mb - used_memory_mb desc, capacity_instances - instances desc, node_id
      limit 1`,
    [staleAfterMs, memoryMb],
  );
  return rows[0]?.node_id;
}
