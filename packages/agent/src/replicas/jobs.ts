// The agent's replica jobs (replicate, promote, follow, fence, replication) as Strata workflows whose steps act on the node's ManagedClusters.
import { ManagedCluster, catchUpWithSiblings, cloneStandby, dropSlot, followPrimary, promoteStandby, setSynchronousStandbys, standbyStatuses, timelineOf, waitForStreaming } from '@strata/postgres';
import type { Strata, WorkflowContext } from '@strata/transact';
import {
  AGENT_JOBS,
  type FollowInput,
  type InstanceRef,
  type PromoteInput,
  type PromoteOutput,
  type ProvisionOutput,
  type ReplicateInput,
  type ReplicationInput,
  type ReplicationOutput,
  type RunningOutput,
} from '../contract.js';
import { CLUSTER_STEP_RETRY, allocateInstance, openCluster, openRunning, requireInstance, withAwake, type JobHost } from '../jobs/jobs.js';
import { AgentError } from '../errors.js';
import { getReplicationGeneration, setDesired, setReplicationGeneration } from '../sql/node-instances.js';

/**
 * Registers the replica jobs on `strata` (before `launch()`). Each is idempotent: a replicate
 * adopts the standby an earlier attempt completed (a copy cut short is made again, its slot
 * dropped first), a promote of a primary does nothing, a fence of a stopped instance only records it.
 *
 * @example
 * registerReplicaJobs(strata, { db, nodeId, files });
 */
export function registerReplicaJobs(strata: Strata, host: JobHost): void {
  strata.workflow(AGENT_JOBS.replicate, (ctx, input: ReplicateInput) => replicate(ctx, host, input));
  strata.workflow(AGENT_JOBS.promote, (ctx, input: PromoteInput) => promote(ctx, host, input));
  strata.workflow(AGENT_JOBS.follow, (ctx, input: FollowInput) => follow(ctx, host, input));
  strata.workflow(AGENT_JOBS.fence, (ctx, input: InstanceRef) => fence(ctx, host, input));
  strata.workflow(AGENT_JOBS.replication, (ctx, input: ReplicationInput) => replication(ctx, host, input));
}

async function replicate(ctx: WorkflowContext, host: JobHost, input: ReplicateInput): Promise<ProvisionOutput> {
  const primaryRow = await ctx.step('find primary', () => requireInstance(host, input.primaryInstanceId));
  // The row first, as a provision does: a directory without a row is an orphan reconcile removes.
  const placed = await ctx.step('allocate', () => allocateInstance(host, input, false));
  // A suspended primary is woken for its clone; with a replica it is not suspended again.
  await ctx.step('clone', () => withAwake(host, [input.primaryInstanceId], AGENT_JOBS.replicate, async () => {
    const primary = await openRunning(host, primaryRow, 'replicate from it');
    const cluster = await ManagedCluster.create(await host.files.template(), host.files.spec(input.instanceId, placed.port, input.settings), {
      prepared: async (partial) => {
        await cloneStandby(primary, partial, input.instanceId);
        return true;
      },
    });
    await cluster.setLimits(input.limits);
  }));
  await ctx.step('start', () => withAwake(host, [input.primaryInstanceId, input.instanceId], AGENT_JOBS.replicate, async () => {
    const cluster = await openCluster(host, placed);
    await cluster.start();
    await waitForStreaming(cluster);
  }), { retry: CLUSTER_STEP_RETRY });
  return { host: '127.0.0.1', port: placed.port };
}

async function promote(ctx: WorkflowContext, host: JobHost, input: PromoteInput): Promise<PromoteOutput> {
  const row = await ctx.step('record desired', async () => {
    const instance = await requireInstance(host, input.instanceId);
    await setDesired(host.db, host.nodeId, input.instanceId, 'running');
    return instance;
  });
  await ctx.step('promote', () => withAwake(host, [input.instanceId, ...(input.siblings ?? [])], AGENT_JOBS.promote, async () => {
    const cluster = await openCluster(host, row);
    await cluster.start();
    // A commit acknowledged by any one standby (ANY 1) may be on a sibling only: take it from there first.
    const siblings: ManagedCluster[] = [];
    for (const id of input.siblings ?? []) {
      const sibling = await openCluster(host, await requireInstance(host, id)).catch(() => undefined);
      if (sibling !== undefined && (await sibling.isRunning())) siblings.push(sibling);
    }
    await catchUpWithSiblings(cluster, input.instanceId, siblings);
    await promoteStandby(cluster);
  }), { retry: CLUSTER_STEP_RETRY });
  return { promoted: true };
}

/** How long a standby pointed at a new primary may take to stream its timeline before it is cloned again instead. */
const FOLLOW_WAIT_MS = 30_000;

