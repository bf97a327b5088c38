import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { QueryOptions, QueryResult, Row, Subscription } from './interfaces.js';
import {
  DatabaseCrashedError,
  DiskFullError,
  InvalidArgumentError,
  StorageReadOnlyError,
  StoreError,
  TransactionAbortedError,
} from './errors.js';
import { SqlDatabase, type DriverSettings, type RawConnection } from './sql-database.js';
import { DirectoryLock } from './lock.js';
import { SocketServer, removeSocket, socketPathFor, type ServedEngine } from './socket-server.js';

/** Marks async work running inside a transaction of a given PGlite database (it has one connection). */
const insideTransaction = new AsyncLocalStorage<PgliteDatabase>();

/** Where the PGlite files live inside a Strata directory; the lock file sits beside them. */
const DATA_SUBDIR = 'pgdata';
/**
 * Free space below which opening fails at once with `DiskFullError`: a new directory needs about
 * 40 MiB (initdb), and an existing one must be able to add a 16 MiB WAL segment. Starting closer
 * to full only fails later, in the middle of work.
 */
export const MIN_FREE_BYTES_TO_OPEN = 64 * 1024 * 1024;
/**
 * PostgreSQL's buffer cache for an embedded database. PGlite's default, 128 MB, is touched in full
 * at start (128 MB of resident memory for a demo with five orders); 32 MB holds ~4,000 pages, far
 * more than an embedded app's hot rows and indexes, and a miss is a read from the OS page cache.
 * Durability is untouched: fsync and WAL settings stay PGlite's own.
 */
