// The lock file that keeps an embedded (PGlite) directory to one process at a time.
import { createHash, randomUUID } from 'node:crypto';
import { link, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { DatabaseLockedError } from './errors.js';
import { isProcessAlive, processStartTicks } from './process.js';

/** Name of the lock file inside a Strata directory. */
export const LOCK_FILE = 'lock';
/**
 * Bound on the take-over loop: each turn either takes the lock, finds a live holder (and throws),
 * or removes one stale lock. Many turns only happen when many processes keep dying while holding
 * the lock, so a few dozen is plenty.
 */
const MAX_ACQUIRE_ATTEMPTS = 50;
/** Pause before retrying while another process holds the take-over mutex; it holds it for a few file operations. */
const TAKEOVER_BUSY_PAUSE_MS = 5;

/** What the lock file holds: the owner process instance, and a token naming this one opening. */
interface LockRecord {
  readonly pid: number;
  readonly host: string;
  /** The owner's start time in clock ticks since boot (Linux), so a reused pid is told apart. */
  readonly startTicks: string | null;
  readonly token: string;
  /** The Unix socket on which the owner serves the database to other processes of its user, if it does. */
  readonly socket?: string;
}

/** A live process on this machine holding a directory's lock, and where it serves the database. */
export interface LockHolder {
  readonly pid: number;
  /** The owner's Unix socket (a `.s.PGSQL.5432` file), or undefined if it serves none. */
  readonly socketPath: string | undefined;
}

/**
 * Tokens of the locks this process holds, shared by every copy of this module loaded in the
 * process: a lock with our pid and a token not in here was left by an earlier process that had
 * our pid (a restarted container), not by us.
 */
const heldTokens: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('strata.store.heldLockTokens')] ??=
  new Set<string>()) as Set<string>;

/**
 * The lock on one embedded directory, held by this process until {@link DirectoryLock.release}.
 *
 * Taking it is atomic: the record is written to a temporary file and hard-linked into place, and
 * `link()` fails with EEXIST when a lock exists, so no other process ever sees a partial lock. A
 * lock whose owner is provably dead (no such pid, a different process under a reused pid, or an
 * earlier process with our own pid) is removed under a take-over mutex and taken; anything else
 * gives `DatabaseLockedError`.
 *
 * @example
 * const lock = await DirectoryLock.acquire('/var/lib/app/.strata');
 * try { await useTheDirectory(); } finally { await lock.release(); }
 */
export class DirectoryLock {
  readonly path: string;
  readonly #content: string;
  readonly #token: string;
  #released = false;

  private constructor(lockPath: string, content: string, token: string) {
    this.path = lockPath;
    this.#content = content;
    this.#token = token;
  }

