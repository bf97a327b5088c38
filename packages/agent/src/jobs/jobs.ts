// The agent's jobs (provision, start, stop, restart, reconfigure, destroy) as Strata workflows whose steps act on ManagedClusters.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedCluster, MIN_INSTANCE_PORT, freePort, type BackupRepository, type WarmPool } from '@strata/postgres';
import type { Database } from '@strata/store';
import type { Strata, WorkflowContext } from '@strata/transact';
import {
  AGENT_JOBS,
  type DestroyOutput,
  type InstanceLimits,
  type InstanceRef,
  type ProvisionInput,
  type ProvisionOutput,
  type ReconfigureInput,
  type ReconfigureOutput,
  type RunningOutput,
} from '../contract.js';
import { AgentError } from '../errors.js';
import { REPLENISH_DELAY_MS, linkTarget, type SparePool } from '../warm/spare-pool.js';
import { deletePowerRecord } from '../sql/instance-power.js';
import { deleteNodeInstance, getNodeInstance, insertNodeInstance, setDesired, setSpec, usedPorts, type NodeInstance } from '../sql/node-instances.js';
import type { PowerControl } from '../power/power-control.js';
import type { NodeFiles } from './instance-files.js';
import { createTenantObjects } from './tenant-roles.js';

/** What the jobs act on: the system database, this node, its files, and its warm pools. */
export interface JobHost {
  readonly db: Database;
  readonly nodeId: string;
  readonly files: NodeFiles;
  /** Started spare instances a provision claims before anything else (src/warm/). */
  readonly spares?: SparePool;
  /** Ready template copies a provision takes when no spare is ready (else it copies the template). */
  readonly copies?: WarmPool;
  /** Where instances archive their WAL and keep their backups (src/backups/); none: the node takes no backups. */
  readonly backups?: BackupRepository;
  /** Suspends and wakes the node's instances (src/power/); jobs wake and hold what they work on ({@link withAwake}). None: nothing is ever suspended. */
  readonly power?: PowerControl;
}

/**
 * Tries of a job step that touches a cluster. A start can fail once on a port another process
 * just took, or on a server still shutting down; three tries ride that out, more would hide a real fault.
 */
export const CLUSTER_STEP_RETRY = { maxAttempts: 3, intervalMs: 200, backoffFactor: 2 } as const;

/** Ports probed for one new instance before giving up (each probe is the OS's choice of a free port). */
const MAX_PORT_PROBES = 20;

/**
 * Registers every agent job on `strata` (before `launch()`). Each job is idempotent, since a job
 * interrupted by a crash runs again from its last checkpoint: provision adopts what an earlier
 * attempt made, destroy of a missing instance succeeds.
 *
 * @example
 * const strata = new Strata({ database: db, executorId: agentVersion(nodeId), appVersion: agentVersion(nodeId) });
 * registerJobs(strata, { db, nodeId, files: new NodeFiles(rootDir) });
 * await strata.launch();
 */
export function registerJobs(strata: Strata, host: JobHost): void {
  strata.workflow(AGENT_JOBS.provision, (ctx, input: ProvisionInput) => provision(ctx, host, input));
  strata.workflow(AGENT_JOBS.start, (ctx, input: InstanceRef) => setRunning(ctx, host, input.instanceId, true));
  strata.workflow(AGENT_JOBS.stop, (ctx, input: InstanceRef) => setRunning(ctx, host, input.instanceId, false));
  strata.workflow(AGENT_JOBS.restart, (ctx, input: InstanceRef) => restart(ctx, host, input.instanceId));
  strata.workflow(AGENT_JOBS.reconfigure, (ctx, input: ReconfigureInput) => reconfigure(ctx, host, input));
  strata.workflow(AGENT_JOBS.destroy, (ctx, input: InstanceRef) => destroy(ctx, host, input.instanceId));
}

