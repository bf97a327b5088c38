// @strata/kv: public surface (only re-exports). An ordered transactional key-value store in
// FoundationDB's spirit over a Strata store database, and its layers.

// The core: transactions, key selectors, atomic operations, versionstamps, watches, limits.
export * from './core/index.js';
export * from './errors.js';

// Layers (tuple, subspace, directory, records): see each folder's index.ts.
export * from './tuple/index.js';
export * from './subspace/index.js';
export * from './directory/index.js';
export * from './records/index.js';
