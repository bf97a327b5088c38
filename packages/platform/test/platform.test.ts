// The platform as `npm start` runs it: on a fresh data directory it prints a banner whose psql line
// connects; a SIGKILL of the npm above it stops it (so the system database is free again); a
// SIGKILL of the platform itself and a new start show the same instance, with the data written
// before the kills.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { resetPlatform } from '@strata/platform';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The first start initdb's the template; on a loaded machine that is the slow part. */
const READY_TIMEOUT_MS = 300_000;
const EXIT_TIMEOUT_MS = 60_000;

interface Started {
  readonly child: ChildProcess;
  readonly output: string;
  readonly connectionString: string;
}

/** Starts main.ts on `dataDir` (directly, or as the root's `npm start`) and resolves with its output once it prints the ready line. */
function startPlatformProcess(dataDir: string, how: 'node' | 'npm start' = 'node', extraArgs: readonly string[] = []): Promise<Started> {
  const child =
    how === 'node'
      ? spawn(process.execPath, ['--conditions=development', '--import', 'tsx', MAIN, '--data-dir', dataDir, '--api-port', '0', '--console-port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('npm', ['start'], { cwd: REPO_ROOT, env: { ...process.env, STRATA_DATA_DIR: dataDir, STRATA_API_PORT: '0', STRATA_CONSOLE_PORT: '0', STRATA_RESET: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the platform did not print its ready line within ${READY_TIMEOUT_MS} ms; output:\n${output}`));
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (!output.includes('STRATA PLATFORM READY')) return;
      clearTimeout(timer);
      const psql = /psql "(postgres:\/\/[^"]+)"/.exec(output);
      if (psql?.[1] === undefined) {
        reject(new Error(`the banner has no psql line:\n${output}`));
        return;
      }
      resolve({ child, output, connectionString: psql[1] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the platform exited (${code ?? signal}) before it was ready; output:\n${output}`));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + EXIT_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Pids of PostgreSQL servers whose command line names a directory under `dir`. */
function serversUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return cmdline[0]?.endsWith('/postgres') === true && cmdline.some((argument) => argument.startsWith(`${dir}/`));
      } catch {
        return false;
      }
    })
    .map(Number);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the platform did not exit')), EXIT_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function query<R extends Record<string, unknown>>(connectionString: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('the one-process platform (npm start)', () => {
  const children: ChildProcess[] = [];
  let root: string | undefined;
  const otherRoots: string[] = [];

  after(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      await exited(child).catch(() => {});
    }
    // Instances outlive the platform by design: stop and remove them with the directory.
    for (const dir of [...(root === undefined ? [] : [root]), ...otherRoots]) {
      await resetPlatform(join(dir, 'data'));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('npm start prints a psql line that connects; after SIGKILLs of npm and of the platform, new starts show the same instance with its data', async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-platform-'));
    await chmod(root, 0o755); // the unprivileged server user passes through to the instances
    const dataDir = join(root, 'data');

    const first = await startPlatformProcess(dataDir, 'npm start');
    children.push(first.child);
    assert.match(first.output, /API key: +sk_/, 'the first start shows the demo key');
    assert.match(first.output, /platform admin key: sk_/, 'and the platform admin key');
    assert.match(first.connectionString, /^postgres:\/\/app\.ins_[a-z2-7]{16}:[^@]+@127\.0\.0\.1:\d+\/app\?sslmode=verify-full&sslrootcert=/, 'the psql line goes through the proxy, verifying its certificate');
    assert.deepEqual(await query(first.connectionString, 'select 1 as one'), [{ one: 1 }]);
    await query(first.connectionString, "create table kept (note text); insert into kept values ('written before the kills')");
    assert.equal((await stat(join(dataDir, 'demo.json'))).mode & 0o777, 0o600, 'the demo password file is readable by its owner only');

    // npm cannot pass SIGKILL on: the platform below it notices and stops, freeing the system database.
    const platformPid = (JSON.parse(readFileSync(join(dataDir, 'system', 'lock'), 'utf8')) as { pid: number }).pid;
    assert.notEqual(platformPid, first.child.pid, 'the platform runs in a process of its own below npm');
    first.child.kill('SIGKILL');
    await until('the orphaned platform to stop', () => !isAlive(platformPid));

    const second = await startPlatformProcess(dataDir);
    children.push(second.child);
    assert.equal(second.connectionString, first.connectionString, 'the banner shows the same instance, port and password');
    assert.doesNotMatch(second.output, /sk_key_/, 'keys are shown once, never again');
    assert.deepEqual(await query(second.connectionString, 'select note from kept'), [{ note: 'written before the kills' }]);

    second.child.kill('SIGKILL');
    await exited(second.child);

    const third = await startPlatformProcess(dataDir);
    children.push(third.child);
    assert.equal(third.connectionString, first.connectionString, 'after a SIGKILL of the platform itself: the same instance');
    assert.deepEqual(await query(third.connectionString, 'select note from kept'), [{ note: 'written before the kills' }]);

    // --reset: the servers outlive the platform, so the reset stops them (instances and spares) before deleting.
    third.child.kill('SIGINT');
    await exited(third.child);
    assert.ok(serversUnder(dataDir).length > 0, 'the instances kept running after the platform stopped');
    await resetPlatform(dataDir);
    assert.deepEqual(serversUnder(dataDir), [], 'no PostgreSQL server runs on the deleted directory');
  });

  it('an instance the proxy stopped for being idle stays stopped across a SIGKILL of the platform, and the next connect through the proxy wakes it with its data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-nap-')); // short: instance socket paths are built from it
    otherRoots.push(dir);
    await chmod(dir, 0o755);
    const dataDir = join(dir, 'data');
    const sleepy = ['--proxy-freeze-after', '300', '--proxy-stop-after', '1000'];
    const first = await startPlatformProcess(dataDir, 'node', sleepy);
    children.push(first.child);
    const instanceId = /^postgres:\/\/app\.(ins_[a-z2-7]{16}):/.exec(first.connectionString)?.[1];
    assert.ok(instanceId, first.connectionString);
    const instanceDir = join(dataDir, 'node-local', 'instances', instanceId);
    await query(first.connectionString, 'create table naps (n int); insert into naps values (1)');
    // Idle: frozen, then stopped (its first backup's job may hold it awake a while).
    await until('the idle instance stopped by the proxy', () => serversUnder(instanceDir).length === 0);
    first.child.kill('SIGKILL');
    await exited(first.child);

    const second = await startPlatformProcess(dataDir, 'node', sleepy);
    children.push(second.child);
    assert.match(second.output, /asleep: stopped while idle/, 'the banner says it sleeps');
    assert.deepEqual(serversUnder(instanceDir), [], 'still stopped after the restart: the agent keeps the suspension');
    assert.deepEqual(await query(second.connectionString, 'select n from naps'), [{ n: 1 }], 'the next connect woke it, data intact');
    assert.ok(serversUnder(instanceDir).length > 0, 'its server runs again');
    second.child.kill('SIGINT');
    await exited(second.child);
  });
});
