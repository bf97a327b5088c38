// Suspending an instance without stopping it: cgroup v1's freezer controller stops every process
// of the server where it stands (its memory kept, no CPU used) and resumes them in about a
// millisecond. Groups are named like the memory and cpu ones (`strata/<cgroupName>`); root on
// Linux with the freezer mounted only — elsewhere callers suspend by stopping instead.

import { access, constants, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, isRoot } from '../commands.js';
import { CGROUP_ROOT, STRATA_GROUP, instanceGroupName } from './cgroup.js';
import { PgInstanceError } from './errors.js';
import { runningPostmasterPid } from './postmaster.js';
import { groupProcs, inGroup, moveInto, walkTree } from './process-tree.js';

const FREEZER_ROOT = join(CGROUP_ROOT, 'freezer');

/**
 * A freeze settles in about a millisecond; a task in uninterruptible I/O (a hung disk) can keep
 * the group FREEZING. Past this the freeze is given up and the server thawed: stop it instead.
 */
export const FREEZE_TIMEOUT_MS = 5_000;
/** Tasks cannot refuse a thaw; this only bounds the wait on a broken hierarchy. */
const THAW_TIMEOUT_MS = 5_000;
/** freezer.state is read this often while a change settles (it usually has at the first read). */
const SETTLE_POLL_MS = 1;
/** While FREEZING, FROZEN is written again this often: it freezes the tasks that were busy in the kernel. */
const REFREEZE_EVERY_POLLS = 10;
/**
 * Processes of a dead server end within milliseconds of a SIGKILL (a thawed postmaster killed
 * while frozen, too); past this something holds them in the kernel.
 */
const EXIT_WAIT_MS = 10_000;
/** SIGKILL's bit in /proc/<pid>/status's pending-signal masks (signal 9 is bit 8). */
const SIGKILL_BIT = 1n << 8n;

type FreezerState = 'THAWED' | 'FREEZING' | 'FROZEN';

let available: Promise<boolean> | undefined;

/**
 * True when this process can freeze instances: root on Linux, the cgroup v1 freezer mounted at
 * `/sys/fs/cgroup/freezer` and writable. Checked once per process.
 *
 * @example
 * const tier = (await freezerAvailable()) ? 'frozen' : 'stopped';
 */
export function freezerAvailable(): Promise<boolean> {
  available ??= (async () => {
    if (process.platform !== 'linux' || !isRoot()) return false;
    try {
      await access(join(FREEZER_ROOT, 'cgroup.procs'), constants.W_OK);
      return true;
    } catch {
      return false;
    }
  })();
  return available;
}

/**
 * Freezes the server running in `dataDir`: moves the postmaster and every process under it into
 * the instance's freezer group (a server started by {@link ManagedCluster.start} is there already,
 * and its children with it), writes FROZEN and waits until the group is FROZEN. A frozen server
 * keeps its memory and connections and uses no CPU; a statement sent to it waits until
 * {@link thawInstance}. Freezing a frozen server does nothing.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_FREEZER_UNAVAILABLE` where {@link freezerAvailable} is
 * false; `PG_INSTANCE_UNAVAILABLE` when no server runs there; `PG_INSTANCE_FREEZE_FAILED` when the
 * group does not settle in {@link FREEZE_TIMEOUT_MS} (the server is thawed again and keeps running).
 *
 * @example
 * await freezeInstance('/var/lib/strata/node-1/instances/ins_abc/data');
 * await isFrozen('/var/lib/strata/node-1/instances/ins_abc/data'); // true
 */
