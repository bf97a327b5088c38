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
