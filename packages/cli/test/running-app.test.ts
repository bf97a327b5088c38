// The `strata` command on an embedded database that a running app holds (the orders demo's
// situation): the CLI, a separate process, reads and steers it through the app's socket. And where
// no database is where the CLI looks, it says where one is.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freshPgliteDir } from '@strata/testing';

const BIN = fileURLToPath(new URL('../bin/strata.js', import.meta.url));
const RUNNING_APP = fileURLToPath(new URL('./fixtures/running-app.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** One CLI run takes about a second (tsx start, connect); a run past this is hung. */
const CLI_TIMEOUT_MS = 60_000;
/** PGlite's first start and a workflow run on a loaded 2-core machine: seconds, not minutes. */
const APP_TIMEOUT_MS = 120_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], cwd = REPO_ROOT): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.STRATA_DATABASE_URL;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: CLI_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`strata ${args.join(' ')}: ${error.message}\n${stderr}`));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** The app child's JSON events, awaited by key. */
class App {
  readonly process: ChildProcess;
  readonly #events: Array<Record<string, unknown>> = [];
  #stderr = '';
  constructor(dir: string) {
    this.process = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', RUNNING_APP, dir], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.process.stdout! }).on('line', (line) => this.#events.push(JSON.parse(line) as Record<string, unknown>));
    this.process.stderr!.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
  }
  async event(key: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + APP_TIMEOUT_MS;
    for (;;) {
      const index = this.#events.findIndex((event) => key in event);
      if (index >= 0) return this.#events.splice(index, 1)[0]!;
      if (this.process.exitCode !== null || Date.now() > deadline) throw new Error(`the app gave no "${key}" event (exit ${this.process.exitCode}): ${this.#stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

describe('strata on an embedded database held by a running app', () => {
  let dir: string;
  let app: App;

  before(async () => {
    dir = await freshPgliteDir();
    app = new App(dir);
    assert.equal((await app.event('ready')).three, 'live-a,live-b,live-c');
  });
  after(() => {
    app?.process.kill('SIGKILL');
  });

  test('lists the running app’s workflows, and a cancel from the CLI stops the app’s workflow', async () => {
    const list = await cli(['--database', dir, '--json', 'workflows', 'list']);
    assert.equal(list.code, 0, `workflows list: ${list.stderr}`);
    const listed = (JSON.parse(list.stdout) as { workflows: Array<{ workflowId: string; status: string }> }).workflows
      .map(({ workflowId, status }) => `${workflowId} ${status}`)
      .sort();
    assert.deepEqual(listed, ['blocked-live PENDING', 'three-live SUCCESS']);

    const cancel = await cli(['--database', dir, 'workflows', 'cancel', 'blocked-live']);
    assert.equal(cancel.code, 0, `workflows cancel: ${cancel.stderr}`);
    assert.equal(cancel.stdout, 'cancelled blocked-live\n');
    const ended = await app.event('blocked');
    assert.equal(ended.blocked, 'failed');
    assert.equal(ended.error, 'WorkflowCancelledError', `the app's handle ends cancelled: ${JSON.stringify(ended)}`);

    const sql = await cli(['--database', dir, 'sql', "select status from strata.workflows where workflow_id = 'blocked-live'"]);
    assert.equal(sql.code, 0, `sql: ${sql.stderr}`);
    assert.match(sql.stdout, /CANCELLED/);
  });
});

test('with no database where it looks, the CLI names the embedded databases below the working directory', async () => {
  const scratch = await freshPgliteDir();
  await mkdir(join(scratch, 'examples', 'orders', '.strata', 'pgdata'), { recursive: true });
  await mkdir(join(scratch, 'node_modules', 'x', '.strata', 'pgdata'), { recursive: true });
  const run = await cli(['workflows', 'list'], scratch);
  assert.equal(run.code, 1, run.stderr);
  // The working directory as the CLI sees it: with its symbolic links resolved (a TMPDIR may be one).
  assert.match(run.stderr, new RegExp(`no embedded database at ${await realpath(scratch)}/\\.strata`));
  assert.match(run.stderr, /found one below here: strata --database examples\/orders\/\.strata …/);
  assert.doesNotMatch(run.stderr, /node_modules/);
});