  /**
   * Takes the lock of directory `dir` (which must exist), or throws `DatabaseLockedError` naming
   * the holder. File system errors (ENOSPC, EROFS, EACCES) are thrown as they are.
   *
   * `socketPath`, recorded in the lock, tells other processes where this one will serve the
   * database (see {@link liveHolder}).
   *
   * @example
   * const lock = await DirectoryLock.acquire(dir); // DatabaseLockedError if another process has it
   */
  static async acquire(dir: string, { socketPath }: { socketPath?: string } = {}): Promise<DirectoryLock> {
    const lockPath = path.join(dir, LOCK_FILE);
    await removeAbandonedTemporaries(dir);
    const token = randomUUID();
    const record: LockRecord = {
      pid: process.pid,
      host: hostname(),
      startTicks: processStartTicks(process.pid) ?? null,
      token,
      ...(socketPath === undefined ? {} : { socket: socketPath }),
    };
    const content = `${JSON.stringify(record)}\n`;
    const temporary = path.join(dir, `${LOCK_FILE}.${process.pid}.${token}.tmp`);
    await writeDurably(temporary, content);
    heldTokens.add(token);
    try {
      for (let attempt = 0; attempt < MAX_ACQUIRE_ATTEMPTS; attempt++) {
        try {
          await link(temporary, lockPath);
          return new DirectoryLock(lockPath, content, token);
        } catch (error) {
          if (errnoOf(error) !== 'EEXIST') throw error;
        }
        const holder = await readFile(lockPath, 'utf8').catch((error: unknown) => {
          if (errnoOf(error) === 'ENOENT') return undefined; // released meanwhile: try again
          throw error;
        });
        if (holder === undefined) continue;
        const refusal = refusalFor(holder, lockPath, dir);
        if (refusal) throw refusal;
        await removeStaleLock(lockPath, holder, token);
      }
      throw new DatabaseLockedError(
        `could not take the lock file ${lockPath} after ${MAX_ACQUIRE_ATTEMPTS} attempts: it kept changing hands; retry, and check which processes open ${dir}`,
      );
    } catch (error) {
      heldTokens.delete(token);
      throw error;
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  /**
   * Removes the lock file if it is still this lock; a lock file that another process took over
   * (having judged this one dead) is left alone. Idempotent.
   *
   * @example
   * await lock.release();
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    try {
      // Nobody replaces a live holder's lock, so what is read here is still there at the unlink.
      const current = await readFile(this.path, 'utf8');
      if (current === this.#content) await unlink(this.path);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
    } finally {
      heldTokens.delete(this.#token);
    }
  }
}

/** Writes `content` to a new file and flushes it, so a crash of the machine cannot leave it empty. */
async function writeDurably(file: string, content: string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(file).catch(() => undefined); // a full disk: leave no empty file behind
    throw error;
  }
  await handle.close();
}

/** The error that keeps us out, or undefined when the holder is provably dead. */
function refusalFor(holderContent: string, lockPath: string, dir: string): DatabaseLockedError | undefined {
  const holder = parseRecord(holderContent);
  if (holder === undefined) {
    return new DatabaseLockedError(
      `the lock file ${lockPath} does not name its owner (it is empty or unreadable, which an older Strata version could leave after a crash), so it cannot be judged stale; if no process is using ${dir}, delete ${lockPath} and open it again`,
    );
  }
  if (holder.host !== undefined && holder.host !== hostname()) {
    return new DatabaseLockedError(
      `the embedded database at ${dir} is open in another process (pid ${holder.pid} on host ${holder.host}), which this machine cannot check; stop that process, or if it no longer runs, delete ${lockPath} and open it again`,
    );
  }
  if (holder.pid === process.pid) {
    if (holder.token !== undefined && heldTokens.has(holder.token)) {
      return new DatabaseLockedError(
        `the embedded database at ${dir} is already open in this process; share one Database object instead of opening it twice`,
      );
    }
    return undefined; // an earlier process that had our pid: we are alive and did not write it
  }
  if (!isProcessAlive(holder.pid)) return undefined;
  if (holder.startTicks != null) {
    const startTicks = processStartTicks(holder.pid);
    if (startTicks !== undefined && startTicks !== holder.startTicks) return undefined; // the pid was reused
  }
  return new DatabaseLockedError(
    `the embedded database at ${dir} is open in another process (pid ${holder.pid}); embedded PGlite serves one process at a time — stop that process (kill ${holder.pid}), or use a postgres:// URL to share a database between processes`,
  );
}

/**
 * The live process on this machine that holds `dir`'s lock, or undefined when the directory is
 * not locked, is locked by this process, or by a process that is provably dead or elsewhere.
 *
 * @example
 * const holder = await liveHolder('/var/lib/app/.strata');
 * if (holder?.socketPath) connectThrough(holder.socketPath);
 */
export async function liveHolder(dir: string): Promise<LockHolder | undefined> {
  const content = await readFile(path.join(dir, LOCK_FILE), 'utf8').catch(() => undefined);
  const holder = content === undefined ? undefined : parseRecord(content);
  if (holder === undefined || holder.host !== hostname() || holder.pid === process.pid || !isProcessAlive(holder.pid)) return undefined;
  if (holder.startTicks != null) {
    const startTicks = processStartTicks(holder.pid);
    if (startTicks !== undefined && startTicks !== holder.startTicks) return undefined;
  }
  return { pid: holder.pid, socketPath: holder.socket };
}

/** A lock record; a bare pid is the format of Strata versions before the record (no host, no start time). */
function parseRecord(content: string): { pid: number; host?: string; startTicks?: string | null; token?: string; socket?: string } | undefined {
  const text = content.trim();
  if (/^[1-9]\d*$/.test(text)) return { pid: Number(text) };
  try {
    const value = JSON.parse(text) as Partial<LockRecord>;
    if (!Number.isSafeInteger(value.pid) || (value.pid as number) <= 0 || typeof value.host !== 'string' || typeof value.token !== 'string') {
      return undefined;
    }
    const startTicks = typeof value.startTicks === 'string' ? value.startTicks : null;
    const socket = typeof value.socket === 'string' ? { socket: value.socket } : {};
    return { pid: value.pid as number, host: value.host, startTicks, token: value.token, ...socket };
  } catch {
    return undefined;
  }
}

/**
 * Removes the lock file if it still holds `staleContent`. Racing openers may all judge the same
 * lock stale; removal happens under a mutex the kernel releases when its holder dies, and the file
 * is re-read under it, so a lock that a racer took meanwhile is never removed.
 */
async function removeStaleLock(lockPath: string, staleContent: string, token: string): Promise<void> {
  const mutex = await takeoverMutex(lockPath);
  if (mutex === 'busy') {
    await new Promise((resolve) => setTimeout(resolve, TAKEOVER_BUSY_PAUSE_MS));
    return;
  }
  if (mutex === 'unsupported') {
    await removeStaleLockByRename(lockPath, staleContent, token);
    return;
  }
  try {
    const current = await readFile(lockPath, 'utf8').catch(() => undefined);
    // Only mutex holders remove a lock they do not own, and a dead owner removes nothing, so the
    // file read here is the one unlinked.
    if (current === staleContent) await unlink(lockPath).catch(() => undefined);
  } finally {
    await new Promise((resolve) => mutex.close(resolve));
  }
}

/**
 * Where the kernel offers no auto-released mutex: rename the stale file aside and check that what
 * was renamed is what was judged stale; if a racer's fresh lock was renamed instead, link it back.
 * A third racer could slip in while it is aside, so this is the weaker fallback.
 */
async function removeStaleLockByRename(lockPath: string, staleContent: string, token: string): Promise<void> {
  const aside = `${lockPath}.stale.${token}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return;
    throw error;
  }
  if ((await readFile(aside, 'utf8')) !== staleContent) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside);
}

/**
 * A mutex over taking over `lockPath`'s lock: a listening socket in Linux's abstract namespace (or
 * a Windows named pipe), which the kernel frees when the process dies, so it can never go stale.
 * Named by the directory's device and inode, so every path to one directory meets the same mutex.
 */
async function takeoverMutex(lockPath: string): Promise<Server | 'busy' | 'unsupported'> {
  if (process.platform !== 'linux' && process.platform !== 'win32') return 'unsupported';
  const directory = await stat(path.dirname(lockPath));
  const key = createHash('sha256').update(`${directory.dev}:${directory.ino}`).digest('hex').slice(0, 40);
  const address = process.platform === 'linux' ? `\0strata-lock-takeover-${key}` : `\\\\?\\pipe\\strata-lock-takeover-${key}`;
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (error) => (errnoOf(error) === 'EADDRINUSE' ? resolve('busy') : reject(error)));
    server.listen(address, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Removes temporary lock files (`lock.<pid>.<token>.tmp`) whose writer died between writing and linking them. */
async function removeAbandonedTemporaries(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const temporary = /^lock\.(\d+)\.[0-9a-f-]+\.tmp$/.exec(name);
    if (temporary && !isProcessAlive(Number(temporary[1]))) await unlink(path.join(dir, name)).catch(() => undefined);
  }
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
