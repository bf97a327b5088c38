// BackupRepository: one pgBackRest repository (a directory standing in for object storage) holding
// a stanza per instance — its WAL archive and its full, differential and incremental backups.

import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, run, sqlLiteral } from '../commands.js';
import { LIMITS_FILE, LOG_FILE } from '../instance/config-file.js';
import { PgInstanceError } from '../instance/errors.js';
import type { ManagedCluster } from '../instance/managed-cluster.js';
import { giveToServer, giveTreeToServer, serverIdentity, type ServerIdentity } from '../instance/server-identity.js';
import { removeAutoSettings } from './auto-conf.js';
import { archiveCommand, assertPlainPath, assertRetention, assertStanza, renderStanzaConfig, restoreCommand, type BackupRetention, type StanzaServer } from './config.js';
import { PgBackupError } from './errors.js';
import { parseStanzaInfo, type BackupSet, type StanzaInfo } from './info.js';
import { ensurePgBackRestInstalled } from './install.js';

/** Kinds of backup: a full copy, the changes since the last full (diff), or since the last backup of any kind (incr). */
export const BACKUP_TYPES = ['full', 'diff', 'incr'] as const;
/** One kind of backup. */
export type BackupType = (typeof BACKUP_TYPES)[number];

/**
 * What a restore brings back: the end of the archived WAL (`latest`), the consistent end of one
 * backup set (`backup`), a moment (`time`: every transaction committed at or before it), or a
 * restore point made with {@link BackupRepository.createRestorePoint} (`name`; its `lsn`, which that
 * returns, picks the newest backup that ended before it — the latest one may have started after).
 */
export type RestoreTarget =
  | { readonly kind: 'latest' }
  | { readonly kind: 'backup'; readonly label: string }
  /** `microseconds` (0-999) refine `time` past its milliseconds: commits are stamped to the microsecond. */
  | { readonly kind: 'time'; readonly time: Date; readonly microseconds?: number }
  | { readonly kind: 'name'; readonly name: string; readonly lsn?: string };

/** The annotation key under which a backup carries its caller's ID (so a retried backup finds the one it made). */
export const BACKUP_ID_ANNOTATION = 'strata-backup-id';

/** A backup or restore of a large instance on a slow disk; past an hour something is wrong. */
const LONG_COMMAND_TIMEOUT_MS = 60 * 60_000;
/** stanza-create, info, check, expire: seconds normally. */
const SHORT_COMMAND_TIMEOUT_MS = 5 * 60_000;
/** A backup still running in another process (an agent killed mid-backup leaves pgbackrest running): wait this long for its lock. */
const LOCK_WAIT_MS = 30 * 60_000;
const LOCK_POLL_MS = 500;
/** A restored server replays WAL before it promotes; past this the target is far or the host is stuck. */
const PROMOTE_TIMEOUT_MS = 30 * 60_000;
const PROMOTE_POLL_MS = 50;
/** Niceness of background pgBackRest work (backups, verify): below the servers and the platform. */
const BACKGROUND_NICENESS = 10;
/** A switched WAL segment reaches the repository in well under a second; a minute means archiving is stuck. */
const ARCHIVE_WAIT_MS = 60_000;
const ARCHIVE_POLL_MS = 20;
/** Restore point names are PostgreSQL's (MAXFNAMELEN - 1). */
const MAX_RESTORE_POINT_CHARS = 63;
const RESTORE_POINT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
/** What PostgreSQL logs when the archived WAL ends before the restore target. */
const TARGET_NOT_REACHED = 'recovery ended before configured recovery target was reached';

/**
 * A pgBackRest repository in a local directory (owned by the server user, 0700): an instance's
 * server archives every WAL segment into its stanza, backups go there, and restores and
 * point-in-time restores come from there into new data directories. Each stanza has its own
 * config file under `<dir>/conf/`.
 *
 * @example
 * ```ts
 * const repository = await BackupRepository.open('/var/lib/strata/backups');
 * await repository.enableArchiving(cluster, 'ins_abc');               // WAL flows from now on
 * const set = await repository.backup(cluster, 'ins_abc', { type: 'full', backupId: 'bak_1' });
 * await repository.restoreInto('ins_abc', { kind: 'time', time: new Date(Date.now() - 60_000) }, '/var/lib/strata/instances/ins_new/data.partial');
 * ```
 */
