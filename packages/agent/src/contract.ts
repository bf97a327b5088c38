// The agent's side of the contract with the control plane: queue and version of a node, job names, and each job's input and output.

/**
 * The queue a node's jobs go on: one partition of the work per node, so no broker is needed.
 *
 * @example
 * agentQueue('node-1'); // 'agent.node-1'
 */
export const agentQueue = (nodeId: string): string => `agent.${nodeId}`;

/**
 * The application version (and executor ID) of a node's agent. A job enqueued with it is
 * dequeued, and recovered after a crash, only by that node's agent.
 *
 * @example
 * await client.enqueue({ workflow: AGENT_JOBS.start, queue: agentQueue('node-1'), appVersion: agentVersion('node-1') }, { instanceId });
 */
export const agentVersion = (nodeId: string): string => `agent:${nodeId}`;

/** The workflow name of every agent job. `admin` is registered by the admin actions (src/admin/). */
export const AGENT_JOBS = {
  provision: 'agent.provision',
  start: 'agent.start',
  stop: 'agent.stop',
  restart: 'agent.restart',
  reconfigure: 'agent.reconfigure',
  destroy: 'agent.destroy',
  admin: 'agent.admin',
} as const;

/** The name of one agent job. */
export type AgentJobName = (typeof AGENT_JOBS)[keyof typeof AGENT_JOBS];

/** cgroup limits of an instance (applied where the machine allows it). */
export interface InstanceLimits {
  readonly memoryMb: number;
  /** cgroup v1 `cpu.shares`: 1024 is one CPU. */
  readonly cpuShares: number;
}

/** What a user may do in one database. */
export interface UserGrant {
  readonly database: string;
  readonly privilege: 'all' | 'read';
}

/** A login role created with the instance; `verifier` is a SCRAM-SHA-256 verifier, never a password. */
export interface InitialUser {
  readonly name: string;
  readonly verifier: string;
  readonly grants: readonly UserGrant[];
}

/** Input of `agent.provision`: everything a new instance needs. */
export interface ProvisionInput {
  readonly instanceId: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
  readonly databases: readonly string[];
  readonly users: readonly InitialUser[];
}

/** Output of `agent.provision`: where the instance listens. */
export interface ProvisionOutput {
  readonly host: '127.0.0.1';
  readonly port: number;
}

/** Input of `agent.start`, `agent.stop`, `agent.restart` and `agent.destroy`. */
export interface InstanceRef {
  readonly instanceId: string;
}

/** Output of `agent.start`, `agent.stop` and `agent.restart`. */
export interface RunningOutput {
  readonly running: boolean;
}

/** Input of `agent.reconfigure`: settings merged over the instance's, and new limits. */
export interface ReconfigureInput {
  readonly instanceId: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits?: InstanceLimits;
}

/** Output of `agent.reconfigure`: settings that only take effect after a restart. */
export interface ReconfigureOutput {
  readonly restartRequired: string[];
}

/** Output of `agent.destroy`: false when there was nothing to remove (a repeated destroy). */
export interface DestroyOutput {
  readonly destroyed: boolean;
}

/** Input and output of each job, by name (the admin job's types live in src/admin/). */
export interface AgentJobTypes {
  'agent.provision': { input: ProvisionInput; output: ProvisionOutput };
  'agent.start': { input: InstanceRef; output: RunningOutput };
  'agent.stop': { input: InstanceRef; output: RunningOutput };
  'agent.restart': { input: InstanceRef; output: RunningOutput };
  'agent.reconfigure': { input: ReconfigureInput; output: ReconfigureOutput };
  'agent.destroy': { input: InstanceRef; output: DestroyOutput };
}
