// The Prometheus exposition of instance metrics (prom-client): each instance's newest sample as gauges labelled with its ID, name and tenant.
import { Gauge, Registry } from 'prom-client';
import type { InstanceRow } from '../instances/sql.js';
import type { MetricsRow } from './sql.js';

/** Each gauge: its name, help, and how it reads an instance's newest sample (undefined: no value). */
/** A suspension tier as a number: 0 running, 1 frozen (memory kept), 2 stopped (memory freed). */
const POWER_LEVEL = { running: 0, frozen: 1, stopped: 2 } as const;

const GAUGES: ReadonlyArray<{ readonly name: string; readonly help: string; readonly read: (sample: MetricsRow | undefined, extra: { lastBackupAgeSeconds: number | undefined; storageBytes: number; sampleAgeSeconds: number | undefined; power: InstanceRow['power'] }) => number | null | undefined }> = [
  { name: 'strata_instance_sample_age_seconds', help: 'How old the newest sample of the instance is (its agent samples every 15 s by default)', read: (_, extra) => extra.sampleAgeSeconds },
  { name: 'strata_instance_connections', help: 'Client connections', read: (s) => s?.connections },
  { name: 'strata_instance_transactions_per_second', help: 'Commits and rollbacks per second', read: (s) => s?.transactionsPerSecond },
  { name: 'strata_instance_cache_hit_ratio', help: 'Buffer cache hits over all block reads', read: (s) => s?.cacheHitRatio },
  { name: 'strata_instance_database_bytes', help: 'Size of its databases', read: (s) => s?.databaseBytes },
  { name: 'strata_instance_storage_bytes', help: 'Storage its flavor allows', read: (_, extra) => extra.storageBytes },
  { name: 'strata_instance_replication_lag_seconds', help: 'Replay lag of its slowest streaming replica', read: (s) => s?.replicationLagSeconds },
  { name: 'strata_instance_longest_transaction_seconds', help: 'Age of its oldest open transaction', read: (s) => s?.longestTransactionSeconds },
  { name: 'strata_instance_archive_failing', help: '1 when the last WAL archive attempt failed', read: (s) => (s?.archiveFailing === null || s?.archiveFailing === undefined ? undefined : s.archiveFailing ? 1 : 0) },
  { name: 'strata_instance_last_archived_age_seconds', help: 'Since a WAL segment was last archived', read: (s) => s?.lastArchivedAgeSeconds },
  { name: 'strata_instance_last_backup_age_seconds', help: 'Since its last completed backup ended', read: (_, extra) => extra.lastBackupAgeSeconds },
  { name: 'strata_instance_suspended', help: 'Scale to zero: 0 running, 1 frozen (memory kept), 2 stopped (memory freed) by the proxy for being idle', read: (_, extra) => POWER_LEVEL[extra.power?.state ?? 'running'] },
  { name: 'strata_instance_wakes', help: 'Wakes from a suspension so far (a counter kept by its node agent)', read: (_, extra) => extra.power?.wakes },
  { name: 'strata_instance_last_wake_milliseconds', help: 'How long its last wake took, until its server accepted connections', read: (_, extra) => extra.power?.lastWakeMs },
];

/**
 * The Prometheus text of `instances`' newest samples; an instance never sampled (or a value it
 * does not have, such as replication lag without replicas) has no series for that gauge.
 *
 * @example
 * const { contentType, text } = await prometheusText(instances, latest, lastBackups, new Date());
 */
export async function prometheusText(instances: readonly InstanceRow[], latest: ReadonlyMap<string, MetricsRow>, lastBackups: ReadonlyMap<string, Date>, now: Date): Promise<{ contentType: string; text: string }> {
  const registry = new Registry();
  const gauges = GAUGES.map((spec) => ({ spec, gauge: new Gauge({ name: spec.name, help: spec.help, labelNames: ['instance_id', 'name', 'tenant_id'], registers: [registry] }) }));
  for (const instance of instances) {
    const sample = latest.get(instance.instanceId);
    const backupAt = lastBackups.get(instance.instanceId);
    const extra = {
      lastBackupAgeSeconds: backupAt === undefined ? undefined : (now.getTime() - backupAt.getTime()) / 1000,
      storageBytes: instance.storageMb * 1024 * 1024,
      sampleAgeSeconds: sample === undefined ? undefined : (now.getTime() - sample.at.getTime()) / 1000,
      power: instance.power,
    };
    const labels = { instance_id: instance.instanceId, name: instance.name, tenant_id: instance.tenantId };
    for (const { spec, gauge } of gauges) {
      const value = spec.read(sample, extra);
      if (value !== undefined && value !== null && Number.isFinite(value)) gauge.set(labels, value);
    }
  }
  return { contentType: registry.contentType, text: await registry.metrics() };
}
