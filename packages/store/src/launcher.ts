// Exits a process with whoever launched it: `kill -9` of `npm start` must not leave an orphan holding a database (the orders demo and the platform use it).
import { readFileSync } from 'node:fs';

/** How often the launcher is checked: within a second of `kill -9`, the orphan starts shutting down. */
const LAUNCHER_CHECK_INTERVAL_MS = 1_000;
/** Bound on the ancestor walk: `npm start` at the root is npm → sh → npm → sh → node, five levels. */
const MAX_LAUNCHER_DEPTH = 16;

/** One process being watched: its pid and, on Linux, its start time, so a reused pid is told apart. */
interface Watched {
  readonly pid: number;
  readonly startTicks: string | undefined;
}

/**
 * Calls `onGone` (once) when a process that launched this one dies: the parent, and — when the
 * parent is part of an npm script — every npm and shell process up to and including the `npm`
 * the user started. npm does not pass SIGKILL on (nothing can), so without this a `kill -9` of
 * `npm start` leaves the app running, holding the embedded database's lock. Returns a stop function.
 *
 * @example
 * watchLauncher((pid) => process.kill(process.pid, 'SIGTERM'));
 */
export function watchLauncher(onGone: (pid: number) => void): () => void {
  const watched = launchers();
  const startPpid = process.ppid;
  const timer = setInterval(() => {
    // An orphan is re-parented (to init or a subreaper), so a changed ppid means the parent died.
    const gone = process.ppid !== startPpid ? { pid: startPpid } : watched.find((process) => !isSameProcess(process));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone.pid);
  }, LAUNCHER_CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** The parent and, through npm's script processes (they carry `npm_lifecycle_event`), the npm the user ran. */
function launchers(): Watched[] {
  const found: Watched[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < MAX_LAUNCHER_DEPTH && pid > 1; depth++) {
    found.push({ pid, startTicks: procStat(pid)?.startTicks });
    if (!ranByNpm(pid)) break;
    const parent = procStat(pid)?.ppid;
    if (parent === undefined) break;
    pid = parent;
  }
  return found;
}

/** Whether `pid` is a process npm started for a script (so its own parent is npm, to be watched too). */
function ranByNpm(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((entry) => entry.startsWith('npm_lifecycle_event='));
  } catch {
    return false; // not Linux, or not ours to read: the parent alone is watched
  }
}

function isSameProcess({ pid, startTicks }: Watched): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (startTicks === undefined) return true;
  const stat = procStat(pid);
  // A killed process stays a zombie until its parent reaps it: dead all the same.
  return stat !== undefined && stat.state !== 'Z' && stat.startTicks === startTicks;
}

/** The state, parent pid and start time (clock ticks since boot) from Linux's /proc/<pid>/stat. */
function procStat(pid: number): { state: string; ppid: number; startTicks: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), startTicks: fields[19]! };
  } catch {
    return undefined;
  }
}
