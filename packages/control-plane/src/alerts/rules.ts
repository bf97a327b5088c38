// What an alert rule can watch, the built-in rules every instance has (and a tenant's settings of them), and reading a rule's metric off an instance's newest sample.
import type { MetricsRow } from '../monitoring/sql.js';

/** The metrics a rule can compare (the newest sample of the instance, and what the control plane knows of it). */
export const ALERT_METRICS = [
  'connections',
  'transactions_per_second',
  'cache_hit_ratio',
  'database_bytes',
  'disk_used_ratio',
  'replication_lag_seconds',
  'longest_transaction_seconds',
  'archive_failing',
  'last_archived_age_seconds',
  'last_backup_age_seconds',
  'sample_age_seconds',
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

/** A rule as the evaluator sees it (a tenant's, or a built-in one). */
export interface AlertRule {
  /** `rule_…` for a tenant's rule, `builtin:<name>` for a built-in one. */
  readonly key: string;
  readonly name: string;
  readonly tenantId: string | null;
  readonly instanceId: string | null;
  readonly metric: AlertMetric;
  readonly comparison: '>' | '<';
  readonly threshold: number;
  readonly durationSeconds: number;
}

/** The names of the built-in rules. */
export const BUILTIN_RULE_NAMES = ['archiving_failing', 'backup_too_old', 'disk_nearly_full', 'replica_lagging', 'instance_down'] as const;
export type BuiltinRuleName = (typeof BUILTIN_RULE_NAMES)[number];

/** Longest backup age a tenant may set for backup_too_old: a backup older than a year is no schedule's. */
const MAX_BACKUP_AGE_THRESHOLD_SECONDS = 366 * 86_400;
/** Longest lag or silence a tenant may set: past a day, the alert says nothing anyone acts on. */
const MAX_SECONDS_THRESHOLD = 86_400;

/** What a tenant may set a built-in rule's threshold to: a ratio or seconds in (`above`, `upTo`]. */
export interface ThresholdRange {
  readonly unit: 'ratio' | 'seconds';
  /** Exclusive. */
  readonly above: number;
  /** Inclusive. */
  readonly upTo: number;
  /** What the threshold means, for error messages and the API. */
  readonly meaning: string;
}

/** A built-in rule and its defaults. */
export interface BuiltinRule {
  readonly name: BuiltinRuleName;
  readonly metric: AlertMetric;
  readonly threshold: number;
  readonly durationSeconds: number;
  /** null: the threshold is not a setting (the condition holds or not); the rule is still turned off or on, and its duration set. */
  readonly thresholdRange: ThresholdRange | null;
}

/**
 * The built-in rules, on for every instance unless its tenant turned them off: archiving failing
 * for a minute, no completed backup for 26 hours (a day's schedule and its slack), databases over
 * 90 % of the flavor's storage for a minute, a replica more than 30 s behind for a minute, and an
 * instance that should run without a sample for 60 s (four of the default 15 s sampling intervals).
 */
export const BUILTIN_RULES: readonly BuiltinRule[] = [
  { name: 'archiving_failing', metric: 'archive_failing', threshold: 0.5, durationSeconds: 60, thresholdRange: null },
  { name: 'backup_too_old', metric: 'last_backup_age_seconds', threshold: 26 * 3600, durationSeconds: 0, thresholdRange: { unit: 'seconds', above: 0, upTo: MAX_BACKUP_AGE_THRESHOLD_SECONDS, meaning: 'the age in seconds of the newest completed backup' } },
  { name: 'disk_nearly_full', metric: 'disk_used_ratio', threshold: 0.9, durationSeconds: 60, thresholdRange: { unit: 'ratio', above: 0, upTo: 1, meaning: "the databases' size over the flavor's storage (0.9 = 90 %)" } },
  { name: 'replica_lagging', metric: 'replication_lag_seconds', threshold: 30, durationSeconds: 60, thresholdRange: { unit: 'seconds', above: 0, upTo: MAX_SECONDS_THRESHOLD, meaning: 'replay lag in seconds' } },
  { name: 'instance_down', metric: 'sample_age_seconds', threshold: 60, durationSeconds: 0, thresholdRange: { unit: 'seconds', above: 0, upTo: MAX_SECONDS_THRESHOLD, meaning: 'seconds without a metrics sample' } },
];

/** The built-in rule of that name, or undefined. */
export function findBuiltinRule(name: string): BuiltinRule | undefined {
  return BUILTIN_RULES.find((rule) => rule.name === name);
}

/**
 * The built-in rules as the evaluator sees them, with their defaults. `durationSeconds` overrides
 * how long each must hold (tests); a tenant's own settings are applied with {@link withSetting}.
 *
 * @example
 * builtinRules().map((rule) => rule.key); // ['builtin:archiving_failing', …, 'builtin:instance_down']
 */
export function builtinRules(durationSeconds?: number): AlertRule[] {
  return BUILTIN_RULES.map((rule) => ({
    key: `builtin:${rule.name}`, name: rule.name, tenantId: null, instanceId: null, metric: rule.metric, comparison: '>', threshold: rule.threshold, durationSeconds: durationSeconds ?? rule.durationSeconds,
  }));
}

/** A tenant's setting of one built-in rule (null: the rule's default). */
export interface BuiltinSetting {
  readonly tenantId: string;
  readonly ruleName: string;
  readonly enabled: boolean;
  readonly threshold: number | null;
  readonly durationSeconds: number | null;
}

/**
 * A built-in rule (as {@link builtinRules} gives it) under a tenant's setting: its threshold and
 * duration, and whether it is on.
 *
 * @example
 * withSetting(rule, { tenantId: 'ten_1', ruleName: 'disk_nearly_full', enabled: true, threshold: 0.8, durationSeconds: null }); // threshold 0.8, the default duration
 */
export function withSetting(rule: AlertRule, setting: BuiltinSetting | undefined): { readonly rule: AlertRule; readonly enabled: boolean } {
  if (setting === undefined) return { rule, enabled: true };
  return { rule: { ...rule, threshold: setting.threshold ?? rule.threshold, durationSeconds: setting.durationSeconds ?? rule.durationSeconds }, enabled: setting.enabled };
}

/** What the evaluator knows of one instance. */
export interface InstanceFacts {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly createdAt: Date;
  readonly storageBytes: number;
  /** Its node keeps backups (else backup_too_old does not apply). */
  readonly backedUp: boolean;
  /** Its newest sample, when it is recent enough to say something about now. */
  readonly sample: MetricsRow | undefined;
  /** When its newest sample was taken, however old (undefined: none within the retention). */
  readonly lastSampleAt: Date | undefined;
  /** When its row last changed (an operation ended, its node came back): silence counts from then at the earliest. */
  readonly changedAt: Date;
  /** An operation (a stop, a restart, a resize…) runs on it: the platform is changing it, not expecting samples. */
  readonly operating: boolean;
  /** Its node writes samples (a node with sampling off says nothing about its instances' silence). */
  readonly nodeSamples: boolean;
  readonly lastBackupAt: Date | undefined;
}

/** The rule's metric on an instance now; undefined when it has none (no sample, no replicas, no backups). */
export function metricValue(metric: AlertMetric, facts: InstanceFacts, now: Date): number | undefined {
  const sample = facts.sample;
  const value = (v: number | null | undefined) => (v === null || v === undefined ? undefined : v);
  switch (metric) {
    case 'connections':
      return value(sample?.connections);
    case 'transactions_per_second':
      return value(sample?.transactionsPerSecond);
    case 'cache_hit_ratio':
      return value(sample?.cacheHitRatio);
    case 'database_bytes':
      return value(sample?.databaseBytes);
    case 'disk_used_ratio':
      return sample?.databaseBytes === null || sample?.databaseBytes === undefined ? undefined : sample.databaseBytes / facts.storageBytes;
    case 'replication_lag_seconds':
      return value(sample?.replicationLagSeconds);
    case 'longest_transaction_seconds':
      return value(sample?.longestTransactionSeconds);
    case 'archive_failing':
      return sample?.archiveFailing === null || sample?.archiveFailing === undefined ? undefined : sample.archiveFailing ? 1 : 0;
    case 'last_archived_age_seconds':
      return value(sample?.lastArchivedAgeSeconds);
    case 'last_backup_age_seconds':
      // Never backed up: counted from its creation, so an instance whose backups never work fires too.
      return facts.backedUp ? (now.getTime() - (facts.lastBackupAt ?? facts.createdAt).getTime()) / 1000 : undefined;
    case 'sample_age_seconds': {
      // Silence since its newest sample, or since it last changed (it became ACTIVE) when that is later or it has none.
      if (facts.operating || !facts.nodeSamples) return undefined;
      const since = Math.max(facts.lastSampleAt?.getTime() ?? 0, facts.changedAt.getTime());
      return Math.max(0, (now.getTime() - since) / 1000);
    }
  }
}

/** Whether `value` breaks the rule's threshold. */
export function breaks(rule: Pick<AlertRule, 'comparison' | 'threshold'>, value: number): boolean {
  return rule.comparison === '>' ? value > rule.threshold : value < rule.threshold;
}