export class BackupRepository {
  readonly dir: string;
  readonly #bin: string;
  readonly #identity: ServerIdentity;

  private constructor(dir: string, bin: string, identity: ServerIdentity) {
    this.dir = dir;
    this.#bin = bin;
    this.#identity = identity;
  }

  /**
   * Opens the repository at `dir`, making it (0700, owned by the server user) when missing, and
   * installing pgBackRest when it is missing and we are root.
   *
   * @throws {PgBackupError} `PG_BACKUP_INVALID_ARGUMENT` for a relative path or one with quotes or `%`;
   * `PG_BACKUP_TOOL_NOT_INSTALLED`.
   *
   * @example
   * ```ts
   * const repository = await BackupRepository.open('/var/lib/strata/backups');
   * ```
   */
  static async open(dir: string): Promise<BackupRepository> {
    assertPlainPath(dir, 'the backup repository');
    const bin = await ensurePgBackRestInstalled();
    const identity = await serverIdentity();
    const repository = new BackupRepository(dir.replace(/\/+$/, ''), bin, identity);
    for (const sub of ['', 'conf', 'lock']) {
      const path = join(repository.dir, sub);
      await mkdir(path, { recursive: true, mode: 0o700 });
      await giveToServer(path, identity);
    }
    return repository;
  }

  /** The config file of a stanza. */
  configFile(stanza: string): string {
    assertStanza(stanza);
    return join(this.dir, 'conf', `${stanza}.conf`);
  }

