// The highly available PostgreSQL harness: Patroni + etcd + three PostgreSQL nodes on loopback.

export { startHaCluster, type HaCluster, type HaMember, type HaNode, type StartHaClusterOptions, type WaitForLeaderOptions } from './ha-cluster.js';
export { ensureHaToolsInstalled, type HaTools } from './install.js';
export { HaClusterError, type HaClusterErrorCode } from './errors.js';