export const EMBEDDED_SHARED_BUFFERS = '32MB';
/** PGlite's start parameters with {@link EMBEDDED_SHARED_BUFFERS}. */
const EMBEDDED_START_PARAMS = [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`];
/** SQLSTATE disk_full: PostgreSQL could not extend a file or write its WAL. */
const SQLSTATE_DISK_FULL = '53100';
/** Error codes of Node and of PGlite's Emscripten file system (ErrnoError.errno) for a full disk. */
const DISK_FULL_ERRNOS: ReadonlySet<string | number> = new Set(['ENOSPC', 'EDQUOT', 51, 19]);
/** The same for a directory that cannot be written (EROFS, EACCES, EPERM). */
const READ_ONLY_ERRNOS: ReadonlySet<string | number> = new Set(['EROFS', 'EACCES', 'EPERM', 69, 2, 63]);

/** Options of an embedded database, beside the driver settings. */
export interface PgliteOptions {
  /**
   * Serve the database to other processes of this user on a Unix socket in the directory (its
   * path goes into the lock record), so that a CLI or a second process can use it while this
   * one holds it. Default true for a directory; never for memory.
   */
  readonly serve?: boolean;
}

/**
 * Embedded PostgreSQL (PGlite, WebAssembly) in this process. PGlite has a single connection, so
 * statements and transactions are queued here one at a time; a directory can be open in one
 * process only (a lock file says which), and that process serves it to others on a Unix socket.
 */
export class PgliteDatabase extends SqlDatabase {
  readonly engine = 'pglite' as const;
  readonly description: string;
  readonly #pg: PGlite;
  readonly #lock: DirectoryLock | undefined;
  /** Where the files are (undefined in memory): named in storage errors. */
  readonly #dir: string | undefined;
  /**
   * Set once the engine hit a PANIC: PGlite must not run again (its next statement spins forever
   * inside WebAssembly, blocking the event loop), so every call fails with this error instead.
   */
  #crash: (() => StoreError) | undefined;
  /** FIFO mutex: the tail of the queue of work on the single connection. */
  #tail: Promise<void> = Promise.resolve();
  /** True between BEGIN and COMMIT/ROLLBACK. */
  #inTransaction = false;
  /** The socket other processes reach this database on, while it is open. */
  #server: SocketServer | undefined;

  private constructor(pg: PGlite, description: string, dir: string | undefined, lock: DirectoryLock | undefined, settings: DriverSettings) {
    super(settings);
    this.#pg = pg;
    this.description = description;
    this.#dir = dir;
    this.#lock = lock;
  }

  /**
   * Opens (creating if needed) the Strata directory `dir`, or an in-memory database when `dir`
   * is undefined. A full disk gives `DiskFullError`, a read-only or unwritable directory
   * `StorageReadOnlyError`, a directory open elsewhere `DatabaseLockedError`.
   */
  static async open(dir: string | undefined, settings: DriverSettings, { serve = true }: PgliteOptions = {}): Promise<PgliteDatabase> {
    if (dir === undefined) {
      const pg = await PGlite.create({ startParams: EMBEDDED_START_PARAMS });
      return new PgliteDatabase(pg, 'pglite (in memory)', undefined, undefined, settings);
    }
    const absolute = path.resolve(dir);
    let lock: DirectoryLock;
    let socketPath: string | undefined;
    try {
      await makeDirectory(absolute);
      socketPath = serve ? await socketPathFor(absolute) : undefined;
      lock = await DirectoryLock.acquire(absolute, socketPath === undefined ? {} : { socketPath });
    } catch (error) {
      if (socketPath !== undefined && !socketPath.startsWith(absolute)) await removeSocket(socketPath); // a temporary directory
      throw storageErrorOf(error, absolute, 'open') ?? error;
    }
    let db: PgliteDatabase | undefined;
    try {
      await assertRoomToOpen(absolute);
      const pg = await createEngine(path.join(absolute, DATA_SUBDIR));
      db = new PgliteDatabase(pg, `pglite ${absolute}`, absolute, lock, settings);
      if (socketPath !== undefined) {
        const { rows } = await pg.query<{ server_version: string }>('show server_version');
        // Serving is a convenience for other processes: a file system without Unix sockets (or
        // Windows, where they are named pipes) opens the database all the same, unserved; other
        // processes then get DatabaseLockedError naming this one.
        db.#server = await SocketServer.start(db.#served(), socketPath, rows[0]?.server_version ?? '').catch(async () => {
          await removeSocket(socketPath!);
          return undefined;
        });
      }
      return db;
    } catch (error) {
      if (db) await db.close().catch(() => undefined);
      if (socketPath !== undefined) await removeSocket(socketPath);
      await lock.release().catch(() => undefined);
      // A start PostgreSQL refused may be a storage failure in disguise (a read-only mount): the probe tells.
      const typed = error instanceof DatabaseCrashedError ? undefined : storageErrorOf(error, absolute, 'open');
      throw typed ?? (await diagnoseOpenFailure(error, absolute));
    }
  }

  /** The engine as the socket server uses it: its work goes through the same queue as the app's. */
  #served(): ServedEngine {
    return {
      exclusive: (work) => this.#exclusive(work),
      execProtocolRaw: (message) => this.#engine(() => this.#pg.execProtocolRaw(message)),
      exec: async (sql) => {
        await this.#engine(() => this.#pg.exec(sql));
      },
      listen: (channel, handler) => this.#engine(() => this.#pg.listen(channel, handler)),
    };
  }

  /** The single connection's statements, unqueued: for use only while holding the queue. */
  readonly #connection: RawConnection = {
    query: <R extends Row>(sql: string, params: readonly unknown[]) =>
      this.#engine(async () => {
        const result = await this.#pg.query<R>(sql, params as unknown[]);
        return { rows: result.rows, rowCount: rowCountOf(result) };
      }),
    exec: (sql) =>
      this.#engine(async () => {
        await this.#pg.exec(sql);
      }),
  };

  /**
   * Runs `work` on the engine unless it has crashed, and turns storage failures into typed errors.
   * A PANIC (PostgreSQL's answer to a WAL write that failed, e.g. on a full disk) marks the engine
   * crashed; statement-level failures (a table that could not grow) leave it usable.
   */
  async #engine<T>(work: () => Promise<T>): Promise<T> {
    if (this.#crash) throw this.#crash();
    try {
      return await work();
    } catch (error) {
      const typed = storageErrorOf(error, this.#dir ?? 'memory://', 'run');
      if ((error as { severity?: unknown } | null)?.severity === 'PANIC') {
        const dir = this.#dir ?? 'memory://';
        this.#crash = () =>
          typed instanceof DiskFullError
            ? new DiskFullError(
                dir,
                `the embedded database at ${dir} stopped: its disk is full and PostgreSQL could not write its WAL (${(error as Error).message}). Every call on this Database now fails with this error; free space on that disk, close() it and open it again — committed transactions are kept and recovered from the WAL`,
                error,
              )
            : new DatabaseCrashedError(
                `the embedded database at ${dir} stopped after a fatal error (PANIC: ${(error as Error).message}). Every call on this Database now fails with this error; close() it and open it again — committed transactions are recovered from the WAL`,
                error,
              );
        throw this.#crash();
      }
      throw typed ?? error;
    }
  }

  protected async runQuery<R extends Row>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<QueryResult<R>> {
    return this.#exclusive(() => this.#connection.query<R>(sql, params, options));
  }

  protected async runExec(sql: string): Promise<void> {
    await this.#exclusive(() => this.#connection.exec(sql));
  }

  protected async runTransaction<T>(begin: string, body: (connection: RawConnection) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      await this.#engine(() => this.#pg.exec(begin));
      this.#inTransaction = true;
      try {
        let result: T;
        try {
          result = await insideTransaction.run(this, () => body(this.#connection));
        } catch (error) {
          if (!this.#crash) await this.#engine(() => this.#pg.exec('rollback'));
          throw error;
        }
        const [commit] = await this.#engine(() => this.#pg.exec('commit'));
        if (commit?.command === 'ROLLBACK') throw new TransactionAbortedError();
        return result;
      } finally {
        this.#inTransaction = false;
      }
    });
  }

  protected async listenNative(channel: string, handler: (payload: string) => void): Promise<Subscription> {
    const unlisten = await this.#exclusive(() => this.#engine(() => this.#pg.listen(channel, handler)));
    return { close: () => (this.closed || this.#crash ? Promise.resolve() : this.#exclusive(() => this.#engine(() => unlisten()))) };
  }

  protected async closeDriver(): Promise<void> {
    try {
      // After a PANIC the engine must not run again, not even its shutdown; the next open
      // recovers from the WAL, as PostgreSQL does after a crash.
      await this.#server?.close();
      await this.#exclusive(() => (this.#crash ? Promise.resolve() : this.#pg.close()));
    } finally {
      await this.#lock?.release();
    }
  }

  /** Queues `work` behind everything already running on the single connection. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inTransaction && insideTransaction.getStore() === this) {
      throw new InvalidArgumentError(
        'this PGlite database is busy with the transaction you are inside: run the statement through the transaction object (tx.query), not the database',
      );
    }
    const run = this.#tail.then(work);
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/**
 * PGlite on `dataDir`. A new directory is created first, apart: PGlite keeps the initdb
 * WebAssembly instance that created it alive as long as the engine (about 500 MB resident, 800 MB
 * at the peak), so it is created in a short-lived child process whose memory goes with it — or,
 * where no child process may run (Node's permission model), by an engine closed before this one starts.
 *
 * The directory appears whole or not at all. initdb runs in a staging directory beside it that is
 * renamed into place once the engine that created it has closed. A process killed while creating
 * leaves only its staging directory behind (and its initdb child, which outlives it and goes on
 * writing there): never a half-made `dataDir` that the next process would start on, or a second
 * initdb would write into at the same time.
 */
async function createEngine(dataDir: string): Promise<PGlite> {
  await removeStagingLeftovers(dataDir);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initialise(dataDir);
  await removeEmptyPostmasterPid(dataDir);
  return startEngine(dataDir);
}

/** Suffix of the staging directories that {@link initialise} creates beside the data directory. */
const STAGING_SUFFIX = '.initdb-';

/**
 * Removes the staging directories of creators that were killed. The caller holds the directory's
 * lock, so no live Strata process is using one; an orphaned initdb child may still be writing
 * into it, and fails once it is gone.
 */
async function removeStagingLeftovers(dataDir: string): Promise<void> {
  const parent = path.dirname(dataDir);
  const prefix = path.basename(dataDir) + STAGING_SUFFIX;
  for (const name of await readdir(parent)) {
    if (name.startsWith(prefix)) await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Creates the cluster `dataDir` (absent, or left incomplete by an older Strata) atomically. */
async function initialise(dataDir: string): Promise<void> {
  const staging = `${dataDir}${STAGING_SUFFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const created = await createInChildProcess(staging).then(
      () => existsSync(path.join(staging, 'PG_VERSION')),
      () => false,
    );
    if (!created) {
      await rm(staging, { recursive: true, force: true });
      await (await startEngine(staging)).close();
    }
    // A data directory without PG_VERSION never held a cluster that opened (an open goes by that file).
    await rm(dataDir, { recursive: true, force: true });
    await rename(staging, dataDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * A process SIGKILLed while PGlite started can leave an empty `postmaster.pid`, and PostgreSQL
 * then refuses to start ("lock file is empty"). The directory lock held by the caller already keeps
 * other processes out, so an empty one is always such a remnant: it is removed.
 */
async function removeEmptyPostmasterPid(dataDir: string): Promise<void> {
  const file = path.join(dataDir, 'postmaster.pid');
  const size = await stat(file).then((info) => info.size, () => undefined);
  if (size === 0) await rm(file, { force: true });
}

/** How many of PostgreSQL's last log lines a failed start quotes. */
const START_LOG_LINES = 20;

/**
 * Starts PGlite on `dataDir`. PGlite reports a start that PostgreSQL refused only as "PGlite
 * failed to initialize properly"; the reason is in PostgreSQL's log, so its last lines are kept
 * and quoted in the error.
 */
async function startEngine(dataDir: string): Promise<PGlite> {
  const log: string[] = [];
  const keep = (line: string): boolean => {
    if (log.push(line) > START_LOG_LINES) log.shift();
    return false;
  };
  try {
    return await PGlite.create(dataDir, { startParams: EMBEDDED_START_PARAMS, onStderr: keep, onStdout: keep });
  } catch (error) {
    if (!/failed to initiali[sz]e/i.test((error as Error | undefined)?.message ?? '')) throw error;
    const said = log.length > 0 ? `PostgreSQL said:\n${log.join('\n')}` : 'PostgreSQL logged nothing.';
    throw new DatabaseCrashedError(
      `the embedded database in ${dataDir} could not start: PostgreSQL refused its files (${(error as Error).message}). ` +
        `If they were damaged or are from another PostgreSQL version, restore the directory from a copy. ${said}`,
      error,
    );
  }
}

/** Runs PGlite's initdb on `dataDir` in a child process; rejects if one cannot run or it fails. */
async function createInChildProcess(dataDir: string): Promise<void> {
  const permission = (process as { permission?: { has(scope: string): boolean } }).permission;
  if (permission && !permission.has('child')) throw new Error('no child processes under the permission model');
  const script = `const { PGlite } = await import(process.argv[1]); await (await PGlite.create(process.argv[2], { startParams: JSON.parse(process.argv[3]) })).close();`;
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, import.meta.resolve('@electric-sql/pglite'), dataDir, JSON.stringify(EMBEDDED_START_PARAMS)],
      { env: { ...process.env, NODE_OPTIONS: '' } },
      (error) => (error ? reject(error) : resolve()),
    );
  });
}

