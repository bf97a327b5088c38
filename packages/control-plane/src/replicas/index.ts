// Streaming read replicas of instances: add, list, promote (fencing the primary), detach (only re-exports).
export { MAX_REPLICAS, REPLICA_WORKFLOWS, type ApplyReplicationInput, type PromoteOperationInput, type ReplicateOperationInput } from './contract.js';
export { addReplicas, detachReplica, promoteReplica, replicasOf } from './service.js';
export { registerReplicaOperations } from './workflows.js';
export { mountReplicaRoutes } from './routes.js';
