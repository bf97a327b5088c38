import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { QueryOptions, QueryResult, Row, Subscription } from './interfaces.js';
import { DatabaseLockedError, InvalidArgumentError, TransactionAbortedError } from './errors.js';
import { SqlDatabase, type DriverSettings, type RawConnection } from './sql-database.js';
import { isProcessAlive } from './process.js';

/** Marks async work running inside a transaction of a given PGlite database (it has one connection). */
const insideTransaction = new AsyncLocalStorage<PgliteDatabase>();

/** Where the PGlite files live inside a Strata directory; the lock file sits beside them. */
const DATA_SUBDIR = 'pgdata';
const LOCK_FILE = 'lock';

/**
 * Embedded PostgreSQL (PGlite, WebAssembly) in this process. PGlite has a single connection, so
 * statements and transactions are queued here one at a time; a directory can be open in one
 * process only (a lock file says which).
 */
export class PgliteDatabase extends SqlDatabase {
  readonly engine = 'pglite' as const;
  readonly description: string;
  readonly #pg: PGlite;
  readonly #lockPath: string | undefined;
  /** FIFO mutex: the tail of the queue of work on the single connection. */
  #tail: Promise<void> = Promise.resolve();
  /** True between BEGIN and COMMIT/ROLLBACK. */
  #inTransaction = false;

  private constructor(pg: PGlite, description: string, lockPath: string | undefined, settings: DriverSettings) {
    super(settings);
    this.#pg = pg;
    this.description = description;
    this.#lockPath = lockPath;
  }

  /**
   * Opens (creating if needed) the Strata directory `dir`, or an in-memory database when `dir`
   * is undefined.
   */
  static async open(dir: string | undefined, settings: DriverSettings): Promise<PgliteDatabase> {
    if (dir === undefined) {
      const pg = await PGlite.create();
      return new PgliteDatabase(pg, 'pglite (in memory)', undefined, settings);
    }
    const absolute = path.resolve(dir);
    await mkdir(absolute, { recursive: true });
    const lockPath = path.join(absolute, LOCK_FILE);
    await acquireLock(lockPath, absolute);
    try {
      const pg = await PGlite.create(path.join(absolute, DATA_SUBDIR));
      return new PgliteDatabase(pg, `pglite ${absolute}`, lockPath, settings);
    } catch (error) {
      await rm(lockPath, { force: true });
      throw error;
    }
  }

  /** The single connection's statements, unqueued: for use only while holding the queue. */
  readonly #connection: RawConnection = {
    query: async <R extends Row>(sql: string, params: readonly unknown[]) => {
      const result = await this.#pg.query<R>(sql, params as unknown[]);
      return { rows: result.rows, rowCount: rowCountOf(result) };
    },
    exec: async (sql) => {
      await this.#pg.exec(sql);
    },
  };

  protected async runQuery<R extends Row>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<QueryResult<R>> {
    return this.#exclusive(() => this.#connection.query<R>(sql, params, options));
  }

  protected async runExec(sql: string): Promise<void> {
    await this.#exclusive(() => this.#connection.exec(sql));
  }

  protected async runTransaction<T>(begin: string, body: (connection: RawConnection) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      await this.#pg.exec(begin);
      this.#inTransaction = true;
      try {
        let result: T;
        try {
          result = await insideTransaction.run(this, () => body(this.#connection));
        } catch (error) {
          await this.#pg.exec('rollback');
          throw error;
        }
        const [commit] = await this.#pg.exec('commit');
        if (commit?.command === 'ROLLBACK') throw new TransactionAbortedError();
        return result;
      } finally {
        this.#inTransaction = false;
      }
    });
  }

  protected async listenNative(channel: string, handler: (payload: string) => void): Promise<Subscription> {
    const unlisten = await this.#exclusive(() => this.#pg.listen(channel, handler));
    return { close: () => (this.closed ? Promise.resolve() : this.#exclusive(() => unlisten())) };
  }

  protected async closeDriver(): Promise<void> {
    await this.#exclusive(() => this.#pg.close());
    if (this.#lockPath) await rm(this.#lockPath, { force: true });
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

/** Rows returned by a statement that returns rows (SELECT, RETURNING), else rows affected. */
function rowCountOf(result: { rows: unknown[]; fields: unknown[]; affectedRows?: number }): number {
  return result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
}

/** Takes the directory's lock file, or explains who holds it; a lock left by a dead process is taken over. */
async function acquireLock(lockPath: string, dir: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isProcessAlive(holder)) {
        throw new DatabaseLockedError(
          `the embedded database at ${dir} is open in another process (pid ${holder}); embedded PGlite serves one process at a time — stop that process, or use a postgres:// URL to share a database between processes`,
        );
      }
      if (holder === process.pid) {
        throw new DatabaseLockedError(
          `the embedded database at ${dir} is already open in this process; share one Database object instead of opening it twice`,
        );
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new DatabaseLockedError(`could not take the lock file ${lockPath}; remove it if no process is using ${dir}`);
}

