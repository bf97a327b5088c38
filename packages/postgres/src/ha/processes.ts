// Long-running child processes of the HA harness (etcd, Patroni) run as the unprivileged server
// user, with their output in a log file, and killed with the whole process when it exits.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HELPER_COMMAND_TIMEOUT_MS, isRoot, run } from '../commands.js';
import { resolveServerUser } from '../server-user.js';

/** The OS identity a spawned program runs as: the server user when we are root, else ourselves. */
export interface RunAs {
  readonly user: string | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

/** Root may not run PostgreSQL (nor should it run Patroni): resolve the server user's ids once. */
export async function resolveRunAs(): Promise<RunAs> {
  if (!isRoot()) return { user: undefined, uid: undefined, gid: undefined };
  const user = await resolveServerUser();
  const uid = Number((await run('id', ['-u', user], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS })).stdout.trim());
  const gid = Number((await run('id', ['-g', user], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS })).stdout.trim());
  return { user, uid, gid };
}

/** A spawned daemon and the file its output goes to. */
export interface Daemon {
  readonly child: ChildProcess;
  readonly logFile: string;
}

/** Root directories and daemons still alive, cleaned synchronously when the process exits. */
const live = new Set<{ rootDir: string; daemons: Daemon[]; dataDirs: string[] }>();
let exitHookInstalled = false;

/** Registers `entry` for the exit-time cleanup; returns the function that unregisters it. */
export function trackForExit(entry: { rootDir: string; daemons: Daemon[]; dataDirs: string[] }): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const item of live) killAllSync(item);
    });
  }
  live.add(entry);
  return () => live.delete(entry);
}

/** SIGKILLs every postmaster and daemon of `entry` and deletes its files: the last resort. */
export function killAllSync(entry: { rootDir: string; daemons: Daemon[]; dataDirs: string[] }): void {
  for (const daemon of entry.daemons) killGroup(daemon.child, 'SIGKILL');
  for (const dataDir of entry.dataDirs) killPostmasterSync(dataDir);
  rmSync(entry.rootDir, { recursive: true, force: true });
}

/** Starts `file args` in its own process group as `runAs`, output appended to `logFile`. */
export function spawnDaemon(file: string, args: readonly string[], runAs: RunAs, logFile: string, cwd: string): Daemon {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(file, [...args], {
      cwd,
      detached: true, // its own process group, so one signal reaches what it forks
      stdio: ['ignore', fd, fd],
      env: { ...process.env, HOME: cwd, ...(runAs.user === undefined ? {} : { USER: runAs.user, LOGNAME: runAs.user }) },
      ...(runAs.uid === undefined ? {} : { uid: runAs.uid }),
      ...(runAs.gid === undefined ? {} : { gid: runAs.gid }),
    });
    child.on('error', () => {}); // a failed spawn shows as an early exit, reported with the log
    child.unref();
    return { child, logFile };
  } finally {
    closeSync(fd);
  }
}

/** Signals the daemon's process group (it and what it forked); a group already gone is fine. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** The postmaster's pid from `postmaster.pid`, or undefined when the server is not running. */
export function postmasterPid(dataDir: string): number | undefined {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** SIGKILLs the postmaster of `dataDir`, if any; its backends exit when they see it gone. */
export function killPostmasterSync(dataDir: string): number | undefined {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return undefined;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return undefined;
  }
  return pid;
}

/** Resolves once `child` has exited, or after `timeoutMs`; true when it exited. */
export function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    // Not unref'd: the caller awaits this, and the daemons themselves are unref'd.
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
