// The postmaster of a managed instance, driven directly rather than through pg_ctl: spawned
// detached (it outlives the agent), ready when postmaster.pid says so (polled every few ms;
// pg_ctl -w polls every 100 ms), stopped with the signal of each shutdown mode.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, readLogTail, run } from '../commands.js';
import { LOG_FILE } from './config-file.js';
import { PgInstanceError } from './errors.js';
import { giveToServer, type ServerIdentity } from './server-identity.js';

/** How a stop ends the server: `fast` (SIGINT) disconnects clients and checkpoints; `immediate` (SIGQUIT) aborts like a crash. */
export type StopMode = 'fast' | 'immediate';

/** PostgreSQL's own shutdown signals (see the postmaster's pmdie). */
const STOP_SIGNALS: Readonly<Record<StopMode, NodeJS.Signals>> = { fast: 'SIGINT', immediate: 'SIGQUIT' };

/** A start that needs crash recovery of a large WAL can take a while; past this it is broken. */
const START_TIMEOUT_MS = 120_000;
/** A fast stop waits for a shutdown checkpoint. */
const STOP_TIMEOUT_MS = 120_000;
/** Readiness and exit are polled this often: a few ms keeps create → first query quick without busy-waiting. */
const POLL_INTERVAL_MS = 3;

/** Line 8 of postmaster.pid (PM_STATUS_READY): the server accepts connections. */
const PID_FILE_STATUS_LINE = 7;
const PID_FILE = 'postmaster.pid';

/** The postmaster named in `dataDir/postmaster.pid` when it is alive and a postgres process; undefined otherwise. */
export async function runningPostmasterPid(dataDir: string): Promise<number | undefined> {
  const lines = await readPidFile(dataDir);
  const pid = Number(lines?.[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isPostgresProcess(pid)) ? pid : undefined;
}

/**
 * Spawns `postgres -D dataDir` detached, as the server user, output appended to the instance's
 * log, and resolves once postmaster.pid reports `ready`. `onSpawn` is called with the new pid as
 * soon as the process exists, before it forks anything (to put it in its cgroups while the server
 * starts up, so its children are born there).
 *
 * @throws {PgInstanceError} `PG_INSTANCE_START_FAILED` with the log's tail.
 */
export async function startPostmaster(binDir: string, dataDir: string, identity: ServerIdentity, onSpawn?: (pid: number) => void): Promise<number> {
  // A pid file left by a killed postmaster (or a reused pid after a reboot) would stop the start.
  if ((await readPidFile(dataDir)) !== undefined && (await runningPostmasterPid(dataDir)) === undefined) {
    await rm(join(dataDir, PID_FILE), { force: true });
  }
  const logPath = join(dataDir, LOG_FILE);
  const logFd = openSync(logPath, 'a', 0o600);
  // Set by the child's events (a plain `let` would be narrowed to undefined by the compiler).
  const state: { exited?: string } = {};
  try {
    await giveToServer(logPath, identity);
    const child = spawn(join(binDir, 'postgres'), ['-D', dataDir], {
      cwd: dataDir,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: serverEnv(),
      ...(identity.user === undefined ? {} : { uid: identity.uid, gid: identity.gid }),
    });
    child.once('error', (error) => (state.exited = error.message));
    child.once('exit', (code, signal) => (state.exited = `exited with ${signal ?? `code ${code}`}`));
    // Not our child to wait for: it must outlive this process.
    child.unref();
    if (child.pid !== undefined) onSpawn?.(child.pid);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const lines = await readPidFile(dataDir);
      const pid = child.pid;
      if (pid !== undefined && lines?.[PID_FILE_STATUS_LINE]?.trim() === 'ready' && Number(lines[0]) === pid) return pid;
      if (state.exited !== undefined) break;
      if (Date.now() > deadline) {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGQUIT');
        state.exited = `not ready after ${START_TIMEOUT_MS} ms, aborted`;
        break;
      }
      await sleep(POLL_INTERVAL_MS);
    }
  } finally {
    closeSync(logFd);
  }
  const logTail = await readLogTail(logPath);
  const hint = /could not bind|address already in use/i.test(logTail)
    ? 'its port is taken by another process: give the instance another port (freePort())'
    : /already running|lock file .* already exists/i.test(logTail)
      ? 'another server runs on this data directory: stop it first'
      : 'see the server log below';
  throw new PgInstanceError('PG_INSTANCE_START_FAILED', `PostgreSQL in ${dataDir} did not start (${state.exited ?? 'unknown'}): ${hint}\n--- ${logPath} ---\n${logTail}`);
}

/**
 * Sends the stop signal of `mode` and waits until the postmaster is gone; nothing to do when
 * none runs.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_STOP_FAILED` when it outlives the timeout.
 */
export async function stopPostmaster(dataDir: string, mode: StopMode): Promise<void> {
  const pid = await runningPostmasterPid(dataDir);
  if (pid === undefined) return;
  signal(pid, STOP_SIGNALS[mode]);
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (await isPostgresProcess(pid)) {
    if (Date.now() > deadline) {
      throw new PgInstanceError('PG_INSTANCE_STOP_FAILED', `PostgreSQL (pid ${pid}) in ${dataDir} did not stop within ${STOP_TIMEOUT_MS} ms after ${STOP_SIGNALS[mode]}; stop it with mode 'immediate' or destroy the instance`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** The server reads its configuration files in well under a second; longer is a hung disk. */
const CONFIG_CHECK_TIMEOUT_MS = 30_000;

/**
 * Has the server parse the data directory's configuration files as a start would (`postgres -C`,
 * which exits after reading them, also while a server runs there).
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_SETTING` with the server's complaint.
 */
export async function checkConfigFiles(binDir: string, dataDir: string, identity: ServerIdentity): Promise<void> {
  try {
    await run(join(binDir, 'postgres'), ['-D', dataDir, '-C', 'port'], { asUser: identity.user, cwd: dataDir, timeoutMs: CONFIG_CHECK_TIMEOUT_MS, env: serverEnv() });
  } catch (error) {
    const complaint = errorMessage(error).split('\n').slice(1).filter((line) => line.trim() !== '').join('; ');
    throw new PgInstanceError('PG_INSTANCE_INVALID_SETTING', `PostgreSQL rejects the settings: ${complaint || errorMessage(error)}; nothing was changed: check names, types, units and ranges in pg_settings (settingsCatalogue)`, { cause: error });
  }
}

/** SIGKILLs the postmaster's process group (last resort of destroy). */
export function killPostmasterGroup(pid: number): void {
  signal(-pid, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function readPidFile(dataDir: string): Promise<string[] | undefined> {
  try {
    return (await readFile(join(dataDir, PID_FILE), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
}

/** Alive (a zombie is not), and a postgres process: a pid reused by something else after a reboot is not ours. */
async function isPostgresProcess(pid: number): Promise<boolean> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return processExists(pid);
    return false;
  }
  if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') return false;
  const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  return command === 'postgres' || command === 'postmaster';
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A small, predictable environment: no PG* variables of the agent leak into the server. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };
  if (process.env.TZ !== undefined) env.TZ = process.env.TZ;
  return env;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
