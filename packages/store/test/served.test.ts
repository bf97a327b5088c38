// An embedded directory held by a running app is served to the user's other processes on a Unix
// socket: they open it with openDatabase as usual and work on it as PostgreSQL clients, and no
// statement of a client runs inside the app's transactions, nor the app's inside theirs.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import { freshPgliteDir } from '@strata/testing';
import { FIXTURES_DIR, REPO_ROOT, exitCode, waitFor } from './helpers.js';

/** PGlite's first start on a loaded 2-core machine takes seconds; this long means it is stuck. */
const START_TIMEOUT_MS = 120_000;
/** Transactions each side runs at once in the interleaving test: enough to overlap many times. */
const INCREMENTS = 30;

/** A child process running `fixtures/<script>` with JSON-line answers. */
class Child {
  readonly process: ChildProcess;
  readonly #answers: object[] = [];
  #stderr = '';
  constructor(script: string, args: readonly string[]) {
    this.process = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', join(FIXTURES_DIR, script), ...args], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.process.stdout! }).on('line', (line) => this.#answers.push(JSON.parse(line) as object));
    this.process.stderr!.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
  }
  send(command: string): void {
    this.process.stdin!.write(`${command}\n`);
  }
  /** The next answer that has `key`; earlier answers without it are skipped. */
  async answer<T extends object>(key: string, timeoutMs = START_TIMEOUT_MS): Promise<T> {
    const found = () => this.#answers.findIndex((answer) => key in answer);
    await waitFor(() => found() >= 0 || this.process.exitCode !== null, `the child's "${key}" answer`, timeoutMs).catch((error: Error) => {
      throw new Error(`${error.message}; stderr: ${this.#stderr}`);
    });
    const index = found();
    assert.ok(index >= 0, `the child exited (${this.process.exitCode}) before answering "${key}": ${this.#stderr}`);
    return this.#answers.splice(index, 1)[0] as T;
  }
  async stop(): Promise<void> {
    this.process.stdin!.end();
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 30_000);
    await exitCode(this.process);
    clearTimeout(timer);
  }
}

describe('an embedded directory held by another process', () => {
  let dir: string;
  let app: Child;
  let client: Database;

  before(async () => {
    dir = await freshPgliteDir();
    app = new Child('served-app.ts', [dir]);
    await app.answer('ready');
    client = await openDatabase(dir);
  });
  after(async () => {
    await client?.close();
    await app?.stop();
  });

  test("is opened through the holder's socket, which the lock record names and only this user can reach", async () => {
    const record = JSON.parse(readFileSync(join(dir, 'lock'), 'utf8')) as { pid: number; socket: string };
    assert.equal(record.pid, app.process.pid);
    assert.equal(record.socket, join(dir, 'run', '.s.PGSQL.5432'));
    assert.ok(statSync(record.socket).isSocket());
    assert.equal(statSync(record.socket).mode & 0o777, 0o600, 'the socket is the owner’s alone');
    assert.equal(statSync(dirname(record.socket)).mode & 0o777, 0o700, 'and so is its directory');
    assert.match(client.description, new RegExp(`served by pid ${app.process.pid}`));

    await client.query('update counter set n = n + 100 where id = 1');
    app.send('count');
    assert.deepEqual(await app.answer('n'), { n: 100 }, 'the app sees what the client wrote');
    await client.query('update counter set n = 0 where id = 1');
  });

  test("the app's transactions and two clients' transactions never interleave: concurrent read-pause-write increments lose nothing", async () => {
    const second = await openDatabase(dir);
    try {
      const incrementFrom = async (db: Database) => {
        for (let i = 0; i < INCREMENTS; i++) {
          await db.transaction(async (tx) => {
            // Prepared under the same name by both clients: each client's statements are its own.
            const { rows } = await tx.query<{ n: number }>('select n from counter where id = 1', [], { prepare: true });
            await new Promise((resolve) => setTimeout(resolve, 2));
            await tx.query('update counter set n = $1 where id = 1', [rows[0]!.n + 1], { prepare: true });
          });
        }
      };
      app.send(`increment ${INCREMENTS}`);
      await Promise.all([incrementFrom(client), incrementFrom(second), app.answer('incremented')]);
      app.send('count');
      assert.deepEqual(await app.answer('n'), { n: 3 * INCREMENTS });
    } finally {
      await second.close();
    }
  });

  test("a client's LISTEN gets the app's notifications, and the client leaving does not unsubscribe the app from the same channel", async () => {
    app.send('listen news');
    await app.answer('listening');
    const listener = await openDatabase(dir);
    const got: string[] = [];
    const subscription = await listener.listen('news', (payload) => got.push(payload));
    app.send('notify news first');
    await app.answer('notified');
    await waitFor(() => got.includes('first'), 'the client to get the notification', 10_000);
    assert.deepEqual(await app.answer('got'), { got: 'first' });

    await subscription.close();
    await listener.close();
    await client.query(`select pg_notify('news', 'second')`);
    assert.deepEqual(await app.answer('got', 10_000), { got: 'second' }, 'the app still hears the channel, also from a client’s commit');
    assert.deepEqual(got, ['first']);
  });

  test('a client killed inside its transaction leaves nothing behind, and the app goes on', async () => {
    app.send('count');
    const { n: before } = await app.answer<{ n: number }>('n');
    const doomed = new Child('served-client.ts', [dir]);
    await doomed.answer('inside');
    doomed.process.kill('SIGKILL');
    await exitCode(doomed.process);
    app.send('increment 1');
    await app.answer('incremented');
    app.send('count');
    assert.deepEqual(await app.answer('n'), { n: before + 1 }, 'the killed client’s uncommitted update is rolled back');
  });
});
