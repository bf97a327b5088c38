// One managed PostgreSQL instance: a copy of the template with its own data directory, socket
// directory, port and settings, run detached by the unprivileged server user so it outlives the
// agent that started it.

import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../commands.js';
import { POSTGRES_ROOT_DIR, ensurePostgresInstalled } from '../install.js';
import { adminQuery } from './admin-connection.js';
import { applyLimits, cgroupMembers, cgroupsAvailable, instanceGroupName, removeGroups, validateLimits, type InstanceLimits } from './cgroup.js';
import { LIMITS_FILE, LOG_FILE, changedSettings, normalizeSettings, readInstanceRecord, writeInstanceFiles, writeOwnedFile } from './config-file.js';
import { DEFAULT_COPY_METHOD, copyDataDir, type CopyMethod } from './copy.js';
import { PgInstanceError } from './errors.js';
import { joinFreezerGroup, prepareFreezerGroup, removeFreezerGroup, thawInstance } from './freezer.js';
import { MAX_LOG_TAIL_LINES, readTail } from './log-tail.js';
import { checkConfigFiles, killPostmasterGroup, runningPostmasterPid, startPostmaster, stopPostmaster, type StopMode } from './postmaster.js';
import { adopt, completeCopy, ensureSocketDir, inspectTarget, partialDir, prepareParent, recordOf } from './provision.js';
import { replaceDataDir } from './replace-data.js';
import { serverIdentity, type ServerIdentity } from './server-identity.js';
import { assertReachableByServer, validateSpec, type InstanceSpec } from './spec.js';
import type { InstanceTemplate } from './template.js';

/** Options of {@link ManagedCluster.create}. */
export interface CreateInstanceOptions {
  /** How the template is copied; default {@link DEFAULT_COPY_METHOD}. */
  readonly copyMethod?: CopyMethod;
  /**
   * Puts a ready copy of the template at the given path (`<dataDir>.partial`) faster than a copy
   * (a {@link WarmPool} renames one of its copies there); resolves false to copy the template instead.
   */
  readonly prepared?: (partialDir: string) => Promise<boolean>;
}

/** A destroy whose immediate stop hangs SIGKILLs the server; it is gone well within this. */
const KILL_WAIT_MS = 10_000;

/**
 * A managed PostgreSQL instance. Operations on one object run one at a time, in call order; the
 * server itself is not tied to this process (it keeps running when the process dies, and
 * {@link ManagedCluster.open} takes it over again).
 *
 * @example
 * ```ts
 * const template = await ensureTemplate('/var/lib/strata/template');
 * const cluster = await ManagedCluster.create(template, {
 *   dataDir: '/var/lib/strata/instances/ins_abc/data',
 *   socketDir: '/var/lib/strata/instances/ins_abc/socket',
 *   port: await freePort(),
 *   settings: { shared_buffers: '32MB' },
 * });
 * await cluster.start();
 * await cluster.query(`create role app login password '${scramVerifier('s3cret')}'`);
 * ```
 */
export class ManagedCluster {
  readonly #binDir: string;
  readonly #identity: ServerIdentity;
  #spec: InstanceSpec;
  #operations: Promise<unknown> = Promise.resolve();

  private constructor(binDir: string, identity: ServerIdentity, spec: InstanceSpec) {
    this.#binDir = binDir;
    this.#identity = identity;
    this.#spec = spec;
  }

