// The database service in a process of its own for a benchmark, as `npm start` runs it: the
// bench's HTTP and PostgreSQL clients then share no thread with the control plane and the agent
// (a client's SCRAM and JSON work on the platform's event loop would inflate what it measures).
//
// Parent: `await startPlatformProcess(options)`. Child: this file run with `--child '<options JSON>'`.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PlatformOptions } from '@strata/platform';

/** An instance as the API answers it, the fields the benchmarks read. */
export interface InstanceJson {
  readonly id: string;
  readonly status: string;
  readonly host: string | null;
  readonly port: number | null;
  readonly error: string | null;
  readonly currentOperation: unknown;
}

/** What the bench needs of a platform started in a child process. */
export interface PlatformProcess {
  readonly apiUrl: string;
  /** The first admin key (the data directory is new). */
  readonly bootstrapKey: string;
  /** The agent's root: instances are under `<nodeRootDir>/instances/<id>`. */
  readonly nodeRootDir: string;
  /** The platform process (its memory is the platform's, not the instances'). */
  readonly pid: number;
  /** Stops the platform (SIGTERM; it closes and exits); instances keep running. */
  close(): Promise<void>;
}

/** Options passed to the child (JSON): those of `startPlatform` a bench sets. */
export type PlatformProcessOptions = Pick<PlatformOptions, 'dataDir' | 'capacity' | 'agent' | 'backups'>;

const READY = 'PLATFORM-PROCESS READY ';

/**
 * Starts `startPlatform(options)` in a child Node process (quiet but for warnings and errors,
 * API on a free loopback port, no console) and resolves once it serves.
 *
 * @example
 * const platform = await startPlatformProcess({ dataDir, capacity: { memoryMb: 1e6, instances: 1e4 } });
 * await fetch(`${platform.apiUrl}/v1/flavors`, { headers: { Authorization: `Bearer ${platform.bootstrapKey}` } });
 * await platform.close();
 */
export async function startPlatformProcess(options: PlatformProcessOptions): Promise<PlatformProcess> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ apiUrl: string; bootstrapKey: string; nodeRootDir: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith(READY)) resolve(JSON.parse(line.slice(READY.length)) as { apiUrl: string; bootstrapKey: string; nodeRootDir: string });
      else process.stderr.write(`platform: ${line}\n`);
    });
    child.once('exit', (code, signal) => reject(new Error(`the platform process exited before it was ready (${signal ?? `code ${code}`})`)));
  });
  return {
    ...ready,
    pid: child.pid!,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function runChild(optionsJson: string): Promise<void> {
  const { startPlatform } = await import('@strata/platform');
  const { watchLauncher } = await import('@strata/store');
  // A bench killed outright must not leave its platform holding the system database.
  watchLauncher(() => process.kill(process.pid, 'SIGTERM'));
  const options = JSON.parse(optionsJson) as PlatformProcessOptions;
  const logger = { info() {}, warn: (message: string) => console.warn(message), error: (message: string, ...details: unknown[]) => console.error(message, ...details) };
  const platform = await startPlatform({ ...options, apiPort: 0, consolePort: false, logger });
  if (platform.bootstrapKey === undefined) throw new Error('the bench needs a new data directory (no admin key was made)');
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void platform.close().finally(() => process.exit(0));
  });
  process.stdout.write(`${READY}${JSON.stringify({ apiUrl: platform.apiUrl, bootstrapKey: platform.bootstrapKey, nodeRootDir: platform.layout.nodeRootDir })}\n`);
}

const childAt = process.argv.indexOf('--child');
if (childAt !== -1) await runChild(process.argv[childAt + 1] ?? '{}');
