// Ready copies of the template, kept so a create is a rename instead of a copy. Copies are made
// in `filling/` and renamed into `ready/` when complete, so a process that dies mid-copy never
// leaves an incomplete copy where take() looks.

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../commands.js';
import { DEFAULT_COPY_METHOD, copyDataDir, type CopyMethod } from './copy.js';
import { PgInstanceError } from './errors.js';
import { ManagedCluster } from './managed-cluster.js';
import { serverIdentity, type ServerIdentity } from './server-identity.js';
import type { InstanceSpec } from './spec.js';
import { TEMPLATE_MARKER, type InstanceTemplate } from './template.js';

/** Options of {@link WarmPool.open}. */
export interface WarmPoolOptions {
  readonly template: InstanceTemplate;
  /** Absolute; on the same filesystem as the instances' data directories (take() renames). One pool process per directory. */
  readonly dir: string;
  /** How many ready copies to keep, 1 to {@link MAX_WARM_POOL_SIZE}. */
  readonly size: number;
  /** How copies are made; default {@link DEFAULT_COPY_METHOD}. */
  readonly copyMethod?: CopyMethod;
  /** Called when a background refill fails (the next take() tries again). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}

/** Each ready copy is a full data directory (~25 MB): a bigger pool is disk spent on nothing. */
export const MAX_WARM_POOL_SIZE = 64;

const READY = 'ready';
const FILLING = 'filling';
/** Which template the ready copies were made from; copies of another one are dropped. */
const POOL_TEMPLATE_FILE = 'template.json';

/**
 * A pool of ready template copies: {@link WarmPool.take} moves one into place with a rename
 * (falling back to a template copy when the pool is empty) and the pool refills itself in the
 * background, one copy at a time.
 *
 * @example
 * ```ts
 * const pool = await WarmPool.open({ template, dir: '/var/lib/strata/pool', size: 4 });
 * const cluster = await pool.take({ dataDir, socketDir, port: await freePort(), settings: {} });
 * await cluster.start();
 * await pool.close();
 * ```
 */
export class WarmPool {
  readonly size: number;
  readonly #options: WarmPoolOptions;
  readonly #identity: ServerIdentity;
  #refilling: Promise<void> | undefined;
  #closed = false;
  #lastError: unknown;
  #hits = 0;
  #misses = 0;

  private constructor(options: WarmPoolOptions, identity: ServerIdentity) {
    this.#options = options;
    this.#identity = identity;
    this.size = options.size;
  }

  /**
   * Opens (or creates) a pool directory: removes copies a dead process left half-made in
   * `filling/`, drops ready copies of a different template, and starts filling in the background.
   *
   * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` for a relative dir or a size out of range.
   *
   * @example
   * ```ts
   * const pool = await WarmPool.open({ template, dir: '/var/lib/strata/pool', size: 4 });
   * await pool.fill(); // optional: wait until it is full
   * ```
   */
  static async open(options: WarmPoolOptions): Promise<WarmPool> {
    if (typeof options.dir !== 'string' || !options.dir.startsWith('/')) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `a warm pool needs an absolute dir, got ${JSON.stringify(options.dir)}`);
    }
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > MAX_WARM_POOL_SIZE) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `a warm pool's size must be a whole number from 1 to ${MAX_WARM_POOL_SIZE}, got ${String(options.size)}`);
    }
    const identity = await serverIdentity();
    await mkdir(join(options.dir, READY), { recursive: true, mode: 0o755 });
    await rm(join(options.dir, FILLING), { recursive: true, force: true });
    await mkdir(join(options.dir, FILLING), { mode: 0o755 });
    const templateId = JSON.stringify({ dir: options.template.dir, binDir: options.template.binDir, majorVersion: options.template.majorVersion });
    const previous = await readFile(join(options.dir, POOL_TEMPLATE_FILE), 'utf8').catch(() => undefined);
    if (previous !== templateId) {
      await rm(join(options.dir, READY), { recursive: true, force: true });
      await mkdir(join(options.dir, READY), { mode: 0o755 });
      await writeFile(join(options.dir, POOL_TEMPLATE_FILE), templateId);
    }
    const pool = new WarmPool(options, identity);
    pool.#refill();
    return pool;
  }

  /**
   * Creates an instance like {@link ManagedCluster.create}, from a ready copy when there is one
   * (a rename), else from a template copy; then refills in the background.
   *
   * @throws {PgInstanceError} as {@link ManagedCluster.create}.
   *
   * @example
   * ```ts
   * const cluster = await pool.take(spec);
   * await cluster.start();
   * ```
   */
  async take(spec: InstanceSpec): Promise<ManagedCluster> {
    try {
      return await ManagedCluster.create(this.#options.template, spec, {
        ...(this.#options.copyMethod === undefined ? {} : { copyMethod: this.#options.copyMethod }),
        prepared: (partial) => this.#claim(partial),
      });
    } finally {
      this.#refill();
    }
  }

  /** How many complete copies are ready now. */
  async readyCount(): Promise<number> {
    return (await readdir(join(this.#options.dir, READY))).length;
  }

  /** Takes served from the pool (hits) and from a template copy because it was empty (misses). */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  /**
   * Resolves once the pool holds `size` ready copies.
   *
   * @throws the refill's error when a copy fails.
   */
  async fill(): Promise<void> {
    this.#lastError = undefined;
    this.#refill();
    while (this.#refilling !== undefined) await this.#refilling;
    if (this.#lastError !== undefined) throw this.#lastError;
  }

  /** Stops refilling and waits for a copy in progress; the ready copies stay for the next open. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#refilling !== undefined) await this.#refilling;
  }

  /** Moves a ready copy to `partial`; false when none is left (or it is on another filesystem). */
  async #claim(partial: string): Promise<boolean> {
    const readyDir = join(this.#options.dir, READY);
    for (const entry of await readdir(readyDir)) {
      try {
        await rename(join(readyDir, entry), partial);
        this.#hits += 1;
        return true;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue; // taken by a concurrent take()
        if (code === 'EXDEV') break;
        throw error;
      }
    }
    this.#misses += 1;
    return false;
  }

  #refill(): void {
    if (this.#closed || this.#refilling !== undefined) return;
    this.#refilling = (async () => {
      // Bounded: at most `size` copies per round, one at a time (a copy is disk- and CPU-heavy).
      for (let made = 0; made < this.size && !this.#closed && (await this.readyCount()) < this.size; made += 1) {
        await this.#makeCopy();
      }
    })()
      .catch((error: unknown) => {
        this.#lastError = error;
        this.#options.onError?.(error);
      })
      .finally(() => {
        this.#refilling = undefined;
      });
  }

  async #makeCopy(): Promise<void> {
    const id = randomBytes(8).toString('hex');
    const filling = join(this.#options.dir, FILLING, id);
    try {
      await copyDataDir(this.#options.template.dir, filling, this.#options.copyMethod ?? DEFAULT_COPY_METHOD, this.#identity);
      await chmod(filling, 0o700);
      await rm(join(filling, TEMPLATE_MARKER), { force: true });
      // The commit point: only now can take() see it.
      await rename(filling, join(this.#options.dir, READY, id));
    } catch (error) {
      await rm(filling, { recursive: true, force: true });
      throw new PgInstanceError('PG_INSTANCE_CREATE_FAILED', `the warm pool could not copy the template ${this.#options.template.dir} into ${filling}: ${errorMessage(error)}`, { cause: error });
    }
  }
}
