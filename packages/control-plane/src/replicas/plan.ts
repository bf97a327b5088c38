// Adding replicas to a primary inside the caller's transaction: their rows (BUILD, operation
// replicate) and their operations, enqueued in the same commit.
import type { Queryable } from '@strata/store';
import type { StrataClient } from '@strata/transact';
import { findFlavor, flavorLimits, flavorSettings } from '../instances/flavors.js';
import { newInstanceId, newOperationId } from '../instances/names.js';
import { OPERATIONS_QUEUE } from '../instances/operations.js';
import { addEvent, insertInstance, nameTaken, type InstanceRow } from '../instances/sql.js';
import { copyInstanceUsers } from '../backups/sql.js';
import { REPLICA_WORKFLOWS, type ReplicateOperationInput } from './contract.js';

/** Longest instance name (a DNS label). */
const MAX_NAME_LENGTH = 63;

/**
 * Inserts `count` replicas of `primary` (same node, flavor, parameters, databases and users) and
 * enqueues their replicate operations; names are `<primary>-r<k>`, the lowest free k. With
 * `primaryOperationId` (a create of the primary in the same commit) each replica waits for it.
 * The caller checked quota and holds the primary's row.
 *
 * @example
 * const replicas = await planReplicas(tx, client, primaryRow, 2);
 */
export async function planReplicas(tx: Queryable, client: StrataClient, primary: InstanceRow, count: number, primaryOperationId?: string): Promise<InstanceRow[]> {
  const flavor = findFlavor(primary.flavor);
  if (!flavor) throw new Error(`invariant: instance ${primary.instanceId} has unknown flavor ${primary.flavor}`);
  const made: InstanceRow[] = [];
  for (let k = 1; made.length < count; k++) {
    const name = replicaName(primary.name, k);
    if (await nameTaken(tx, primary.tenantId, name)) continue;
    const instanceId = newInstanceId();
    const operationId = newOperationId(instanceId, 'replicate');
    const row = await insertInstance(tx, {
      instanceId,
      tenantId: primary.tenantId,
      name,
      flavor: flavor.name,
      memoryMb: flavor.memoryMb,
      maxConnections: flavor.maxConnections,
      storageMb: flavor.storageMb,
      nodeId: primary.nodeId,
      parameters: primary.parameters,
      databases: primary.databases,
      defaultUser: primary.defaultUser,
      operationId,
      operationKind: 'replicate',
      replicaOf: primary.instanceId,
    });
    await copyInstanceUsers(tx, primary.instanceId, instanceId);
    await addEvent(tx, instanceId, 'replicate_started', `replica of "${primary.name}" (${primary.instanceId})`, operationId);
    const input: ReplicateOperationInput = {
      instanceId,
      nodeId: primary.nodeId,
      primaryInstanceId: primary.instanceId,
      ...(primaryOperationId ? { primaryOperationId } : {}),
      // A hot standby needs at least its primary's max_connections: it runs the same flavor and parameters.
      settings: { ...flavorSettings(flavor), ...primary.parameters, ...primary.parameterOverrides },
      limits: flavorLimits(flavor),
    };
    await client.enqueue({ workflow: REPLICA_WORKFLOWS.replicate, queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId, kind: 'replicate' }, transaction: tx }, input);
    made.push(row);
  }
  return made;
}

function replicaName(primaryName: string, k: number): string {
  const suffix = `-r${k}`;
  return `${primaryName.slice(0, MAX_NAME_LENGTH - suffix.length).replace(/-+$/, '')}${suffix}`;
}
