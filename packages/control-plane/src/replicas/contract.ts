// The replica operations' workflow names and inputs (src/replicas/): shared by the service that enqueues them and the workflows.
import type { InstanceLimits } from '@strata/agent';

/** Most replicas one primary may have: each is a full copy on the primary's node. */
export const MAX_REPLICAS = 5;

/** The workflow name of each replica operation. */
export const REPLICA_WORKFLOWS = {
  /** Makes a new instance a streaming standby of its primary. */
  replicate: 'cloud.instance.replicate',
  /** Fences the primary and promotes one of its replicas in its place. */
  promote: 'cloud.instance.promote',
  /** Makes a replica an independent primary; its old primary runs on. */
  detach: 'cloud.instance.detach',
  /** Applies a primary's recorded replicas to its server: its synchronous standbys and slots. */
  apply: 'cloud.replication.apply',
} as const;

/** Input of {@link REPLICA_WORKFLOWS.replicate}. */
export interface ReplicateOperationInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly primaryInstanceId: string;
  /** The primary's create, when the replica was asked for with it: the replica waits for it to end. */
  readonly primaryOperationId?: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
}

/** Input of {@link REPLICA_WORKFLOWS.promote} and {@link REPLICA_WORKFLOWS.detach}. */
export interface PromoteOperationInput {
  readonly instanceId: string;
  readonly nodeId: string;
  readonly primaryInstanceId: string;
}

/** Input of {@link REPLICA_WORKFLOWS.apply}. */
export interface ApplyReplicationInput {
  readonly primaryInstanceId: string;
  readonly nodeId: string;
}
