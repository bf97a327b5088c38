// A server's processes as /proc shows them: the children of a pid, the whole tree under a
// postmaster, which cgroup of a controller a process is in, and moving a process into a group.

import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { PgInstanceError } from './errors.js';

/**
 * Most processes walked under one postmaster: its background processes, one backend per
 * connection (max_connections tops out in the thousands) and the programs they run
 * (archive_command). Far more is a runaway walk, not a server.
 */
const MAX_TREE_PROCESSES = 20_000;

/** The direct children of `pid` (a postmaster's background processes and backends). */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim().split(/\s+/).filter((part) => part !== '').map(Number);
  } catch {
    // The process is gone: it has no children.
    if (!existsSync(`/proc/${pid}`)) return [];
    // Kernels without CONFIG_PROC_CHILDREN: scan /proc for processes whose parent is pid.
    const children: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) children.push(Number(entry));
      } catch {
        // Gone meanwhile.
      }
    }
    return children;
  }
}

/**
 * Visits `root` and every process below it, parents before their children: `visit` runs on a
 * process before its children are listed, so a child it forks after `visit` moved it into a
 * group is born there, and one forked before is listed — no process of the tree is missed.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_FREEZE_FAILED` past {@link MAX_TREE_PROCESSES} processes.
 */
export async function walkTree(root: number, visit: (pid: number) => Promise<void>): Promise<void> {
  const queue = [root];
  for (let visited = 0; queue.length > 0; visited++) {
    if (visited >= MAX_TREE_PROCESSES) {
      throw new PgInstanceError('PG_INSTANCE_FREEZE_FAILED', `more than ${MAX_TREE_PROCESSES} processes under postmaster ${root}: not a PostgreSQL server's tree; check what runs under it`);
    }
    const pid = queue.shift()!;
    await visit(pid);
    queue.push(...(await childPids(pid)));
  }
}

/**
 * Whether `pid` is in the group `/strata/<name>` of `controller` (read from /proc/<pid>/cgroup,
 * whose lines are `id:controllers:path`). False for a process that is gone.
 */
export async function inGroup(pid: number, controller: string, groupPath: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return false;
  }
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    if (line.slice(first + 1, second).split(',').includes(controller)) return line.slice(second + 1) === groupPath;
  }
  return false;
}

/** Moves `pid` into the group whose `cgroup.procs` is `procsFile`; a process that exited meanwhile is fine. */
export async function moveInto(procsFile: string, pid: number): Promise<void> {
  try {
    await writeFile(procsFile, String(pid));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** The pids listed in a group's `cgroup.procs` ([] when the group does not exist). */
export async function groupProcs(procsFile: string): Promise<number[]> {
  try {
    return (await readFile(procsFile, 'utf8')).split('\n').filter((line) => line !== '').map(Number);
  } catch {
    return [];
  }
}