export async function freezeInstance(dataDir: string): Promise<void> {
  if (!(await freezerAvailable())) {
    throw new PgInstanceError('PG_INSTANCE_FREEZER_UNAVAILABLE', `the cgroup v1 freezer is not writable here (it needs root on Linux and ${FREEZER_ROOT} mounted); suspend the instance by stopping it instead`);
  }
  const pid = await runningPostmasterPid(dataDir);
  if (pid === undefined) {
    throw new PgInstanceError('PG_INSTANCE_UNAVAILABLE', `no server runs in ${dataDir}, so there is nothing to freeze; start it first`);
  }
  const name = await instanceGroupName(dataDir);
  const dir = groupDir(name);
  try {
    await mkdir(dir, { recursive: true });
    await enrolTree(name, pid);
    await writeState(dir, 'FROZEN');
    await settle(dir, 'FROZEN', FREEZE_TIMEOUT_MS);
  } catch (error) {
    await writeState(dir, 'THAWED').catch(() => {});
    throw new PgInstanceError('PG_INSTANCE_FREEZE_FAILED', `could not freeze the server in ${dataDir} (group ${dir}): ${errorMessage(error)}; it was thawed and keeps running: stop it to suspend it`, { cause: error });
  }
}

/**
 * Thaws the server in `dataDir` and waits until its group is THAWED (nothing to do when it is not
 * frozen, or where the freezer is unavailable). A server killed while frozen (SIGKILL waits in a
 * frozen process) dies at the thaw: this waits for it to be gone, ends the backends it leaves
 * (they would keep a new server from starting), and says so.
 *
 * @returns whether a server runs there after the thaw (false: none ran, or it was killed while frozen).
 * @throws {PgInstanceError} `PG_INSTANCE_FREEZE_FAILED` when the group does not thaw (a broken hierarchy).
 *
 * @example
 * if (!(await thawInstance(dataDir))) await cluster.start(); // killed while frozen: start it again
 */
export async function thawInstance(dataDir: string): Promise<boolean> {
  const pid = await runningPostmasterPid(dataDir);
  if (!(await freezerAvailable())) return pid !== undefined;
  const dir = groupDir(await instanceGroupName(dataDir));
  const state = await readState(dir);
  if (state === undefined || state === 'THAWED') return pid !== undefined;
  const killed = pid !== undefined && (await killPending(pid));
  try {
    await writeState(dir, 'THAWED');
    await settle(dir, 'THAWED', THAW_TIMEOUT_MS);
  } catch (error) {
    throw new PgInstanceError('PG_INSTANCE_FREEZE_FAILED', `could not thaw the server in ${dataDir} (group ${dir}): ${errorMessage(error)}; write THAWED to ${join(dir, 'freezer.state')} by hand`, { cause: error });
  }
  if (pid === undefined) {
    // A frozen group without its postmaster: what is left of a server killed while frozen.
    await endLeftovers(dir, 'PG_INSTANCE_FREEZE_FAILED');
    return false;
  }
  if (!killed) return true;
  const deadline = Date.now() + EXIT_WAIT_MS;
  while ((await runningPostmasterPid(dataDir)) !== undefined && Date.now() < deadline) await sleep(SETTLE_POLL_MS);
  // Its backends would hold its shared memory, and a new postmaster refuses to start beside them.
  await endLeftovers(dir, 'PG_INSTANCE_FREEZE_FAILED');
  return false;
}

/**
 * Whether the instance in `dataDir` is frozen (or freezing): false where the freezer is
 * unavailable or the instance has no freezer group. A frozen group without a live server (its
 * processes killed, then thawed by nobody) still says true until thawed.
 *
 * @example
 * if (await isFrozen(dataDir)) await thawInstance(dataDir);
 */
export async function isFrozen(dataDir: string): Promise<boolean> {
  if (!(await freezerAvailable())) return false;
  const state = await readState(groupDir(await instanceGroupName(dataDir)));
  return state === 'FROZEN' || state === 'FREEZING';
}

/**
 * Makes the instance's freezer group ready for a new server (before its postmaster is spawned):
 * created and thawed. A group still frozen without a live server held one killed while frozen:
 * its backends are there too, holding its shared memory (a new postmaster refuses to start beside
 * them), so they are killed. A thawed group's processes are left alone: they may be a server
 * another caller is starting right now.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_START_FAILED` when they outlive SIGKILL.
 */