/** Rows returned by a statement that returns rows (SELECT, RETURNING), else rows affected. */
function rowCountOf(result: { rows: unknown[]; fields: unknown[]; affectedRows?: number }): number {
  return result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
}

/**
 * The typed error for a storage failure — Node's or Emscripten's errno, or SQLSTATE 53100 — or
 * undefined for any other error. `phase` says whether it happened opening or running.
 */
function storageErrorOf(error: unknown, dir: string, phase: 'open' | 'run'): StoreError | undefined {
  if (error instanceof StoreError) return error;
  const { code, errno, message } = (error ?? {}) as { code?: unknown; errno?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  const isDiskFull =
    code === SQLSTATE_DISK_FULL || DISK_FULL_ERRNOS.has(code as string) || (isEmscriptenError(error) && DISK_FULL_ERRNOS.has(errno as number));
  if (isDiskFull || /: (no space left on device|disk quota exceeded)\b/i.test(text)) {
    return new DiskFullError(
      dir,
      phase === 'open'
        ? `cannot open the embedded database at ${dir}: its disk is full. Free space on that disk, or point the database at a directory on a larger one`
        : `a write to the embedded database at ${dir} failed: its disk is full (${text}). Nothing of the failed statement was kept and the database is still open; free space on that disk, then retry`,
      error,
    );
  }
  const isReadOnly = READ_ONLY_ERRNOS.has(code as string) || (isEmscriptenError(error) && READ_ONLY_ERRNOS.has(errno as number));
  // Only a file operation's failure (`could not write to file "…": Permission denied`), not SQL's
  // "permission denied for table".
  if (isReadOnly || /: read-only file system\b|could not [^:]*: permission denied/i.test(text)) {
    const why = code === 'EROFS' || errno === 69 || /read-only file system/i.test(text) ? 'is on a read-only file system' : 'is not writable by this process';
    return new StorageReadOnlyError(
      dir,
      `the embedded database directory ${dir} ${why} (${typeof code === 'string' ? code : text}); the embedded database writes to its directory even to read. Point it at a writable directory, remount the file system read-write, or give this user write permission`,
      error,
    );
  }
  return undefined;
}

/** PGlite's file system errors are Emscripten `ErrnoError`s: a numeric errno, no Node code. */
function isEmscriptenError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ErrnoError' && typeof (error as { errno?: unknown }).errno === 'number';
}

