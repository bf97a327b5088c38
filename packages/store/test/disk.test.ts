import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { DiskFullError, StorageReadOnlyError, StorageUnavailableError, openDatabase } from '@strata/store';
import { engines, freshPgliteDir } from '@strata/testing';
import { FIXTURES_DIR, REPO_ROOT, collectOutput, exitCode, waitFor } from './helpers.js';

/** Room for a fresh database (initdb writes about 40 MiB) plus the 64 MiB opening needs free. */
const ROOMY_DISK_MIB = 128;
/** Bound on the disk-full child's whole run; it hangs forever if a full disk wedges the engine. */
const CHILD_TIMEOUT_MS = 240_000;

/** Why mounting is impossible here (not root, no CAP_SYS_ADMIN), or undefined when it works. */
const cannotMount: string | undefined = (() => {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root';
  return undefined;
})();

const mounts: string[] = [];
after(async () => {
  for (const mountPoint of mounts.reverse()) {
    try {
      execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    await rm(mountPoint, { recursive: true, force: true });
  }
});

/** Mounts a fresh tmpfs of `sizeMiB` and returns its path; undefined (and the test skipped) when mounting is refused. */
async function mountTmpfs(t: { skip: (reason: string) => void }, sizeMiB: number): Promise<string | undefined> {
  const mountPoint = await mkdtemp(join(tmpdir(), 'strata-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    await rm(mountPoint, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}`);
    return undefined;
  }
  mounts.push(mountPoint);
  return mountPoint;
}

function remountReadOnly(mountPoint: string, bind = false): void {
  execFileSync('mount', ['-o', bind ? 'remount,bind,ro' : 'remount,ro', mountPoint], { stdio: 'pipe' });
}

/** Writes to `file` until only `leaveBytes` (rounded to a block) are free on its disk. */
async function fillDisk(file: string, leaveBytes = 0): Promise<void> {
  const { bavail, bsize } = await statfs(join(file, '..'));
  let toWrite = Math.max(0, bavail * bsize - leaveBytes);
  const fd = openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    while (toWrite > 0) {
      try {
        toWrite -= writeSync(fd, chunk, 0, Math.min(chunk.length, toWrite));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}

type Step = { step: string; code?: string | null; message?: string };

/** Runs fixtures/disk-full-child.ts to its end and returns the steps it reported; fails if it hangs or crashes. */
async function runDiskFullChild(dir: string, filler: string, mode: 'wal' | 'table'): Promise<Step[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES_DIR, 'disk-full-child.ts'), dir, filler, mode], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const steps: Step[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) steps.push(JSON.parse(line) as Step);
  });
  try {
    await waitFor(() => child.exitCode !== null || child.signalCode !== null, 'the disk-full child to finish', CHILD_TIMEOUT_MS);
  } catch {
    child.kill('SIGKILL');
    assert.fail(`the child hung after ${JSON.stringify(steps.at(-1))}: ${output.text()}`);
  }
  assert.equal(await exitCode(child), 0, output.text());
  return steps;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    const db = (await promise) as { close?: () => Promise<void> };
    await db?.close?.();
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

if (engines().includes('pglite')) {
  describe('the embedded database on a full disk', { skip: cannotMount }, () => {
    test('opening on a disk with no byte free fails with DiskFullError, and no lock is left behind', async (t) => {
      const disk = await mountTmpfs(t, 8);
      if (!disk) return;
      await mkdir(join(disk, 'db'));
      await fillDisk(join(disk, 'filler'));
      const error = await rejection(openDatabase(join(disk, 'db')));
      assert.ok(error instanceof DiskFullError, `${error.name}: ${error.message}`);
      assert.ok(error instanceof StorageUnavailableError);
      assert.equal(error.code, 'STRATA_DISK_FULL');
      assert.match(error.message, /disk is full/);
      assert.match(error.message, /Free space on that disk/);
      assert.deepEqual(await readdir(join(disk, 'db')), [], 'neither a lock nor a temporary file is left');
    });

    test('opening on a disk with less free than a database needs to start fails at once with DiskFullError naming the space', async (t) => {
      const disk = await mountTmpfs(t, 48);
      if (!disk) return;
      await fillDisk(join(disk, 'filler'), 8 * 1024 * 1024);
      const error = await rejection(openDatabase(join(disk, 'db')));
      assert.ok(error instanceof DiskFullError, `${error.name}: ${error.message}`);
      assert.match(error.message, /MiB free/);
      assert.deepEqual(await readdir(join(disk, 'db')), [], 'the lock taken before the check is released');
    });

    test('a disk that fills while the database runs: the WAL write that fails and every later call get DiskFullError, nothing hangs, close() works, and committed data survives', async (t) => {
      const disk = await mountTmpfs(t, ROOMY_DISK_MIB);
      if (!disk) return;
      const dir = join(disk, 'db');
      const filler = join(disk, 'filler');
      const steps = await runDiskFullChild(dir, filler, 'wal');
      assert.deepEqual(
        steps.map((s) => s.step),
        ['opened', 'full', 'write failed', 'query after', 'transaction after', 'closed'],
      );
      const byStep = new Map(steps.map((s) => [s.step, s]));
      assert.equal(byStep.get('write failed')?.code, 'STRATA_DISK_FULL', byStep.get('write failed')?.message);
      assert.match(byStep.get('write failed')?.message ?? '', /disk is full/);
      // PostgreSQL PANICs when it cannot write its WAL and PGlite's next statement would never
      // return: the database is stopped, and later calls fail the same way without running.
      assert.equal(byStep.get('query after')?.code, 'STRATA_DISK_FULL');
      assert.equal(byStep.get('transaction after')?.code, 'STRATA_DISK_FULL');
      assert.match(byStep.get('query after')?.message ?? '', /close\(\) it and open it again/);
      assert.ok(!(await readdir(dir)).includes('lock'), 'close() released the lock');

      await rm(filler);
      const db = await openDatabase(dir);
      try {
        assert.deepEqual((await db.query('select note from kept')).rows, [{ note: 'committed before the disk filled' }]);
        await db.query("insert into kept values ('after freeing space')");
      } finally {
        await db.close();
      }
    });

    test('a table that cannot grow on a full disk: that statement gets DiskFullError, the database stays open, and writes work again once space is freed', async (t) => {
      const disk = await mountTmpfs(t, ROOMY_DISK_MIB);
      if (!disk) return;
      const steps = await runDiskFullChild(join(disk, 'db'), join(disk, 'filler'), 'table');
      assert.deepEqual(
        steps.map((s) => s.step),
        ['opened', 'full', 'write failed', 'query after', 'freed', 'transaction after', 'closed'],
      );
      const byStep = new Map(steps.map((s) => [s.step, s]));
      assert.equal(byStep.get('write failed')?.code, 'STRATA_DISK_FULL', byStep.get('write failed')?.message);
      assert.match(byStep.get('write failed')?.message ?? '', /still open/);
      assert.equal(byStep.get('query after')?.code, null, byStep.get('query after')?.message);
      assert.equal(byStep.get('transaction after')?.code, null, byStep.get('transaction after')?.message);
    });
  });

  describe('the embedded database on read-only storage', { skip: cannotMount }, () => {
    test('opening a directory on a read-only file system fails with StorageReadOnlyError, for an existing and a new directory', async (t) => {
      const disk = await mountTmpfs(t, 8);
      if (!disk) return;
      await mkdir(join(disk, 'existing'));
      remountReadOnly(disk);
      for (const dir of [join(disk, 'existing'), join(disk, 'new')]) {
        const error = await rejection(openDatabase(dir));
        assert.ok(error instanceof StorageReadOnlyError, `${dir}: ${error.name}: ${error.message}`);
        assert.ok(error instanceof StorageUnavailableError);
        assert.equal(error.code, 'STRATA_STORAGE_READ_ONLY');
        assert.match(error.message, /read-only file system/);
        assert.match(error.message, /writable directory/);
      }
    });

    test('a database whose data directory is mounted read-only fails to open with StorageReadOnlyError and releases its lock', async (t) => {
      const dir = await freshPgliteDir();
      const created = await openDatabase(dir);
      await created.exec('create table t (n int)');
      await created.close();
      const data = join(dir, 'pgdata');
      try {
        execFileSync('mount', ['--bind', data, data], { stdio: 'pipe' });
      } catch (error) {
        t.skip(`cannot bind-mount here: ${String(error)}`);
        return;
      }
      mounts.push(data);
      remountReadOnly(data, true);
      const error = await rejection(openDatabase(dir));
      assert.ok(error instanceof StorageReadOnlyError, `${error.name}: ${error.message}`);
      assert.equal(error.code, 'STRATA_STORAGE_READ_ONLY');
      assert.ok(!(await readdir(dir)).includes('lock'), 'the failed open released its lock');
    });
  });
}
