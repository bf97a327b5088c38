// `kill -9` of `npm start` leaves no demo behind: npm cannot pass SIGKILL on, so the demo watches
// the processes that launched it and shuts down (releasing the database's lock) when they die.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** npm's start, PGlite's first start and the console on a busy 2-core machine. */
const STARTED_TIMEOUT_MS = 90_000;
/** The demo checks its launchers every second, then shuts Strata and PGlite down. */
const ORPHAN_EXIT_TIMEOUT_MS = 60_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, timeoutMs: number, check: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('SIGKILL of `npm start` stops the demo it launched, which releases the lock', { timeout: 180_000 }, async (t) => {
  const scratch = await mkdtemp(join(tmpdir(), 'strata-orders-launcher-'));
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const dataDir = join(scratch, 'data');
  const npm = spawn('npm', ['run', 'demo:orders'], {
    cwd: REPO_ROOT,
    env: { ...process.env, STRATA_DATA_DIR: dataDir, STRATA_CONSOLE_PORT: '0', STRATA_EXIT: '', STRATA_RESET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  npm.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const lockPath = join(dataDir, 'lock');
  let appPid: number | undefined;
  t.after(() => {
    if (appPid !== undefined && isAlive(appPid)) process.kill(appPid, 'SIGKILL');
  });

  await until('the demo to serve its console', STARTED_TIMEOUT_MS, () => /^console: http/m.test(output), () => output);
  appPid = (JSON.parse(readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
  assert.notEqual(appPid, npm.pid, 'the demo runs in a process of its own below npm');
  assert.ok(isAlive(appPid));

  npm.kill('SIGKILL');
  await until('the orphaned demo to exit', ORPHAN_EXIT_TIMEOUT_MS, () => !isAlive(appPid!), () => output);
  assert.ok(!existsSync(lockPath), 'the demo released the lock on its way out');
  assert.match(output, /the process that launched the demo \(pid \d+\) is gone/);
});
