// The monitoring part of the control plane: instance metrics as JSON and as Prometheus gauges (only re-exports).
export { MAX_METRICS_POINTS, monitoringModule } from './routes.js';
export { prometheusText } from './prometheus.js';
export { lastBackups, latestMetrics, metricsBetween, type MetricsRow } from './sql.js';
