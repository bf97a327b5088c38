// @strata/control-plane: public surface (only re-exports).
/**
 * @strata/control-plane — the HTTP API of Strata's database service: tenants, API keys and
 * roles, quotas, a hash-chained audit log, idempotent POSTs, an OpenAPI 3.1 document generated
 * from the route schemas, and the modules (instances, instance admin) that mount on it.
 */
export { createControlPlane, MIGRATION_COMPONENT, type ControlPlane, type ControlPlaneOptions } from './server.js';
export * from './http/index.js';
export { bootstrap, PLATFORM_TENANT_NAME, type BootstrapResult } from './tenancy/bootstrap.js';
export { createApiKey, type CreatedApiKey } from './tenancy/keys.js';
export { newApiKey, parseToken } from './tenancy/api-keys.js';
export { verifyAuditChain, type AuditFault, type AuditVerification } from './audit/verify.js';
export { appendAudit, listAudit, type AuditRecord } from './audit/sql.js';
export { canonicalRow, chainHash, type AuditFields } from './audit/chain.js';
export { IDEMPOTENCY_HEADER, IDEMPOTENCY_TTL_SECONDS, canonicalJson } from './idempotency/idempotency.js';
export { OPENAPI_PATH, DOCS_PATH } from './http/app.js';
export * from './instance-admin/index.js';
export * from './instances/index.js';
export * from './backups/index.js';
export * from './monitoring/index.js';
export * from './alerts/index.js';
export * from './replicas/index.js';
export * from './usage/index.js';
export * from './proxy-settings/index.js';
