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
  backup: 'agent.backup',
  seal: 'agent.seal',
  restore: 'agent.restore',
  restoreInPlace: 'agent.restore-in-place',
  expireBackups: 'agent.expire-backups',
  verifyBackups: 'agent.verify-backups',
  replicate: 'agent.replicate',
  promote: 'agent.promote',
  follow: 'agent.follow',
  fence: 'agent.fence',
  replication: 'agent.replication',
  clone: 'agent.clone',
  reset: 'agent.reset',
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

/** How long an instance's backups are kept (pgBackRest's retention): the newest N full backups, or D days of restorable history. */
export type BackupRetentionInput = { readonly fullBackups: number } | { readonly days: number };

/** Input of `agent.backup`: archiving is enabled first (once), then the backup is taken; `backupId` makes a retry find the one already made. */
export interface BackupInput {
  readonly instanceId: string;
  readonly backupId: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly retention?: BackupRetentionInput;
}

/** One backup set as the agent reports it (times ISO 8601, sizes in bytes). */
export interface BackupSetOutput {
  readonly label: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly prior: string | null;
  readonly startedAt: string;
  readonly stoppedAt: string;
  /** The earliest moment this backup can restore to. */
  readonly restorableFrom: string;
  readonly sizeBytes: number;
  readonly repositorySizeBytes: number;
  readonly deltaBytes: number;
  readonly repositoryDeltaBytes: number;
  readonly walStart: string;
  readonly walStop: string;
}

/** Output of `agent.backup`, `agent.expire-backups` and `agent.verify-backups`: the backup (when one was taken) and the labels the repository still holds after retention. */
export interface BackupOutput {
  readonly backup?: BackupSetOutput;
  readonly remainingLabels: string[];
}

/** Input of `agent.seal`: everything committed so far becomes restorable; with `restorePoint`, that moment gets a name. */
export interface SealInput {
  readonly instanceId: string;
  readonly restorePoint?: string;
}

/** Output of `agent.seal`: when the seal was made (a restore to this time or later includes everything before), and the restore point's WAL position. */
export interface SealOutput {
  readonly sealedAt: string;
  readonly lsn?: string;
}

/** What a restore brings back (see @strata/postgres RestoreTarget); `time` is ISO 8601, `lsn` a restore point's WAL position. */
export type RestoreTargetInput =
  | { readonly kind: 'latest' }
  | { readonly kind: 'backup'; readonly label: string }
  | { readonly kind: 'time'; readonly time: string }
  | { readonly kind: 'name'; readonly name: string; readonly lsn?: string };

/** Input of `agent.restore`: a new instance made from another's backups and WAL, as of `target`. */
export interface RestoreInput {
  readonly instanceId: string;
  readonly sourceInstanceId: string;
  readonly target: RestoreTargetInput;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
}

/** Input of `agent.restore-in-place`: the instance's own data replaced by its state as of `target`; it runs afterwards. */
export interface RestoreInPlaceInput {
  readonly instanceId: string;
  readonly target: RestoreTargetInput;
}

/** Input of `agent.expire-backups`: remove one set (`label`, with the sets built on it), or apply `retention`. */
export interface ExpireBackupsInput {
  readonly instanceId: string;
  readonly label?: string;
  readonly retention?: BackupRetentionInput;
  /**
   * The whole stanza goes: every backup and the archived WAL (a deleted instance's last full
   * backup, which pgBackRest's expire never removes: it keeps one full backup per stanza).
   */
  readonly everything?: boolean;
}

/** Input of `agent.verify-backups`: checksums of every backup and WAL file; with `restoreTest`, the latest state is also restored into a scratch instance that must answer a query. */
export interface VerifyBackupsInput {
  readonly instanceId: string;
  readonly restoreTest?: boolean;
}

/** Output of `agent.verify-backups`. */
export interface VerifyBackupsOutput {
  /** pgBackRest's verify report. */
  readonly report: string;
  /** Databases the restored scratch copy listed (restore test only). */
  readonly restoredDatabases?: string[];
}

