// What an alert rule can watch, the built-in rules every instance has, and reading a rule's metric off an instance's newest sample.
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

/**
 * The built-in rules, on for every instance: archiving failing for a minute, no completed backup
 * for 26 hours (a day's schedule and its slack), databases over 90 % of the flavor's storage for a
 * minute, a replica more than 30 s behind for a minute. `durationSeconds` overrides how long each must hold (tests).
 */
export function builtinRules(durationSeconds?: number): AlertRule[] {
  const rule = (name: string, metric: AlertMetric, threshold: number, seconds: number): AlertRule => ({
    key: `builtin:${name}`, name, tenantId: null, instanceId: null, metric, comparison: '>', threshold, durationSeconds: durationSeconds ?? seconds,
  });
  return [
    rule('archiving_failing', 'archive_failing', 0.5, 60),
    rule('backup_too_old', 'last_backup_age_seconds', 26 * 3600, 0),
    rule('disk_nearly_full', 'disk_used_ratio', 0.9, 60),
    rule('replica_lagging', 'replication_lag_seconds', 30, 60),
  ];
}

/** What the evaluator knows of one instance. */
export interface InstanceFacts {
  readonly instanceId: string;
  readonly tenantId: string;
  readonly createdAt: Date;
  readonly storageBytes: number;
  /** Its node keeps backups (else backup_too_old does not apply). */
  readonly backedUp: boolean;
  readonly sample: MetricsRow | undefined;
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
  }
}

/** Whether `value` breaks the rule's threshold. */
export function breaks(rule: Pick<AlertRule, 'comparison' | 'threshold'>, value: number): boolean {
  return rule.comparison === '>' ? value > rule.threshold : value < rule.threshold;
}