  /**
   * Creates an instance (not started): copies the template to `spec.dataDir` (0700, owned by
   * the server user), writes the spec's port, socket directory and settings, and makes the
   * private socket directory. A complete instance already at `dataDir` is adopted (a retried
   * create after a crash), its files updated to the spec; a partial copy left by a crash is
   * removed and made again.
   *
   * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` / `PG_INSTANCE_INVALID_SETTING` for a
   * bad spec and `PG_INSTANCE_NOT_AN_INSTANCE` when `dataDir` holds something else, both before
   * anything is touched; `PG_INSTANCE_CREATE_FAILED` when the copy fails.
   *
   * @example
   * ```ts
   * const cluster = await ManagedCluster.create(template, { dataDir, socketDir, port: await freePort(), settings: {} });
   * ```
   */
  static async create(template: InstanceTemplate, spec: InstanceSpec, options: CreateInstanceOptions = {}): Promise<ManagedCluster> {
    const valid = validateSpec(spec);
    const identity = await serverIdentity();
    await assertReachableByServer(valid.dataDir, identity);
    await assertReachableByServer(valid.socketDir, identity);
    if ((await inspectTarget(valid.dataDir)) === 'instance') {
      await adopt(valid, identity);
      return new ManagedCluster(template.binDir, identity, valid);
    }
    await prepareParent(valid.dataDir);
    try {
      const prepared = options.prepared !== undefined && (await options.prepared(partialDir(valid.dataDir)));
      if (!prepared) await copyDataDir(template.dir, partialDir(valid.dataDir), options.copyMethod ?? DEFAULT_COPY_METHOD, identity);
    } catch (error) {
      await rm(partialDir(valid.dataDir), { recursive: true, force: true });
      throw new PgInstanceError('PG_INSTANCE_CREATE_FAILED', `copying the template ${template.dir} to ${valid.dataDir} failed: ${errorMessage(error)}`, { cause: error });
    }
    await completeCopy(valid, identity);
    return new ManagedCluster(template.binDir, identity, valid);
  }

  /**
   * Takes over an existing instance (after an agent restart), running or not. When the spec's
   * port, socket directory or settings differ from the instance's files, the files are updated:
   * they apply at its next start (use {@link ManagedCluster.configure} to change a running one).
   *
   * @throws {PgInstanceError} `PG_INSTANCE_NOT_AN_INSTANCE` when `dataDir` is missing or holds
   * something else; `PG_INSTANCE_INVALID_*` for a bad spec.
   *
   * @example
   * ```ts
   * const cluster = await ManagedCluster.open(spec);
   * if (!(await cluster.isRunning())) await cluster.start();
   * ```
   */
  static async open(spec: InstanceSpec): Promise<ManagedCluster> {
    const valid = validateSpec(spec);
    if ((await readInstanceRecord(valid.dataDir)) === undefined) {
      throw new PgInstanceError('PG_INSTANCE_NOT_AN_INSTANCE', `${valid.dataDir} is not a Strata instance (no strata-instance.json): create it with ManagedCluster.create, or destroy what is left with ManagedCluster.destroyAt`);
    }
    const identity = await serverIdentity();
    await adopt(valid, identity);
    return new ManagedCluster(await binDirFor(valid.dataDir), identity, valid);
  }

  /**
   * Stops whatever server runs in `spec.dataDir` and removes the data directory, a partial copy
   * and the socket directory: destroy without an object, for a retried delete whose instance is
   * half-made or already gone (then it does nothing).
   *
   * @throws {PgInstanceError} `PG_INSTANCE_NOT_AN_INSTANCE` when `dataDir` holds something that
   * is not an instance (it is never removed).
   *
   * @example
   * ```ts
   * await ManagedCluster.destroyAt(spec); // twice is fine
   * ```
   */
  static async destroyAt(spec: InstanceSpec): Promise<void> {
    const valid = validateSpec(spec);
    // Refuses (and never touches) a directory that holds something other than an instance.
    await inspectTarget(valid.dataDir);
    await destroyFiles(valid);
  }

  /** The spec the instance runs with (its settings as last configured). */
  get spec(): InstanceSpec {
    return this.#spec;
  }