/** Input of `agent.replicate`: a new instance made a streaming standby of `primaryInstanceId` (on the same node). */
export interface ReplicateInput {
  readonly instanceId: string;
  readonly primaryInstanceId: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
}

/** Input of `agent.clone`: a new instance made from a consistent copy of a running one of the node (a fork of its present). */
export interface CloneInput {
  readonly instanceId: string;
  readonly sourceInstanceId: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
}

/** Input of `agent.reset`: a fork's data replaced by a consistent copy of its running parent's (on the node); its backup history starts anew. */
export interface ResetInput {
  readonly instanceId: string;
  readonly sourceInstanceId: string;
}

/** Input of `agent.follow`: a standby pointed at another primary of the node (after its sibling's promotion). */
export interface FollowInput {
  readonly instanceId: string;
  readonly primaryInstanceId: string;
}

/** Input of `agent.replication`: the primary's standbys as the control plane records them. */
export interface ReplicationInput {
  readonly instanceId: string;
  /** The standbys a commit waits for (one of them); empty: commits wait for none. */
  readonly synchronousStandbys: readonly string[];
  /** Every standby that is still the primary's: the replication slots of any other are dropped. */
  readonly standbys: readonly string[];
  /**
   * The order of the control plane's reads of these lists (a positive whole number, growing per
   * primary): an apply older than the last one applied changes nothing, so two applies that reach
   * the agent out of order cannot leave the older lists (nor drop a newer replica's slot).
   */
  readonly generation: number;
}

/** One standby as its primary reports it. */
export interface StandbyOutput {
  readonly name: string;
  readonly state: string | null;
  readonly syncState: string | null;
  readonly lagBytes: number | null;
  readonly replayLagSeconds: number | null;
}

/** Output of `agent.replication`: the primary's standbys after the change, and the slots it dropped. */
export interface ReplicationOutput {
  readonly standbys: StandbyOutput[];
  readonly droppedSlots: string[];
  /** True when a newer generation had been applied already: nothing was changed. */
  readonly superseded: boolean;
}

/** Input of `agent.promote`: the standby to promote and its siblings (standbys of the same primary), the most advanced of which it catches up with first. */
export interface PromoteInput {
  readonly instanceId: string;
  readonly siblings?: readonly string[];
}

/** Output of `agent.promote`: the instance accepts writes. */
export interface PromoteOutput {
  readonly promoted: true;
}

/** Input and output of each job, by name (the admin job's types live in src/admin/). */
export interface AgentJobTypes {
  'agent.provision': { input: ProvisionInput; output: ProvisionOutput };
  'agent.start': { input: InstanceRef; output: RunningOutput };
  'agent.stop': { input: InstanceRef; output: RunningOutput };
  'agent.restart': { input: InstanceRef; output: RunningOutput };
  'agent.reconfigure': { input: ReconfigureInput; output: ReconfigureOutput };
  'agent.destroy': { input: InstanceRef; output: DestroyOutput };
  'agent.backup': { input: BackupInput; output: BackupOutput };
  'agent.seal': { input: SealInput; output: SealOutput };
  'agent.restore': { input: RestoreInput; output: ProvisionOutput };
  'agent.restore-in-place': { input: RestoreInPlaceInput; output: RunningOutput };
  'agent.expire-backups': { input: ExpireBackupsInput; output: BackupOutput };
  'agent.verify-backups': { input: VerifyBackupsInput; output: VerifyBackupsOutput };
  'agent.replicate': { input: ReplicateInput; output: ProvisionOutput };
  'agent.promote': { input: PromoteInput; output: PromoteOutput };
  'agent.follow': { input: FollowInput; output: RunningOutput };
  'agent.fence': { input: InstanceRef; output: RunningOutput };
  'agent.replication': { input: ReplicationInput; output: ReplicationOutput };
  'agent.clone': { input: CloneInput; output: ProvisionOutput };
  'agent.reset': { input: ResetInput; output: RunningOutput };
}
