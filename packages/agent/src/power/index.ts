// Power control of the node's instances (scale to zero, issue 14): suspend idle ones frozen or
// stopped, wake them fast, hold the ones in use, count their compute time. Re-exports only.
export { COMPUTE_FLUSH_INTERVAL_MS, MAX_CONCURRENT_STARTS, MAX_QUEUED_STARTS, PowerControl, type PowerHost } from './power-control.js';
export { MAX_PENDING_COMPUTE_ROWS } from './compute-meter.js';
export { actualPowerState } from './actual-state.js';
export { suspendRefusal } from './suspendable.js';
export type { InstanceTarget, PowerControlOptions, PowerState, PowerStats, Release, SuspendTier, WakeResult } from './interfaces.js';
