// callAgent: a control-plane workflow runs one agent job on a node — an idempotent enqueue on the node's queue, then a wait for its outcome, both steps.
import { agentQueue, agentVersion } from '@strata/agent';
import { WaitTimeoutError, type StrataClient, type WorkflowContext } from '@strata/transact';

/**
 * Longest a control-plane workflow waits for one agent job. A node that stays down longer fails
 * the operation (which is then undone or reported) instead of holding the instance busy forever;
 * ten minutes covers an agent restart and a slow start of a large instance.
 */
export const AGENT_JOB_TIMEOUT_MS = 10 * 60_000;

/** The outcome of an agent job, as data the workflow branches on (recorded in the wait's checkpoint). */
export type AgentOutcome<O> =
  | { readonly ok: true; readonly output: O }
  | { readonly ok: false; readonly error: { readonly name: string; readonly code: string | null; readonly message: string } };

/** One agent job to run. */
export interface AgentCall<I> {
  /** The node that runs it. */
  readonly nodeId: string;
  /** The job's workflow name (AGENT_JOBS.*). */
  readonly job: string;
  readonly input: I;
  /**
   * Names the two steps and the job's workflow ID (`<workflowId>/<label>`); unique within the
   * calling workflow. Default: the job name.
   */
  readonly label?: string;
  /** Default {@link AGENT_JOB_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /**
   * The job was enqueued, under this call's job ID, in the transaction that enqueued the calling
   * workflow (a create's provision, by the API): only the wait is needed. Default false.
   */
  readonly enqueuedWithWorkflow?: boolean;
}

/**
 * The workflow ID of the agent job that `callAgent` with `label` runs for workflow `workflowId`.
 *
 * @example
 * agentJobId('op_1', AGENT_JOBS.provision); // 'op_1/agent.provision'
 */
export function agentJobId(workflowId: string, label: string): string {
  return `${workflowId}/${label}`;
}

/**
 * Runs an agent job from inside a control-plane workflow and returns its outcome. The job's ID is
 * derived from the calling workflow's, so a step repeated after a crash finds the job it already
 * enqueued instead of enqueuing a second one; the job is pinned to the node by its queue and
 * application version, so no other node ever runs it (or recovers it).
 *
 * @example
 * const outcome = await callAgent<ProvisionInput, ProvisionOutput>(ctx, client, { nodeId, job: AGENT_JOBS.provision, input });
 * if (!outcome.ok) await callAgent(ctx, client, { nodeId, job: AGENT_JOBS.destroy, input: { instanceId }, label: 'undo' });
 */
export async function callAgent<I, O>(ctx: WorkflowContext, client: StrataClient, call: AgentCall<I>): Promise<AgentOutcome<O>> {
  const label = call.label ?? call.job;
  const jobId = agentJobId(ctx.workflowId, label);
  if (!call.enqueuedWithWorkflow) {
    await ctx.step(`enqueue ${label}`, async () => {
      await client.enqueue({ workflow: call.job, queue: agentQueue(call.nodeId), workflowId: jobId, appVersion: agentVersion(call.nodeId) }, call.input);
    });
  }
  return ctx.step(`await ${label}`, async (): Promise<AgentOutcome<O>> => {
    try {
      return { ok: true, output: await client.retrieve<O>(jobId).result({ timeoutMs: call.timeoutMs ?? AGENT_JOB_TIMEOUT_MS }) };
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        return { ok: false, error: { name: 'AgentTimeout', code: 'agent_timeout', message: `node ${call.nodeId} did not finish ${call.job} in time; is its agent running?` } };
      }
      const failure = error as { name?: unknown; code?: unknown; message?: unknown };
      return {
        ok: false,
        error: {
          name: typeof failure.name === 'string' ? failure.name : 'Error',
          code: typeof failure.code === 'string' ? failure.code : null,
          message: typeof failure.message === 'string' ? failure.message : String(error),
        },
      };
    }
  });
}
