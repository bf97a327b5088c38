// Resetting a fork to its parent's present: the fork keeps its ID, name and address, its data
// becomes a consistent copy of its running parent's, and its backup history starts anew.
import { AGENT_JOBS, type ResetInput, type RunningOutput } from '@strata/agent';
import type { WorkflowContext } from '@strata/transact';
import { callAgent } from '../instances/agent-call.js';
import { newOperationId } from '../instances/names.js';
import { OPERATIONS_QUEUE, describe, finish } from '../instances/operations.js';
import { requireIdle, type RecordInTransaction } from '../instances/service.js';
import { addEvent, beginOperation, getInstance, listReplicas, type InstanceRow } from '../instances/sql.js';
import { BACKUP_WORKFLOWS } from './contract.js';
import { BackupError } from './errors.js';
import type { BackupServiceDeps } from './service.js';
import { requestBackup } from './service.js';
import { retireHistory } from './sql.js';
import type { BackupDeps } from './workflows.js';

/** Statuses a fork can be reset from, and a parent's that can be copied (it must run). */
const RESET_FROM: ReadonlySet<string> = new Set(['ACTIVE', 'STOPPED', 'RESTART_REQUIRED', 'ERROR']);
const PARENT_RUNNING: ReadonlySet<string> = new Set(['ACTIVE', 'RESTART_REQUIRED']);

/** Input of {@link BACKUP_WORKFLOWS.reset}. */
export interface ResetOperationInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly parentInstanceId: string;
}

/**
 * Resets a fork to its parent's present (Neon's "reset from parent"): the fork goes `RESTORING`,
 * its data is replaced by a consistent copy of the running parent's, and it comes back `ACTIVE` at
 * the same address. Its backups from before are expired and its restore points removed (the new
 * data's history is the parent's, not its own); a full backup starts its history anew.
 *
 * @throws {BackupError} `409 not_a_fork`; `409 invalid_state` when the parent is gone or stopped or
 * the fork cannot be reset from its status; `409 is_replica` for a fork with replicas.
 *
 * @example
 * const row = await resetFork(deps, 'ten_1', 'orders-preview');
 */
export async function resetFork(deps: BackupServiceDeps, tenantId: string, ref: string, record?: RecordInTransaction): Promise<InstanceRow> {
  return deps.db.transaction(async (tx) => {
    const fork = await requireIdle(tx, tenantId, ref);
    if (fork.forkedFrom === null) throw new BackupError(409, 'not_a_fork', `instance "${fork.name}" is not a fork; only a fork (POST /v1/instances/{instance}/fork) can be reset to its parent`);
    if (!RESET_FROM.has(fork.status)) throw new BackupError(409, 'invalid_state', `cannot reset fork "${fork.name}" while it is ${fork.status}; it can be reset from ${[...RESET_FROM].join(', ')}`);
    if ((await listReplicas(tx, fork.instanceId)).length > 0) throw new BackupError(409, 'is_replica', `fork "${fork.name}" has replicas; delete or detach them before resetting it`);
    const parent = await getInstance(tx, fork.forkedFrom);
    if (parent === undefined || !PARENT_RUNNING.has(parent.status)) {
      throw new BackupError(409, 'invalid_state', `the parent of fork "${fork.name}" (${fork.forkedFrom}) is ${parent?.status ?? 'gone'}; a reset copies a running parent's present`);
    }
    const operationId = newOperationId(fork.instanceId, 'reset');
    const updated = await beginOperation(tx, fork.instanceId, operationId, 'reset', 'RESTORING');
    await addEvent(tx, fork.instanceId, 'reset_started', `reset to the present of "${parent.name}" (${parent.instanceId})`, operationId);
    const input: ResetOperationInput = { instanceId: fork.instanceId, nodeId: fork.nodeId, parentInstanceId: parent.instanceId };
    await deps.client.enqueue({ workflow: BACKUP_WORKFLOWS.reset, queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId: fork.instanceId, kind: 'reset' }, transaction: tx }, input);
    await record?.(tx);
    return updated;
  });
}

/** The reset operation: the agent's copy, then the fork's old history retired and a new full backup. */
export async function resetOperation(ctx: WorkflowContext, deps: BackupDeps, input: ResetOperationInput): Promise<string> {
  const operation = { db: deps.db, client: deps.client };
  const reset = await callAgent<ResetInput, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.reset, input: { instanceId: input.instanceId, sourceInstanceId: input.parentInstanceId } });
  if (!reset.ok) {
    const reason = `reset failed: ${describe(reset)}; reset it again`;
    return finish(ctx, operation, input.instanceId, { status: 'ERROR', error: reason }, 'reset_failed', reason);
  }
  // Its stanza was deleted with the reset: its old backups and restore points lead nowhere.
  await ctx.step('retire history', () => deps.db.transaction((tx) => retireHistory(tx, input.instanceId)));
  const status = await finish(ctx, operation, input.instanceId, { status: 'ACTIVE', error: null }, 'reset', `reset to the present of ${input.parentInstanceId}; its backup history starts anew`);
  await ctx.step('backup after reset', () =>
    requestBackup(deps, { instanceId: input.instanceId, trigger: 'restore', type: 'full', backupId: `bak_${input.instanceId}_${ctx.workflowId.split('.').at(-1)}` }).catch(() => undefined),
  );
  return status;
}
