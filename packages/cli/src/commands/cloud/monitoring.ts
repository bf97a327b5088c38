/**
 * `strata metrics <instance>` and `strata alerts …`: an instance's sampled metrics, and alert rules
 * (yours, and your settings of the built-in ones), the webhook their events go to, and what fires now.
 */
import type { Command } from 'commander';
import { CliError, ExitCode, UsageError } from '../../errors.js';
import { formatTime, visible } from '../../format.js';
import type { Host } from '../../host.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions } from './context.js';

interface Sample {
  readonly at: string;
  readonly connections: number | null;
  readonly transactionsPerSecond: number | null;
  readonly cacheHitRatio: number | null;
  readonly databaseBytes: number | null;
  readonly replicationLagSeconds: number | null;
  readonly longestTransactionSeconds: number | null;
  readonly archiveFailing: boolean | null;
}

interface Rule {
  readonly id: string;
  readonly name: string;
  readonly builtin: boolean;
  readonly instanceId: string | null;
  readonly metric: string;
  readonly comparison: string;
  readonly threshold: number;
  readonly durationSeconds: number;
  /** False: a built-in rule you turned off. */
  readonly enabled: boolean;
  /** A built-in rule's defaults; null for yours. */
  readonly defaults: { readonly threshold: number; readonly durationSeconds: number } | null;
  /** Whether a built-in rule runs with its defaults; null for yours. */
  readonly isDefault: boolean | null;
}

/** The built-in rules (GET /v1/alerts/rules lists them with your settings). */
const BUILTIN_RULES = 'archiving_failing, backup_too_old, disk_nearly_full, replica_lagging, instance_down';

/** A built-in rule's settings column: `default`, or what differs from the defaults. */
function settingsOf(rule: Rule): string {
  if (!rule.builtin || rule.defaults === null) return '-';
  if (rule.isDefault === true) return 'default';
  const changed = [
    ...(rule.enabled ? [] : ['off']),
    ...(rule.threshold !== rule.defaults.threshold ? [`threshold (default ${rule.defaults.threshold})`] : []),
    ...(rule.durationSeconds !== rule.defaults.durationSeconds ? [`for (default ${rule.defaults.durationSeconds}s)`] : []),
  ];
  return changed.length === 0 ? 'set to the defaults' : changed.join(', ');
}

interface AlertEvent {
  readonly id: string;
  readonly kind: string;
  readonly ruleName: string;
  readonly instanceId: string;
  readonly value: number | null;
  readonly at: string;
  readonly deliveries: ReadonlyArray<{ readonly ok: boolean; readonly httpStatus: number | null }>;
}

