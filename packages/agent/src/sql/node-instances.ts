// SQL of strata_cloud.node_instances: what should exist on a node, written by its jobs and read by reconcile.
import type { Queryable } from '@strata/store';
import type { InstanceLimits } from '../contract.js';

/** The part of an instance's configuration the agent needs to run it again. */
export interface InstanceRunSpec {
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
}

/** One row of strata_cloud.node_instances. */
export interface NodeInstance {
  readonly instanceId: string;
  readonly port: number;
  readonly desired: 'running' | 'stopped';
  readonly spec: InstanceRunSpec;
}

interface Row extends Record<string, unknown> {
  instance_id: string;
  port: number;
  desired: 'running' | 'stopped';
  spec: InstanceRunSpec | string;
}

function toNodeInstance(row: Row): NodeInstance {
  const spec = typeof row.spec === 'string' ? (JSON.parse(row.spec) as InstanceRunSpec) : row.spec;
  return { instanceId: row.instance_id, port: row.port, desired: row.desired, spec };
}

/** The instance's row on this node, if it has one. */
export async function getNodeInstance(db: Queryable, nodeId: string, instanceId: string): Promise<NodeInstance | undefined> {
  const { rows } = await db.query<Row>(
    `select instance_id, port, desired, spec from strata_cloud.node_instances where node_id = $1 and instance_id = $2`,
    [nodeId, instanceId],
  );
  return rows[0] === undefined ? undefined : toNodeInstance(rows[0]);
}

/** Every instance that should exist on this node. */
export async function listNodeInstances(db: Queryable, nodeId: string): Promise<NodeInstance[]> {
  const { rows } = await db.query<Row>(
    `select instance_id, port, desired, spec from strata_cloud.node_instances where node_id = $1 order by instance_id`,
    [nodeId],
  );
  return rows.map(toNodeInstance);
}

/**
 * Ports already given to instances (a new instance must not take one, even while it is stopped).
 * Every node's count: several agents on one machine share its ports.
 */
export async function usedPorts(db: Queryable): Promise<Set<number>> {
  const { rows } = await db.query<{ port: number }>(`select port from strata_cloud.node_instances`);
  return new Set(rows.map((row) => row.port));
}

/** Records a provisioned instance (a repeated provision keeps the port it was first given). */
export async function insertNodeInstance(db: Queryable, nodeId: string, instance: NodeInstance): Promise<NodeInstance> {
  await db.query(
    `insert into strata_cloud.node_instances (node_id, instance_id, port, desired, spec) values ($1, $2, $3, $4, $5)
     on conflict (node_id, instance_id) do nothing`,
    [nodeId, instance.instanceId, instance.port, instance.desired, JSON.stringify(instance.spec)],
  );
  const stored = await getNodeInstance(db, nodeId, instance.instanceId);
  if (stored === undefined) throw new Error(`node_instances row of ${instance.instanceId} vanished right after its insert`);
  return stored;
}

/** Sets whether the instance should run. */
export async function setDesired(db: Queryable, nodeId: string, instanceId: string, desired: 'running' | 'stopped'): Promise<void> {
  await db.query(`update strata_cloud.node_instances set desired = $3, updated_at = now() where node_id = $1 and instance_id = $2`, [nodeId, instanceId, desired]);
}

/** Replaces the instance's run spec (settings and limits). */
export async function setSpec(db: Queryable, nodeId: string, instanceId: string, spec: InstanceRunSpec): Promise<void> {
  await db.query(`update strata_cloud.node_instances set spec = $3, updated_at = now() where node_id = $1 and instance_id = $2`, [nodeId, instanceId, JSON.stringify(spec)]);
}

/** Forgets an instance (after its data is gone). */
export async function deleteNodeInstance(db: Queryable, nodeId: string, instanceId: string): Promise<void> {
  await db.query(`delete from strata_cloud.node_instances where node_id = $1 and instance_id = $2`, [nodeId, instanceId]);
}

/** The generation of the replication settings last applied to the instance (0: none yet). */
export async function getReplicationGeneration(db: Queryable, nodeId: string, instanceId: string): Promise<number> {
  const { rows } = await db.query<{ generation: string | number }>(
    `select replication_generation as generation from strata_cloud.node_instances where node_id = $1 and instance_id = $2`,
    [nodeId, instanceId],
  );
  return rows[0] === undefined ? 0 : Number(rows[0].generation);
}

/** Records that the replication settings of `generation` were applied to the instance. */
export async function setReplicationGeneration(db: Queryable, nodeId: string, instanceId: string, generation: number): Promise<void> {
  await db.query(`update strata_cloud.node_instances set replication_generation = $3, updated_at = now() where node_id = $1 and instance_id = $2`, [nodeId, instanceId, generation]);
}
