// @strata/proxy: public surface (only re-exports). Examples live on each export's doc comment.
export { startProxy, DEFAULT_LIMITS, type RunningProxy, type ProxyStats } from './server/proxy.js';
export { DEFAULT_FREEZE_AFTER_MS, DEFAULT_STOP_AFTER_MS } from './server/idle.js';
export type { ProxyOptions, ProxyLimits, ProxyTlsOptions, IdleOptions, InstancePower, PowerTarget, UsageMeter, UsageDelta, StatementGuard } from './interfaces.js';
export { ProxyError, type ProxyErrorCode } from './errors.js';
export { SqlDirectory, DIRECTORY_TTL_MS, type Directory, type InstanceEntry } from './directory/directory.js';
export { InvalidationFeed } from './directory/invalidations.js';
export { routeOf, type Route } from './routing/route.js';
export { parseVerifier, type ScramVerifier } from './auth/scram.js';
export { loadOrCreateCertificate, type TlsMaterial } from './tls/certificate.js';
export * from './cache/index.js';
export * from './metering/index.js';
