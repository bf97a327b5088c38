import { readFileSync } from 'node:fs';

/**
 * Whether process `pid` on this machine is alive. A SIGKILLed process that its parent has not
 * reaped yet (a zombie) counts as dead: it holds no files and runs no code.
 *
 * @example
 * if (!isProcessAlive(Number(await readFile(lockPath, 'utf8')))) await rm(lockPath);
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`), or
 * undefined where there is no /proc or no such process. A pid names one process at a time; the pid
 * and its start time together name one process for good, since pids are reused.
 *
 * @example
 * const sameProcess = processStartTicks(record.pid) === record.startTicks;
 */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3];
  } catch {
    return undefined;
  }
}
