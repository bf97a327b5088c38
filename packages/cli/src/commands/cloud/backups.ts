/**
 * `strata backups …`, `strata restore`, `strata fork` and `strata restore-points …`: an
 * instance's backups, its backup schedule and retention, verification, named restore points, and
 * new instances restored from backups (to a backup, a moment, a restore point) or forked; the
 * deleted instances whose backups remain, restored by their ID.
 */
import type { Command } from 'commander';
import { CliError, ExitCode, UsageError } from '../../errors.js';
import { formatTime, visible } from '../../format.js';
import type { Host } from '../../host.js';
import type { Session } from '../../session.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions, type CloudContext } from './context.js';
import { date, finish, withWait, type WaitOptions } from './instances.js';
import { itemOf, listOf, type Backup, type BackupPolicy, type Instance, type RestorePoint } from './types.js';
import { parseWaitTimeout, POLL_INTERVAL_MS } from './wait.js';

const BACKUP_TYPES = ['full', 'diff', 'incr'] as const;

/** An instance that has completed backups, as `GET /v1/backups` lists it (a deleted one has `deletedAt`). */
interface BackupSource {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly flavor: string;
  readonly deletedAt: string | null;
  readonly backups: number;
  readonly lastBackupAt: string | null;
  readonly restorableFrom: string | null;
  readonly restorableUntil: string | null;
}

