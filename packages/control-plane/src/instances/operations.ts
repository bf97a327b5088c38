// The instance operations (create, delete, stop, start, restart, resize) as durable Strata workflows whose steps are agent jobs.
import { AGENT_JOBS, type ProvisionInput, type ProvisionOutput, type ReconfigureOutput, type RunningOutput, type DestroyOutput } from '@strata/agent';
import type { Database } from '@strata/store';
import type { Strata, StrataClient, WorkflowContext } from '@strata/transact';
import { callAgent, type AgentOutcome } from './agent-call.js';
import { findFlavor, flavorLimits, flavorSettings, type Flavor } from './flavors.js';
import { addEvent, finishOperation, type InstanceStatus, type OperationEnd, type OperationKind } from './sql.js';

/** The control plane's queue of instance operations. */
export const OPERATIONS_QUEUE = 'cloud.instance-operations';

/**
 * Operations one control-plane process runs at once. Each mostly waits on an agent; 32 lets a
 * burst of creates reach the agents together without one process holding hundreds of waits.
 */
export const OPERATIONS_WORKER_CONCURRENCY = 32;

/** The operations of this module (configure belongs to src/instance-admin/, restore, fork and reset to src/backups/, replicate, promote and detach to src/replicas/). */
export type LifecycleKind = Exclude<OperationKind, 'configure' | 'restore' | 'fork' | 'replicate' | 'promote' | 'detach' | 'reset'>;

/** Called (inside a step of the operation) when an operation made an instance ACTIVE for the first time: a create, a restore, a fork. */
export type InstanceBornHook = (instance: { readonly instanceId: string; readonly nodeId: string; readonly operationId: string }) => Promise<void>;

const bornHooks = new WeakMap<Strata, InstanceBornHook[]>();

/**
 * Runs `hook` after every operation on this engine that makes a new instance ACTIVE (the backups
 * module takes the first backup there). Register before the engine launches; hooks must be idempotent
 * (a crash repeats the step).
 *
 * @example
 * onInstanceBorn(strata, async ({ instanceId }) => { await requestInitialBackup(deps, instanceId); });
 */
export function onInstanceBorn(strata: Strata, hook: InstanceBornHook): void {
  bornHooks.set(strata, [...(bornHooks.get(strata) ?? []), hook]);
}

/** Runs the hooks of {@link onInstanceBorn} in one step of the calling workflow. */
export async function instanceBorn(ctx: WorkflowContext, strata: Strata, instance: { readonly instanceId: string; readonly nodeId: string }): Promise<void> {
  const hooks = bornHooks.get(strata) ?? [];
  if (hooks.length === 0) return;
  await ctx.step('instance born', async () => {
    for (const hook of hooks) await hook({ ...instance, operationId: ctx.workflowId });
  });
}

/** Called (inside a step of the delete) when an instance was deleted: its row is still there, status DELETED. */
export type InstanceDeletedHook = (instance: { readonly instanceId: string; readonly nodeId: string; readonly operationId: string }) => Promise<void>;

const deletedHooks = new WeakMap<Strata, InstanceDeletedHook[]>();

/**
 * Runs `hook` after every delete on this engine that removed an instance (the replicas module
 * re-applies the primary's replication there). Register before the engine launches; hooks must be
 * idempotent (a crash repeats the step).
 *
 * @example
 * onInstanceDeleted(strata, async ({ instanceId }) => { await forget(instanceId); });
 */
export function onInstanceDeleted(strata: Strata, hook: InstanceDeletedHook): void {
  deletedHooks.set(strata, [...(deletedHooks.get(strata) ?? []), hook]);
}

/** The workflow name of each operation kind. */
export const OPERATION_WORKFLOWS: Readonly<Record<LifecycleKind, string>> = {
  create: 'cloud.instance.create',
  delete: 'cloud.instance.delete',
  stop: 'cloud.instance.stop',
  start: 'cloud.instance.start',
  restart: 'cloud.instance.restart',
  resize: 'cloud.instance.resize',
};

/** Input of every operation: the instance and its node. */
export interface OperationTarget {
  readonly instanceId: string;
  readonly nodeId: string;
}

