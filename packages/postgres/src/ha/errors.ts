// The errors of the highly available cluster harness: a stable `code`, a kind, and what to do.

import type { ErrorKind } from '@strata/store';
import { PostgresError } from '../errors.js';

/** Stable codes of {@link HaClusterError}: which step of the HA cluster's life failed. */
export type HaClusterErrorCode =
  | 'HA_TOOLS_NOT_INSTALLED'
  | 'HA_CLUSTER_START_FAILED'
  | 'HA_CLUSTER_NO_LEADER'
  | 'HA_CLUSTER_SWITCHOVER_FAILED';

/**
 * Thrown when Patroni or etcd are missing and cannot be installed, or when the three-node
 * cluster does not start, elect a leader, or switch over. The message says what to do and quotes
 * the tail of the failing process's log.
 *
 * @example
 * ```ts
 * try { await startHaCluster(); }
 * catch (error) { if (error instanceof HaClusterError && error.code === 'HA_TOOLS_NOT_INSTALLED') console.log('skipped:', error.message); }
 * ```
 */
export class HaClusterError extends PostgresError {
  declare readonly code: HaClusterErrorCode;
  /** Missing tools need the machine changed; a cluster that does not come up is `unavailable`. */
  override get kind(): ErrorKind {
    return this.code === 'HA_TOOLS_NOT_INSTALLED' ? 'failed-precondition' : 'unavailable';
  }
  constructor(code: HaClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