export function registerBackupCommands(program: Command, host: Host): void {
  const backups = withApiOptions(program.command('backups').description("an instance's backups: list, take, show, delete, verify, and its schedule and retention (policy)"));

  backups
    .command('list', { isDefault: true })
    .alias('ls')
    .description("an instance's backups, newest first, and the window it can be restored to (a deleted instance's too, by its ID: see strata backups deleted)")
    .argument('<instance>', 'instance ID or name (a deleted instance: its ID)')
    .option('--all', 'also deleted and expired backups')
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: { all?: boolean }) => {
        const body = (await cloud.api().get(`/v1/instances/${segment(instance)}/backups${options.all ? '?all=true' : ''}`)) as { backups?: Backup[]; restorableFrom?: string | null; restorableUntil?: string | null };
        const list = listOf<Backup>(body, 'backups');
        if (session.json) return session.printJson(body);
        session.print(
          renderTable(
            [{ header: 'ID' }, { header: 'TYPE' }, { header: 'TRIGGER' }, { header: 'STATUS' }, { header: 'SIZE', align: 'right' }, { header: 'STORED', align: 'right' }, { header: 'STOPPED' }],
            list.map((b) => [b.id, b.type, b.trigger, b.status, bytes(b.sizeBytes), bytes(b.storedBytes), formatTime(date(b.stoppedAt))]),
          ),
        );
        session.print(`restorable from: ${body.restorableFrom ?? '- (no completed backup yet)'}\n`);
        if (body.restorableUntil) session.print(`restorable until: ${body.restorableUntil} (the instance was deleted then; restore it with strata restore ${visible(instance)} --name <new-name>)\n`);
      }),
    );

  backups
    .command('deleted')
    .description('deleted instances whose backups remain, newest deletion first: restore one into a new instance with strata restore <instance-id> --name <new-name>')
    .action(
      cloudAction(host, async (session, cloud) => {
        const list = listOf<BackupSource>(await cloud.api().get('/v1/backups?deleted=true'), 'instances');
        if (session.json) return session.printJson(list);
        session.print(
          renderTable(
            [{ header: 'ID' }, { header: 'NAME' }, { header: 'DELETED' }, { header: 'BACKUPS', align: 'right' }, { header: 'RESTORABLE FROM' }, { header: 'RESTORABLE UNTIL' }],
            list.map((s) => [s.id, s.name, formatTime(date(s.deletedAt)), String(s.backups), formatTime(date(s.restorableFrom)), formatTime(date(s.restorableUntil))]),
          ),
        );
      }),
    );

  backups
    .command('create')
    .description('take a backup now (RUNNING, then COMPLETED); --wait waits for it')
    .argument('<instance>', 'instance ID or name')
    .option('--type <type>', 'full (default), diff (changes since the last full) or incr (since the last backup)', 'full')
    .option('--wait', 'wait until the backup ends')
    .option('--wait-timeout <duration>', 'bound on --wait: 90s, 5m (default 10m)')
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: WaitOptions & { type: string }) => {
        if (!(BACKUP_TYPES as readonly string[]).includes(options.type)) throw new UsageError(`--type ${JSON.stringify(options.type)} is not valid; valid: ${BACKUP_TYPES.join(', ')}`);
        const timeoutMs = parseWaitTimeout(options.waitTimeout);
        let backup = itemOf<Backup>(await cloud.api().post(`/v1/instances/${segment(instance)}/backups`, { type: options.type }), 'backup');
        if (options.wait) backup = await waitForBackup(cloud, backup.id, timeoutMs);
        printBackup(session, backup);
        if (backup.status === 'FAILED') throw new CliError(`backup ${backup.id} failed: ${backup.error ?? 'no reason given'}`, ExitCode.failed);
      }),
    );

  backups
    .command('show')
    .alias('get')
    .description('one backup: status, type, label, sizes, the earliest moment it restores to')
    .argument('<backup>', 'backup ID (bak_…)')
    .action(
      cloudAction(host, async (session, cloud, backup: string) => {
        printBackup(session, itemOf<Backup>(await cloud.api().get(`/v1/backups/${segment(backup)}`), 'backup'));
      }),
    );

  backups
    .command('delete')
    .alias('rm')
    .description('delete a backup (with the differential and incremental backups built on it)')
    .argument('<backup>', 'backup ID (bak_…)')
    .option('--wait', 'wait until it is deleted')
    .option('--wait-timeout <duration>', 'bound on --wait: 90s, 5m (default 10m)')
    .action(
      cloudAction(host, async (session, cloud, backup: string, options: WaitOptions) => {
        const timeoutMs = parseWaitTimeout(options.waitTimeout);
        let answer = itemOf<Backup>(await cloud.api().delete(`/v1/backups/${segment(backup)}`), 'backup');
        if (options.wait) answer = await waitForBackup(cloud, answer.id, timeoutMs);
        printBackup(session, answer);
      }),
    );

  backups
    .command('verify')
    .description("check an instance's backups against their checksums (and with --restore-test, restore the latest state into a scratch instance); the outcome shows in strata instances operations")
    .argument('<instance>', 'instance ID or name')
    .option('--restore-test', 'also restore and query the latest state')
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: { restoreTest?: boolean }) => {
        const answer = (await cloud.api().post(`/v1/instances/${segment(instance)}/backups/verify`, { restoreTest: options.restoreTest === true })) as { workflowId: string };
        if (session.json) return session.printJson(answer);
        session.print(`verifying (workflow ${answer.workflowId}; strata instances operations ${visible(instance)} shows the outcome)\n`);
      }),
    );

  backups
    .command('policy')
    .description("show or set an instance's backup schedule (a cron expression) and retention")
    .argument('<instance>', 'instance ID or name')
    .option('--cron <expression>', "when to back up, e.g. '0 3 * * *' (5 fields, or 6 with seconds first)")
    .option('--timezone <zone>', 'the cron expression\'s time zone, e.g. Europe/Paris (default UTC)')
    .option('--type <type>', 'what the schedule takes: full (default), diff or incr')
    .option('--no-schedule', 'no scheduled backups')
    .option('--keep-full <count>', 'keep the newest N full backups (and what builds on them)')
    .option('--keep-days <days>', 'keep every backup needed to restore to any moment of the last D days')
    .option('--verify-cron <expression>', "when to test a restore of the latest state, e.g. '0 5 * * 0' (its --timezone too)")
    .option('--no-verify', 'no periodic restore tests')
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: { cron?: string; timezone?: string; type?: string; schedule?: boolean; keepFull?: string; keepDays?: string; verifyCron?: string; verify?: boolean }) => {
        const path = `/v1/instances/${segment(instance)}/backup-policy`;
        const body: Record<string, unknown> = {};
        if (options.schedule === false) {
          if (options.cron !== undefined) throw new UsageError('--cron and --no-schedule contradict each other; give one');
          body.schedule = null;
        } else if (options.cron !== undefined) {
          if (options.type !== undefined && !(BACKUP_TYPES as readonly string[]).includes(options.type)) throw new UsageError(`--type ${JSON.stringify(options.type)} is not valid; valid: ${BACKUP_TYPES.join(', ')}`);
          body.schedule = { cron: options.cron, ...(options.timezone ? { timezone: options.timezone } : {}), ...(options.type ? { type: options.type } : {}) };
        } else if (options.type !== undefined || (options.timezone !== undefined && options.verifyCron === undefined)) {
          throw new UsageError('--timezone and --type belong to a schedule; give --cron (or --verify-cron) too');
        }
        if (options.verify === false) {
          if (options.verifyCron !== undefined) throw new UsageError('--verify-cron and --no-verify contradict each other; give one');
          body.verify = null;
        } else if (options.verifyCron !== undefined) {
          body.verify = { cron: options.verifyCron, ...(options.timezone ? { timezone: options.timezone } : {}) };
        }
        if (options.keepFull !== undefined && options.keepDays !== undefined) throw new UsageError('give --keep-full or --keep-days, not both');
        if (options.keepFull !== undefined) body.retention = { fullBackups: wholeNumber('--keep-full', options.keepFull) };
        if (options.keepDays !== undefined) body.retention = { days: wholeNumber('--keep-days', options.keepDays) };
        const policy = Object.keys(body).length === 0 ? ((await cloud.api().get(path)) as BackupPolicy) : ((await cloud.api().put(path, body)) as BackupPolicy);
        if (session.json) return session.printJson(policy);
        session.print(
          renderFields([
            ['schedule', policy.schedule ? `${policy.schedule.cron} (${policy.schedule.timezone}), ${policy.schedule.type}` : '- (none)'],
            ['retention', policy.retention.fullBackups !== undefined ? `${policy.retention.fullBackups} full backup(s)` : `${policy.retention.days} day(s)`],
            ['restore tests', policy.verify ? `${policy.verify.cron} (${policy.verify.timezone})` : '- (none)'],
          ]),
        );
      }),
    );

  withWait(
    withApiOptions(
      program
        .command('restore')
        .description('restore an instance into a new one (--name), or in place (--in-place: RESTORING, then ACTIVE at the same address): to a backup, a moment (point-in-time), a restore point, or (into a new one, by default) its latest archived state; a deleted instance (by its ID, see strata backups deleted) restores into a new one, up to the moment it was deleted')
        .argument('<instance>', 'the source: instance ID or name (a deleted instance: its ID)')
        .option('--name <name>', 'the new instance\'s name')
        .option('--in-place', 'restore the instance itself (needs --time, --backup or --restore-point)')
        .option('--time <iso>', 'every transaction committed at or before this moment, e.g. 2026-12-06T10:15:00Z')
        .option('--backup <id>', 'the end of this backup')
        .option('--restore-point <name>', 'this restore point')
        .option('--flavor <flavor>', 'the new instance\'s size (default: the source\'s)'),
    ),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, options: WaitOptions & { name?: string; inPlace?: boolean; time?: string; backup?: string; restorePoint?: string; flavor?: string }) => {
      const timeoutMs = parseWaitTimeout(options.waitTimeout);
      const given = [options.time, options.backup, options.restorePoint].filter((value) => value !== undefined);
      if (given.length > 1) throw new UsageError('give at most one of --time, --backup and --restore-point');
      if ((options.name === undefined) === (options.inPlace !== true)) throw new UsageError('give --name <new-instance> to restore into a new instance, or --in-place to restore the instance itself');
      const target = {
        ...(options.time !== undefined ? { time: options.time } : {}),
        ...(options.backup !== undefined ? { backup: options.backup } : {}),
        ...(options.restorePoint !== undefined ? { restorePoint: options.restorePoint } : {}),
      };
      if (options.inPlace) {
        if (given.length === 0) throw new UsageError('--in-place needs what to go back to: --time, --backup or --restore-point');
        if (options.flavor !== undefined) throw new UsageError('--flavor applies to a new instance; resize the instance with strata instances resize');
        const restoring = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(instance)}/restore-in-place`, target), 'instance');
        return finish(session, cloud, restoring, options, { until: 'settled', timeoutMs, instance: restoring.id });
      }
      const body = { name: options.name, ...target, ...(options.flavor !== undefined ? { flavor: options.flavor } : {}) };
      const created = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(instance)}/restore`, body), 'instance');
      await finish(session, cloud, created, options, { until: 'settled', timeoutMs });
    }),
  );

  withWait(
    withApiOptions(
      program
        .command('reset')
        .description("reset a fork to its parent's present: RESTORING, then ACTIVE at the same address; its backup history starts anew")
        .argument('<fork>', 'the fork: instance ID or name'),
    ),
  ).action(
    cloudAction(host, async (session, cloud, fork: string, options: WaitOptions) => {
      const timeoutMs = parseWaitTimeout(options.waitTimeout);
      const answer = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(fork)}/reset`, {}), 'instance');
      await finish(session, cloud, answer, options, { until: 'settled', timeoutMs });
    }),
  );

  withWait(
    withApiOptions(
      program
        .command('fork')
        .description("a new instance from another's present state (or a past moment), in one call")
        .argument('<instance>', 'the source: instance ID or name')
        .requiredOption('--name <name>', 'the fork\'s name')
        .option('--time <iso>', 'fork the state as of this moment instead of the present')
        .option('--flavor <flavor>', 'the fork\'s size (default: the source\'s)'),
    ),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, options: WaitOptions & { name: string; time?: string; flavor?: string }) => {
      const timeoutMs = parseWaitTimeout(options.waitTimeout);
      const body = { name: options.name, ...(options.time !== undefined ? { time: options.time } : {}), ...(options.flavor !== undefined ? { flavor: options.flavor } : {}) };
      const created = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(instance)}/fork`, body), 'instance');
      await finish(session, cloud, created, options, { until: 'settled', timeoutMs });
    }),
  );

  const points = withApiOptions(program.command('restore-points').description("named moments of an instance that a restore returns to exactly"));
  points
    .command('list', { isDefault: true })
    .alias('ls')
    .description("an instance's restore points, newest first")
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        const list = listOf<RestorePoint>(await cloud.api().get(`/v1/instances/${segment(instance)}/restore-points`), 'restorePoints');
        if (session.json) return session.printJson(list);
        session.print(renderTable([{ header: 'NAME' }, { header: 'STATUS' }, { header: 'MADE' }], list.map((p) => [p.name, p.status, formatTime(date(p.madeAt))])));
      }),
    );
  points
    .command('create')
    .description('name the present moment of a running instance (PENDING, then CREATED once archived)')
    .argument('<instance>', 'instance ID or name')
    .argument('<name>', 'letters, digits, _ . : - (at most 63)')
    .action(
      cloudAction(host, async (session, cloud, instance: string, name: string) => {
        const point = (await cloud.api().post(`/v1/instances/${segment(instance)}/restore-points`, { name })) as RestorePoint;
        if (session.json) return session.printJson(point);
        session.print(`restore point ${visible(point.name)}: ${point.status}\n`);
      }),
    );
}

