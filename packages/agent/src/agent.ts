// startAgent: the node agent composed — migrations, registration and heartbeat, reconcile, and a Strata engine that takes the node's jobs off its queue.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadMigrations, migrate, openDatabase, type Database } from '@strata/store';
import { Strata, type Logger } from '@strata/transact';
import { agentQueue, agentVersion } from './contract.js';
import { registerAdminJob } from './admin/index.js';
import { AgentError } from './errors.js';
import { NodeFiles } from './jobs/instance-files.js';
import { registerJobs, type JobHost } from './jobs/jobs.js';
import { DEFAULT_NODE_HEARTBEAT_INTERVAL_MS, defaultCapacity, registerNode, validateCapacity, type NodeCapacity } from './node/registration.js';
import { reconcile, type ReconcileReport } from './reconcile/reconcile.js';

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
}

/** A running agent. */
export interface RunningAgent {
  readonly nodeId: string;
  /** What the start-up reconcile did. */
  readonly reconciled: ReconcileReport;
  /** The agent's engine (its jobs are workflows on it). */
  readonly strata: Strata;
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
    const host: JobHost = { db, nodeId: options.nodeId, files: new NodeFiles(rootDir, options.templateDir === undefined ? undefined : resolve(options.templateDir)) };
    const heartbeat = await registerNode(db, { nodeId: options.nodeId, rootDir, capacity }, options.heartbeatIntervalMs ?? DEFAULT_NODE_HEARTBEAT_INTERVAL_MS, logger);
    try {
      // Before the engine launches, so no recovered job races the reconcile.
      const reconciled = await reconcile(host);
      logReconcile(logger, options.nodeId, reconciled);
      const version = agentVersion(options.nodeId);
      const strata = new Strata({ database: db, executorId: version, appVersion: version, logger });
      registerJobs(strata, host);
      registerAdminJob(strata, host);
      strata.queue(agentQueue(options.nodeId), { workerConcurrency: AGENT_JOB_CONCURRENCY });
      await strata.launch();
      let closed: Promise<void> | undefined;
      return {
        nodeId: options.nodeId,
        reconciled,
        strata,
        close: () => {
          closed ??= (async () => {
            await heartbeat.stop();
            await strata.shutdown();
            if (ownsDatabase) await db.close();
          })();
          return closed;
        },
      };
    } catch (error) {
      await heartbeat.stop();
      throw error;
    }
  } catch (error) {
    if (ownsDatabase) await db.close().catch(() => {});
    throw error;
  }
}

function logReconcile(logger: Logger, nodeId: string, report: ReconcileReport): void {
  const parts = (['started', 'stopped', 'removed', 'incomplete'] as const).filter((key) => report[key].length > 0).map((key) => `${key} ${report[key].join(', ')}`);
  if (parts.length > 0) logger.info(`strata agent ${nodeId}: reconciled: ${parts.join('; ')}`);
  for (const failure of report.failed) logger.warn(`strata agent ${nodeId}: reconcile of ${failure.instanceId} failed: ${failure.reason}`);
}
