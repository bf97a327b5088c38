// A second app process on an embedded directory that a running app holds: under the default
// executor ID it is refused (it would take the first one's workflows over), under its own ID it
// runs as a second executor through the first process's socket.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DatabaseLockedError } from '@strata/store';
import { freshPgliteDir } from '@strata/testing';
import { Strata } from '@strata/transact';
import { quiet, WAIT_MS } from './helpers.js';

const HOLDER = fileURLToPath(new URL('./embedded/holder.ts', import.meta.url));

describe('a second app process on a held embedded directory', () => {
  let dir: string;
  let holder: ChildProcess;

  before(async () => {
    dir = await freshPgliteDir();
    holder = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', HOLDER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the holder app did not get ready')), WAIT_MS * 4);
      holder.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the holder app exited with ${code}`));
      });
      createInterface({ input: holder.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { ready: string }).ready);
      });
    });
    assert.equal(ready, 'held-by-first');
  });
  after(() => {
    holder?.kill('SIGKILL');
  });

  test('under the default executor ID is refused with a DatabaseLockedError that says to give it its own executorId', async () => {
    const second = new Strata({ database: dir, logger: quiet });
    second.workflow('holder.wait', async () => 'never');
    await assert.rejects(second.launch(), (error: unknown) => {
      assert.ok(error instanceof DatabaseLockedError, String(error));
      assert.match(error.message, /executorId/);
      assert.match(error.message, new RegExp(`pid ${holder.pid}`));
      return true;
    });
  });

  test('under its own executor ID runs its workflows through the running app and leaves the first app’s workflow alone', async () => {
    const second = new Strata({ database: dir, executorId: 'second', logger: quiet });
    second.workflow('holder.wait', async () => 'never');
    const double = second.workflow('second.double', async (ctx, n: number) => ctx.step('double', async () => n * 2));
    await second.launch();
    try {
      const handle = await double.start(21);
      assert.equal(await handle.result(), 42);
      const first = await second.workflows.get('held-by-first');
      assert.equal(first?.status, 'PENDING');
      assert.equal(first?.executorId, 'local');
      assert.equal(holder.exitCode, null, 'the first app is still running');
    } finally {
      await second.shutdown();
    }
  });
});