  /** The archive_command that pushes a stanza's WAL here. */
  archiveCommand(stanza: string): string {
    return archiveCommand(this.#bin, this.configFile(stanza), stanza);
  }

  /**
   * Makes a running instance archive its WAL into `stanza` from now on: writes the stanza's
   * config, creates the stanza (nothing to do when it exists for this server), and sets
   * archive_command with ALTER SYSTEM (Strata's own channel: tenants cannot set it) and a reload.
   * Segments written before — kept in pg_wal while archive_mode was on — are archived then.
   *
   * @returns `restartRequired`: archive_mode was off (an instance older than archiving) and is on
   * only after a restart.
   * @throws {PgBackupError} `PG_BACKUP_FAILED` when stanza-create fails (another server's stanza, an unreachable server).
   *
   * @example
   * ```ts
   * const { restartRequired } = await repository.enableArchiving(cluster, 'ins_abc');
   * if (restartRequired) await cluster.restart();
   * ```
   */
  async enableArchiving(cluster: ManagedCluster, stanza: string, retention?: BackupRetention): Promise<{ restartRequired: boolean }> {
    await this.#writeConfig(stanza, cluster, retention);
    await this.#pgbackrest(stanza, ['stanza-create'], SHORT_COMMAND_TIMEOUT_MS);
    const command = this.archiveCommand(stanza);
    const [current] = await cluster.query<{ mode: string; command: string }>("select current_setting('archive_mode') as mode, current_setting('archive_command') as command");
    if (current === undefined) throw new Error('invariant: a select of settings returns one row');
    if (current.command !== command) await cluster.query(`alter system set archive_command = ${sqlLiteral(command)}`);
    const restartRequired = current.mode === 'off';
    if (restartRequired) await cluster.query("alter system set archive_mode = 'on'");
    if (current.command !== command || restartRequired) await cluster.query('select pg_reload_conf()');
    return { restartRequired };
  }

  /**
   * Takes a backup of a running, archiving instance (full, or diff/incr over the last one; a
   * diff or incr with no full before it is taken as full by pgBackRest), tagged with `backupId`.
   * Repeating a call with the same ID returns the backup already made (a retry after a crash); a
   * backup still running in a process of an earlier attempt is waited for.
   *
   * @throws {PgBackupError} `PG_BACKUP_INVALID_ARGUMENT` for an unknown type; `PG_BACKUP_FAILED`
   * with pgBackRest's output (archiving broken, server down, repository full).
   *
   * @example
   * ```ts
   * const set = await repository.backup(cluster, 'ins_abc', { type: 'incr', backupId: 'bak_2' });
   * console.log(set.label, set.repositoryDeltaBytes);
   * ```
   */
  async backup(cluster: ManagedCluster, stanza: string, options: { readonly type: BackupType; readonly backupId: string; readonly retention?: BackupRetention }): Promise<BackupSet> {
    if (!BACKUP_TYPES.includes(options.type)) {
      throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `backup type must be one of ${BACKUP_TYPES.join(', ')}, got ${JSON.stringify(options.type)}`);
    }
    if (typeof options.backupId !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(options.backupId)) {
      throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `backupId must be 1-128 letters, digits, '_', '.', ':' or '-', got ${JSON.stringify(options.backupId)}`);
    }
    const made = async () => (await this.info(stanza))?.backups.find((set) => set.annotations[BACKUP_ID_ANNOTATION] === options.backupId);
    const existing = await made();
    if (existing !== undefined) return existing;
    await this.#writeConfig(stanza, cluster, options.retention);
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await this.#pgbackrest(stanza, ['backup', `--type=${options.type}`, `--annotation=${BACKUP_ID_ANNOTATION}=${options.backupId}`], LONG_COMMAND_TIMEOUT_MS, { background: true });
        break;
      } catch (error) {
        // An earlier attempt's pgbackrest (its agent was killed) still holds the lock: it may be making this very backup.
        if (!/unable to acquire lock/i.test(errorMessage(error)) || Date.now() > deadline) throw error;
        await sleep(LOCK_POLL_MS);
        const finished = await made();
        if (finished !== undefined) return finished;
      }
    }
    const set = await made();
    if (set === undefined) throw new PgBackupError('PG_BACKUP_FAILED', `pgbackrest reported backup ${options.backupId} of ${stanza} done, but info does not list it; run \`pgbackrest info --stanza=${stanza}\``);
    return set;
  }

  /**
   * The stanza's backups (oldest first) and archived WAL range; undefined when the repository has
   * no such stanza (archiving was never enabled for it).
   *
   * @example
   * ```ts
   * const info = await repository.info('ins_abc');
   * console.log(info?.backups.map((set) => set.label));
   * ```
   */
  async info(stanza: string): Promise<StanzaInfo | undefined> {
    assertStanza(stanza);
    const { stdout } = await this.#pgbackrestGlobal(['info', '--output=json', `--stanza=${stanza}`], SHORT_COMMAND_TIMEOUT_MS);
    return parseStanzaInfo(stdout, stanza);
  }

  /**
   * Removes one backup set (and the differentials and incrementals built on it) and the WAL only
   * it needed; without a label, applies the stanza's retention. Removing a set that is gone does nothing.
   *
   * @example
   * ```ts
   * await repository.expire('ins_abc', '20261206-164752F');
   * ```
   */
  async expire(stanza: string, label?: string): Promise<void> {
    if (label !== undefined && !/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(label)) {
      throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `a backup label looks like 20261206-164752F or 20261206-164752F_20261206-170000I, got ${JSON.stringify(label)}`);
    }
    if (label !== undefined && !(await this.info(stanza))?.backups.some((set) => set.label === label)) return;
    await this.#pgbackrest(stanza, ['expire', ...(label === undefined ? [] : [`--set=${label}`])], SHORT_COMMAND_TIMEOUT_MS);
  }

  /**
   * Deletes a stanza with all its backups and archived WAL (pgBackRest `stop`, `stanza-delete
   * --force`, `start`): the instance's history starts anew at its next backup. For an instance whose
   * data was replaced by another's (a fork reset to its parent), whose WAL would otherwise collide
   * with the history already archived under the same segment names. Nothing to do for a stanza that
   * does not exist.
   *
   * @example
   * ```ts
   * await repository.deleteStanza('ins_fork');
   * await repository.enableArchiving(cluster, 'ins_fork'); // a new stanza
   * ```
   */
  async deleteStanza(stanza: string): Promise<void> {
    if (!existsSync(this.configFile(stanza)) || (await this.info(stanza)) === undefined) return;
    await this.#pgbackrest(stanza, ['stop'], SHORT_COMMAND_TIMEOUT_MS);
    try {
      await this.#pgbackrest(stanza, ['stanza-delete', '--force'], SHORT_COMMAND_TIMEOUT_MS);
    } finally {
      await this.#pgbackrest(stanza, ['start'], SHORT_COMMAND_TIMEOUT_MS).catch(() => {});
    }
  }

  /**
   * Verifies the stanza's backups and WAL against the checksums pgBackRest recorded (every file is
   * read back). Resolves with pgBackRest's report; rejects with `PG_BACKUP_FAILED` naming what is broken.
   *
   * @example
   * ```ts
   * await repository.verify('ins_abc');
   * ```
   */
  async verify(stanza: string): Promise<string> {
    const { stdout } = await this.#pgbackrest(stanza, ['verify', '--output=text', '--verbose'], LONG_COMMAND_TIMEOUT_MS, { background: true });
    if (!/^status: ok$/m.test(stdout)) {
      throw new PgBackupError('PG_BACKUP_FAILED', `pgbackrest verify of ${stanza} found problems:\n${stdout.trim()}`);
    }
    return stdout.trim();
  }

  /**
   * Makes everything committed on a running, archiving instance restorable now: a transaction
   * commits (so a point-in-time restore to any earlier moment has a commit after it to stop at), the
   * current WAL segment is switched out, and the call returns once the archiver reports it archived.
   *
   * @throws {PgBackupError} `PG_BACKUP_FAILED` when the instance does not archive into this stanza, or archiving fails.
   *
   * @example
   * ```ts
   * const before = new Date();
   * await repository.seal(cluster, 'ins_abc');
   * await repository.restoreInto('ins_abc', { kind: 'time', time: before }, dir);
   * ```
   */
  async seal(cluster: ManagedCluster, stanza: string): Promise<void> {
    const [setting] = await cluster.query<{ command: string }>("select current_setting('archive_command') as command");
    if (setting?.command !== this.archiveCommand(stanza)) {
      throw new PgBackupError('PG_BACKUP_FAILED', `the instance does not archive into stanza ${stanza} of ${this.dir}; enable archiving (a backup does) first`);
    }
    await cluster.query('select pg_current_xact_id()');
    // The segment the switch completed (pg_walfile_name names the one holding the byte before the returned position).
    const [switched] = await cluster.query<{ segment: string }>('select pg_walfile_name(pg_switch_wal()) as segment');
    if (switched === undefined) throw new Error('invariant: pg_switch_wal returns a row');
    await waitArchived(cluster, switched.segment);
  }

  /**
   * Marks the present moment of a running instance with a named restore point and seals it (see
   * {@link BackupRepository.seal}): a restore to `{ kind: 'name', name, lsn }` stops exactly there.
   *
   * @returns the restore point's WAL position (`0/3000090`), to restore to it with.
   *
   * @throws {PgBackupError} `PG_BACKUP_INVALID_ARGUMENT` for a name that is empty, too long or has other than letters, digits, `_ . : -`.
   *
   * @example
   * ```ts
   * const lsn = await repository.createRestorePoint(cluster, 'ins_abc', 'before-migration-42');
   * ```
   */
  async createRestorePoint(cluster: ManagedCluster, stanza: string, name: string): Promise<string> {
    assertRestorePointName(name);
    const [point] = await cluster.query<{ lsn: string }>('select pg_create_restore_point($1)::text as lsn', [name]);
    if (point === undefined) throw new Error('invariant: pg_create_restore_point returns a row');
    await this.seal(cluster, stanza);
    return point.lsn;
  }

  /**
   * Restores `stanza` as of `target` into `dir` (made empty, 0700, for the server user): the
   * files of the newest backup before the target, a restore_command that fetches the WAL to
   * replay, and recovery settings that promote the server once it reaches the target. The source's
   * archive_command is removed (a copy must not archive into its source's stanza) unless
   * `keepArchiving` (a restore of an instance in place: its new timeline goes on in its own stanza),
   * and its log and limits are dropped. Start the copy, then {@link BackupRepository.waitForPromotion}.
   *
   * @throws {PgBackupError} `PG_BACKUP_INVALID_ARGUMENT` for a malformed target; `PG_BACKUP_NOT_FOUND`
   * when the stanza has no backup (or not `target.label`); `PG_BACKUP_TARGET_UNREACHABLE` for a
   * time before its first backup ended; `PG_BACKUP_FAILED` with pgBackRest's output.
   *
   * @example
   * ```ts
   * await repository.restoreInto('ins_abc', { kind: 'name', name: 'before-migration-42' }, '/srv/ins_new/data.partial');
   * ```
   */
  async restoreInto(stanza: string, target: RestoreTarget, dir: string, options: { readonly keepArchiving?: boolean } = {}): Promise<void> {
    const targetArgs = restoreTargetArgs(target);
    assertPlainPath(dir, 'the restore directory');
    const info = await this.info(stanza);
    const first = info?.backups[0];
    if (info === undefined || first === undefined) {
      throw new PgBackupError('PG_BACKUP_NOT_FOUND', `instance ${stanza} has no backup to restore from; take one first`);
    }
    if (target.kind === 'backup' && !info.backups.some((set) => set.label === target.label)) {
      throw new PgBackupError('PG_BACKUP_NOT_FOUND', `instance ${stanza} has no backup ${target.label}; list its backups to pick one`);
    }
    if (target.kind === 'time' && target.time.getTime() < restorableFrom(first).getTime()) {
      throw new PgBackupError('PG_BACKUP_TARGET_UNREACHABLE', `${target.time.toISOString()} is before the first backup of ${stanza} ended (${restorableFrom(first).toISOString()}); pick a later time`);
    }
    // A restore point lies in the WAL after the backup it is restored from: the newest one that ended before it was made.
    let setArgs: string[] = [];
    if (target.kind === 'name' && target.lsn !== undefined) {
      const point = lsnValue(target.lsn);
      const before = info.backups.filter((set) => lsnValue(set.lsnStop) <= point).at(-1);
      if (before === undefined) throw new PgBackupError('PG_BACKUP_TARGET_UNREACHABLE', `restore point ${target.name} of ${stanza} was made before its first backup ended; it cannot be restored to`);
      setArgs = [`--set=${before.label}`];
    }
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await giveToServer(dir, this.#identity);
    await this.#pgbackrest(stanza, [
      'restore',
      `--pg1-path=${dir}`,
      ...targetArgs,
      ...setArgs,
      `--recovery-option=restore_command=${restoreCommand(this.#bin, this.configFile(stanza), stanza)}`,
    ], LONG_COMMAND_TIMEOUT_MS);
    if (!options.keepArchiving) await removeAutoSettings(dir, ['archive_command'], this.#identity);
    await truncate(join(dir, LOG_FILE)).catch(() => {});
    await rm(join(dir, LIMITS_FILE), { force: true });
    await giveTreeToServer(dir, this.#identity);
  }

  /**
   * Waits until a restored server has replayed up to its target and promoted (accepts writes).
   *
   * @throws {PgBackupError} `PG_BACKUP_TARGET_UNREACHABLE` when the archived WAL ends before the
   * target (the server stops; PostgreSQL's log says so); `PG_BACKUP_FAILED` after the timeout.
   *
   * @example
   * ```ts
   * await cluster.start();
   * await repository.waitForPromotion(cluster);
   * ```
   */
  async waitForPromotion(cluster: ManagedCluster, timeoutMs = PROMOTE_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const [row] = await cluster.query<{ recovering: boolean }>('select pg_is_in_recovery() as recovering');
        if (row?.recovering === false) return;
      } catch (error) {
        if (!(error instanceof PgInstanceError && error.code === 'PG_INSTANCE_UNAVAILABLE')) throw error;
        if (!(await cluster.isRunning())) throw await recoveryFailure(cluster);
      }
      if (Date.now() > deadline) throw new PgBackupError('PG_BACKUP_FAILED', `the restored instance did not finish recovery in ${timeoutMs} ms; see its log`);
      await sleep(PROMOTE_POLL_MS);
    }
  }

  /** Stanzas that have a config file here (instances that archived into this repository). */
  async stanzas(): Promise<string[]> {
    return (await readdir(join(this.dir, 'conf'))).filter((name) => name.endsWith('.conf')).map((name) => name.slice(0, -'.conf'.length)).sort();
  }

  /** Writes the stanza's config for a running cluster: pgBackRest checks pg1-path against the server's own data_directory. */
  async #writeConfig(stanza: string, cluster: ManagedCluster, retention?: BackupRetention): Promise<void> {
    assertStanza(stanza);
    const [row] = await cluster.query<{ dir: string }>("select current_setting('data_directory') as dir");
    const server: StanzaServer = { ...cluster.spec, dataDir: row?.dir ?? cluster.spec.dataDir };
    assertPlainPath(server.dataDir, 'the data directory');
    assertPlainPath(server.socketDir, 'the socket directory');
    if (retention !== undefined) assertRetention(retention);
    const file = this.configFile(stanza);
    await writeFile(file, renderStanzaConfig({ repositoryDir: this.dir, lockDir: join(this.dir, 'lock'), stanza, server, retention }), { mode: 0o600 });
    await giveToServer(file, this.#identity);
  }

  /** Runs a pgBackRest command of one stanza (its config file) as the server user. */
  #pgbackrest(stanza: string, args: readonly string[], timeoutMs: number, options: { readonly background?: boolean } = {}): Promise<{ stdout: string; stderr: string }> {
    return this.#pgbackrestGlobal([`--config=${this.configFile(stanza)}`, `--stanza=${stanza}`, ...args], timeoutMs, options);
  }

  /**
   * Runs pgBackRest as the server user. `background` work (backups, verify: nobody waits on them)
   * runs at a lower CPU and I/O priority (nice 10, best-effort I/O class at its lowest level), so it
   * does not slow the instances' own queries and the platform.
   */
  async #pgbackrestGlobal(args: readonly string[], timeoutMs: number, options: { readonly background?: boolean } = {}): Promise<{ stdout: string; stderr: string }> {
    // info needs only the repository: a command line without a config file reads none.
    const config = args.some((arg) => arg.startsWith('--config=')) ? [] : ['--config=/dev/null', `--repo1-path=${this.dir}`, `--lock-path=${join(this.dir, 'lock')}`, '--log-level-console=warn', '--log-level-file=off'];
    try {
      const [file, argv] = options.background
        ? ['ionice', ['-c', '2', '-n', '7', 'nice', '-n', String(BACKGROUND_NICENESS), this.#bin, ...config, ...args]]
        : [this.#bin, [...config, ...args]];
      return await run(file, argv, { timeoutMs, asUser: this.#identity.user, cwd: '/' });
    } catch (error) {
      throw new PgBackupError('PG_BACKUP_FAILED', `pgBackRest ${args.find((arg) => !arg.startsWith('--')) ?? ''} failed: ${errorMessage(error)}`, { cause: error });
    }
  }
}

/**
 * The earliest moment a backup set can restore to: its stop time rounded up to the next whole
 * second (pgBackRest records whole seconds, and recovery must replay past the backup's end).
 *
 * @example
 * restorableFrom(set); // set.stoppedAt + 1 s
 */
export function restorableFrom(set: BackupSet): Date {
  return new Date(set.stoppedAt.getTime() + 1000);
}

/** Throws unless `name` can name a restore point. */
export function assertRestorePointName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length > MAX_RESTORE_POINT_CHARS || !RESTORE_POINT_PATTERN.test(name)) {
    throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `a restore point name is 1-${MAX_RESTORE_POINT_CHARS} letters, digits, '_', '.', ':' or '-' starting with a letter or digit, got ${JSON.stringify(name)}`);
  }
}