/** Input of a create: what the agent provisions (verifiers only, never passwords). */
export interface CreateOperationInput extends OperationTarget {
  readonly provision: ProvisionInput;
}

/** Input of a resize: the flavors, the tenant's parameters, and the status to return to. */
export interface ResizeOperationInput extends OperationTarget {
  readonly fromFlavor: string;
  readonly toFlavor: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly priorStatus: InstanceStatus;
}

/** Input of stop, start, restart and delete: the target and the status to return to if it fails. */
export interface SimpleOperationInput extends OperationTarget {
  readonly priorStatus: InstanceStatus;
}

/** What the operations need. */
export interface OperationDeps {
  readonly db: Database;
  readonly client: StrataClient;
}

/** Engines that already have the operations (registering twice would throw). */
const registered = new WeakSet<Strata>();

/**
 * Registers the instance operations and their queue on the control plane's engine (before its
 * `launch()`); a second call for the same engine does nothing. The API enqueues operations by
 * name on {@link OPERATIONS_QUEUE}, inside the transaction that marks the instance busy.
 *
 * @example
 * const strata = new Strata({ database: db });
 * registerInstanceOperations(strata, { db, client });
 * await strata.launch();
 */
export function registerInstanceOperations(strata: Strata, deps: OperationDeps): void {
  if (registered.has(strata)) return;
  registered.add(strata);
  strata.queue(OPERATIONS_QUEUE, { workerConcurrency: OPERATIONS_WORKER_CONCURRENCY });
  strata.workflow(OPERATION_WORKFLOWS.create, async (ctx, input: CreateOperationInput) => {
    const status = await create(ctx, deps, input);
    if (status === 'ACTIVE') await instanceBorn(ctx, strata, input);
    return status;
  });
  strata.workflow(OPERATION_WORKFLOWS.delete, async (ctx, input: SimpleOperationInput) => {
    const status = await remove(ctx, deps, input);
    const hooks = deletedHooks.get(strata) ?? [];
    if (status === 'DELETED' && hooks.length > 0) {
      await ctx.step('instance deleted', async () => {
        for (const hook of hooks) await hook({ ...input, operationId: ctx.workflowId });
      });
    }
    return status;
  });
  strata.workflow(OPERATION_WORKFLOWS.stop, (ctx, input: SimpleOperationInput) => power(ctx, deps, input, 'stop'));
  strata.workflow(OPERATION_WORKFLOWS.start, (ctx, input: SimpleOperationInput) => power(ctx, deps, input, 'start'));
  strata.workflow(OPERATION_WORKFLOWS.restart, (ctx, input: SimpleOperationInput) => power(ctx, deps, input, 'restart'));
  strata.workflow(OPERATION_WORKFLOWS.resize, (ctx, input: ResizeOperationInput) => resize(ctx, deps, input));
}

async function create(ctx: WorkflowContext, deps: OperationDeps, input: CreateOperationInput): Promise<InstanceStatus> {
  // The API enqueued the provision with this workflow (createInstance): the node started on it at that commit.
  const provisioned = await callAgent<ProvisionInput, ProvisionOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.provision, input: input.provision, enqueuedWithWorkflow: true });
  if (provisioned.ok) {
    return finish(ctx, deps, input.instanceId, { status: 'ACTIVE', host: provisioned.output.host, port: provisioned.output.port, error: null }, 'created', 'instance is ACTIVE');
  }
  // Undo: nothing of a failed create may stay on the node.
  const undone = await callAgent<unknown, DestroyOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.destroy, input: { instanceId: input.instanceId }, label: 'undo provision' });
  const reason = `create failed: ${describe(provisioned)}${undone.ok ? '' : `; removing its files also failed: ${describe(undone)}`}`;
  return finish(ctx, deps, input.instanceId, { status: 'ERROR', error: reason }, 'create_failed', reason);
}

async function remove(ctx: WorkflowContext, deps: OperationDeps, input: SimpleOperationInput): Promise<InstanceStatus> {
  const destroyed = await callAgent<unknown, DestroyOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.destroy, input: { instanceId: input.instanceId } });
  if (destroyed.ok) return finish(ctx, deps, input.instanceId, { status: 'DELETED', error: null }, 'deleted', 'instance deleted; its data directory is removed');
  const reason = `delete failed: ${describe(destroyed)}; delete it again to retry`;
  return finish(ctx, deps, input.instanceId, { status: 'ERROR', error: reason }, 'delete_failed', reason);
}

