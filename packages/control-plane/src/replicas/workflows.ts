// The replica operations (replicate, promote, detach) and the replication apply, as durable Strata workflows whose steps are agent jobs.
import { AGENT_JOBS, type DestroyOutput, type FollowInput, type InstanceRef, type PromoteInput, type PromoteOutput, type ProvisionOutput, type ReplicateInput, type ReplicationInput, type ReplicationOutput, type RunningOutput } from '@strata/agent';
import type { Strata, WorkflowContext } from '@strata/transact';
import { AGENT_JOB_TIMEOUT_MS, callAgent } from '../instances/agent-call.js';
import { OPERATIONS_QUEUE, describe, finish, instanceBorn, onInstanceDeleted, type OperationDeps } from '../instances/operations.js';
import { addEvent, finishOperation, getInstance, listReplicas, type InstanceStatus } from '../instances/sql.js';
import { REPLICA_WORKFLOWS, type ApplyReplicationInput, type PromoteOperationInput, type ReplicateOperationInput } from './contract.js';
import { markError, nextReplicationGeneration, recordDetach, recordPromotion } from './sql.js';

/** Statuses of a primary a replica can be cloned from. */
const SERVING: ReadonlySet<InstanceStatus> = new Set(['ACTIVE', 'RESTART_REQUIRED']);

/** Engines that already have the operations (registering twice would throw). */
const registered = new WeakSet<Strata>();

/**
 * Registers the replica operations on the control plane's engine (before its `launch()`), and a
 * hook that re-applies a primary's replication when one of its replicas is deleted.
 *
 * @example
 * registerReplicaOperations(strata, { db, client });
 */
export function registerReplicaOperations(strata: Strata, deps: OperationDeps): void {
  if (registered.has(strata)) return;
  registered.add(strata);
  strata.workflow(REPLICA_WORKFLOWS.replicate, (ctx, input: ReplicateOperationInput) => replicate(ctx, deps, input));
  strata.workflow(REPLICA_WORKFLOWS.promote, (ctx, input: PromoteOperationInput) => promote(ctx, strata, deps, input));
  strata.workflow(REPLICA_WORKFLOWS.detach, (ctx, input: PromoteOperationInput) => detach(ctx, strata, deps, input));
  strata.workflow(REPLICA_WORKFLOWS.apply, (ctx, input: ApplyReplicationInput) => applyReplication(ctx, deps, input.primaryInstanceId, input.nodeId));
  onInstanceDeleted(strata, async ({ instanceId, operationId }) => {
    const row = await getInstance(deps.db, instanceId);
    if (row?.replicaOf == null) return;
    const input: ApplyReplicationInput = { primaryInstanceId: row.replicaOf, nodeId: row.nodeId };
    await deps.client.enqueue({ workflow: REPLICA_WORKFLOWS.apply, queue: OPERATIONS_QUEUE, workflowId: `${operationId}/replication` }, input);
  });
}

async function replicate(ctx: WorkflowContext, deps: OperationDeps, input: ReplicateOperationInput): Promise<InstanceStatus> {
  if (input.primaryOperationId !== undefined) {
    const primaryOperation = input.primaryOperationId;
    // Its outcome is in the primary's row, read next; a failed create is not this workflow's error.
    await ctx.step('await primary', () => deps.client.retrieve(primaryOperation).result({ timeoutMs: AGENT_JOB_TIMEOUT_MS }).then(() => true, () => false));
  }
  const primaryStatus = await ctx.step('check primary', async () => (await getInstance(deps.db, input.primaryInstanceId))?.status ?? 'DELETED');
  if (!SERVING.has(primaryStatus)) {
    const reason = `replicate failed: its primary ${input.primaryInstanceId} is ${primaryStatus}; delete this replica, and add one once the primary is ACTIVE`;
    return finish(ctx, deps, input.instanceId, { status: 'ERROR', error: reason }, 'replicate_failed', reason);
  }
  const agentInput: ReplicateInput = { instanceId: input.instanceId, primaryInstanceId: input.primaryInstanceId, settings: input.settings, limits: input.limits };
  const made = await callAgent<ReplicateInput, ProvisionOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.replicate, input: agentInput });
  if (made.ok) {
    const status = await finish(ctx, deps, input.instanceId, { status: 'ACTIVE', host: made.output.host, port: made.output.port, error: null }, 'replica_created', 'replica is ACTIVE and streaming from its primary');
    await applyReplication(ctx, deps, input.primaryInstanceId, input.nodeId);
    return status;
  }
  // Undo: nothing of a failed replica may stay on the node, nor its slot on the primary.
  const undone = await callAgent<InstanceRef, DestroyOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.destroy, input: { instanceId: input.instanceId }, label: 'undo replicate' });
  const reason = `replicate failed: ${describe(made)}${undone.ok ? '' : `; removing its files also failed: ${describe(undone)}`}`;
  const status = await finish(ctx, deps, input.instanceId, { status: 'ERROR', error: reason }, 'replicate_failed', reason);
  await applyReplication(ctx, deps, input.primaryInstanceId, input.nodeId);
  return status;
}

