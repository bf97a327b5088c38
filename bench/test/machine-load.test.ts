// The bench's machine-load monitor tells its own CPU time from other processes', so a run on a
// busy machine is marked and a quiet one is not blamed for its own work.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUSY_FOREIGN_CPU_SHARE, MachineLoadMonitor } from '../lib/machine-load.js';

/** CPU time each burner uses: long enough to span several one-second samples. */
const BURN_CPU_MS = 1_500;

/** A node process that burns BURN_CPU_MS of CPU, then writes the CPU time it used to `file`. */
const burner = (file: string) =>
  `const { writeFileSync } = require('node:fs');` +
  `while (process.cpuUsage().user / 1000 < ${BURN_CPU_MS});` +
  `const u = process.cpuUsage(); writeFileSync(${JSON.stringify(file)}, String((u.user + u.system) / 1000));`;

async function waitForFile(file: string): Promise<number> {
  for (;;) {
    try {
      const text = await readFile(file, 'utf8');
      if (text !== '') return Number(text);
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("a child process's CPU time is the bench's own, not load from others", { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-load-'));
  try {
    const monitor = new MachineLoadMonitor();
    const file = join(dir, 'own');
    const child = spawn(process.execPath, ['-e', burner(file)], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    const childCpuMs = await waitForFile(file);
    const load = monitor.finish();

    assert.equal(load.unmeasured, false);
    // Reaped children count through our cutime; a tick is 10 ms, so allow a few ticks of rounding.
    assert.ok(load.ownCpuMs >= childCpuMs - 50, `own ${load.ownCpuMs} ms includes the child's ${childCpuMs} ms`);
    assert.ok(load.samples >= 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("another process's CPU time is foreign, and enough of it marks the run busy", { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-load-'));
  try {
    const monitor = new MachineLoadMonitor();
    const file = join(dir, 'foreign');
    // `sh -c '… &'` exits at once: the burner is orphaned and no longer in our process tree.
    const shell = spawn('sh', ['-c', `"${process.execPath}" -e "$BURNER" >/dev/null 2>&1 &`], { stdio: 'ignore', env: { ...process.env, BURNER: burner(file) } });
    await new Promise((resolve) => shell.once('exit', resolve));
    const foreignCpuMs = await waitForFile(file);
    const load = monitor.finish();

    assert.ok(load.foreignCpuMs >= foreignCpuMs - 50, `foreign ${load.foreignCpuMs.toFixed(0)} ms includes the other process's ${foreignCpuMs} ms`);
    assert.ok(load.foreignShare > BUSY_FOREIGN_CPU_SHARE, `foreign share ${load.foreignShare}`);
    assert.equal(load.busy, true);
    assert.match(load.verdict, /MACHINE BUSY.*not for the README/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
