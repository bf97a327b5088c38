// A node's registration in strata_cloud.nodes (capacity, root) and the heartbeat that shows it is alive.
import { totalmem } from 'node:os';
import type { Database } from '@strata/store';
import { AgentError } from '../errors.js';
import { beat, upsertNode } from '../sql/nodes.js';

/** What a node offers to placement. */
export interface NodeCapacity {
  /** Memory the node's instances may use in total (the sum of their flavors' memory). */
  readonly memoryMb: number;
  /** Most instances on the node. */
  readonly instances: number;
}

/**
 * Instances per node when no capacity is given. Idle instances cost a few MB each; 100 keeps a
 * default node far from the machine's process and port limits.
 */
export const DEFAULT_CAPACITY_INSTANCES = 100;
/** Share of the machine's memory offered to instances by default; the rest is the OS's and the agent's. */
const DEFAULT_MEMORY_SHARE = 0.75;

/** The default capacity: three quarters of the machine's memory, {@link DEFAULT_CAPACITY_INSTANCES} instances. */
export function defaultCapacity(): NodeCapacity {
  return { memoryMb: Math.floor((totalmem() / 1024 / 1024) * DEFAULT_MEMORY_SHARE), instances: DEFAULT_CAPACITY_INSTANCES };
}

/** Default time between two heartbeats of a node. */
export const DEFAULT_NODE_HEARTBEAT_INTERVAL_MS = 1_000;

/** Checks a capacity: whole positive numbers. */
export function validateCapacity(capacity: NodeCapacity): NodeCapacity {
  for (const [key, value] of Object.entries(capacity)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `capacity.${key} must be a whole number above 0, got ${String(value)}`);
    }
  }
  return capacity;
}

/**
 * Registers a node and heartbeats it every `intervalMs` until stopped. A failed heartbeat (the
 * database briefly away) is logged and retried at the next tick: the node only looks dead to
 * the control plane if the beats stay away.
 *
 * @example
 * const heartbeat = await registerNode(db, { nodeId: 'node-1', rootDir, capacity: defaultCapacity() }, 1_000, console);
 * await heartbeat.stop();
 */
export async function registerNode(
  db: Database,
  node: { readonly nodeId: string; readonly rootDir: string; readonly capacity: NodeCapacity; readonly backupRepository?: string | null },
  intervalMs: number,
  logger: Pick<Console, 'warn'>,
): Promise<NodeHeartbeat> {
  await upsertNode(db, { nodeId: node.nodeId, rootDir: node.rootDir, capacityMemoryMb: node.capacity.memoryMb, capacityInstances: node.capacity.instances, backupRepository: node.backupRepository ?? null });
  return new NodeHeartbeat(db, node.nodeId, intervalMs, logger);
}

/** The heartbeat loop of a registered node. */
export class NodeHeartbeat {
  readonly #db: Database;
  readonly #nodeId: string;
  readonly #logger: Pick<Console, 'warn'>;
  readonly #timer: NodeJS.Timeout;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(db: Database, nodeId: string, intervalMs: number, logger: Pick<Console, 'warn'>) {
    this.#db = db;
    this.#nodeId = nodeId;
    this.#logger = logger;
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    this.#timer.unref();
  }

  #tick(): void {
    // One beat at a time: a slow database must not pile writes up.
    this.#inFlight = this.#inFlight.then(async () => {
      try {
        if (!(await beat(this.#db, this.#nodeId))) this.#logger.warn(`strata agent: node ${this.#nodeId} is no longer registered; restart the agent to register it again`);
      } catch (error) {
        this.#logger.warn(`strata agent: heartbeat of node ${this.#nodeId} failed (${(error as Error).message}); retrying at the next tick`);
      }
    });
  }

  /** Stops beating (the control plane sees the node go quiet). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#inFlight;
  }
}