async function provision(ctx: WorkflowContext, host: JobHost, input: ProvisionInput): Promise<ProvisionOutput> {
  // The row comes first: a directory without a row is an orphan that reconcile removes. A spare
  // claimed just before it is found again by a re-run (claims are per instance ID), never lost.
  const placed = await ctx.step('allocate', () => allocate(host, input));
  await ctx.step(
    'copy',
    async () => {
      if (await host.spares?.place(input.instanceId)) return;
      const spec = host.files.spec(input.instanceId, placed.port, placed.spec.settings);
      const cluster = host.copies ? await host.copies.take(spec) : await host.files.create(input.instanceId, placed.port, placed.spec.settings);
      await cluster.setLimits(placed.spec.limits);
    },
    { retry: CLUSTER_STEP_RETRY },
  );
  const awake = <T>(use: () => Promise<T>) => withAwake(host, [input.instanceId], AGENT_JOBS.provision, use);
  await ctx.step('start', () => awake(() => startProvisioned(host, placed)), { retry: CLUSTER_STEP_RETRY });
  await ctx.step('tenant objects', () => awake(() => finishTenantSetup(host, placed, input)), { retry: CLUSTER_STEP_RETRY });
  // The next spares start like this instance, so a create like it needs no restart.
  host.spares?.learn(input.settings, input.limits);
  host.spares?.replenish(REPLENISH_DELAY_MS);
  return { host: '127.0.0.1', port: placed.port };
}

/**
 * Starts a new instance. A spare already runs, with the settings it was started with (those of
 * an earlier create, usually the same): when they differ it gets the instance's settings by a
 * reload, and a restart when one that needs it changed. A restart still pending after a crash
 * between the reload and the restart is caught by {@link finishTenantSetup}, which asks the server.
 */
async function startProvisioned(host: JobHost, placed: NodeInstance): Promise<void> {
  if (linkTarget(host.files.instanceDir(placed.instanceId)) === undefined) {
    await (await openCluster(host, placed)).start();
    return;
  }
  const recorded = await recordedSettings(host.files.dataDir(placed.instanceId));
  const cluster = await host.files.open(placed.instanceId, placed.port, recorded);
  await cluster.start();
  if (sameSettings(recorded, placed.spec.settings)) return;
  const { restartRequired } = await cluster.configure(placed.spec.settings);
  if (restartRequired.length > 0) await cluster.restart();
}

/**
 * The tenant's databases, users and grants; on a placed spare also its cgroup limits (at the
 * same time: they touch different things) and a restart that a crash left pending, over the
 * spare's warm session when it has one.
 */
async function finishTenantSetup(host: JobHost, placed: NodeInstance, input: ProvisionInput): Promise<void> {
  const cluster = await openCluster(host, placed);
  if (linkTarget(host.files.instanceDir(placed.instanceId)) === undefined) {
    await createTenantObjects(cluster, input.databases, input.users);
    return;
  }
  // The spare's warm session, when this process made it (after a crash: none, a new one is opened).
  const session = await host.spares?.takeSession(placed.instanceId);
  await Promise.all([
    cluster.setLimits(placed.spec.limits),
    createTenantObjects(cluster, input.databases, input.users, {
      ...(session ? { session } : {}),
      // Its socket directory's new path is pending too, harmlessly: the link resolves to the same directory.
      onPendingRestart: async (names) => {
        if (names.some((name) => name !== 'unix_socket_directories')) await cluster.restart();
      },
    }),
  ]);
}

