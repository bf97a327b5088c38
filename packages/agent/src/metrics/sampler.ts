// MetricsSampler: every few seconds, one statement per running instance of this node (over its
// private socket) into strata_cloud.instance_metrics, in one insert; samples older than the
// retention are deleted as it goes. Suspended instances are not asked (nor woken): their sample
// records their power state.
import type { Database } from '@strata/store';
import type { Logger } from '@strata/transact';
import type { JobHost } from '../jobs/jobs.js';
import type { PowerState } from '../sql/instance-power.js';
import { listNodeInstances } from '../sql/node-instances.js';
import { deleteMetricsBefore, insertMetrics, type MetricsSample } from '../sql/metrics.js';

/** Between two samples of the node's instances: often enough for an alert with a one-minute window. */
export const DEFAULT_METRICS_INTERVAL_MS = 15_000;
/** How long samples are kept: a day of history at 15 s is ~5,800 rows per instance. */
export const DEFAULT_METRICS_RETENTION_MS = 24 * 60 * 60_000;

/** What one instance reports; the sampler's own connection and transaction are left out. */
const SAMPLE_SQL = `
select
  (select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid())::int as connections,
  (select sum(xact_commit + xact_rollback) from pg_stat_database)::float8 as transactions,
  (select sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0) from pg_stat_database) as cache_hit_ratio,
  (select sum(pg_database_size(datname)) from pg_database where not datistemplate)::float8 as database_bytes,
  (select max(extract(epoch from coalesce(replay_lag, interval '0')))::float8 from pg_stat_replication) as replication_lag_seconds,
  (select json_object_agg(application_name, extract(epoch from coalesce(replay_lag, interval '0'))::float8) from pg_stat_replication) as standby_lags,
  (select coalesce(max(extract(epoch from now() - xact_start)), 0)::float8 from pg_stat_activity
     where backend_type = 'client backend' and xact_start is not null and state <> 'idle' and pid <> pg_backend_pid()) as longest_transaction_seconds,
  (select last_failed_time is not null and (last_archived_time is null or last_failed_time > last_archived_time) from pg_stat_archiver) as archive_failing,
  (select extract(epoch from now() - last_archived_time)::float8 from pg_stat_archiver) as last_archived_age_seconds`;

interface RawSample {
  connections: number;
  transactions: number;
  cache_hit_ratio: number | null;
  database_bytes: number;
  replication_lag_seconds: number | null;
  /** Each connected standby's replay lag by its name (a replica's instance ID), as this primary sees it. */
  standby_lags: Record<string, number> | null;
  longest_transaction_seconds: number;
  archive_failing: boolean | null;
  last_archived_age_seconds: number | null;
}

/**
 * Samples the node's running instances into strata_cloud.instance_metrics until stopped. An
 * instance that does not answer is left out of that round (its rows stop; the API shows how old
 * its last sample is); a failed round is logged and the next one tries again. Each instance is
 * held while it is sampled (power control does not suspend it mid-query); one that is suspended
 * is not asked and not woken: its row says `power_state` frozen or stopped.
 *
 * @example
 * const sampler = new MetricsSampler(host, { intervalMs: 15_000, retentionMs: 86_400_000, logger: console });
 * sampler.start();
 * await sampler.stop();
 */
export class MetricsSampler {
  readonly #host: JobHost;
  readonly #db: Database;
  readonly #intervalMs: number;
  readonly #retentionMs: number;
  readonly #logger: Logger;
  /** Each instance's transaction count and when it was read, for the next sample's rate. */
  readonly #previous = new Map<string, { transactions: number; atMs: number }>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<unknown> = Promise.resolve();

  constructor(host: JobHost, options: { readonly intervalMs: number; readonly retentionMs: number; readonly logger: Logger }) {
    this.#host = host;
    this.#db = host.db;
    this.#intervalMs = options.intervalMs;
    this.#retentionMs = options.retentionMs;
    this.#logger = options.logger;
  }

  /** Samples now and then every interval. */
  start(): void {
    const tick = () => {
      this.#round = this.sampleOnce()
        .catch((error: unknown) => this.#logger.warn(`strata agent ${this.#host.nodeId}: metrics round failed (${(error as Error).message}); the next one tries again`))
        .finally(() => {
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.#intervalMs).unref();
        });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  /** Stops sampling (after the round in progress). */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  /** One round: samples every instance that should run here; returns how many rows it wrote (suspended instances' included). */
  async sampleOnce(): Promise<number> {
    const rows = (await listNodeInstances(this.#db, this.#host.nodeId)).filter((row) => row.desired === 'running');
    const samples: MetricsSample[] = [];
    const standbyLags = new Map<string, number>();
    for (const row of rows) {
      const release = this.#host.power?.hold(row.instanceId, 'metrics sample');
      try {
        const power = (await this.#host.power?.settled(row.instanceId)) ?? 'running';
        if (power !== 'running') {
          samples.push(suspendedSample(row.instanceId, power));
          this.#previous.delete(row.instanceId);
          continue;
        }
        const cluster = await this.#host.files.open(row.instanceId, row.port, row.spec.settings);
        const [raw] = await cluster.query<RawSample & Record<string, unknown>>(SAMPLE_SQL);
        if (raw === undefined) continue;
        samples.push(this.#toSample(row.instanceId, raw));
        for (const [name, lag] of Object.entries(raw.standby_lags ?? {})) standbyLags.set(name, Number(lag));
      } catch {
        // Stopped, starting, restoring or gone: no sample this round.
        this.#previous.delete(row.instanceId);
      } finally {
        release?.();
      }
    }
    // A replica's lag is what its primary (on this node) measures: how far its replay trails the primary's commits.
    const withLags = samples.map((sample) => (standbyLags.has(sample.instanceId) ? { ...sample, replicationLagSeconds: standbyLags.get(sample.instanceId)! } : sample));
    await insertMetrics(this.#db, this.#host.nodeId, withLags);
    await deleteMetricsBefore(this.#db, this.#host.nodeId, new Date(Date.now() - this.#retentionMs));
    return samples.length;
  }

  #toSample(instanceId: string, raw: RawSample): MetricsSample {
    const nowMs = Date.now();
    const transactions = Number(raw.transactions);
    const before = this.#previous.get(instanceId);
    this.#previous.set(instanceId, { transactions, atMs: nowMs });
    const transactionsPerSecond = before === undefined || nowMs <= before.atMs || transactions < before.transactions ? null : (transactions - before.transactions) / ((nowMs - before.atMs) / 1000);
    return {
      instanceId,
      powerState: 'running',
      connections: Number(raw.connections),
      transactionsPerSecond,
      cacheHitRatio: raw.cache_hit_ratio === null ? null : Number(raw.cache_hit_ratio),
      databaseBytes: Number(raw.database_bytes),
      replicationLagSeconds: raw.replication_lag_seconds === null ? null : Number(raw.replication_lag_seconds),
      longestTransactionSeconds: Number(raw.longest_transaction_seconds),
      archiveFailing: raw.archive_failing,
      lastArchivedAgeSeconds: raw.last_archived_age_seconds === null ? null : Number(raw.last_archived_age_seconds),
    };
  }
}

/** The sample of a suspended instance: its power state, nothing asked of it. */
function suspendedSample(instanceId: string, powerState: PowerState): MetricsSample {
  return {
    instanceId,
    powerState,
    connections: null,
    transactionsPerSecond: null,
    cacheHitRatio: null,
    databaseBytes: null,
    replicationLagSeconds: null,
    longestTransactionSeconds: null,
    archiveFailing: null,
    lastArchivedAgeSeconds: null,
  };
}
