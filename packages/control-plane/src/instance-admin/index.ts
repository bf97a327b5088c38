// The instance-admin part of the control plane: databases, users, grants, the log and configuration groups of instances (only re-exports).
export { instanceAdminModule } from './module.js';
export { ADMIN_REQUEST_TIMEOUT_MS } from './agent-admin.js';
export { CatalogueCache, type Catalogue } from './catalogue.js';
export { MAX_PARAMETER_VALUE_LENGTH, checkParameters, type CheckedParameters, type ParameterProblem, type ParameterProblemCode } from './parameters.js';
export { GROUP_NAME_PATTERN, MAX_GROUP_PARAMETERS, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './schemas.js';
export { ADMIN_WORKFLOWS, registerAdminWorkflows, type AdminActionInput, type AdminWorkflows, type ConfigureInput, type ConfigureOutcome } from './workflows.js';
export { recordInstanceUsers, type InstanceUserRow } from './sql/instance-users.js';
export type { ConfigGroupRow } from './sql/config-groups.js';
