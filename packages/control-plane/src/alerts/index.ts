// The alerts part of the control plane: rules (built-in and the tenant's), their evaluation on a schedule, events, and durable webhook deliveries (only re-exports).
export { alertsModule, alertsModuleWith } from './routes.js';
export { ALERT_METRICS, BUILTIN_RULES, BUILTIN_RULE_NAMES, builtinRules, withSetting, type AlertMetric, type AlertRule, type BuiltinRule, type BuiltinRuleName, type BuiltinSetting, type ThresholdRange } from './rules.js';
export { evaluateAlerts, STALE_SAMPLE_MS } from './evaluate.js';
export { ALERT_WORKFLOWS, ALERTS_QUEUE, DEFAULT_ALERTS_CRON, DEFAULT_DELIVERY_RETRY, registerAlertOperations, type AlertOptions } from './workflows.js';
export { AlertError, MAX_RULES_PER_TENANT, createRule, removeRule, setBuiltinSetting, setWebhook, type RuleJson } from './service.js';
export { isPrivateAddress, signature, webhookUrlProblem } from './webhook.js';
