// Memory and CPU limits of an instance through cgroup v1 (the memory and cpu controllers), when
// this process is root on Linux and the hierarchy is writable; otherwise limits are unavailable.
// The freezer controller (freezer.ts) uses the same group names.

import { createHash } from 'node:crypto';
import { access, constants, mkdir, readdir, realpath, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage, isRoot } from '../commands.js';
import { PgInstanceError } from './errors.js';
import { childPids, groupProcs, inGroup, moveInto } from './process-tree.js';

/** Where the cgroup v1 controllers are mounted (Debian, Ubuntu, most container hosts). */
export const CGROUP_ROOT = '/sys/fs/cgroup';
/** One parent group per controller holds every instance, so an operator sees them together. */
export const STRATA_GROUP = 'strata';

/** Memory and CPU limits of an instance. */
export interface InstanceLimits {
  /** Hard memory limit of the server's processes, in MiB (memory.limit_in_bytes). */
  readonly memoryMb: number;
  /** Relative CPU weight (cpu.shares; 1024 = one default process's share). */
  readonly cpuShares: number;
}

/** Below this a PostgreSQL server cannot even start its background processes. */
export const MIN_MEMORY_MB = 16;
/** 1 TiB: a larger number is a unit mistake (bytes or KiB passed as MiB). */
export const MAX_MEMORY_MB = 1024 * 1024;
/** The kernel's own bounds of cpu.shares. */
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262_144;

/** Checks limits before anything is written. @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` */
export function validateLimits(limits: InstanceLimits): InstanceLimits {
  const memoryMb = limits?.memoryMb;
  const cpuShares = limits?.cpuShares;
  if (!Number.isInteger(memoryMb) || memoryMb < MIN_MEMORY_MB || memoryMb > MAX_MEMORY_MB) {
    throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `memoryMb must be a whole number of MiB from ${MIN_MEMORY_MB} to ${MAX_MEMORY_MB}, got ${String(memoryMb)}`);
  }
  if (!Number.isInteger(cpuShares) || cpuShares < MIN_CPU_SHARES || cpuShares > MAX_CPU_SHARES) {
    throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `cpuShares must be a whole number from ${MIN_CPU_SHARES} to ${MAX_CPU_SHARES} (1024 = one CPU's default weight), got ${String(cpuShares)}`);
  }
  return { memoryMb, cpuShares };
}

/** The instance's group name, readable and unique per data directory: `<parent dir name>-<hash>`. */
export function cgroupName(dataDir: string): string {
  const readable = basename(dirname(dataDir)).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
  return `${readable}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 10)}`;
}

/**
 * The cgroup of the instance in `dataDir`, named after the directory's real path: an instance
 * made from a started spare reaches its files through a link, and keeps the spare's group (its
 * processes are already in it).
 */
export async function instanceGroupName(dataDir: string): Promise<string> {
  return cgroupName(await realpath(dataDir).catch(() => dataDir));
}

/** The controllers' group directories of an instance. */
function groupDirs(name: string): { memory: string; cpu: string } {
  return { memory: join(CGROUP_ROOT, 'memory', STRATA_GROUP, name), cpu: join(CGROUP_ROOT, 'cpu', STRATA_GROUP, name) };
}

/** True when cgroup v1 memory and cpu controllers exist and we may write them. */
export async function cgroupsAvailable(): Promise<boolean> {
  if (process.platform !== 'linux' || !isRoot()) return false;
  try {
    await access(join(CGROUP_ROOT, 'memory', 'cgroup.procs'), constants.W_OK);
    await access(join(CGROUP_ROOT, 'cpu', 'cpu.shares'), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the limits into the instance's groups (created on first use) and, when `pid` is given,
 * moves the postmaster and its current children in (later children inherit the group). Processes
 * already there are not moved again: a move costs milliseconds of the kernel's time.
 *
 * @returns false when cgroup v1 is not available here.
 * @throws {PgInstanceError} `PG_INSTANCE_LIMITS_FAILED` when the kernel refuses (e.g. a memory
 * limit below what the server already uses).
 */
export async function applyLimits(name: string, limits: InstanceLimits, pid: number | undefined): Promise<boolean> {
  if (!(await cgroupsAvailable())) return false;
  const dirs = groupDirs(name);
  try {
    await mkdir(dirs.memory, { recursive: true });
    await mkdir(dirs.cpu, { recursive: true });
    await writeFile(join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryMb * 1024 * 1024));
    await writeFile(join(dirs.cpu, 'cpu.shares'), String(limits.cpuShares));
    if (pid !== undefined) {
      for (const member of [pid, ...(await childPids(pid))]) {
        for (const [controller, dir] of [['memory', dirs.memory], ['cpu', dirs.cpu]] as const) {
          if (!(await inGroup(member, controller, `/${STRATA_GROUP}/${name}`))) await moveInto(join(dir, 'cgroup.procs'), member);
        }
      }
    }
    return true;
  } catch (error) {
    throw new PgInstanceError('PG_INSTANCE_LIMITS_FAILED', `the kernel refused the limits ${JSON.stringify(limits)} for ${dirs.memory} and ${dirs.cpu}: ${errorMessage(error)} (a memory limit below the server's current use is refused: lower shared_buffers first)`, { cause: error });
  }
}

/** The pids in the instance's memory group (the server's processes once limits are applied). */
export async function cgroupMembers(name: string): Promise<number[]> {
  return groupProcs(join(groupDirs(name).memory, 'cgroup.procs'));
}

/** Removes the instance's groups (they must be empty: the server is stopped). */
export async function removeGroups(name: string): Promise<void> {
  if (!(await cgroupsAvailable())) return;
  const dirs = groupDirs(name);
  for (const dir of [dirs.memory, dirs.cpu]) {
    try {
      await rmdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/**
 * Age past which an empty instance group is garbage: one older than this that holds no process
 * belongs to a removed instance (or a stopped one, whose next start makes it again). Younger ones
 * are left alone: a start creates its group a moment before it moves the server in.
 */
export const IDLE_GROUP_AGE_MS = 10 * 60_000;

/**
 * Removes the instance groups (under `strata/` of the memory, cpu and freezer controllers) that
 * hold no process and were made more than `olderThanMs` ago: groups of instances removed by a crash
 * before their groups were, or of instances whose directory moved. A node agent sweeps them at
 * its start; any number of agents may sweep at once.
 *
 * @returns how many groups were removed (0 where cgroup v1 is not available).
 *
 * @example
 * const removed = await removeIdleGroups(IDLE_GROUP_AGE_MS);
 */
export async function removeIdleGroups(olderThanMs: number, nowMs = Date.now()): Promise<number> {
  if (!(await cgroupsAvailable())) return 0;
  let removed = 0;
  // The freezer's parent only exists where instances were frozen (or started with it available).
  for (const controller of ['memory', 'cpu', 'freezer']) {
    const parent = join(CGROUP_ROOT, controller, STRATA_GROUP);
    let names: string[];
    try {
      names = await readdir(parent);
    } catch {
      continue; // no instance ever had limits here
    }
    for (const name of names) {
      const dir = join(parent, name);
      try {
        if ((await stat(dir)).mtimeMs > nowMs - olderThanMs) continue;
        if ((await groupProcs(join(dir, 'cgroup.procs'))).length > 0) continue;
        await rmdir(dir);
        removed += 1;
      } catch (error) {
        // Gone already (another sweep), or a process moved in meanwhile (EBUSY): not ours to remove.
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTDIR') throw error;
      }
    }
  }
  return removed;
}