/** Polls a backup until it is no longer RUNNING or DELETING, printing its progress to stderr. */
async function waitForBackup(cloud: CloudContext, backupId: string, timeoutMs: number): Promise<Backup> {
  const deadline = Date.now() + timeoutMs;
  cloud.progress(`${backupId}: waiting`);
  for (;;) {
    const backup = itemOf<Backup>(await cloud.api().get(`/v1/backups/${segment(backupId)}`), 'backup');
    if (backup.status !== 'RUNNING' && backup.status !== 'DELETING') {
      cloud.progress(`${backupId}: ${backup.status}`);
      return backup;
    }
    if (Date.now() > deadline) throw new CliError(`backup ${backupId} is still ${backup.status} after ${Math.round(timeoutMs / 1000)}s; follow it with strata backups show ${backupId}`, ExitCode.failed);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

function printBackup(session: Session, backup: Backup): void {
  if (session.json) return session.printJson(backup);
  session.print(
    renderFields([
      ['id', backup.id],
      ['instance', backup.instanceId],
      ['status', backup.status],
      ['type', backup.type],
      ['trigger', backup.trigger],
      ['label', backup.label ?? '-'],
      ['size', bytes(backup.sizeBytes)],
      ['stored', bytes(backup.storedBytes)],
      ['restorable from', backup.restorableFrom ?? '-'],
      ...(backup.error ? ([['error', backup.error]] as [string, string][]) : []),
      ['created', formatTime(date(backup.createdAt))],
    ]),
  );
}

function wholeNumber(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`${flag} ${JSON.stringify(raw)} is not valid; give a whole number ≥ 1`);
  return value;
}

function bytes(value: number | null): string {
  if (value === null) return '-';
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(1)} MiB`;
}