const POWER = {
  stop: { job: AGENT_JOBS.stop, status: 'STOPPED', done: 'stopped' },
  start: { job: AGENT_JOBS.start, status: 'ACTIVE', done: 'started' },
  restart: { job: AGENT_JOBS.restart, status: 'ACTIVE', done: 'restarted' },
} as const;

async function power(ctx: WorkflowContext, deps: OperationDeps, input: SimpleOperationInput, kind: keyof typeof POWER): Promise<InstanceStatus> {
  const { job, status, done } = POWER[kind];
  const outcome = await callAgent<unknown, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job, input: { instanceId: input.instanceId } });
  if (outcome.ok) return finish(ctx, deps, input.instanceId, { status, error: null }, done, `instance ${done}`);
  const reason = `${kind} failed: ${describe(outcome)}`;
  return finish(ctx, deps, input.instanceId, { status: input.priorStatus, error: reason }, `${kind}_failed`, reason);
}

async function resize(ctx: WorkflowContext, deps: OperationDeps, input: ResizeOperationInput): Promise<InstanceStatus> {
  const from = requireFlavor(input.fromFlavor);
  const to = requireFlavor(input.toFlavor);
  const running = input.priorStatus !== 'STOPPED';
  const configure = (flavor: Flavor, label: string) =>
    callAgent<unknown, ReconfigureOutput>(ctx, deps.client, {
      nodeId: input.nodeId,
      job: AGENT_JOBS.reconfigure,
      input: { instanceId: input.instanceId, settings: { ...flavorSettings(flavor), ...input.parameters }, limits: flavorLimits(flavor) },
      label,
    });
  // shared_buffers and max_connections take effect at a restart, so a running instance restarts.
  const restart = (label: string) => callAgent<unknown, RunningOutput>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.restart, input: { instanceId: input.instanceId }, label });
  const configured = await configure(to, 'reconfigure');
  const restarted = configured.ok && running ? await restart('restart') : undefined;
  if (configured.ok && (restarted === undefined || restarted.ok)) {
    return finish(ctx, deps, input.instanceId, { status: running ? 'ACTIVE' : 'STOPPED', flavor: flavorColumns(to), error: null }, 'resized', `resized from ${from.name} to ${to.name}`);
  }
  // Undo: back to the old flavor's settings, running as before.
  const failure = configured.ok ? (restarted as AgentOutcome<RunningOutput>) : configured;
  await configure(from, 'undo reconfigure');
  if (running) await restart('undo restart');
  const reason = `resize to ${to.name} failed and was undone: ${describe(failure)}`;
  return finish(ctx, deps, input.instanceId, { status: input.priorStatus, error: reason }, 'resize_failed', reason);
}

/** Ends the operation with its outcome and an event, in one transaction (a repeat after a crash changes nothing). */
export async function finish(ctx: WorkflowContext, deps: OperationDeps, instanceId: string, end: OperationEnd, kind: string, message: string): Promise<InstanceStatus> {
  await ctx.step('finish', () =>
    deps.db.transaction(async (tx) => {
      if (await finishOperation(tx, instanceId, ctx.workflowId, end)) await addEvent(tx, instanceId, kind, message, ctx.workflowId);
    }),
  );
  return end.status;
}

export function describe(outcome: AgentOutcome<unknown>): string {
  return outcome.ok ? 'ok' : `${outcome.error.message}${outcome.error.code ? ` (${outcome.error.code})` : ''}`;
}

function requireFlavor(name: string): Flavor {
  const flavor = findFlavor(name);
  if (!flavor) throw new Error(`flavor "${name}" of a resize is unknown; flavors are fixed in flavors.ts`);
  return flavor;
}

function flavorColumns(flavor: Flavor): OperationEnd['flavor'] {
  return { name: flavor.name, memoryMb: flavor.memoryMb, maxConnections: flavor.maxConnections, storageMb: flavor.storageMb };
}
