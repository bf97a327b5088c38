// Stops the clusters this process started when the process ends without stopping them: on
// `exit`, and on SIGTERM and SIGINT (whose default action would kill the process and leave the
// server running with its files in place).

import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

/** What a synchronous stop needs to know about a running cluster. */
export interface LiveCluster {
  readonly binDir: string;
  readonly rootDir: string;
  readonly dataDir: string;
  readonly serverUser: string | undefined;
}

/**
 * The signals on which this process's running clusters are stopped before the signal ends the
 * process (their default action would otherwise leave the servers running).
 *
 * @example
 * ```ts
 * CLEANUP_SIGNALS.includes('SIGTERM'); // true
 * ```
 */
export const CLEANUP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** A synchronous stop must not hang a dying process for long. */
const SYNC_STOP_TIMEOUT_MS = 10_000;

const liveClusters = new Set<LiveCluster>();

/**
 * Takes a cluster into the process's care: from now on an `exit`, a SIGTERM or a SIGINT stops it.
 * The first cluster installs the process-level handlers (once).
 */
export function trackCluster(live: LiveCluster): void {
  liveClusters.add(live);
  if (liveClusters.size === 1) installHandlers();
}

/** The cluster is stopped and removed: the last one removes the process-level handlers. */
export function untrackCluster(live: LiveCluster): void {
  if (!liveClusters.delete(live)) return;
  if (liveClusters.size === 0) removeHandlers();
}

/**
 * How many clusters this process has started and not yet stopped (the process-level `exit`,
 * SIGTERM and SIGINT handlers are installed exactly while this is above 0).
 *
 * @example
 * ```ts
 * const cluster = await startCluster();
 * runningClusterCount(); // 1
 * await cluster.stop();
 * runningClusterCount(); // 0
 * ```
 */
export function runningClusterCount(): number {
  return liveClusters.size;
}

/** Synchronous best-effort stop (`pg_ctl stop -m immediate`) and removal of the cluster's files. */
export function stopSync(live: LiveCluster): void {
  const command = [join(live.binDir, 'pg_ctl'), '-D', live.dataDir, 'stop', '-m', 'immediate', '-w'];
  const [file, ...args] = live.serverUser === undefined ? command : ['runuser', '-u', live.serverUser, '--', ...command];
  if (existsSync(join(live.dataDir, 'postmaster.pid')) && file !== undefined) {
    spawnSync(file, args, { stdio: 'ignore', timeout: SYNC_STOP_TIMEOUT_MS, cwd: live.rootDir });
  }
  rmSync(live.rootDir, { recursive: true, force: true });
}

function stopAllSync(): void {
  for (const live of [...liveClusters]) {
    try {
      stopSync(live);
    } catch {
      // Best effort: the process is ending anyway.
    }
    liveClusters.delete(live);
  }
}

function onExit(): void {
  stopAllSync();
  removeHandlers();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener means the app handles this signal itself (a graceful shutdown may still
  // need its database): leave the clusters to its stop() calls or to the exit hook.
  if (process.listenerCount(signal) > 1) return;
  stopAllSync();
  removeHandlers();
  // With no listener left, the signal's default action ends the process as it would have without
  // us (a parent sees death by the signal; a shell sees exit status 128 + signal number). Should
  // something keep it alive regardless, exit with that status ourselves.
  process.kill(process.pid, signal);
  setImmediate(() => process.exit(128 + constants.signals[signal]));
}

let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  for (const signal of CLEANUP_SIGNALS) process.on(signal, onSignal);
}

function removeHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', onExit);
  for (const signal of CLEANUP_SIGNALS) process.off(signal, onSignal);
}