/**
 * Fences the primary (recorded stopped on its node, then stopped: a fast stop hands its standbys
 * all of its WAL), brings the replica up
 * to its most advanced sibling (so no commit any replica acknowledged is lost), promotes it,
 * records the change (the old primary FENCED, the replica a primary, its siblings its replicas),
 * points the siblings at it, and applies its replication. A fence or promote that fails is undone:
 * the primary runs again and the replica stays a replica.
 */
async function promote(ctx: WorkflowContext, strata: Strata, deps: OperationDeps, input: PromoteOperationInput): Promise<InstanceStatus> {
  const { primaryBefore, siblings } = await ctx.step('read primary', async () => ({
    primaryBefore: (await getInstance(deps.db, input.primaryInstanceId))?.status ?? 'DELETED',
    siblings: (await listReplicas(deps.db, input.primaryInstanceId)).filter((row) => row.instanceId !== input.instanceId && row.status === 'ACTIVE').map((row) => row.instanceId),
  }));
  const fenced = await callAgent<InstanceRef, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.fence, input: { instanceId: input.primaryInstanceId } });
  // It first catches up with the most advanced sibling: a commit acknowledged by any one replica is not lost.
  const promoted = fenced.ok ? await callAgent<PromoteInput, PromoteOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.promote, input: { instanceId: input.instanceId, siblings } }) : undefined;
  if (!fenced.ok || promoted === undefined || !promoted.ok) {
    const failure = fenced.ok ? promoted! : fenced;
    if (fenced.ok) await callAgent<InstanceRef, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.start, input: { instanceId: input.primaryInstanceId }, label: 'undo fence' });
    const reason = `promote failed and was undone: ${describe(failure)}`;
    await ctx.step('finish primary', () => deps.db.transaction(async (tx) => {
      if (await finishOperation(tx, input.primaryInstanceId, ctx.workflowId, { status: primaryBefore })) await addEvent(tx, input.primaryInstanceId, 'promote_failed', reason, ctx.workflowId);
    }));
    return finish(ctx, deps, input.instanceId, { status: 'ACTIVE', error: reason }, 'promote_failed', reason);
  }
  await ctx.step('record promotion', () => deps.db.transaction(async (tx) => {
    if (!(await finishOperation(tx, input.primaryInstanceId, ctx.workflowId, { status: 'FENCED', error: null }))) return;
    await addEvent(tx, input.primaryInstanceId, 'fenced', `fenced: its replica ${input.instanceId} was promoted in its place; it stays stopped (delete it when done)`, ctx.workflowId);
    await recordPromotion(tx, input.instanceId, input.primaryInstanceId);
  }));
  const status = await finish(ctx, deps, input.instanceId, { status: 'ACTIVE', error: null }, 'promoted', `promoted: a primary in place of ${input.primaryInstanceId}, which is fenced`);
  await followNewPrimary(ctx, deps, input);
  await applyReplication(ctx, deps, input.instanceId, input.nodeId);
  await instanceBorn(ctx, strata, { instanceId: input.instanceId, nodeId: input.nodeId });
  return status;
}