function restoreTargetArgs(target: RestoreTarget): string[] {
  const promote = '--target-action=promote';
  switch (target?.kind) {
    case 'latest':
      return ['--type=default'];
    case 'backup':
      if (typeof target.label !== 'string' || !/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(target.label)) break;
      return ['--type=immediate', `--set=${target.label}`, promote];
    case 'time':
      if (!(target.time instanceof Date) || Number.isNaN(target.time.getTime())) break;
      if (target.microseconds !== undefined && (!Number.isInteger(target.microseconds) || target.microseconds < 0 || target.microseconds > 999)) break;
      return ['--type=time', `--target=${postgresTime(target.time, target.microseconds ?? 0)}`, promote];
    case 'name':
      assertRestorePointName(target.name);
      return ['--type=name', `--target=${target.name}`, promote];
    default:
      break;
  }
  throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `a restore target is { kind: 'latest' }, { kind: 'backup', label }, { kind: 'time', time: Date, microseconds?: 0-999 } or { kind: 'name', name }; got ${JSON.stringify(target)}`);
}

/** A timestamp as recovery_target_time reads it, to the microsecond (JS has milliseconds), in UTC. */
function postgresTime(time: Date, microseconds: number): string {
  return `${time.toISOString().replace('T', ' ').replace('Z', '')}${String(microseconds).padStart(3, '0')}+00`;
}

