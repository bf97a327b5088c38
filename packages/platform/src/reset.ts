// --reset: the platform's PostgreSQL servers (instances and the agent's spares) are stopped before
// its data directory is deleted, so no server keeps running on a deleted directory (instances
// outlive the platform by design).
import { readFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { platformLayout } from './layout.js';

/**
 * How deep under the node root a data directory may sit: `instances/<id>/data` and
 * `spares/live/<id>/data` are three and four levels down; the bound keeps the walk finite.
 */
const MAX_SEARCH_DEPTH = 5;
/** A server that has not stopped this long after SIGQUIT (immediate shutdown) is killed. */
const STOP_WAIT_MS = 30_000;

/**
 * Stops every PostgreSQL server running in a data directory under the platform's node root
 * (immediate shutdown, as `pg_ctl stop -m immediate`; the files are deleted next, so nothing needs
 * to be flushed) and deletes the data directory. Nothing to do when it does not exist. Call it
 * only when no platform runs on `dataDir`.
 *
 * @returns how many running servers it stopped.
 *
 * @example
 * const stopped = await resetPlatform('./.strata');
 * console.log(`reset: stopped ${stopped} server(s)`);
 */
export async function resetPlatform(dataDir: string, rootDir?: string): Promise<number> {
  const layout = platformLayout(dataDir, rootDir);
  const pids = await runningPostmasters(layout.nodeRootDir, 0);
  for (const pid of pids) signal(pid, 'SIGQUIT');
  const deadline = Date.now() + STOP_WAIT_MS;
  for (const pid of pids) {
    while (isPostgres(pid)) {
      if (Date.now() > deadline) signal(pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  await rm(layout.nodeRootDir, { recursive: true, force: true });
  await rm(layout.dataDir, { recursive: true, force: true });
  return pids.length;
}

/** Postmaster pids of the data directories under `dir` (symbolic links are not followed: each server is found once, at its real place). */
async function runningPostmasters(dir: string, depth: number): Promise<number[]> {
  if (depth > MAX_SEARCH_DEPTH) return [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
  if (entries.some((entry) => entry.isFile() && entry.name === 'postmaster.pid')) {
    const pid = Number((await readFile(join(dir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && isPostgres(pid) ? [pid] : [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    // A Dirent of readdir is not followed: a link to a spare is not a directory here.
    if (entry.isDirectory()) found.push(...(await runningPostmasters(join(dir, entry.name), depth + 1)));
  }
  return found;
}

/** Whether `pid` is a running PostgreSQL server (not a reused pid of something else, not a zombie). */
function isPostgres(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && /\((postgres|postmaster)\)/.test(stat);
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}