/** Points the old primary's other replicas at the promoted one (one that cannot follow its timeline is cloned again by the agent); one that still fails is marked ERROR. */
async function followNewPrimary(ctx: WorkflowContext, deps: OperationDeps, input: PromoteOperationInput): Promise<void> {
  const siblings = await ctx.step('read siblings', async () => (await listReplicas(deps.db, input.instanceId)).filter((row) => row.status !== 'ERROR').map((row) => row.instanceId));
  for (const sibling of siblings) {
    const followed = await callAgent<FollowInput, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.follow, input: { instanceId: sibling, primaryInstanceId: input.instanceId }, label: `follow ${sibling}` });
    await ctx.step(`record ${sibling}`, () => deps.db.transaction(async (tx) => {
      if (followed.ok) {
        await addEvent(tx, sibling, 'followed', `now a replica of ${input.instanceId} (promoted in place of ${input.primaryInstanceId})`, ctx.workflowId);
        return;
      }
      const reason = `could not follow the promoted ${input.instanceId}: ${describe(followed)}; delete this replica and add a new one`;
      await markError(tx, sibling, reason);
      await addEvent(tx, sibling, 'follow_failed', reason, ctx.workflowId);
    }));
  }
}

/** Promotes the replica into a primary of its own; its old primary runs on and drops its slot. */
async function detach(ctx: WorkflowContext, strata: Strata, deps: OperationDeps, input: PromoteOperationInput): Promise<InstanceStatus> {
  const promoted = await callAgent<InstanceRef, PromoteOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.promote, input: { instanceId: input.instanceId } });
  if (!promoted.ok) {
    const reason = `detach failed: ${describe(promoted)}`;
    return finish(ctx, deps, input.instanceId, { status: 'ACTIVE', error: reason }, 'detach_failed', reason);
  }
  await ctx.step('record detach', () => recordDetach(deps.db, input.instanceId));
  const status = await finish(ctx, deps, input.instanceId, { status: 'ACTIVE', error: null }, 'detached', `detached from ${input.primaryInstanceId}: a primary of its own`);
  await applyReplication(ctx, deps, input.primaryInstanceId, input.nodeId);
  await instanceBorn(ctx, strata, { instanceId: input.instanceId, nodeId: input.nodeId });
  return status;
}

/**
 * Applies a primary's recorded replicas to its server: a synchronous primary's commits wait for
 * one of its ACTIVE replicas, and the slots of replicas it no longer has are dropped. A primary
 * that is gone or stopped is left alone (its next replica change applies it); a failure is an event.
 * Each read of the lists is numbered (a generation), so applies that reach the agent out of order
 * leave the newest.
 */
async function applyReplication(ctx: WorkflowContext, deps: OperationDeps, primaryInstanceId: string, nodeId: string): Promise<void> {
  // Numbered under the primary row's lock: the agent skips an apply older than one it applied.
  const wanted = await ctx.step('read replication', () => deps.db.transaction(async (tx): Promise<ReplicationInput | null> => {
    const generation = await nextReplicationGeneration(tx, primaryInstanceId);
    const primary = await getInstance(tx, primaryInstanceId);
    if (generation === undefined || primary === undefined || !SERVING.has(primary.status)) return null;
    const replicas = await listReplicas(tx, primaryInstanceId);
    return {
      instanceId: primaryInstanceId,
      standbys: replicas.filter((row) => row.status !== 'ERROR').map((row) => row.instanceId),
      synchronousStandbys: primary.synchronous ? replicas.filter((row) => row.status === 'ACTIVE').map((row) => row.instanceId) : [],
      generation,
    };
  }));
  if (wanted === null) return;
  const applied = await callAgent<ReplicationInput, ReplicationOutput>(ctx, deps.client, { nodeId, job: AGENT_JOBS.replication, input: wanted, label: `replication of ${primaryInstanceId}` });
  if (!applied.ok) {
    await ctx.step('record apply failure', () => addEvent(deps.db, primaryInstanceId, 'replication_failed', `its replication settings were not applied: ${describe(applied)}`, ctx.workflowId));
  }
}
