// The HTTP platform's surface for route modules (src/instances/, src/instance-admin/): import from here.
export type { ApiDeps, ApiEnv, ApiModule, Principal, Role } from './types.js';
export { ROLES } from './types.js';
export { ApiError, notFound, toErrorResponse, type ErrorBody } from './errors.js';
export { requirePlatformAdmin, requireRole } from './auth.js';
export { ErrorSchema, errorResponses, jsonBody } from './schemas.js';
export { REQUEST_BODY_BYTES_MAX } from './limits.js';
export { audited, type RecordInTransaction } from '../audit/audited.js';
export { checkQuota, DEFAULT_QUOTAS, type QuotaRequest } from '../tenancy/quotas.js';
export { hideFromReplay } from '../idempotency/idempotency.js';
