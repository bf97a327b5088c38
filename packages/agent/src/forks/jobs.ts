// The agent's fork jobs: a new instance made from a consistent copy of a running one of the node (a fork of the present), and a fork reset to its parent's present.
import { ManagedCluster, copyRunningInstance, isStandby } from '@strata/postgres';
import type { Strata, WorkflowContext } from '@strata/transact';
import { AGENT_JOBS, type CloneInput, type ProvisionOutput, type ResetInput, type RunningOutput } from '../contract.js';
import { AgentError } from '../errors.js';
import { CLUSTER_STEP_RETRY, allocateInstance, openCluster, openRunning, requireInstance, withAwake, type JobHost } from '../jobs/jobs.js';
import { setDesired, type NodeInstance } from '../sql/node-instances.js';

/**
 * Registers `agent.clone` and `agent.reset` on `strata` (before `launch()`). Idempotent: a copy an
 * earlier attempt completed is adopted (a reset's swap cut short is finished); one cut short is made again.
 *
 * @example
 * registerForkJobs(strata, { db, nodeId, files });
 */
export function registerForkJobs(strata: Strata, host: JobHost): void {
  strata.workflow(AGENT_JOBS.clone, (ctx, input: CloneInput) => clone(ctx, host, input));
  strata.workflow(AGENT_JOBS.reset, (ctx, input: ResetInput) => reset(ctx, host, input));
}

async function clone(ctx: WorkflowContext, host: JobHost, input: CloneInput): Promise<ProvisionOutput> {
  const sourceRow = await ctx.step('find source', () => requireInstance(host, input.sourceInstanceId));
  // The row first, as a provision does: a directory without a row is an orphan reconcile removes.
  const placed = await ctx.step('allocate', () => allocateInstance(host, input, false));
  await ctx.step('copy', () => withAwake(host, [input.sourceInstanceId], AGENT_JOBS.clone, async () => {
    const source = await openRunning(host, sourceRow, 'fork its present');
    const cluster = await ManagedCluster.create(await host.files.template(), host.files.spec(input.instanceId, placed.port, input.settings), {
      prepared: async (partial) => {
        await copyRunningInstance(source, partial);
        return true;
      },
    });
    await cluster.setLimits(input.limits);
  }));
  await ctx.step('start', () => withAwake(host, [input.instanceId], AGENT_JOBS.clone, () => startCopy(host, placed, input.sourceInstanceId)), { retry: CLUSTER_STEP_RETRY });
  return { host: '127.0.0.1', port: placed.port };
}

/** Starts an instance made from an online copy of `sourceInstanceId`: it must come up out of recovery, accepting writes. */
async function startCopy(host: JobHost, instance: NodeInstance, sourceInstanceId: string): Promise<void> {
  const cluster = await openCluster(host, instance);
  await cluster.start();
  if (await isStandby(cluster)) throw new AgentError('STRATA_AGENT_INSTANCE_STOPPED', `the copy of ${sourceInstanceId} is still recovering after its start`);
}

/**
 * Replaces a fork's data with a consistent copy of its running parent's (same ID, port, limits),
 * and deletes its backup stanza first: the copy continues the parent's WAL, whose segment names
 * the fork's own archived history already uses; its history starts anew with its next backup.
 */
async function reset(ctx: WorkflowContext, host: JobHost, input: ResetInput): Promise<RunningOutput> {
  const rows = await ctx.step('record desired', async () => {
    const fork = await requireInstance(host, input.instanceId);
    const source = await requireInstance(host, input.sourceInstanceId);
    await setDesired(host.db, host.nodeId, input.instanceId, 'running');
    return { fork, source };
  });
  // Both are woken if suspended (the fork so that the start below ends its suspension).
  const awake = <T>(ids: string[], use: () => Promise<T>) => withAwake(host, ids, AGENT_JOBS.reset, use);
  await ctx.step('replace data', () => awake([input.sourceInstanceId, input.instanceId], async () => {
    const source = await openRunning(host, rows.source, 'reset its fork to its present');
    const fork = await openCluster(host, rows.fork);
    await fork.replaceData(async (dir) => {
      await host.backups?.deleteStanza(input.instanceId);
      await copyRunningInstance(source, dir);
    });
  }));
  return ctx.step('start', () => awake([input.instanceId], async () => {
    await startCopy(host, rows.fork, input.sourceInstanceId);
    return { running: true };
  }), { retry: CLUSTER_STEP_RETRY });
}
