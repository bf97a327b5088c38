// Already-started spare instances: a create claims one (a rename) instead of copying and starting
// a cluster, which is what makes create → first query fast. A spare is a fresh template copy,
// started with the settings of recent creates and one empty database, and is never reused after
// its instance is deleted, so nothing of one tenant can reach another.

import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync, renameSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedCluster, freePort, type InstanceLimits, type InstanceSpec, type InstanceTemplate, type WarmPool } from '@strata/postgres';
import { AgentError } from '../errors.js';
import type { AdminSession } from '../jobs/admin-session.js';
import { fileCopyClause, serverMajorVersion } from '../jobs/server-version.js';

/**
 * Most spares one node keeps. Each is a running, idle PostgreSQL (a few MB of private memory
 * plus its shared_buffers reservation) and ~30 MB of disk; past a handful, a pool only holds
 * capacity that placement could have used.
 */
export const MAX_SPARES = 16;

/**
 * Memory each spare holds back from placement (the node advertises its capacity minus this per
 * spare): the smallest flavor's memory, since a spare becomes an instance of any flavor.
 */
export const SPARE_RESERVED_MEMORY_MB = 128;

/** The empty database every spare has; a create renames it to its first database (instant, where CREATE DATABASE copies and syncs). */
export const SPARE_DATABASE = 'strata_spare';

/**
 * The role every spare has, without login, holding in {@link SPARE_DATABASE} what an `all` grant
 * gives there (all on schema public). A create renames it to its first user when that user gets
 * `all` on the first database: the grant is then already made, and the create needs no
 * connection to that database (a backend start, the slowest part of a create).
 */
export const SPARE_ROLE = 'strata_spare_owner';

/**
 * How long after a create the pool waits before making its replacement. The create's caller
 * connects right after it is ACTIVE; a spare's start (and the template copy behind it) is a burst
 * of CPU and disk that would otherwise land on that first connection, and a replacement is not
 * urgent while other spares are ready.
 */
export const REPLENISH_DELAY_MS = 1_000;

/** Ports probed for one spare before giving up (each probe is the OS's choice of a free port). */
const MAX_PORT_PROBES = 20;

/** A spare as a create receives it. */
export interface Spare {
  /** The spare's own ID (its directory under `spares/live/`). */
  readonly spareId: string;
  /** Where it listens (the instance keeps this port). */
  readonly port: number;
  /** The settings it was started with. */
  readonly settings: Readonly<Record<string, string>>;
}

/** Options of {@link SparePool.open}. */
export interface SparePoolOptions {
  /** The node's root: spares live under `<rootDir>/spares/`, instances' links under `<rootDir>/instances/`. */
  readonly rootDir: string;
  /** How many started spares to keep, 0 to {@link MAX_SPARES} (0: the pool only cleans up). */
  readonly size: number;
  /** The template the spares are copies of. */
  readonly template: () => Promise<InstanceTemplate>;
  /** Ready template copies to start spares from (faster than a copy); default: copy the template. */
  readonly copies?: WarmPool;
  /** Ports that instances of the machine hold (also when stopped): a spare never takes one. */
  readonly usedPorts: () => Promise<Set<number>>;
  /** Settings of the first spares; later ones take the settings of the latest create ({@link SparePool.learn}). Default none. */
  readonly settings?: Readonly<Record<string, string>>;
  /** cgroup limits of the first spares, learned like the settings; a create with the same ones applies none (default: no limits until a create). */
  readonly limits?: InstanceLimits;
  /**
   * Opens the session a spare holds for its create (`openWarmSession`): the backend start and
   * first catalog reads of the create's statements, paid while the spare is made. Default none
   * (the create connects itself).
   */
  readonly openSession?: (cluster: ManagedCluster) => Promise<AdminSession>;
  /** Called when making a spare fails (the next refill tries again). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}

/** What {@link SparePool.reconcile} did, by spare ID. */
export interface SpareReconcileReport {
  /** Ready spares that were not running, were beyond the pool's size, or were half-made: stopped and removed. */
  readonly removed: string[];
  /** Spares claimed by a create whose job has not placed them yet: kept for that job (it runs again). */
  readonly claimed: string[];
}

/**
 * The started spares of one node, in `<root>/spares/`:
 * - `live/<spareId>/{data,socket}`: the spare's files. They never move while it runs (the server
 *   reads its configuration by absolute path), so every other state is a symlink to them;
 * - `ready/<spareId>` → live: started and ready to claim (made last, so a half-made spare is never claimed);
 * - `claimed/<instanceId>` → live: claimed by that instance's create (a rename of the ready link:
 *   atomic, so two creates never get the same spare), until the create records it;
 * - `<root>/instances/<instanceId>` → live: placed; from here it is an instance like any other.
 *
 * @example
 * ```ts
 * const spares = await SparePool.open({ rootDir, size: 2, template: () => files.template(), usedPorts });
 * spares.replenish();
 * const spare = await spares.claim('ins_abc');      // undefined when none is ready
 * if (spare) await spares.place('ins_abc');         // <root>/instances/ins_abc → the spare's files
 * ```
 */
export class SparePool {
  readonly size: number;
  readonly #options: SparePoolOptions;
  #settings: Readonly<Record<string, string>>;
  #limits: InstanceLimits | undefined;
  #filling: Promise<void> | undefined;
  #closed = false;
  #lastError: unknown;
  #replenishTimer: NodeJS.Timeout | undefined;
  /** Warm sessions of ready or claimed spares, by the spare's directory; gone with this process. */
  readonly #sessions = new Map<string, AdminSession>();
  /** What {@link SparePool.#describe} read, by the spare's directory. */
  readonly #described = new Map<string, Spare>();

