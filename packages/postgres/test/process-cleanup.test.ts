import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLEANUP_SIGNALS, runningClusterCount, startCluster } from '../src/index.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cluster-then-wait.ts');

interface Reported {
  readonly dataDir: string;
  readonly port: number;
  readonly postmasterPid: number;
}

/** Starts the fixture process; resolves once it reports its running cluster. */
function startFixture(args: readonly string[] = []): Promise<{ child: ChildProcessWithoutNullStreams; cluster: Reported; lines: string[] }> {
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', FIXTURE, ...args], { stdio: 'pipe' });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        lines.push(line);
        if (line.startsWith('{')) resolve({ child, cluster: JSON.parse(line) as Reported, lines });
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`fixture exited (${code ?? signal}) before reporting a cluster:\n${stderr}`)));
  });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('a process that ends on a signal stops its clusters first', () => {
  for (const signal of CLEANUP_SIGNALS) {
    test(`${signal}: the server process is gone, the data directory removed, and the process dies of ${signal}`, async () => {
      const { child, cluster } = await startFixture();
      assert.ok(isAlive(cluster.postmasterPid), 'the server runs before the signal');
      assert.ok(existsSync(cluster.dataDir));

      child.kill(signal);
      const { code, signal: endedBy } = await exited(child);

      // Ended by the signal itself, as without the handler (a shell reports 128 + its number).
      assert.ok(endedBy === signal || code === 128 + constants.signals[signal], `ended with code ${code}, signal ${endedBy}`);
      assert.equal(isAlive(cluster.postmasterPid), false, 'the server process is gone');
      assert.equal(existsSync(cluster.dataDir), false, 'the data directory is removed');
      assert.equal(await acceptsConnections(cluster.port), false);
    });
  }

  test('an app that handles SIGTERM itself keeps its cluster until it exits; the exit stops it', async () => {
    const { child, cluster, lines } = await startFixture(['--own-handler', 'SIGTERM']);
    child.kill('SIGTERM');
    // The app's handler ran and the process lives on: so does its cluster.
    await new Promise<void>((resolve) => {
      const check = () => (lines.includes('handled SIGTERM') ? resolve() : setTimeout(check, 20));
      check();
    });
    assert.ok(isAlive(cluster.postmasterPid), 'the cluster keeps running while the app shuts down');
    assert.ok(await acceptsConnections(cluster.port));

    child.stdin.write('exit\n');
    const { code } = await exited(child);
    assert.equal(code, 0);
    assert.equal(isAlive(cluster.postmasterPid), false, 'the exit hook stopped the server');
    assert.equal(existsSync(cluster.dataDir), false);
  });
});

describe('the process-level handlers', () => {
  test('are installed while a cluster runs and removed when the last one stops', async () => {
    const before = Object.fromEntries(CLEANUP_SIGNALS.map((signal) => [signal, process.listenerCount(signal)]));
    const beforeExit = process.listenerCount('exit');
    assert.equal(runningClusterCount(), 0);

    const first = await startCluster();
    const second = await startCluster();
    try {
      assert.equal(runningClusterCount(), 2);
      for (const signal of CLEANUP_SIGNALS) assert.equal(process.listenerCount(signal), before[signal]! + 1, `one ${signal} handler for two clusters`);
      assert.equal(process.listenerCount('exit'), beforeExit + 1);

      await first.stop();
      assert.equal(runningClusterCount(), 1);
      for (const signal of CLEANUP_SIGNALS) assert.equal(process.listenerCount(signal), before[signal]! + 1, `still there while ${signal} would leave a cluster running`);
    } finally {
      await first.stop();
      await second.stop();
    }
    assert.equal(runningClusterCount(), 0);
    for (const signal of CLEANUP_SIGNALS) assert.equal(process.listenerCount(signal), before[signal], `${signal} handler removed`);
    assert.equal(process.listenerCount('exit'), beforeExit);
  });
});
