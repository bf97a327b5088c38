// The public types of the agent's power control (src/power/): states, tiers, what a wake reports, counters, options.
import type { Logger } from '@strata/transact';
import type { PowerState } from '../sql/instance-power.js';

export type { PowerState } from '../sql/instance-power.js';

/**
 * How deep a suspension goes: `frozen` keeps the server's memory and stops its CPU (a wake is a
 * thaw, about a millisecond); `stopped` shuts it down to free its memory (a wake is a start).
 */
export type SuspendTier = 'frozen' | 'stopped';

/**
 * An instance of the node, by ID or by an object naming it — so a proxy's target
 * (`{ instanceId, nodeId }`) can be passed as it is; a `nodeId` other than the power control's
 * own node is refused (a target routed to the wrong agent).
 */
export type InstanceTarget = string | { readonly instanceId: string; readonly nodeId?: string };

/** Ends a hold (see {@link PowerControl.hold}); calling it again does nothing. */
export type Release = () => void;

/** An instance's last wake from a suspension. */
export interface WakeResult {
  /** The state it woke from. */
  readonly from: 'frozen' | 'stopped';
  /** From the wake's start until the server accepted connections (a wait in the start queue included). */
  readonly wakeMs: number;
  /** When it ended. */
  readonly at: Date;
}

/** Counters of a {@link PowerControl}, for tests and metrics. */
export interface PowerStats {
  /** Starts (wakes of stopped instances) running now, and the most that ever ran at once. */
  readonly startsInFlight: number;
  readonly peakStartsInFlight: number;
  /** Starts waiting for a slot now, and the most that ever waited at once. */
  readonly startsQueued: number;
  readonly peakStartsQueued: number;
  /** Wakes so far by what they woke from (a frozen one killed meanwhile counts as a thaw and a start). */
  readonly thaws: number;
  readonly starts: number;
  /** Suspensions so far, by tier. */
  readonly frozen: number;
  readonly stopped: number;
}

/** Options of {@link PowerControl.open}. */
export interface PowerControlOptions {
  /** Most wakes from `stopped` that start a server at once; default {@link MAX_CONCURRENT_STARTS}. */
  readonly maxConcurrentStarts?: number;
  /** Between two writes of compute time into strata_cloud.instance_compute; default {@link COMPUTE_FLUSH_INTERVAL_MS}; 0: only by {@link PowerControl.flush}. */
  readonly computeFlushIntervalMs?: number;
  /** Where failed background writes are reported. Default `console`. */
  readonly logger?: Logger;
}