  private constructor(options: SparePoolOptions) {
    this.#options = options;
    this.size = options.size;
    this.#settings = options.settings ?? {};
    this.#limits = options.limits;
  }

  /**
   * Opens the pool's directories (creating them); makes no spare yet ({@link SparePool.replenish} does).
   *
   * @throws {AgentError} `STRATA_AGENT_INVALID_CONFIG` for a size out of range.
   *
   * @example
   * ```ts
   * const spares = await SparePool.open({ rootDir: '/var/lib/strata/node-1', size: 2, template, usedPorts });
   * ```
   */
  static async open(options: SparePoolOptions): Promise<SparePool> {
    if (!Number.isInteger(options.size) || options.size < 0 || options.size > MAX_SPARES) {
      throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `spares must be a whole number from 0 to ${MAX_SPARES}, got ${String(options.size)}`);
    }
    const pool = new SparePool(options);
    for (const dir of [pool.#liveDir, pool.#readyDir, pool.#claimedDir, pool.#instancesDir]) await mkdir(dir, { recursive: true, mode: 0o755 });
    return pool;
  }

  /**
   * Claims a ready spare for `instanceId`, preferring one started with exactly `settings` (no
   * restart needed). Idempotent per instance: a spare this instance claimed before (a create run
   * again after a crash) is returned again, and never another one.
   *
   * @returns the spare, or undefined when none is ready (the create copies the template instead).
   *
   * @example
   * ```ts
   * const spare = await spares.claim('ins_abc', { work_mem: '4MB' });
   * ```
   */
  async claim(instanceId: string, settings: Readonly<Record<string, string>> = {}): Promise<Spare | undefined> {
    const again = await this.claimed(instanceId);
    if (again !== undefined) return again;
    const candidates = this.#readySpares();
    const wanted = JSON.stringify(sortedEntries(settings));
    candidates.sort((a, b) => Number(JSON.stringify(sortedEntries(b.settings)) === wanted) - Number(JSON.stringify(sortedEntries(a.settings)) === wanted));
    for (const spare of candidates) {
      try {
        // The claim: only one rename of a ready link can succeed.
        renameSync(join(this.#readyDir, spare.spareId), join(this.#claimedDir, instanceId));
        return spare;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // claimed by a concurrent create
        throw error;
      }
    }
    return undefined;
  }

  /** The spare `instanceId` claimed and has not placed yet, if any. */
  async claimed(instanceId: string): Promise<Spare | undefined> {
    const target = linkTarget(join(this.#claimedDir, instanceId));
    return target === undefined ? undefined : this.#describe(target);
  }

  /**
   * Moves the spare `instanceId` claimed to `<root>/instances/<instanceId>` (a rename of its link).
   *
   * @returns true when the instance is a placed spare (now, or already before: idempotent);
   * false when it claimed none.
   */
  async place(instanceId: string): Promise<boolean> {
    const link = join(this.#instancesDir, instanceId);
    const spareDir = linkTarget(join(this.#claimedDir, instanceId));
    if (spareDir !== undefined) {
      renameSync(join(this.#claimedDir, instanceId), link);
      // From here it is an instance: its settings may change.
      this.#described.delete(spareDir);
      return true;
    }
    return linkTarget(link) !== undefined;
  }

  /**
   * Hands over the warm session of the spare `instanceId` claimed or placed (the caller closes
   * it), or undefined: none was opened, this process did not make the spare, or it was taken.
   *
   * @example
   * ```ts
   * const session = await spares.takeSession('ins_abc');
   * await createTenantObjects(cluster, databases, users, { session });
   * ```
   */
  async takeSession(instanceId: string): Promise<AdminSession | undefined> {
    const dir = linkTarget(join(this.#instancesDir, instanceId)) ?? linkTarget(join(this.#claimedDir, instanceId));
    if (dir === undefined) return undefined;
    const session = this.#sessions.get(dir);
    this.#sessions.delete(dir);
    return session;
  }

  /**
   * Stops and removes the spare `instanceId` claimed and never placed (its create failed and is
   * being undone); false when there was none.
   */
  async release(instanceId: string): Promise<boolean> {
    const link = join(this.#claimedDir, instanceId);
    const target = linkTarget(link);
    if (target === undefined) return false;
    this.#dropSession(target);
    await destroySpareFiles(target);
    await unlink(link).catch(ignoreMissing);
    return true;
  }

  /**
   * Spares made from now on start with `settings` and `limits` (those of the latest create), so
   * the next create like it needs no restart and no move between cgroups.
   */
  learn(settings: Readonly<Record<string, string>>, limits?: InstanceLimits): void {
    this.#settings = { ...settings };
    if (limits !== undefined) this.#limits = { ...limits };
  }

  /**
   * Starts making spares in the background until `size` are ready (one at a time: a start is
   * CPU-heavy), now or after `afterMs` (a create passes {@link REPLENISH_DELAY_MS}).
   */
  replenish(afterMs = 0): void {
    if (afterMs > 0) {
      if (this.#replenishTimer !== undefined || this.#closed) return;
      this.#replenishTimer = setTimeout(() => {
        this.#replenishTimer = undefined;
        this.replenish();
      }, afterMs);
      this.#replenishTimer.unref();
      return;
    }
    if (this.#closed || this.#filling !== undefined || this.size === 0) return;
    this.#filling = (async () => {
      for (let made = 0; made < this.size && !this.#closed && (await this.readyCount()) < this.size; made += 1) await this.#makeSpare();
    })()
      .catch((error: unknown) => {
        this.#lastError = error;
        this.#options.onError?.(error);
      })
      .finally(() => {
        this.#filling = undefined;
      });
  }

  /**
   * Resolves once `size` spares are ready.
   *
   * @throws the error of a spare that could not be made.
   */
  async fill(): Promise<void> {
    this.#lastError = undefined;
    this.replenish();
    while (this.#filling !== undefined) await this.#filling;
    if (this.#lastError !== undefined) throw this.#lastError;
  }

  /** How many spares are ready to claim. */
  async readyCount(): Promise<number> {
    return (await readdir(this.#readyDir)).length;
  }

  /**
   * Brings the spares in line at agent start (before jobs run): ready spares whose server is not
   * running, and those beyond `size` (the pool shrank), are stopped and removed, as are spare
   * files no link points to (a spare half-made by a process that died). Claimed spares are kept
   * for their create, which runs again and places them (or its undo releases them). The ready
   * spares kept get their warm session again.
   *
   * @example
   * ```ts
   * const { removed } = await spares.reconcile();
   * ```
   */
  async reconcile(): Promise<SpareReconcileReport> {
    const removed: string[] = [];
    let kept = 0;
    for (const spareId of (await readdir(this.#readyDir)).sort()) {
      const link = join(this.#readyDir, spareId);
      const target = linkTarget(link);
      const cluster = target === undefined ? undefined : await ManagedCluster.open(this.#spec(target)).catch(() => undefined);
      const running = cluster !== undefined && (await cluster.isRunning().catch(() => false));
      if (cluster !== undefined && target !== undefined && running && kept < this.size) {
        kept += 1;
        // Its warm session ended with the process that made it: a new one (without, a create connects itself).
        if (this.#options.openSession && !this.#sessions.has(target)) {
          await this.#options.openSession(cluster).then((session) => this.#sessions.set(target, session), () => {});
        }
        continue;
      }
      // Unlinked first: from here nothing can claim it.
      await unlink(link).catch(ignoreMissing);
      if (target !== undefined) {
        this.#dropSession(target);
        await destroySpareFiles(target);
      }
      removed.push(spareId);
    }
    const claimed = (await readdir(this.#claimedDir)).sort();
    const referenced = new Set<string>();
    for (const dir of [this.#readyDir, this.#claimedDir, this.#instancesDir]) {
      for (const entry of await readdir(dir)) {
        const target = linkTarget(join(dir, entry));
        if (target !== undefined) referenced.add(target);
      }
    }
    for (const spareId of await readdir(this.#liveDir)) {
      const dir = join(this.#liveDir, spareId);
      if (referenced.has(dir)) continue;
      await destroySpareFiles(dir);
      removed.push(spareId);
    }
    return { removed, claimed };
  }

  /**
   * Stops making spares (waits for the one in progress) and ends their warm sessions; the ready
   * spares keep running for the next start.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#replenishTimer);
    this.#replenishTimer = undefined;
    while (this.#filling !== undefined) await this.#filling;
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }

  /** Forgets a spare that is being removed: its warm session ends. */
  #dropSession(dir: string): void {
    this.#sessions.get(dir)?.close();
    this.#sessions.delete(dir);
    this.#described.delete(dir);
  }

  get #liveDir(): string {
    return join(this.#options.rootDir, 'spares', 'live');
  }

  get #readyDir(): string {
    return join(this.#options.rootDir, 'spares', 'ready');
  }

  get #claimedDir(): string {
    return join(this.#options.rootDir, 'spares', 'claimed');
  }

  get #instancesDir(): string {
    return join(this.#options.rootDir, 'instances');
  }

  #readySpares(): Spare[] {
    const spares: Spare[] = [];
    for (const spareId of readdirSync(this.#readyDir)) {
      const target = linkTarget(join(this.#readyDir, spareId));
      if (target === undefined) continue;
      try {
        spares.push(this.#describe(target));
      } catch {
        // Removed meanwhile (a concurrent claim and undo): not a candidate.
      }
    }
    return spares;
  }

  /** A spare's ID, port and settings, from its files (strata-instance.json), read once: they do not change while it is a spare. */
  #describe(dir: string): Spare {
    const known = this.#described.get(dir);
    if (known !== undefined) return known;
    const record = JSON.parse(readFileSync(join(dir, 'data', 'strata-instance.json'), 'utf8')) as { port: number; settings: Record<string, string> };
    const spare = { spareId: dir.slice(dir.lastIndexOf('/') + 1), port: record.port, settings: record.settings };
    this.#described.set(dir, spare);
    return spare;
  }

  #spec(dir: string): InstanceSpec {
    const spare = this.#describe(dir);
    return { dataDir: join(dir, 'data'), socketDir: join(dir, 'socket'), port: spare.port, settings: spare.settings };
  }

  async #makeSpare(): Promise<void> {
    const spareId = randomBytes(8).toString('hex');
    const dir = join(this.#liveDir, spareId);
    const spec: InstanceSpec = { dataDir: join(dir, 'data'), socketDir: join(dir, 'socket'), port: await this.#freePort(), settings: this.#settings };
    try {
      const cluster = this.#options.copies ? await this.#options.copies.take(spec) : await ManagedCluster.create(await this.#options.template(), spec);
      await cluster.start();
      if (this.#limits !== undefined) await cluster.setLimits(this.#limits);
      await cluster.query(`create database ${SPARE_DATABASE}${fileCopyClause(await serverMajorVersion(cluster))}`);
      await cluster.query(`create role ${SPARE_ROLE} nologin`);
      // This first connection also writes the database's relation-cache file, which the tenant's first connection then reads.
      await cluster.query(`grant all on schema public to ${SPARE_ROLE}`, [], SPARE_DATABASE);
      if (this.#options.openSession) this.#sessions.set(dir, await this.#options.openSession(cluster));
      // The commit point: only now can a create claim it.
      await symlink(dir, join(this.#readyDir, spareId));
    } catch (error) {
      this.#dropSession(dir);
      await destroySpareFiles(dir).catch(() => {});
      throw error;
    }
  }

  async #freePort(): Promise<number> {
    const taken = await this.#options.usedPorts();
    for (let probe = 0; probe < MAX_PORT_PROBES; probe += 1) {
      const port = await freePort();
      if (!taken.has(port)) return port;
    }
    throw new AgentError('STRATA_AGENT_NO_FREE_PORT', `no free port for a spare instance after ${MAX_PORT_PROBES} probes; free some ports or run with fewer spares`);
  }
}

/** Stops the server in a spare's directory (if any) and removes the directory. */
async function destroySpareFiles(dir: string): Promise<void> {
  const record = await readFile(join(dir, 'data', 'strata-instance.json'), 'utf8').then((text) => JSON.parse(text) as { port: number }, () => undefined);
  if (record !== undefined) {
    await ManagedCluster.destroyAt({ dataDir: join(dir, 'data'), socketDir: join(dir, 'socket'), port: record.port, settings: {} }).catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== 'PG_INSTANCE_NOT_AN_INSTANCE') throw error;
    });
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * The target of a symlink, or undefined when `path` is missing or not a symlink. Synchronous, as
 * are the pool's other calls on a create's path (claim, place, takeSession): each is a metadata
 * call on the node's own disk that takes microseconds, where an asynchronous one waits its turn on
 * an event loop that the system database's queries keep busy (measured: a claim took 12–18 ms
 * as a dozen awaited calls, under 1 ms like this).
 */
export function linkTarget(path: string): string | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined;
    return readlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function sortedEntries(settings: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(settings).sort(([a], [b]) => a.localeCompare(b));
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
