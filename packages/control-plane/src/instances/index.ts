// The instances part of the control plane: flavors, names, placement, liveness, the operation workflows, agent calls and the routes (only re-exports).
export { instancesModule } from './routes.js';
export { callAgent, AGENT_JOB_TIMEOUT_MS, type AgentCall, type AgentOutcome } from './agent-call.js';
export { FLAVORS, findFlavor, flavorLimits, flavorSettings, type Flavor } from './flavors.js';
export { INSTANCE_NAME_PATTERN, SQL_NAME_PATTERN, instanceNameProblem, sqlNameProblem, newInstanceId } from './names.js';
export { CREATE_PARAMETERS, parameterProblems, type ParameterProblem as CreateParameterProblem } from './parameters.js';
export { DEFAULT_NODE_STALE_AFTER_MS, listNodes, nodesTableExists, placeInstance, type NodeInfo } from './nodes.js';
export { DEFAULT_LIVENESS_INTERVAL_MS, checkNodeLiveness, startNodeLiveness, type LivenessChange, type NodeLiveness } from './liveness.js';
export {
  OPERATIONS_QUEUE,
  OPERATION_WORKFLOWS,
  registerInstanceOperations,
  type CreateOperationInput,
  type OperationDeps,
  type ResizeOperationInput,
  type SimpleOperationInput,
} from './operations.js';
export {
  createInstance,
  instanceHistory,
  listFlavors,
  listTenantInstances,
  renameInstanceTo,
  requireInstance,
  startOperation,
  toInstanceJson,
  type CreateInstanceRequest,
  type InstanceJson,
  type InstanceServiceDeps,
  type OperationJson,
  type QuotaCheck,
  type VerifierFunction,
} from './service.js';
export { InstanceError, type InstanceErrorCode } from './errors.js';
export { INSTANCE_STATUSES, OPERATION_KINDS, getInstance, type InstanceRow, type InstanceStatus, type OperationKind, type InstanceEvent } from './sql.js';