/**
 * `mkdir -p dir`. On a read-only file system Node's recursive mkdir reports ENOENT, not EROFS, so
 * the nearest existing ancestor is asked whether it can be written, to report the real cause.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let ancestor = path.dirname(dir);
    while (!(await stat(ancestor).then(() => true, () => false)) && path.dirname(ancestor) !== ancestor) ancestor = path.dirname(ancestor);
    await access(ancestor, constants.W_OK);
    throw error;
  }
}

/** Fails with `DiskFullError` when the directory's disk has less than {@link MIN_FREE_BYTES_TO_OPEN} free. */
async function assertRoomToOpen(dir: string): Promise<void> {
  const { bavail, bsize } = await statfs(dir);
  const freeBytes = bavail * bsize;
  if (freeBytes < MIN_FREE_BYTES_TO_OPEN) {
    throw new DiskFullError(
      dir,
      `cannot open the embedded database at ${dir}: its disk has ${formatMiB(freeBytes)} free and the database needs at least ${formatMiB(MIN_FREE_BYTES_TO_OPEN)} to start safely. Free space on that disk, or point the database at a directory on a larger one`,
    );
  }
}

/**
 * PGlite reports a start that failed on storage as "PGlite failed to initialize properly", with no
 * errno; this tells a full disk or a data directory that cannot be written from other failures.
 */
async function diagnoseOpenFailure(error: unknown, dir: string): Promise<unknown> {
  try {
    await assertRoomToOpen(dir);
    const probe = path.join(dir, DATA_SUBDIR, `.strata-write-probe-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (probeError) {
    const typed = storageErrorOf(probeError, dir, 'open');
    if (typed) {
      if (typed.cause === undefined) Object.defineProperty(typed, 'cause', { value: error });
      return typed;
    }
  }
  return error;
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
