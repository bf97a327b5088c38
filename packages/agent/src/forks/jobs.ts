// The agent's fork job: a new instance made from a consistent copy of a running one of the node (a fork of the present).
import { ManagedCluster, copyRunningInstance, isStandby } from '@strata/postgres';
import type { Strata, WorkflowContext } from '@strata/transact';
import { AGENT_JOBS, type CloneInput, type ProvisionOutput } from '../contract.js';
import { AgentError } from '../errors.js';
import { CLUSTER_STEP_RETRY, allocateInstance, openCluster, requireInstance, type JobHost } from '../jobs/jobs.js';

/**
 * Registers `agent.clone` on `strata` (before `launch()`). Idempotent: a copy an earlier attempt
 * completed is adopted; one cut short is made again.
 *
 * @example
 * registerForkJobs(strata, { db, nodeId, files });
 */
export function registerForkJobs(strata: Strata, host: JobHost): void {
  strata.workflow(AGENT_JOBS.clone, (ctx, input: CloneInput) => clone(ctx, host, input));
}

async function clone(ctx: WorkflowContext, host: JobHost, input: CloneInput): Promise<ProvisionOutput> {
  const sourceRow = await ctx.step('find source', () => requireInstance(host, input.sourceInstanceId));
  // The row first, as a provision does: a directory without a row is an orphan reconcile removes.
  const placed = await ctx.step('allocate', () => allocateInstance(host, input, false));
  await ctx.step('copy', async () => {
    const source = await openCluster(host, sourceRow);
    if (!(await source.isRunning())) throw new AgentError('STRATA_AGENT_INSTANCE_STOPPED', `instance ${input.sourceInstanceId} is stopped; start it to fork its present`);
    const cluster = await ManagedCluster.create(await host.files.template(), host.files.spec(input.instanceId, placed.port, input.settings), {
      prepared: async (partial) => {
        await copyRunningInstance(source, partial);
        return true;
      },
    });
    await cluster.setLimits(input.limits);
  });
  await ctx.step('start', async () => {
    const cluster = await openCluster(host, placed);
    await cluster.start();
    if (await isStandby(cluster)) throw new AgentError('STRATA_AGENT_INSTANCE_STOPPED', `the copy of ${input.sourceInstanceId} is still recovering after its start`);
  }, { retry: CLUSTER_STEP_RETRY });
  return { host: '127.0.0.1', port: placed.port };
}
