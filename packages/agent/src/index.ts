// @strata/agent: public surface (only re-exports). Examples live on each export's doc comment.
export { startAgent, AGENT_JOB_CONCURRENCY, type AgentOptions, type RunningAgent } from './agent.js';
export {
  AGENT_JOBS,
  agentQueue,
  agentVersion,
  type AgentJobName,
  type AgentJobTypes,
  type BackupInput,
  type BackupOutput,
  type BackupRetentionInput,
  type BackupSetOutput,
  type CloneInput,
  type DestroyOutput,
  type ExpireBackupsInput,
  type FollowInput,
  type InitialUser,
  type InstanceLimits,
  type InstanceRef,
  type ProvisionInput,
  type PromoteInput,
  type PromoteOutput,
  type ProvisionOutput,
  type ReconfigureInput,
  type ReconfigureOutput,
  type ReplicateInput,
  type ReplicationInput,
  type ReplicationOutput,
  type ResetInput,
  type RestoreInPlaceInput,
  type RestoreInput,
  type RestoreTargetInput,
  type RunningOutput,
  type SealInput,
  type SealOutput,
  type StandbyOutput,
  type UserGrant,
  type VerifyBackupsInput,
  type VerifyBackupsOutput,
} from './contract.js';
export { AgentError, type AgentErrorCode } from './errors.js';
export { AdminSession } from './jobs/admin-session.js';
export { NodeFiles } from './jobs/instance-files.js';
export { registerJobs, withAwake, type JobHost } from './jobs/jobs.js';
export { DEFAULT_CAPACITY_INSTANCES, DEFAULT_NODE_HEARTBEAT_INTERVAL_MS, defaultCapacity, type NodeCapacity } from './node/registration.js';
export { reconcile, type ReconcileReport } from './reconcile/reconcile.js';
export { SAFE_CREATEROLE_MAJOR_VERSION, quoteIdent, quoteLiteral } from './jobs/tenant-roles.js';
export { getNodeInstance, listNodeInstances, type NodeInstance, type InstanceRunSpec } from './sql/node-instances.js';
export * from './admin/index.js';
export * from './warm/index.js';
export * from './backups/index.js';
export * from './metrics/index.js';
export * from './replicas/index.js';
export * from './forks/index.js';
export * from './power/index.js';