export async function prepareFreezerGroup(name: string): Promise<void> {
  if (!(await freezerAvailable())) return;
  const dir = groupDir(name);
  await mkdir(dir, { recursive: true });
  if ((await readState(dir)) === 'THAWED') return;
  await writeState(dir, 'THAWED');
  await settle(dir, 'THAWED', THAW_TIMEOUT_MS);
  await endLeftovers(dir, 'PG_INSTANCE_START_FAILED');
}

/** Moves a just-spawned postmaster into its freezer group (its children are then born there). */
export async function joinFreezerGroup(name: string, pid: number): Promise<void> {
  if (!(await freezerAvailable())) return;
  await moveInto(join(groupDir(name), 'cgroup.procs'), pid);
}

/** Removes the instance's freezer group once its server is stopped, ending what a dead server left in it. */
export async function removeFreezerGroup(name: string): Promise<void> {
  if (!(await freezerAvailable())) return;
  const dir = groupDir(name);
  if ((await readState(dir)) === undefined) return;
  await writeState(dir, 'THAWED');
  await settle(dir, 'THAWED', THAW_TIMEOUT_MS);
  await endLeftovers(dir, 'PG_INSTANCE_DESTROY_FAILED');
  try {
    await rmdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function groupDir(name: string): string {
  return join(FREEZER_ROOT, STRATA_GROUP, name);
}

/** Moves the postmaster and every process under it into the group, skipping those already there. */
async function enrolTree(name: string, postmaster: number): Promise<void> {
  const procs = join(groupDir(name), 'cgroup.procs');
  await walkTree(postmaster, async (pid) => {
    if (!(await inGroup(pid, 'freezer', `/${STRATA_GROUP}/${name}`))) await moveInto(procs, pid);
  });
}

/** SIGKILLs every process left in a thawed group and waits until it is empty. */
async function endLeftovers(dir: string, code: 'PG_INSTANCE_START_FAILED' | 'PG_INSTANCE_DESTROY_FAILED' | 'PG_INSTANCE_FREEZE_FAILED'): Promise<void> {
  const procs = join(dir, 'cgroup.procs');
  const deadline = Date.now() + EXIT_WAIT_MS;
  for (let members = await groupProcs(procs); members.length > 0; members = await groupProcs(procs)) {
    if (Date.now() > deadline) {
      throw new PgInstanceError(code, `processes ${members.join(', ')} of a server that is gone outlived SIGKILL in ${dir}; end them (they may wait on a hung disk), then try again`);
    }
    for (const pid of members) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    await sleep(SETTLE_POLL_MS);
  }
}

/** Whether a SIGKILL waits for `pid` (sent while it was frozen), in its own or its thread group's pending set. */
async function killPending(pid: number): Promise<boolean> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  for (const field of ['SigPnd', 'ShdPnd']) {
    const mask = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    if (mask !== undefined && (BigInt(`0x${mask}`) & SIGKILL_BIT) !== 0n) return true;
  }
  return false;
}

async function readState(dir: string): Promise<FreezerState | undefined> {
  try {
    return (await readFile(join(dir, 'freezer.state'), 'utf8')).trim() as FreezerState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function writeState(dir: string, state: 'FROZEN' | 'THAWED'): Promise<void> {
  return writeFile(join(dir, 'freezer.state'), state);
}

/** Waits until the group reads `target`, writing FROZEN again now and then while it is FREEZING. */
async function settle(dir: string, target: 'FROZEN' | 'THAWED', timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let poll = 1; ; poll++) {
    const state = await readState(dir);
    if (state === target) return;
    if (state === undefined) throw new Error(`the group ${dir} is gone`);
    if (Date.now() > deadline) throw new Error(`the group is still ${state} after ${timeoutMs} ms`);
    if (target === 'FROZEN' && poll % REFREEZE_EVERY_POLLS === 0) await writeState(dir, 'FROZEN');
    await sleep(SETTLE_POLL_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
