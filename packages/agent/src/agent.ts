// startAgent: the node agent composed — migrations, registration and heartbeat, reconcile, and a Strata engine that takes the node's jobs off its queue.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BackupRepository, IDLE_GROUP_AGE_MS, WarmPool, removeIdleGroups, type InstanceLimits } from '@strata/postgres';
import { loadMigrations, migrate, openDatabase, type Database } from '@strata/store';
import { Strata, type Logger } from '@strata/transact';
import { agentQueue, agentVersion } from './contract.js';
import { registerAdminJob } from './admin/index.js';
import { registerBackupJobs } from './backups/index.js';
import { registerReplicaJobs } from './replicas/index.js';
import { registerForkJobs } from './forks/index.js';
import { DEFAULT_METRICS_INTERVAL_MS, DEFAULT_METRICS_RETENTION_MS, MetricsSampler } from './metrics/index.js';
import { AgentError } from './errors.js';
import { NodeFiles } from './jobs/instance-files.js';
import { registerJobs, type JobHost } from './jobs/jobs.js';
import { openWarmSession } from './jobs/tenant-roles.js';
import { DEFAULT_NODE_HEARTBEAT_INTERVAL_MS, defaultCapacity, registerNode, validateCapacity, type NodeCapacity } from './node/registration.js';
import { PowerControl, type PowerControlOptions } from './power/index.js';
import { reconcile, type ReconcileReport } from './reconcile/reconcile.js';
import { usedPorts } from './sql/node-instances.js';
import { SPARE_RESERVED_MEMORY_MB, SparePool, type SpareReconcileReport } from './warm/spare-pool.js';

/** Node IDs: lower-case letters, digits and dashes (they name a queue, an executor and a directory). */
const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Jobs one agent runs at once. Each job mostly waits on a server (copy, start, stop); four keep
 * a burst of creates moving without starting more servers at once than a small host handles.
 */
export const AGENT_JOB_CONCURRENCY = 4;

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** The system database shared with the control plane: a `Database`, or a URL/directory to open. */
  readonly database: Database | string;
  /** This node's ID: a queue `agent.<nodeId>`, an executor `agent:<nodeId>`. */
  readonly nodeId: string;
  /** Directory of this node's template and instances (created if missing). */
  readonly rootDir: string;
  /**
   * The template cluster's directory (initdb'd once, copied into every new instance). Default
   * `<rootDir>/template`; agents of one machine may share one.
   */
  readonly templateDir?: string;
  /** What placement may put here. Default: 3/4 of the machine's memory, 100 instances. */
  readonly capacity?: NodeCapacity;
  /** Time between heartbeats. Default 1,000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Where the agent logs. Default `console`. */
  readonly logger?: Logger;
  /**
   * Started spare instances kept ready for creates (0 to MAX_SPARES; default 0). A create that
   * claims one answers its first query in a fraction of a copy-and-start; each spare holds back
   * one instance slot and SPARE_RESERVED_MEMORY_MB of the advertised capacity.
   */
  readonly spares?: number;
  /**
   * Settings the first spares start with (later ones take those of the latest create): the
   * settings of the flavor most creates use, so a create needs no restart. Default none.
   */
  readonly spareSettings?: Readonly<Record<string, string>>;
  /** cgroup limits the first spares run under (later ones take those of the latest create), so a create with the same ones moves no process. Default none. */
  readonly spareLimits?: InstanceLimits;
  /** Ready template copies kept under `<rootDir>/pool` for spares and creates (0 to MAX_WARM_POOL_SIZE; default 0: copy the template each time). */
  readonly warmCopies?: number;
  /**
   * The backup repository's directory (a local directory standing in for object storage; agents
   * of one machine share one so restores can land on any node). Instances archive their WAL and
   * keep their backups there. Default none: the node takes no backups.
   */
  readonly backupRepository?: string;
  /** Between two samples of the node's running instances into strata_cloud.instance_metrics. Default {@link DEFAULT_METRICS_INTERVAL_MS}; 0: no sampling. */
  readonly metricsIntervalMs?: number;
  /** How long samples are kept. Default {@link DEFAULT_METRICS_RETENTION_MS}. */
  readonly metricsRetentionMs?: number;
  /** Power control's bounds: starts at once in a wake storm (default MAX_CONCURRENT_STARTS), the compute-time flush interval. */
  readonly power?: Omit<PowerControlOptions, 'logger'>;
}