async function recoveryFailure(cluster: ManagedCluster): Promise<PgBackupError> {
  const log = (await cluster.logTail(40).catch(() => [])).join('\n');
  if (log.includes(TARGET_NOT_REACHED)) {
    return new PgBackupError('PG_BACKUP_TARGET_UNREACHABLE', `the archived WAL ends before the restore target (nothing was committed after it yet); pick an earlier target:\n${log}`);
  }
  return new PgBackupError('PG_BACKUP_FAILED', `the restored instance stopped during recovery:\n${log}`);
}

/** A WAL position (`16/B374D848`) as a number that compares in WAL order. */
function lsnValue(lsn: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  if (match === null) throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `a WAL position looks like 0/3000090, got ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/** A WAL segment's name (timeline, log, segment: 24 hex digits), which sorts in WAL order. */
const SEGMENT_PATTERN = /^[0-9A-F]{24}/;

/**
 * Waits until the server's archiver has archived `segment` (or a later one): pg_stat_archiver,
 * polled. A failing archiver is reported at once rather than waited out.
 */
async function waitArchived(cluster: ManagedCluster, segment: string): Promise<void> {
  const deadline = Date.now() + ARCHIVE_WAIT_MS;
  for (;;) {
    const [row] = await cluster.query<{ archived: string | null; failed: string | null; failing: boolean }>(
      `select last_archived_wal as archived, last_failed_wal as failed,
              coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) as failing from pg_stat_archiver`,
    );
    const archived = SEGMENT_PATTERN.exec(row?.archived ?? '')?.[0];
    if (archived !== undefined && archived >= segment) return;
    if (row?.failing === true && (SEGMENT_PATTERN.exec(row.failed ?? '')?.[0] ?? '') <= segment) {
      throw new PgBackupError('PG_BACKUP_FAILED', `archiving WAL segment ${row.failed} failed; the instance's log says why (logTail), and the next attempt comes within a minute`);
    }
    if (Date.now() > deadline) throw new PgBackupError('PG_BACKUP_FAILED', `WAL segment ${segment} was not archived in ${ARCHIVE_WAIT_MS} ms; check the instance's log`);
    await sleep(ARCHIVE_POLL_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