/** `10m`, `2h`, `1d` → ms. */
function parseSince(raw: string): number {
  const match = /^(\d+)(m|h|d)$/.exec(raw.trim());
  if (!match) throw new UsageError(`--since ${JSON.stringify(raw)} is not valid; give minutes, hours or days, e.g. 10m, 2h, 1d`);
  return Number(match[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'];
}

const fixed = (value: number | null, digits = 1) => (value === null ? '-' : value.toFixed(digits));

export function registerMonitoringCommands(program: Command, host: Host): void {
  withApiOptions(
    program
      .command('metrics')
      .description("an instance's samples: connections, transactions/s, cache hit ratio, size, replication lag, longest transaction, WAL archiving")
      .argument('<instance>', 'instance ID or name')
      .option('--since <duration>', 'how far back: 10m, 2h, 1d (default 10m)', '10m')
      .option('--limit <count>', 'at most this many samples, the newest (default 20)', '20'),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, options: { since: string; limit: string }) => {
      const from = new Date(Date.now() - parseSince(options.since)).toISOString();
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit ${JSON.stringify(options.limit)} is not valid; give a whole number ≥ 1`);
      const body = (await cloud.api().get(`/v1/instances/${segment(instance)}/metrics?from=${encodeURIComponent(from)}&limit=${limit}`)) as { samples: Sample[]; lastBackupAt: string | null; storageBytes: number };
      if (session.json) return session.printJson(body);
      session.print(
        renderTable(
          [{ header: 'AT' }, { header: 'CONN', align: 'right' }, { header: 'TPS', align: 'right' }, { header: 'HIT %', align: 'right' }, { header: 'SIZE MB', align: 'right' }, { header: 'LAG S', align: 'right' }, { header: 'LONGEST S', align: 'right' }, { header: 'ARCHIVING' }],
          body.samples.map((s) => [
            formatTime(new Date(s.at)),
            fixed(s.connections, 0),
            fixed(s.transactionsPerSecond),
            s.cacheHitRatio === null ? '-' : (s.cacheHitRatio * 100).toFixed(1),
            s.databaseBytes === null ? '-' : (s.databaseBytes / 1e6).toFixed(1),
            fixed(s.replicationLagSeconds),
            fixed(s.longestTransactionSeconds),
            s.archiveFailing === null ? '-' : s.archiveFailing ? 'FAILING' : 'ok',
          ]),
        ),
      );
      session.print(`last backup: ${body.lastBackupAt ?? '- (none yet)'}; storage ${(body.storageBytes / 1024 / 1024).toFixed(0)} MiB\n`);
    }),
  );

  const alerts = withApiOptions(program.command('alerts').description('alert rules (built-in and yours), the webhook their events go to, and what fires now'));

  alerts
    .command('list', { isDefault: true })
    .alias('ls')
    .description('what fires now, and the newest events with their deliveries')
    .option('--limit <count>', 'events to show (default 20)', '20')
    .action(
      cloudAction(host, async (session, cloud, options: { limit: string }) => {
        const body = (await cloud.api().get(`/v1/alerts?limit=${encodeURIComponent(options.limit)}`)) as { firing: Array<{ rule: string; instanceId: string; value: number | null; since: string | null }>; events: AlertEvent[] };
        if (session.json) return session.printJson(body);
        session.print(`firing: ${body.firing.length === 0 ? 'nothing' : body.firing.map((f) => `${f.rule} on ${f.instanceId} (${fixed(f.value, 2)})`).join('; ')}\n`);
        session.print(
          renderTable(
            [{ header: 'AT' }, { header: 'KIND' }, { header: 'RULE' }, { header: 'INSTANCE' }, { header: 'VALUE', align: 'right' }, { header: 'DELIVERIES' }],
            body.events.map((e) => [formatTime(new Date(e.at)), e.kind, e.ruleName, e.instanceId, fixed(e.value, 2), e.deliveries.map((d) => (d.ok ? 'ok' : String(d.httpStatus ?? 'error'))).join(',') || '-']),
          ),
        );
      }),
    );

  alerts
    .command('rules')
    .description('the built-in rules (with your settings of them) and yours')
    .action(
      cloudAction(host, async (session, cloud) => {
        const { rules } = (await cloud.api().get('/v1/alerts/rules')) as { rules: Rule[] };
        if (session.json) return session.printJson(rules);
        session.print(
          renderTable(
            [{ header: 'NAME' }, { header: 'BUILT IN' }, { header: 'ON' }, { header: 'INSTANCE' }, { header: 'CONDITION' }, { header: 'FOR', align: 'right' }, { header: 'SETTINGS' }],
            rules.map((r) => [r.name, r.builtin ? 'yes' : 'no', r.enabled ? 'yes' : 'no', r.instanceId ?? 'all', `${r.metric} ${r.comparison} ${r.threshold}`, `${r.durationSeconds}s`, settingsOf(r)]),
          ),
        );
      }),
    );

  alerts
    .command('builtin')
    .description('show a built-in rule, or turn it off or on, or set its threshold and how long it must hold, for your instances')
    .argument('<name>', BUILTIN_RULES)
    .option('--enable', 'turn it on')
    .option('--disable', 'turn it off (where it fires, it resolves)')
    .option('--threshold <number>', "its threshold in the rule's unit (disk_nearly_full: a ratio, 0.8 = 80 %; the others: seconds); 'default' for the default")
    .option('--for <seconds>', "how long it must hold, whole seconds; 'default' for the default")
    .option('--reset', 'back to every default (on, default threshold and duration)')
    .action(
      cloudAction(host, async (session, cloud, name: string, options: { enable?: boolean; disable?: boolean; threshold?: string; for?: string; reset?: boolean }) => {
        if (options.enable && options.disable) throw new UsageError('--enable and --disable contradict each other; give one');
        if (options.reset && (options.enable || options.disable || options.threshold !== undefined || options.for !== undefined)) throw new UsageError('--reset sets every default; give it alone');
        const change: { enabled?: boolean; threshold?: number | null; durationSeconds?: number | null } = options.reset ? { enabled: true, threshold: null, durationSeconds: null } : {};
        if (options.enable || options.disable) change.enabled = options.enable === true;
        if (options.threshold !== undefined) {
          const threshold = options.threshold === 'default' ? null : Number(options.threshold);
          if (threshold !== null && (options.threshold.trim() === '' || !Number.isFinite(threshold))) throw new UsageError(`--threshold ${JSON.stringify(options.threshold)} is not a number; give one, or 'default'`);
          change.threshold = threshold;
        }
        if (options.for !== undefined) {
          const durationSeconds = options.for === 'default' ? null : Number(options.for);
          if (durationSeconds !== null && (options.for.trim() === '' || !Number.isInteger(durationSeconds) || durationSeconds < 0)) throw new UsageError(`--for ${JSON.stringify(options.for)} is not valid; give whole seconds ≥ 0, or 'default'`);
          change.durationSeconds = durationSeconds;
        }
        let rule: Rule;
        if (Object.keys(change).length > 0) {
          rule = (await cloud.api().put(`/v1/alerts/rules/${segment(name)}`, change)) as Rule;
        } else {
          const { rules } = (await cloud.api().get('/v1/alerts/rules')) as { rules: Rule[] };
          const found = rules.find((r) => r.builtin && (r.name === name || r.id === name));
          if (found === undefined) throw new CliError(`no built-in rule ${JSON.stringify(name)}; the built-in rules are ${BUILTIN_RULES}`, ExitCode.notFound);
          rule = found;
        }
        if (session.json) return session.printJson(rule);
        session.print(
          renderFields([
            ['name', rule.name],
            ['on', rule.enabled ? 'yes' : 'no'],
            ['condition', `${rule.metric} ${rule.comparison} ${rule.threshold} for ${rule.durationSeconds}s`],
            ['defaults', rule.defaults === null ? '-' : `${rule.metric} ${rule.comparison} ${rule.defaults.threshold} for ${rule.defaults.durationSeconds}s`],
            ['settings', settingsOf(rule)],
          ]),
        );
      }),
    );

  alerts
    .command('create')
    .description('add a rule: fires when <metric> <comparison> <threshold> has held --for seconds')
    .argument('<name>', 'lower-case letters, digits, - or _')
    .requiredOption('--metric <metric>', 'connections, transactions_per_second, cache_hit_ratio, database_bytes, disk_used_ratio, replication_lag_seconds, longest_transaction_seconds, archive_failing, last_archived_age_seconds, last_backup_age_seconds, sample_age_seconds')
    .requiredOption('--threshold <number>', 'the value to compare with')
    .option('--below', 'fire when the metric is below the threshold (default: above)')
    .option('--for <seconds>', 'how long it must hold (default 60)', '60')
    .option('--instance <instance>', 'one instance (default: all of yours)')
    .action(
      cloudAction(host, async (session, cloud, name: string, options: { metric: string; threshold: string; below?: boolean; for: string; instance?: string }) => {
        const threshold = Number(options.threshold);
        const durationSeconds = Number(options.for);
        if (!Number.isFinite(threshold)) throw new UsageError(`--threshold ${JSON.stringify(options.threshold)} is not a number`);
        if (!Number.isInteger(durationSeconds) || durationSeconds < 0) throw new UsageError(`--for ${JSON.stringify(options.for)} is not valid; give whole seconds ≥ 0`);
        const rule = (await cloud.api().post('/v1/alerts/rules', { name, metric: options.metric, threshold, comparison: options.below ? '<' : '>', durationSeconds, ...(options.instance ? { instance: options.instance } : {}) })) as Rule;
        if (session.json) return session.printJson(rule);
        session.print(renderFields([['id', rule.id], ['name', rule.name], ['condition', `${rule.metric} ${rule.comparison} ${rule.threshold} for ${rule.durationSeconds}s`], ['instance', rule.instanceId ?? 'all']]));
      }),
    );

  alerts
    .command('delete')
    .alias('rm')
    .description('delete one of your rules')
    .argument('<rule>', 'rule ID or name')
    .action(
      cloudAction(host, async (session, cloud, rule: string) => {
        await cloud.api().delete(`/v1/alerts/rules/${segment(rule)}`);
        if (session.json) return session.printJson({ rule, deleted: true });
        session.print(`deleted ${visible(rule)}\n`);
      }),
    );

  alerts
    .command('webhook')
    .description('show, set (--url; prints the signing secret once) or remove (--remove) where events are delivered')
    .option('--url <url>', 'an http(s) URL of your receiver')
    .option('--remove', 'stop delivering (events are still recorded)')
    .action(
      cloudAction(host, async (session, cloud, options: { url?: string; remove?: boolean }) => {
        if (options.url !== undefined && options.remove) throw new UsageError('--url and --remove contradict each other; give one');
        if (options.remove) {
          await cloud.api().delete('/v1/alerts/webhook');
          return session.json ? session.printJson({ removed: true }) : session.print('webhook removed\n');
        }
        const body = options.url === undefined ? await cloud.api().get('/v1/alerts/webhook') : await cloud.api().put('/v1/alerts/webhook', { url: options.url });
        if (session.json) return session.printJson(body);
        const { url, secret } = body as { url: string; secret?: string };
        session.print(renderFields([['url', url], ...(secret ? ([['secret', `${secret}  (shown once: check X-Strata-Signature = sha256=HMAC-SHA256(secret, body))`]] as [string, string][]) : [])]));
      }),
    );
}