function sameSettings(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

/** The settings an instance's files hold now (strata-instance.json, written by @strata/postgres). */
async function recordedSettings(dataDir: string): Promise<Record<string, string>> {
  const record = JSON.parse(await readFile(join(dataDir, 'strata-instance.json'), 'utf8')) as { settings?: Record<string, string> };
  return record.settings ?? {};
}

async function allocate(host: JobHost, input: ProvisionInput): Promise<NodeInstance> {
  return allocateInstance(host, { instanceId: input.instanceId, settings: input.settings, limits: input.limits }, true);
}

/**
 * The node's row of a new instance (the one an earlier attempt made, after a crash): a claimed
 * spare's port when `useSpare` and one is ready, else a free port no other instance here holds.
 */
export async function allocateInstance(host: JobHost, input: { readonly instanceId: string; readonly settings: Readonly<Record<string, string>>; readonly limits: InstanceLimits }, useSpare: boolean): Promise<NodeInstance> {
  const existing = await getNodeInstance(host.db, host.nodeId, input.instanceId);
  if (existing) return existing;
  const record = (port: number) => insertNodeInstance(host.db, host.nodeId, { instanceId: input.instanceId, port, desired: 'running', spec: { settings: input.settings, limits: input.limits } });
  const spare = useSpare ? await host.spares?.claim(input.instanceId, input.settings) : undefined;
  if (spare !== undefined) return record(spare.port);
  const taken = await usedPorts(host.db);
  for (let probe = 0; probe < MAX_PORT_PROBES; probe++) {
    const port = await freePort();
    if (taken.has(port)) continue;
    return record(port);
  }
  throw new AgentError('STRATA_AGENT_NO_FREE_PORT', `no free port for instance ${input.instanceId} after ${MAX_PORT_PROBES} probes; free some ports on node ${host.nodeId}`);
}

async function setRunning(ctx: WorkflowContext, host: JobHost, instanceId: string, running: boolean): Promise<RunningOutput> {
  const instance = await ctx.step('record desired', async () => {
    const row = await requireInstance(host, instanceId);
    await setDesired(host.db, host.nodeId, instanceId, running ? 'running' : 'stopped');
    return row;
  });
  // A suspended instance is woken first: the owner's start or stop ends its suspension.
  return ctx.step(
    running ? 'start' : 'stop',
    () => withAwake(host, [instanceId], running ? AGENT_JOBS.start : AGENT_JOBS.stop, async () => {
      const cluster = await openCluster(host, instance);
      if (running) await cluster.start();
      else {
        await sealIfArchiving(host, cluster, instanceId);
        await cluster.stop('fast');
      }
      return { running: await cluster.isRunning() };
    }),
    { retry: CLUSTER_STEP_RETRY },
  );
}

async function restart(ctx: WorkflowContext, host: JobHost, instanceId: string): Promise<RunningOutput> {
  const instance = await ctx.step('record desired', async () => {
    const row = await requireInstance(host, instanceId);
    await setDesired(host.db, host.nodeId, instanceId, 'running');
    return row;
  });
  return ctx.step(
    'restart',
    () => withAwake(host, [instanceId], AGENT_JOBS.restart, async () => {
      const cluster = await openCluster(host, instance);
      // restart() of a stopped server starts it.
      if (await cluster.isRunning()) await cluster.restart();
      else await cluster.start();
      return { running: await cluster.isRunning() };
    }),
    { retry: CLUSTER_STEP_RETRY },
  );
}

async function reconfigure(ctx: WorkflowContext, host: JobHost, input: ReconfigureInput): Promise<ReconfigureOutput> {
  const { before, settings } = await ctx.step('record spec', async () => {
    const row = await requireInstance(host, input.instanceId);
    const merged = { ...row.spec.settings, ...input.settings };
    await setSpec(host.db, host.nodeId, input.instanceId, { settings: merged, limits: input.limits ?? row.spec.limits });
    return { before: row, settings: merged };
  });
  return ctx.step(
    'configure',
    () => withAwake(host, [input.instanceId], AGENT_JOBS.reconfigure, async () => {
      // Opened with the settings it had, so configure sees what changes (and which need a restart).
      const cluster = await openCluster(host, before);
      const { restartRequired } = await cluster.configure(settings);
      if (input.limits) await cluster.setLimits(input.limits);
      return { restartRequired };
    }),
    { retry: CLUSTER_STEP_RETRY },
  );
}

async function destroy(ctx: WorkflowContext, host: JobHost, instanceId: string): Promise<DestroyOutput> {
  // Its backups outlive it: what it committed last goes into them before its files go.
  // A suspended instance is woken for it (one stopped by a suspension was sealed then already).
  await ctx.step('seal', async () => {
    const row = await getNodeInstance(host.db, host.nodeId, instanceId);
    if (row === undefined || host.power?.state(instanceId) === 'stopped') return;
    await withAwake(host, [instanceId], AGENT_JOBS.destroy, async () => {
      const cluster = await openCluster(host, row).catch(() => undefined);
      if (cluster !== undefined) await sealIfArchiving(host, cluster, instanceId);
    });
  });
  // Files first, row last: a row without files is finished by this job (or its recovery), never an orphan.
  const destroyed = await ctx.step('remove files', async () => {
    // Held so it is not suspended meanwhile (the removal thaws or stops whatever runs).
    const release = host.power?.hold(instanceId, AGENT_JOBS.destroy);
    try {
      return await removeInstanceFiles(host, instanceId);
    } finally {
      release?.();
    }
  }, { retry: CLUSTER_STEP_RETRY });
  await ctx.step('forget', async () => {
    await host.power?.forget(instanceId);
    await deletePowerRecord(host.db, host.nodeId, instanceId);
    await deleteNodeInstance(host.db, host.nodeId, instanceId);
  });
  return { destroyed };
}

/**
 * Stops an instance's server and removes its directory; false when there was nothing to remove.
 * A directory that no longer opens as a cluster (a copy cut short by a crash) is removed as is.
 */
export async function removeInstanceFiles(host: JobHost, instanceId: string): Promise<boolean> {
  // A spare claimed by a create that is being undone, before it was placed.
  const released = (await host.spares?.release(instanceId)) ?? false;
  const onDisk = (await host.files.instanceIdsOnDisk()).includes(instanceId);
  if (!onDisk) return released;
  // A placed spare: the instance's directory is a link to the spare's files, removed with it.
  const spareDir = linkTarget(host.files.instanceDir(instanceId));
  const row = await getNodeInstance(host.db, host.nodeId, instanceId);
  try {
    // Stops whatever server runs there (its own postmaster.pid says which), complete copy or not.
    await ManagedCluster.destroyAt(host.files.spec(instanceId, row?.port ?? MIN_INSTANCE_PORT, {}));
  } catch (error) {
    // A directory that never became an instance (a copy cut short) runs no server: removed below.
    if ((error as { code?: unknown }).code !== 'PG_INSTANCE_NOT_AN_INSTANCE') throw error;
  }
  await rm(host.files.instanceDir(instanceId), { recursive: true, force: true });
  if (spareDir !== undefined) await rm(spareDir, { recursive: true, force: true });
  return true;
}

/**
 * Archives everything a running instance committed so far (a WAL switch, then the archiver's word)
 * when it archives into the node's backup repository, so its backups reach its last commit before it
 * stops or goes; nothing to do otherwise (stopped, no repository, never backed up). Best effort: an
 * archiver that fails does not hold the stop or delete up.
 */
export async function sealIfArchiving(host: Pick<JobHost, 'backups'>, cluster: ManagedCluster, instanceId: string): Promise<void> {
  if (host.backups === undefined || !(await cluster.isRunning())) return;
  await host.backups.seal(cluster, instanceId).catch(() => {});
}

export async function requireInstance(host: JobHost, instanceId: string): Promise<NodeInstance> {
  const row = await getNodeInstance(host.db, host.nodeId, instanceId);
  if (!row) throw new AgentError('STRATA_AGENT_UNKNOWN_INSTANCE', `instance ${instanceId} is not on node ${host.nodeId}; provision it first`);
  return row;
}

/**
 * Opens an instance's cluster that must be running for `purpose`.
 *
 * @throws {AgentError} `STRATA_AGENT_INSTANCE_STOPPED` saying to start it.
 */
export async function openRunning(host: JobHost, instance: NodeInstance, purpose: string): Promise<ManagedCluster> {
  const cluster = await openCluster(host, instance);
  if (!(await cluster.isRunning())) throw new AgentError('STRATA_AGENT_INSTANCE_STOPPED', `instance ${instance.instanceId} is stopped; start it to ${purpose}`);
  return cluster;
}

export function openCluster(host: JobHost, instance: NodeInstance): Promise<ManagedCluster> {
  return host.files.open(instance.instanceId, instance.port, instance.spec.settings);
}

/**
 * Runs `use` (a job step's body) with the instances awake: each suspended one is woken (thawed,
 * or started) first, and all are held until `use` ends, so power control does not suspend them
 * mid-step — a job on a suspended instance neither fails nor hangs on a frozen server. Instances
 * that are not suspended are left as they are (one its owner stopped stays stopped).
 *
 * @example
 * await ctx.step('back up', () => withAwake(host, [instanceId], 'agent.backup', async () => {
 *   const cluster = await openRunning(host, row, 'back it up');
 *   await repository.backup(cluster, instanceId, { type: 'full', backupId });
 * }));
 */
export async function withAwake<T>(host: JobHost, instanceIds: readonly string[], purpose: string, use: () => Promise<T>): Promise<T> {
  const power = host.power;
  if (power === undefined) return use();
  const releases = instanceIds.map((instanceId) => power.hold(instanceId, purpose));
  try {
    await Promise.all(instanceIds.map((instanceId) => power.wake(instanceId)));
    return await use();
  } finally {
    for (const release of releases) release();
  }
}
