// Metering of the proxy: usage counted in memory and written in batches (Meter), and the tenants whose statements are refused (CapGuard). Only re-exports.
export { DEFAULT_FLUSH_INTERVAL_MS, MAX_BUFFERED_KEYS, Meter, type MeterOptions, type MeterStats } from './meter.js';
export { CAP_EXCEEDED_SQLSTATE, CapGuard, DEFAULT_CAP_REFRESH_MS, TENANT_SUSPENDED_SQLSTATE, type CapGuardOptions, type CapGuardStats, type CapRefusal } from './cap-guard.js';
export { MeteringError, type MeteringErrorCode } from './errors.js';
export { upsertUsage, blockedTenants, type BlockedTenantRow, type UsageRow } from './sql.js';
