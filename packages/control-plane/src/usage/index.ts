// The usage part of the control plane: the proxy's metered usage as reports, monthly caps with their evaluation and events (only re-exports).
export { usageModule, usageModuleWith } from './routes.js';
export { CAP_MAX, MAX_HOURLY_RANGE_DAYS, MAX_USAGE_RANGE_DAYS, UsageError, capView, setCap, usageRange, usageReport, type CapView, type UsageGroup, type UsageReport } from './service.js';
export { CAP_EVENT_ACTIONS, EXCEEDED_PERCENT, WARNING_PERCENT, capEventBody, capPercent, capStateOf, describeCappedUsage, evaluateCaps, type CapEvaluationContext, type CapEvent } from './evaluate.js';
export { DEFAULT_USAGE_CRON, USAGE_QUEUE, USAGE_SCHEDULE, USAGE_WORKFLOWS, registerUsageOperations, type UsageOptions } from './workflows.js';
export { monthOf, type CapPeriod } from './period.js';
export type { CapState, CapStateName, CappedUsage, UsageCap, UsageCapChange } from './sql/caps.js';
export type { UsageGrouping, UsageMeasures } from './sql/report.js';