/** A running agent. */
export interface RunningAgent {
  readonly nodeId: string;
  /** What the start-up reconcile did. */
  readonly reconciled: ReconcileReport;
  /** What the start-up reconcile did to the spares. */
  readonly sparesReconciled: SpareReconcileReport;
  /** The node's spares (claimed by creates, refilled in the background). */
  readonly spares: SparePool;
  /** The agent's engine (its jobs are workflows on it). */
  readonly strata: Strata;
  /** Suspends and wakes the node's instances (src/power/); closed with the agent (suspended instances stay so). */
  readonly power: PowerControl;
  /**
   * Stops taking jobs and heartbeating; the instances keep running (the next start reconciles).
   * Closes the database only if the agent opened it.
   */
  close(): Promise<void>;
}

/**
 * Starts a node agent: registers the node with its capacity, reconciles what runs with what
 * should, then takes the node's jobs off `agent.<nodeId>` and heartbeats until closed.
 *
 * @example
 * import { startAgent } from '@strata/agent';
 * const agent = await startAgent({ database: 'postgres://localhost/strata', nodeId: 'node-1', rootDir: '/var/lib/strata/node-1' });
 * console.log(agent.reconciled.started);   // instances started again after a reboot
 * await agent.close();                      // instances keep running
 */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  if (typeof options.nodeId !== 'string' || !NODE_ID_PATTERN.test(options.nodeId)) {
    throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `nodeId must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit; got ${JSON.stringify(options.nodeId)}`);
  }
  if (typeof options.rootDir !== 'string' || options.rootDir.trim() === '') {
    throw new AgentError('STRATA_AGENT_INVALID_CONFIG', 'rootDir must be the directory for this node\'s instances, e.g. /var/lib/strata/node-1');
  }
  const capacity = validateCapacity(options.capacity ?? defaultCapacity());
  const logger = options.logger ?? console;
  const rootDir = resolve(options.rootDir);
  await mkdir(rootDir, { recursive: true, mode: 0o711 });
  const ownsDatabase = typeof options.database === 'string';
  const db = typeof options.database === 'string' ? await openDatabase({ url: options.database }) : options.database;
  try {
    await migrate(db, 'agent', loadMigrations(new URL('../migrations/', import.meta.url)));
    const files = new NodeFiles(rootDir, options.templateDir === undefined ? undefined : resolve(options.templateDir));
    const spareCount = options.spares ?? 0;
    if (spareCount >= capacity.instances || spareCount * SPARE_RESERVED_MEMORY_MB >= capacity.memoryMb) {
      throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `${spareCount} spares leave no room for instances in a capacity of ${capacity.instances} instances and ${capacity.memoryMb} MB; use fewer spares or more capacity`);
    }
    const onPoolError = (error: unknown) => logger.warn(`strata agent ${options.nodeId}: could not make a spare instance or template copy (the next create tries again)`, error);
    const copies = (options.warmCopies ?? 0) > 0 ? await WarmPool.open({ template: await files.template(), dir: resolve(rootDir, 'pool'), size: options.warmCopies ?? 0, onError: onPoolError }) : undefined;
    const spares = await SparePool.open({ rootDir, size: spareCount, template: () => files.template(), ...(copies ? { copies } : {}), usedPorts: () => usedPorts(db), openSession: openWarmSession, onError: onPoolError, ...(options.spareSettings ? { settings: options.spareSettings } : {}), ...(options.spareLimits ? { limits: options.spareLimits } : {}) });
    const backups = options.backupRepository === undefined ? undefined : await BackupRepository.open(resolve(options.backupRepository));
    const base: JobHost = { db, nodeId: options.nodeId, files, spares, ...(copies ? { copies } : {}), ...(backups ? { backups } : {}) };
    // Spares count against the node: placement sees the capacity they leave.
    const advertised = { memoryMb: capacity.memoryMb - spareCount * SPARE_RESERVED_MEMORY_MB, instances: capacity.instances - spareCount };
    let power: PowerControl | undefined;
    const heartbeat = await registerNode(db, { nodeId: options.nodeId, rootDir, capacity: advertised, backupRepository: backups?.dir ?? null }, options.heartbeatIntervalMs ?? DEFAULT_NODE_HEARTBEAT_INTERVAL_MS, logger);
    try {
      // Before the engine launches, so no recovered job races the reconcile.
      const reconciled = await reconcile(base);
      // After the reconcile, which corrected the power records from what runs.
      const opened = await PowerControl.open(base, { ...options.power, logger });
      power = opened;
      const host: JobHost = { ...base, power: opened };
      logReconcile(logger, options.nodeId, reconciled);
      const sparesReconciled = await spares.reconcile();
      if (sparesReconciled.removed.length > 0) logger.info(`strata agent ${options.nodeId}: removed spares ${sparesReconciled.removed.join(', ')}`);
      // cgroups of instances gone without theirs (a crash between the two): kernel objects that would pile up.
      const idleGroups = await removeIdleGroups(IDLE_GROUP_AGE_MS);
      if (idleGroups > 0) logger.info(`strata agent ${options.nodeId}: removed ${idleGroups} idle cgroup(s) of instances no longer here`);
      const version = agentVersion(options.nodeId);
      const strata = new Strata({ database: db, executorId: version, appVersion: version, logger });
      registerJobs(strata, host);
      registerAdminJob(strata, host);
      registerBackupJobs(strata, host);
      registerReplicaJobs(strata, host);
      registerForkJobs(strata, host);
      strata.queue(agentQueue(options.nodeId), { workerConcurrency: AGENT_JOB_CONCURRENCY });
      await strata.launch();
      spares.replenish();
      const intervalMs = options.metricsIntervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
      if (!Number.isInteger(intervalMs) || intervalMs < 0) throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `metricsIntervalMs must be a whole number of ms ≥ 0 (0: no sampling), got ${String(intervalMs)}`);
      const sampler = intervalMs === 0 ? undefined : new MetricsSampler(host, { intervalMs, retentionMs: options.metricsRetentionMs ?? DEFAULT_METRICS_RETENTION_MS, logger });
      sampler?.start();
      let closed: Promise<void> | undefined;
      return {
        nodeId: options.nodeId,
        reconciled,
        sparesReconciled,
        spares,
        strata,
        power: opened,
        close: () => {
          closed ??= (async () => {
            await heartbeat.stop();
            await sampler?.stop();
            await spares.close();
            await copies?.close();
            await strata.shutdown();
            // After the jobs, which wake and hold instances through it.
            await opened.close();
            if (ownsDatabase) await db.close();
          })();
          return closed;
        },
      };
    } catch (error) {
      await heartbeat.stop();
      await power?.close();
      throw error;
    }
  } catch (error) {
    if (ownsDatabase) await db.close().catch(() => {});
    throw error;
  }
}

function logReconcile(logger: Logger, nodeId: string, report: ReconcileReport): void {
  const parts = (['started', 'stopped', 'removed', 'incomplete', 'suspended'] as const).filter((key) => report[key].length > 0).map((key) => `${key} ${report[key].join(', ')}`);
  for (const change of report.powerCorrected) parts.push(`${change.instanceId} recorded ${change.from}, found ${change.to}`);
  if (parts.length > 0) logger.info(`strata agent ${nodeId}: reconciled: ${parts.join('; ')}`);
  for (const failure of report.failed) logger.warn(`strata agent ${nodeId}: reconcile of ${failure.instanceId} failed: ${failure.reason}`);
}
