// The agent's metrics sampler (src/metrics/): re-exports only.
export { DEFAULT_METRICS_INTERVAL_MS, DEFAULT_METRICS_RETENTION_MS, MetricsSampler } from './sampler.js';