  /**
   * Starts the server (detached: it outlives this process) and returns once it accepts
   * connections; a running server is only thawed if frozen ({@link freezeInstance}). Limits set
   * with {@link ManagedCluster.setLimits} are applied again to the new server. Where the cgroup v1
   * freezer is available the postmaster is put in the instance's freezer group as it is spawned,
   * so its children are born there and a freeze finds them all; processes an earlier server left
   * there (a postmaster killed while frozen) are ended first.
   *
   * @throws {PgInstanceError} `PG_INSTANCE_START_FAILED` with the server log's tail;
   * `PG_INSTANCE_NOT_AN_INSTANCE` after a destroy.
   *
   * @example
   * ```ts
   * await cluster.start();
   * await cluster.query('select 1');
   * ```
   */
  start(): Promise<void> {
    return this.#serialized(async () => {
      const { dataDir, socketDir } = this.#spec;
      if ((await runningPostmasterPid(dataDir)) !== undefined) {
        // Killed while frozen: it died at the thaw, and is started below.
        if (await thawInstance(dataDir)) return;
      }
      if ((await readInstanceRecord(dataDir)) === undefined) {
        throw new PgInstanceError('PG_INSTANCE_NOT_AN_INSTANCE', `${dataDir} is no longer an instance (destroyed?): create it again`);
      }
      // The socket directory may live on a tmpfs that a reboot emptied.
      await ensureSocketDir(socketDir, this.#identity);
      const group = await instanceGroupName(dataDir);
      const limits = await this.#savedLimits();
      await prepareFreezerGroup(group);
      // The freezer move runs while the server starts up (a move costs the kernel milliseconds), before it forks.
      let enrolled: Promise<unknown> = Promise.resolve();
      const pid = await startPostmaster(this.#binDir, dataDir, this.#identity, (spawned) => {
        enrolled = joinFreezerGroup(group, spawned);
      });
      await enrolled;
      // The memory and CPU limits apply once it is up, not during its startup: a recovery's
      // restore_command (pgBackRest fetching WAL) under a small instance's memory limit was
      // OOM-killed, and the restore in place failed.
      if (limits !== undefined) await applyLimits(group, limits, pid);
    });
  }

  /**
   * Stops the server: `fast` (default) disconnects clients and writes a checkpoint;
   * `immediate` aborts at once like a crash (the next start recovers). Nothing to do when stopped.
   * A frozen server is thawed first (a frozen process would not see the signal).
   *
   * @throws {PgInstanceError} `PG_INSTANCE_STOP_FAILED` when the server outlives the timeout.
   *
   * @example
   * ```ts
   * await cluster.stop();            // clean
   * await cluster.stop('immediate'); // crash-like
   * ```
   */
  stop(mode: StopMode = 'fast'): Promise<void> {
    if (mode !== 'fast' && mode !== 'immediate') {
      return Promise.reject(new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `stop mode must be 'fast' or 'immediate', got ${JSON.stringify(mode)}`));
    }
    return this.#serialized(async () => {
      await thawInstance(this.#spec.dataDir);
      await stopPostmaster(this.#spec.dataDir, mode);
    });
  }

  /**
   * A fast stop, then a start: applies settings that need a restart.
   *
   * @example
   * ```ts
   * const { restartRequired } = await cluster.configure({ shared_buffers: '64MB' });
   * if (restartRequired.length > 0) await cluster.restart();
   * ```
   */
  async restart(): Promise<void> {
    await this.stop('fast');
    await this.start();
  }

  /**
   * True while a postmaster runs on this data directory (started by any process).
   *
   * @example
   * ```ts
   * if (!(await cluster.isRunning())) await cluster.start();
   * ```
   */
  async isRunning(): Promise<boolean> {
    return (await runningPostmasterPid(this.#spec.dataDir)) !== undefined;
  }

  /**
   * Replaces the instance's settings with `settings` (a setting left out returns to its
   * default) and reloads a running server. The server's own parser checks the new file first
   * (`postgres -C`): an unknown name or a value it rejects leaves the old file in place.
   *
   * @returns the changed settings that take effect only after a restart (pg_settings.context =
   * 'postmaster'); [] when the server is stopped (its next start applies everything).
   * @throws {PgInstanceError} `PG_INSTANCE_INVALID_SETTING` naming the setting and the server's complaint.
   *
   * @example
   * ```ts
   * await cluster.configure({ work_mem: '8MB', shared_buffers: '64MB' }); // { restartRequired: ['shared_buffers'] }
   * ```
   */
  configure(settings: Readonly<Record<string, string>>): Promise<{ restartRequired: string[] }> {
    let normalized: Record<string, string>;
    try {
      normalized = normalizeSettings(settings);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#serialized(async () => {
      const next: InstanceSpec = { ...this.#spec, settings: normalized };
      const changed = changedSettings(this.#spec.settings, normalized);
      await writeInstanceFiles(next.dataDir, recordOf(next), this.#identity);
      try {
        await checkConfigFiles(this.#binDir, next.dataDir, this.#identity);
      } catch (error) {
        await writeInstanceFiles(next.dataDir, recordOf(this.#spec), this.#identity);
        throw error;
      }
      this.#spec = next;
      if (changed.length === 0 || !(await this.isRunning())) return { restartRequired: [] };
      await this.#queryUnserialized('select pg_reload_conf()', []);
      const restart = await this.#queryUnserialized<{ name: string }>(
        "select name from pg_settings where context = 'postmaster' and name = any($1::text[]) order by name", [changed]);
      return { restartRequired: restart.map((row) => row.name) };
    });
  }

  /**
   * Runs one statement as strata_admin over the private socket, in `database` (default
   * `postgres`), on a fresh connection.
   *
   * @throws {PgInstanceError} `PG_INSTANCE_UNAVAILABLE` when the server does not answer; a
   * failing statement throws pg's own DatabaseError (its SQLSTATE in `code`).
   *
   * @example
   * ```ts
   * const rows = await cluster.query<{ datname: string }>('select datname from pg_database');
   * ```
   */
  query<R extends Record<string, unknown>>(sql: string, params: readonly unknown[] = [], database = 'postgres'): Promise<R[]> {
    return this.#queryUnserialized<R>(sql, params, database);
  }

  /**
   * The last `lines` lines of the server's log (its stdout and stderr), at most
   * {@link MAX_LOG_TAIL_LINES}.
   *
   * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` for a count outside [1, MAX_LOG_TAIL_LINES].
   *
   * @example
   * ```ts
   * for (const line of await cluster.logTail(50)) console.log(line);
   * ```
   */
  async logTail(lines: number): Promise<string[]> {
    if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_TAIL_LINES) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `lines must be a whole number from 1 to ${MAX_LOG_TAIL_LINES}, got ${String(lines)}`);
    }
    return readTail(join(this.#spec.dataDir, LOG_FILE), lines);
  }

  /**
   * Limits the server's memory and CPU weight with cgroup v1 (memory and cpu controllers, group
   * `strata/<name>`), moving a running server's processes in; the limits are kept and applied
   * again at each start.
   *
   * @returns false when cgroup v1 is not available (not root, not Linux, no writable controllers).
   * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` for bad limits;
   * `PG_INSTANCE_LIMITS_FAILED` when the kernel refuses them.
   *
   * @example
   * ```ts
   * const applied = await cluster.setLimits({ memoryMb: 256, cpuShares: 512 });
   * ```
   */
  setLimits(limits: InstanceLimits): Promise<boolean> {
    let valid: InstanceLimits;
    try {
      valid = validateLimits(limits);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#serialized(async () => {
      if (!(await cgroupsAvailable())) return false;
      const name = await instanceGroupName(this.#spec.dataDir);
      const pid = await runningPostmasterPid(this.#spec.dataDir);
      // Already in effect (a spare started with these limits): moving processes between groups costs tens of ms.
      const saved = await this.#savedLimits();
      if (saved?.memoryMb === valid.memoryMb && saved.cpuShares === valid.cpuShares && (pid === undefined || (await cgroupMembers(name)).includes(pid))) return true;
      // The server user's, like every file of the data directory (pgBackRest, running as it, backs the directory up).
      await writeOwnedFile(this.#spec.dataDir, LIMITS_FILE, `${JSON.stringify(valid)}\n`, this.#identity);
      return applyLimits(name, valid, pid);
    });
  }

  /**
   * Replaces the instance's data with what `fill` puts into an empty directory (a restore of its
   * own backup, in place): stops the server, lets `fill` write `<dataDir>.replacing`, gives it the
   * instance's own files and limits, and swaps it in. A crash leaves the old data or the new one in
   * place (a repeat finishes a swap cut short); the server stays stopped until {@link ManagedCluster.start}.
   *
   * @throws whatever `fill` throws (the old data is still in place, the server stopped).
   *
   * @example
   * ```ts
   * await cluster.replaceData((dir) => repository.restoreInto('ins_abc', { kind: 'time', time }, dir, { keepArchiving: true }));
   * await cluster.start();
   * ```
   */
  replaceData(fill: (dir: string) => Promise<void>): Promise<void> {
    return this.#serialized(() => replaceDataDir(this.#spec, this.#identity, fill));
  }

  /**
   * Stops the server (immediate; SIGKILL if it hangs) and removes the data directory, a partial
   * copy, the socket directory and the cgroups. Idempotent.
   *
   * @throws {PgInstanceError} `PG_INSTANCE_DESTROY_FAILED` when the server cannot be stopped.
   *
   * @example
   * ```ts
   * await cluster.destroy();
   * await cluster.destroy(); // nothing left to do
   * ```
   */
  destroy(): Promise<void> {
    return this.#serialized(() => destroyFiles(this.#spec));
  }

  #queryUnserialized<R extends Record<string, unknown>>(sql: string, params: readonly unknown[], database = 'postgres'): Promise<R[]> {
    return adminQuery<R>(this.#spec.socketDir, this.#spec.port, sql, params, database);
  }

  async #savedLimits(): Promise<InstanceLimits | undefined> {
    try {
      return validateLimits(JSON.parse(await readFile(join(this.#spec.dataDir, LIMITS_FILE), 'utf8')) as InstanceLimits);
    } catch {
      return undefined;
    }
  }

  #serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#operations.then(operation);
    this.#operations = result.catch(() => {});
    return result;
  }
}

/** Stop (immediate, then SIGKILL) and remove everything of the instance at `spec`. */
async function destroyFiles(spec: InstanceSpec): Promise<void> {
  // A frozen server would not see the signals (nor die of SIGKILL) until thawed.
  await thawInstance(spec.dataDir).catch(() => {});
  const pid = await runningPostmasterPid(spec.dataDir);
  if (pid !== undefined) {
    try {
      await stopPostmaster(spec.dataDir, 'immediate');
    } catch {
      killPostmasterGroup(pid);
      const deadline = Date.now() + KILL_WAIT_MS;
      while ((await runningPostmasterPid(spec.dataDir)) !== undefined) {
        if (Date.now() > deadline) {
          throw new PgInstanceError('PG_INSTANCE_DESTROY_FAILED', `PostgreSQL (pid ${pid}) in ${spec.dataDir} survived SIGKILL; check the process and destroy again`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }
  const group = await instanceGroupName(spec.dataDir);
  await rm(spec.dataDir, { recursive: true, force: true });
  await rm(partialDir(spec.dataDir), { recursive: true, force: true });
  await rm(spec.socketDir, { recursive: true, force: true });
  await removeGroups(group).catch(() => {});
  await removeFreezerGroup(group).catch(() => {});
}

/** The bin directory of the instance's major version when installed, else the newest. */
async function binDirFor(dataDir: string): Promise<string> {
  const major = (await readFile(join(dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim();
  const own = join(POSTGRES_ROOT_DIR, major, 'bin');
  if (/^\d+$/.test(major) && existsSync(join(own, 'postgres'))) return own;
  return ensurePostgresInstalled();
}
