// Warm pools of the agent: started spare instances that a create claims instead of copying and starting a cluster.
export { MAX_SPARES, REPLENISH_DELAY_MS, SPARE_DATABASE, SPARE_RESERVED_MEMORY_MB, SPARE_ROLE, SparePool, type Spare, type SparePoolOptions, type SpareReconcileReport } from './spare-pool.js';
