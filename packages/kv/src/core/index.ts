// The key-value core: transactions, key selectors, atomic operations, versionstamps, watches, limits.

export type { KeyValue, KvDatabase, RangeOptions, ReadTransaction, TransactOptions, Transaction, Watch } from './interfaces.js';
export { KeySelector } from './key-selector.js';
export { DEFAULT_MAX_ATTEMPTS, migrateKv, openKv, type OpenKvOptions, type SnapshotIsolation } from './database.js';
export { kvIn } from './kv-in.js';
export { MAX_KEY_BYTES, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_DURATION_MS, MAX_VALUE_BYTES, MAX_WATCHES } from './limits.js';
export { versionstampOf } from './versionstamp.js';
