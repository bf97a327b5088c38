// The admin actions of the agent (the `agent.admin` job): re-exported by the package's index.ts.
export {
  ADMIN_ACTION_KINDS,
  type AdminAction,
  type AdminActionKind,
  type AdminResult,
  type AdminResults,
  type CatalogueSetting,
  type DatabaseInfo,
  type DatabasePrivilege,
  type UserInfo,
} from './actions.js';
export { ADMIN_ERROR_STATUS, AdminError, isAdminErrorCode, type AdminErrorCode } from './errors.js';
export { IDENTIFIER_PATTERN, SYSTEM_DATABASES, checkIdentifier, checkVerifier } from './identifiers.js';
export { MAX_ADMIN_LOG_LINES } from './diagnostics.js';
export { registerAdminJob, runAdminAction } from './job.js';
