// The runtime of managed PostgreSQL instances (the database service's node agent uses it):
// template, copy, start/stop, settings, SCRAM verifiers, cgroup limits, freezing, warm pool. Re-exports only.

export { IDLE_GROUP_AGE_MS, MAX_CPU_SHARES, MAX_MEMORY_MB, MIN_CPU_SHARES, MIN_MEMORY_MB, removeIdleGroups, type InstanceLimits } from './cgroup.js';
export { RESERVED_SETTINGS } from './config-file.js';
export { COPY_METHODS, DEFAULT_COPY_METHOD, type CopyMethod } from './copy.js';
export { PgInstanceError, type PgInstanceErrorCode } from './errors.js';
export { FREEZE_TIMEOUT_MS, freezeInstance, freezerAvailable, isFrozen, thawInstance } from './freezer.js';
export { MAX_LOG_TAIL_LINES } from './log-tail.js';
export { ManagedCluster, type CreateInstanceOptions } from './managed-cluster.js';
export type { StopMode } from './postmaster.js';
export { MAX_PASSWORD_CHARS, SCRAM_ITERATIONS, scramVerifier } from './scram.js';
export { settingsCatalogue, type SettingInfo } from './settings-catalogue.js';
export { MIN_INSTANCE_PORT, type InstanceSpec } from './spec.js';
export { INSTANCE_SUPERUSER, TEMPLATE_HBA, TEMPLATE_WAL_SEGMENT_MB, ensureTemplate, type InstanceTemplate } from './template.js';
export { mountReflinkVolume, type ReflinkVolume } from './reflink-volume.js';
export { MAX_WARM_POOL_SIZE, WarmPool, type WarmPoolOptions } from './warm-pool.js';