async function follow(ctx: WorkflowContext, host: JobHost, input: FollowInput): Promise<RunningOutput> {
  const rows = await ctx.step('find instances', async () => ({ standby: await requireInstance(host, input.instanceId), primary: await requireInstance(host, input.primaryInstanceId) }));
  return ctx.step('follow', () => withAwake(host, [input.instanceId, input.primaryInstanceId], AGENT_JOBS.follow, async () => {
    const standby = await openCluster(host, rows.standby);
    const primary = await openRunning(host, rows.primary, 'replicate from it');
    await standby.start();
    const timeline = await timelineOf(primary);
    try {
      await followPrimary(standby, primary, input.instanceId);
      await waitForStreaming(standby, { timeline, timeoutMs: FOLLOW_WAIT_MS });
    } catch {
      // It cannot follow (it had WAL the new primary never got, or it is not a standby any more): cloned again from the new primary.
      await standby.replaceData((dir) => cloneStandby(primary, dir, input.instanceId));
      await standby.start();
      await waitForStreaming(standby, { timeline });
    }
    return { running: true };
  }), { retry: CLUSTER_STEP_RETRY });
}

/**
 * Fences an instance: it is recorded as stopped first (so neither a reconcile after an agent
 * restart nor anything else starts it again), then stopped: clients are disconnected, and its
 * standbys receive the rest of its WAL before it exits.
 */
async function fence(ctx: WorkflowContext, host: JobHost, input: InstanceRef): Promise<RunningOutput> {
  const row = await ctx.step('record desired', async () => {
    const instance = await requireInstance(host, input.instanceId);
    await setDesired(host.db, host.nodeId, input.instanceId, 'stopped');
    return instance;
  });
  // Woken first if suspended, so its suspension ends with it (a fenced instance is stopped for good).
  return ctx.step('stop', () => withAwake(host, [input.instanceId], AGENT_JOBS.fence, async () => {
    const cluster = await openCluster(host, row);
    // A fast stop sends the standbys all of its WAL before it exits (nothing committed is lost in a planned promote); one that hangs is aborted.
    await cluster.stop('fast').catch(() => cluster.stop('immediate'));
    return { running: await cluster.isRunning() };
  }), { retry: CLUSTER_STEP_RETRY });
}

/** The applies of each primary of this process's agents, one at a time: the tail of each's chain. */
const applying = new Map<string, Promise<unknown>>();

/** Runs `apply` after every earlier apply for the same `key` has ended. */
async function oneAtATime<T>(key: string, apply: () => Promise<T>): Promise<T> {
  const previous = applying.get(key) ?? Promise.resolve();
  const run = previous.then(apply, apply);
  const tail = run.catch(() => {});
  applying.set(key, tail);
  try {
    return await run;
  } finally {
    if (applying.get(key) === tail) applying.delete(key);
  }
}

/**
 * Applies a primary's replication settings, unless a newer generation of them was applied already
 * (two control-plane workflows can read the lists in one order and reach the agent in the other).
 * Applies of one primary run one at a time; the generation is recorded after the apply, so one cut
 * short by a crash is applied again when the job resumes.
 */
async function replication(ctx: WorkflowContext, host: JobHost, input: ReplicationInput): Promise<ReplicationOutput> {
  if (!Number.isSafeInteger(input.generation) || input.generation < 1) {
    throw new AgentError('STRATA_AGENT_INVALID_INPUT', `agent.replication needs a generation, a whole number ≥ 1; got ${JSON.stringify(input.generation)}`);
  }
  const row = await ctx.step('find primary', () => requireInstance(host, input.instanceId));
  return ctx.step('apply', () => withAwake(host, [input.instanceId], AGENT_JOBS.replication, () => oneAtATime(`${host.nodeId}/${input.instanceId}`, async () => {
    const primary = await openRunning(host, row, 'replicate from it');
    if ((await getReplicationGeneration(host.db, host.nodeId, input.instanceId)) > input.generation) {
      return { standbys: await standbyStatuses(primary), droppedSlots: [], superseded: true };
    }
    // Commits stop waiting for a standby before its slot goes: never the other way round.
    await setSynchronousStandbys(primary, input.synchronousStandbys.filter((name) => input.standbys.includes(name)));
    const slots = await primary.query<{ name: string }>("select slot_name as name from pg_replication_slots where slot_type = 'physical' order by 1");
    const droppedSlots = slots.map((slot) => slot.name).filter((name) => !input.standbys.includes(name));
    for (const name of droppedSlots) await dropSlot(primary, name);
    await setReplicationGeneration(host.db, host.nodeId, input.instanceId, input.generation);
    return { standbys: await standbyStatuses(primary), droppedSlots, superseded: false };
  })), { retry: CLUSTER_STEP_RETRY });
}

