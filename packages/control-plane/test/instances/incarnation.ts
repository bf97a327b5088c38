// A child process of a crash test (a control plane or an agent) that prints a line once it serves, and is SIGKILLed at seeded points.
import { spawn, type ChildProcess } from 'node:child_process';

/** Longest a process may take to print its ready line. */
const PROCESS_READY_TIMEOUT_MS = 60_000;

const live = new Set<ChildProcess>();

/** SIGKILLs every incarnation still running (a test's `after`). */
export function killAllIncarnations(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** A child process that prints `<ready>` once it serves. */
export class Incarnation {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  stderr = '';

  constructor(script: string, args: string[], readyLine: string) {
    this.child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.child.once('exit', () => live.delete(this.child));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.ready = new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${script} was not ready in ${PROCESS_READY_TIMEOUT_MS} ms; stderr: ${this.stderr}`)), PROCESS_READY_TIMEOUT_MS);
      this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes(readyLine)) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited (${code ?? signal}) before it was ready; stderr: ${this.stderr}`));
      });
    });
    this.ready.catch(() => {});
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

