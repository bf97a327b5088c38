// The replica API's transactions, free of HTTP: add replicas, promote one, detach one, list them.
import { findFlavor } from '../instances/flavors.js';
import { InstanceError } from '../instances/errors.js';
import { newOperationId } from '../instances/names.js';
import { OPERATIONS_QUEUE } from '../instances/operations.js';
import { requireIdle, requireInstance, type InstanceServiceDeps, type RecordInTransaction } from '../instances/service.js';
import { addEvent, beginOperation, listReplicas, type InstanceRow, type InstanceStatus } from '../instances/sql.js';
import { MAX_REPLICAS, REPLICA_WORKFLOWS, type PromoteOperationInput } from './contract.js';
import { planReplicas } from './plan.js';
import { setSynchronous } from './sql.js';

/** Statuses of a primary that can take a replica. */
const CAN_REPLICATE: readonly InstanceStatus[] = ['ACTIVE', 'RESTART_REQUIRED'];

/**
 * Adds `count` streaming replicas to a primary (returns them in BUILD; each becomes ACTIVE once it
 * streams). With `synchronous`, the primary's commits from then on wait for one ACTIVE replica to
 * have them on disk (false: they stop waiting).
 *
 * @throws {InstanceError} `409 is_replica` for a replica, `409 invalid_state` for a primary not
 * ACTIVE, `409 too_many_replicas` past {@link MAX_REPLICAS}, `400 invalid_request` for a bad count.
 *
 * @example
 * const replicas = await addReplicas(deps, 'ten_1', 'orders-db', { count: 2, synchronous: true });
 */
export async function addReplicas(
  deps: InstanceServiceDeps,
  tenantId: string,
  ref: string,
  request: { readonly count?: number; readonly synchronous?: boolean },
  record?: RecordInTransaction,
): Promise<InstanceRow[]> {
  const count = request.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_REPLICAS) throw new InstanceError(400, 'invalid_request', `count must be a whole number from 1 to ${MAX_REPLICAS}, got ${String(count)}`);
  return deps.db.transaction(async (tx) => {
    const primary = await requireInstance(tx, tenantId, ref, true);
    requirePrimary(primary, 'add replicas to it');
    if (!CAN_REPLICATE.includes(primary.status)) {
      throw new InstanceError(409, 'invalid_state', `instance "${primary.name}" is ${primary.status}; replicas are cloned from a running primary (${CAN_REPLICATE.join(', ')})`);
    }
    const existing = await listReplicas(tx, primary.instanceId);
    if (existing.length + count > MAX_REPLICAS) {
      throw new InstanceError(409, 'too_many_replicas', `instance "${primary.name}" has ${existing.length} replicas; at most ${MAX_REPLICAS} (delete one first)`);
    }
    const flavor = findFlavor(primary.flavor);
    if (flavor) await deps.checkQuota(tx, tenantId, { instances: count, storageMb: flavor.storageMb * count, connections: flavor.maxConnections * count });
    if (request.synchronous !== undefined && request.synchronous !== primary.synchronous) {
      await setSynchronous(tx, primary.instanceId, request.synchronous);
      await addEvent(tx, primary.instanceId, 'replication_mode', request.synchronous ? 'commits wait for one replica (synchronous)' : 'commits wait for no replica (asynchronous)');
    }
    const made = await planReplicas(tx, deps.client, { ...primary, synchronous: request.synchronous ?? primary.synchronous }, count);
    await record?.(tx);
    return made;
  });
}

/** The replicas of a tenant's primary (by ID or name), oldest first. */
export async function replicasOf(deps: Pick<InstanceServiceDeps, 'db'>, tenantId: string, ref: string): Promise<{ primary: InstanceRow; replicas: InstanceRow[] }> {
  const primary = await requireInstance(deps.db, tenantId, ref);
  return { primary, replicas: await listReplicas(deps.db, primary.instanceId) };
}

/**
 * Promotes a replica in place of its primary: the primary is fenced (stopped and marked FENCED,
 * never started again), the replica becomes the primary (with the old one's synchronous mode) and
 * its siblings follow it. Both instances are busy until it ends.
 *
 * @throws {InstanceError} `409 not_a_replica` for a primary; `409 instance_busy` / `invalid_state`.
 *
 * @example
 * const row = await promoteReplica(deps, 'ten_1', 'orders-db-r1');
 */
export function promoteReplica(deps: InstanceServiceDeps, tenantId: string, ref: string, record?: RecordInTransaction): Promise<InstanceRow> {
  return replicaOperation(deps, tenantId, ref, 'promote', record);
}

/**
 * Detaches a replica: it is promoted into an independent primary (asynchronous, with backups of
 * its own); its primary runs on without it.
 *
 * @throws {InstanceError} `409 not_a_replica` for a primary; `409 instance_busy` / `invalid_state`.
 *
 * @example
 * const row = await detachReplica(deps, 'ten_1', 'orders-db-r2');
 */
export function detachReplica(deps: InstanceServiceDeps, tenantId: string, ref: string, record?: RecordInTransaction): Promise<InstanceRow> {
  return replicaOperation(deps, tenantId, ref, 'detach', record);
}

async function replicaOperation(deps: InstanceServiceDeps, tenantId: string, ref: string, kind: 'promote' | 'detach', record?: RecordInTransaction): Promise<InstanceRow> {
  return deps.db.transaction(async (tx) => {
    const replica = await requireIdle(tx, tenantId, ref);
    if (replica.replicaOf === null) {
      throw new InstanceError(409, 'not_a_replica', `instance "${replica.name}" is not a replica; ${kind} applies to a replica (GET /v1/instances/${replica.instanceId}/replicas lists its own)`);
    }
    if (replica.status !== 'ACTIVE') throw new InstanceError(409, 'invalid_state', `replica "${replica.name}" is ${replica.status}; only an ACTIVE replica can be ${kind}d`);
    const operationId = newOperationId(replica.instanceId, kind);
    if (kind === 'promote') {
      // The primary is busy with the same operation: nothing else may start or stop it while it is fenced.
      const primary = await requireIdle(tx, tenantId, replica.replicaOf);
      await beginOperation(tx, primary.instanceId, operationId, 'promote');
      await addEvent(tx, primary.instanceId, 'fence_started', `fencing: its replica "${replica.name}" is being promoted`, operationId);
    }
    const updated = await beginOperation(tx, replica.instanceId, operationId, kind);
    await addEvent(tx, replica.instanceId, `${kind}_started`, `${kind} requested`, operationId);
    const input: PromoteOperationInput = { instanceId: replica.instanceId, nodeId: replica.nodeId, primaryInstanceId: replica.replicaOf };
    await deps.client.enqueue({ workflow: REPLICA_WORKFLOWS[kind], queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId: replica.instanceId, kind }, transaction: tx }, input);
    await record?.(tx);
    return updated;
  });
}

function requirePrimary(row: InstanceRow, purpose: string): void {
  if (row.replicaOf !== null) throw new InstanceError(409, 'is_replica', `instance "${row.name}" is a replica of ${row.replicaOf}; ${purpose} on its primary instead`);
}
