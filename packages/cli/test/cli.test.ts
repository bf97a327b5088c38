// The `strata` command, run as a real process against a real database that a real engine in this
// process filled: workflows that succeeded, failed and wait in recv, queues, schedules, executors.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Strata, StrataClient, type Logger, type WorkflowPage } from '@strata/transact';
import { engines, freshPgliteDir, freshPostgresUrl } from '@strata/testing';
import { main } from '../src/main.js';
import { buildProgram } from '../src/program.js';
import { defineApp, failing } from './fixtures/app.js';

const BIN = fileURLToPath(new URL('../bin/strata.js', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));
const APP_CHANGED = fileURLToPath(new URL('./fixtures/app-changed.ts', import.meta.url));

/** One CLI run takes about a second (tsx start, connect); a run past this is hung. */
const CLI_TIMEOUT_MS = 30_000;
/** Bound on waiting for the engine to finish or reach a workflow. */
const WAIT_MS = 30_000;

const quiet: Logger = { info() {}, warn() {}, error() {} };

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `strata <args>` as a child process (asynchronously: the engine in this process keeps working). */
function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.STRATA_DEBUG;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: childEnv, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`strata ${args.join(' ')} did not exit normally (${error.message}); stderr:\n${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/**
 * Runs the CLI's main() in this process, same code path as the binary but without a process
 * start; for the many refusal cases, so the file stays fast.
 */
async function inProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, env);
  return { code, stdout, stderr };
}

/** Asserts the run exited `code`, showing its output when not. */
function assertExit(run: Run, code: number, what: string): void {
  assert.equal(run.code, code, `${what}: exit ${run.code}, expected ${code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

/** The JSON a successful `--json` run printed. */
function parsed<T>(run: Run, what: string): T {
  assertExit(run, 0, what);
  return JSON.parse(run.stdout) as T;
}

/** Asserts a failed run printed one `strata: …` line naming every part. */
function assertError(run: Run, code: number, what: string, ...parts: string[]): void {
  assertExit(run, code, what);
  assert.equal(run.stdout, '', `${what}: nothing on stdout`);
  assert.match(run.stderr, /^strata: [^\n]+\n$/, `${what}: one line on stderr, got ${JSON.stringify(run.stderr)}`);
  for (const part of parts) assert.ok(run.stderr.includes(part), `${what}: stderr ${JSON.stringify(run.stderr)} should mention ${JSON.stringify(part)}`);
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every command path of the CLI, e.g. ['workflows', 'list']. */
function commandPaths(command: Command, prefix: readonly string[] = []): string[][] {
  return command.commands.flatMap((child) => {
    const path = [...prefix, child.name()];
    return [path, ...commandPaths(child, path)];
  });
}

// The suites run side by side: the embedded one spends its time starting PGlite.
describe('strata CLI', { concurrency: true }, () => {
  test('--help on every command exits 0 and prints its usage', async () => {
    const program = buildProgram({ stdout() {}, stderr() {} }, { run: () => async () => {} });
    const paths = [[], ...commandPaths(program)];
    assert.ok(paths.length > 25, `expected every command, got ${paths.length}`);
    for (const path of paths) {
      let stdout = '';
      let stderr = '';
      const code = await main([...path, '--help'], { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, {});
      assert.equal(code, 0, `strata ${path.join(' ')} --help: exit ${code}; ${stderr}`);
      assert.ok(stdout.startsWith(`Usage: strata ${path.join(' ')}`.trimEnd()), `strata ${path.join(' ')} --help printed ${JSON.stringify(stdout.slice(0, 80))}`);
    }
  });

  describe('strata CLI on PostgreSQL', { skip: !engines().includes('postgres'), concurrency: 1 }, () => {
    let url: string;
    let engine: Strata;
    let client: StrataClient;
    /** Runs the CLI with the database in STRATA_DATABASE_URL, as a deployment would set it. */
    const strata = (...args: string[]) => cli(args, { STRATA_DATABASE_URL: url });
    /** The same in this process (see inProcess). */
    const quick = (...args: string[]) => inProcess(args, { STRATA_DATABASE_URL: url });
    const statusOf = async (id: string) => (await client.status(id)).status;
    /** Every workflow row's ID, status and update time: unchanged by a command that was refused. */
    const snapshot = async () => (await client.database.query('select workflow_id, status, updated_at from strata.workflows order by workflow_id')).rows;

    before(async () => {
      url = await freshPostgresUrl();
      engine = defineApp(new Strata({ database: url, executorId: 'cli-test', appVersion: 'v1', logger: quiet, safetyPollIntervalMs: 1_000 }));
      engine.queue('emails', { concurrency: 2 });
      engine.queue('slow', { concurrency: 1 });
      await engine.launch();
      client = await StrataClient.connect({ database: url });

      for (const label of ['x', 'y', 'z']) {
        const handle = await engine.startByName('three', [label], { workflowId: `three-${label}`, attributes: { customer: label === 'z' ? 'c-2' : 'c-1' } });
        await handle.result({ timeoutMs: WAIT_MS });
      }
      failing.add('boom-1');
      await assert.rejects((await engine.startByName('boom', [], { workflowId: 'boom-1' })).result({ timeoutMs: WAIT_MS }), /kaboom/);
      const blocked = ['blocked-1', 'blocked-2', 'blocked-bulk-1', 'blocked-bulk-2', 'blocked-bulk-3'];
      for (const id of blocked) await engine.startByName('blocked', [], { workflowId: id, attributes: id.includes('bulk') ? { batch: 'b1' } : {} });
      // One runs on "slow" (concurrency 1) and blocks it; the other stays queued behind it.
      await engine.startByName('blocked', [], { workflowId: 'slow-1', queue: 'slow' });
      await waitFor('slow-1 to start', async () => (await statusOf('slow-1')) === 'PENDING');
      await engine.startByName('blocked', [], { workflowId: 'slow-2', queue: 'slow' });
      for (const id of [...blocked, 'slow-1']) await waitFor(`${id} to wait in recv`, async () => (await client.workflows.steps(id)).length === 1);
    });

    after(async () => {
      await client?.close();
      await engine?.shutdown({ timeoutMs: 0 });
    });

    test('workflows list: a table and a next-page cursor; filters and paging in --json', async () => {
      const [table, help, errors, customer, firstPage, window] = await Promise.all([
        strata('workflows', 'list', '--limit', '3'),
        strata('workflows', 'list', '--help'),
        quick('--json', 'workflows', 'list', '--status', 'error,cancelled'),
        quick('workflows', 'list', '--json', '--name', 'three', '--attr', 'customer=c-1'),
        strata('wf', 'ls', '--json', '--prefix', 'three-', '--limit', '2', '--oldest'),
        strata('workflows', 'list', '--json', '--since', '1h', '--until', new Date(Date.now() + 60_000).toISOString(), '--executor', 'cli-test', '--app-version', 'v1'),
      ]);

      assertExit(table, 0, 'list');
      const lines = table.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^ID\s+NAME\s+STATUS\s+QUEUE\s+EXECUTOR\s+CREATED\s+DURATION$/);
      assert.equal(lines.length, 5, `header, 3 rows, next line: ${table.stdout}`);
      assert.match(lines[1]!, /^slow-2\s+blocked\s+ENQUEUED\s+slow\s+-\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+-$/);
      assert.match(lines[4]!, /^next: --cursor \S+$/);
      assertExit(help, 0, 'list --help');
      assert.match(help.stdout, /^Usage: strata workflows list/);
      assert.match(help.stdout.replace(/\s+/g, ' '), /--status <statuses> .*ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED/);

      assert.deepEqual(parsed<WorkflowPage>(errors, '--status').workflows.map((w) => [w.workflowId, w.status]), [['boom-1', 'ERROR']]);
      const page = parsed<WorkflowPage>(customer, '--attr');
      assert.deepEqual(page.workflows.map((w) => w.workflowId).sort(), ['three-x', 'three-y']);
      assert.deepEqual(page.workflows[0]!.attributes, { customer: 'c-1' });
      assert.equal(typeof page.workflows[0]!.createdAt, 'string', 'dates are ISO strings in JSON');
      assert.equal(page.nextCursor, null);

      const first = parsed<WorkflowPage>(firstPage, 'first page');
      assert.deepEqual(first.workflows.map((w) => w.workflowId), ['three-x', 'three-y']);
      assert.ok(first.nextCursor);
      const second = parsed<WorkflowPage>(await strata('workflows', 'list', '--json', '--prefix', 'three-', '--limit', '2', '--oldest', '--cursor', first.nextCursor), 'second page');
      assert.deepEqual(second.workflows.map((w) => w.workflowId), ['three-z']);
      assert.equal(second.nextCursor, null);

      // Every workflow but slow-2, which is ENQUEUED and so has no executor yet.
      assert.equal(parsed<WorkflowPage>(window, '--since/--until').workflows.length, 10);
      const future = await quick('workflows', 'list', '--json', '--since', new Date(Date.now() + 3_600_000).toISOString());
      assert.deepEqual(parsed<WorkflowPage>(future, '--since in the future').workflows, []);
    });

    test('workflows get and steps show a workflow, its outcome and its recorded steps', async () => {
      const [get, getJson, failed, steps, stepsJson] = await Promise.all([
        strata('workflows', 'get', 'three-x'),
        quick('workflows', 'get', 'three-x', '--json'),
        quick('workflows', 'get', 'boom-1', '--json'),
        strata('workflows', 'steps', 'boom-1'),
        quick('workflows', 'steps', 'three-x', '--json'),
      ]);
      assertExit(get, 0, 'get');
      assert.match(get.stdout, /^ID\s+three-x$/m);
      assert.match(get.stdout, /^status\s+SUCCESS$/m);
      assert.match(get.stdout, /^attributes\s+customer=c-1$/m);
      assert.match(get.stdout, /^inputs\s+\["x"\]$/m);
      assert.match(get.stdout, /^output\s+x-a,x-b,x-c$/m);
      const details = parsed<{ workflowId: string; inputs: unknown[]; output: unknown; status: string }>(getJson, 'get --json');
      assert.deepEqual([details.workflowId, details.status, details.inputs, details.output], ['three-x', 'SUCCESS', ['x'], 'x-a,x-b,x-c']);
      const error = parsed<{ status: string; error: { name: string; message: string } }>(failed, 'get failed --json');
      assert.equal(error.status, 'ERROR');
      assert.equal(error.error.message, 'kaboom');

      assertExit(steps, 0, 'steps');
      const lines = steps.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^\s*#\s+KIND\s+NAME\s+ATTEMPTS\s+DURATION MS\s+OUTPUT\/ERROR$/);
      assert.match(lines[1]!, /^\s*0\s+step\s+prepare\s+1\s+\d+\s+prepared$/);
      assert.match(lines[2]!, /^\s*1\s+step\s+explode\s+1\s+\d+\s+Error: kaboom$/);
      const records = parsed<{ stepId: number; name: string; kind: string; output: unknown }[]>(stepsJson, 'steps --json');
      assert.deepEqual(records.map((s) => [s.stepId, s.kind, s.name, s.output]), [[0, 'step', 'a', 'x-a'], [1, 'step', 'b', 'x-b'], [2, 'step', 'c', 'x-c']]);
    });

    test('workflows cancel, resume, restart, fork and delete steer one workflow', async () => {
      failing.delete('boom-1');
      const [cancel, resume, restart, fork, del] = await Promise.all([
        strata('workflows', 'cancel', 'blocked-1'),
        strata('workflows', 'resume', 'boom-1'),
        strata('workflows', 'restart', 'three-x'),
        strata('workflows', 'fork', 'three-y', '--from-step', '2', '--new-id', 'three-y-fork'),
        strata('workflows', 'delete', 'three-z'),
      ]);
      assertExit(cancel, 0, 'cancel');
      assert.equal(cancel.stdout, 'cancelled blocked-1\n');
      assert.equal(await statusOf('blocked-1'), 'CANCELLED');

      assertExit(resume, 0, 'resume');
      assert.equal(resume.stdout, 'resumed boom-1\n');
      await waitFor('boom-1 to succeed after resume', async () => (await statusOf('boom-1')) === 'SUCCESS');
      assert.equal((await client.workflows.get('boom-1')).output, 'defused');

      assertExit(restart, 0, 'restart');
      const restartedId = restart.stdout.trim();
      assert.match(restartedId, /^[0-9a-f-]{36}$/, 'prints the new ID alone');
      assert.equal(await client.retrieve(restartedId).result({ timeoutMs: WAIT_MS }), 'x-a,x-b,x-c');

      assertExit(fork, 0, 'fork');
      assert.equal(fork.stdout, 'three-y-fork\n');
      assert.equal(await client.retrieve('three-y-fork').result({ timeoutMs: WAIT_MS }), 'y-a,y-b,y-c');
      assert.deepEqual((await client.workflows.steps('three-y-fork')).map((s) => s.name), ['a', 'b', 'c']);

      assertExit(del, 0, 'delete');
      assert.equal(del.stdout, 'deleted three-z\n');
      assertError(await strata('workflows', 'get', 'three-z'), 3, 'get after delete', 'no workflow with ID "three-z"');
      assertError(await quick('workflows', 'delete', 'three-z', '--json'), 3, 'delete again', 'three-z');
    });

    test('bulk cancel takes filters or --all, never an ID with filters, and prints the count', async () => {
      const [bare, both] = await Promise.all([quick('workflows', 'cancel'), quick('workflows', 'cancel', 'blocked-bulk-1', '--status', 'PENDING')]);
      assertError(bare, 2, 'cancel without ID or filter', '--all');
      assertError(both, 2, 'cancel with ID and filter', 'not both');

      const cancelled = await strata('workflows', 'cancel', '--status', 'PENDING', '--attr', 'batch=b1');
      assertExit(cancelled, 0, 'bulk cancel');
      assert.equal(cancelled.stdout, 'cancelled 3 workflows\n');
      for (const id of ['blocked-bulk-1', 'blocked-bulk-2', 'blocked-bulk-3']) assert.equal(await statusOf(id), 'CANCELLED');
      assert.equal(await statusOf('blocked-2'), 'PENDING', 'outside the filter');

      const deleted = parsed<{ deleted: number }>(await quick('workflows', 'delete', '--all', '--prefix', 'blocked-bulk-', '--json'), 'bulk delete');
      assert.deepEqual(deleted, { deleted: 3 });
    });

    test('unknown IDs exit 3, a finished workflow exits 4, malformed values exit 2 naming the valid ones; nothing changes', async () => {
      const before = await snapshot();
      // The binary for the cases the issue names; main() in this process for the rest.
      const [cancelFinished, status, since, forkPast] = await Promise.all([
        strata('workflows', 'cancel', 'three-y'),
        strata('workflows', 'cancel', '--status', 'NOPE'),
        strata('workflows', 'cancel', '--all', '--since', 'yesterday'),
        strata('workflows', 'fork', 'three-y', '--from-step', '99'),
      ]);
      const get = await quick('workflows', 'get', 'no-such-workflow');
      const steps = await quick('workflows', 'steps', 'no-such-workflow');
      const cancelUnknown = await quick('workflows', 'cancel', 'no-such-workflow');
      const deletePending = await quick('workflows', 'delete', 'blocked-2');
      const forkBad = await quick('workflows', 'fork', 'three-y', '--from-step', 'two');
      const limit = await quick('workflows', 'list', '--limit', '5000');
      const rate = await quick('queues', 'update', 'emails', '--rate-limit', 'fast');
      assertError(get, 3, 'get unknown', 'no workflow with ID "no-such-workflow"');
      assertError(steps, 3, 'steps unknown', 'no-such-workflow');
      assertError(cancelUnknown, 3, 'cancel unknown', 'no-such-workflow');
      assertError(cancelFinished, 4, 'cancel finished', 'SUCCESS', 'nothing to cancel');
      assertError(deletePending, 4, 'delete pending', 'PENDING');
      assertError(status, 2, '--status NOPE', '"NOPE"', 'ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED');
      assertError(since, 2, '--since yesterday', '"yesterday"', 'ISO 8601', '2026-01-31T12:00:00Z', '2h');
      assertError(forkPast, 2, 'fork past the last step', '3 step', 'between 0 and 3', '99');
      assertError(forkBad, 2, '--from-step two', '--from-step "two"', 'whole number ≥ 0');
      assertError(limit, 2, '--limit 5000', 'from 1 to 1000');
      assertError(rate, 2, '--rate-limit fast', 'COUNT/PERIOD');
      const unknownOption = await quick('workflows', 'list', '--stauts', 'ERROR');
      const missingArgument = await quick('workflows', 'get');
      assertError(unknownOption, 2, 'unknown option', "unknown option '--stauts'", '--status');
      assertError(missingArgument, 2, 'missing argument', "missing required argument 'id'");
      assert.deepEqual(await snapshot(), before);
    });

    test('queues: list and get with queued and running counts, create, update, delete', async () => {
      const [list, get] = await Promise.all([strata('queues'), quick('queues', 'get', 'slow')]);
      const getJson = await quick('queues', 'get', 'emails', '--json');
      assertExit(list, 0, 'queues');
      assert.match(list.stdout, /^NAME\s+CONCURRENCY\s+WORKER\s+PARTITION\s+RATE LIMIT\s+QUEUED\s+RUNNING$/m);
      assert.match(list.stdout, /^emails\s+2\s+-\s+-\s+-\s+0\s+0$/m);
      assert.match(list.stdout, /^slow\s+1\s+-\s+-\s+-\s+1\s+1$/m);
      assertExit(get, 0, 'queues get');
      assert.match(get.stdout, /^queued\s+1$/m);
      assert.match(get.stdout, /^running\s+1$/m);
      assert.deepEqual(
        (({ name, concurrency, rateLimit, queued, running }) => ({ name, concurrency, rateLimit, queued, running }))(parsed<Record<string, unknown>>(getJson, 'queues get --json')),
        { name: 'emails', concurrency: 2, rateLimit: null, queued: 0, running: 0 },
      );

      const created = parsed<Record<string, unknown>>(await strata('queues', 'create', 'reports', '--concurrency', '3', '--rate-limit', '10/1s', '--json'), 'create');
      assert.deepEqual([created.concurrency, created.workerConcurrency, created.rateLimit], [3, null, { limit: 10, periodMs: 1_000 }]);
      const updated = parsed<Record<string, unknown>>(await quick('queues', 'update', 'reports', '--concurrency', 'none', '--worker-concurrency', '2', '--json'), 'update');
      assert.deepEqual([updated.concurrency, updated.workerConcurrency, updated.rateLimit], [null, 2, { limit: 10, periodMs: 1_000 }]);
      const exists = await quick('queues', 'create', 'emails');
      const busy = await quick('queues', 'delete', 'slow');
      const noChange = await quick('queues', 'update', 'reports');
      const zero = await quick('queues', 'create', 'bad', '--concurrency', '0');
      const deleted = await quick('queues', 'delete', 'reports');
      assertError(exists, 4, 'create existing', 'already exists');
      assertError(busy, 4, 'delete busy', 'still has queued or running');
      assertError(noChange, 2, 'update without flags', '--concurrency');
      assertError(zero, 2, '--concurrency 0', 'whole number ≥ 1, or none');
      assertExit(deleted, 0, 'delete');
      assert.equal(deleted.stdout, 'deleted queue reports\n');
      const gone = await quick('queues', 'get', 'reports');
      const unknownUpdate = await quick('queues', 'update', 'reports', '--concurrency', '1');
      assertError(gone, 3, 'get deleted queue', 'no queue named "reports"', 'emails');
      assertError(unknownUpdate, 3, 'update unknown queue', 'reports');
      assert.equal(await client.queues.get('bad'), undefined);
    });

    test('schedules: create, list, pause, resume, delete; unknown names exit 3', async () => {
      const created = await strata('schedules', 'create', 'nightly', '--workflow', 'tick', '--cron', '0 3 * * *', '--timezone', 'Europe/Paris', '--catch-up', '--queue', 'emails');
      assertExit(created, 0, 'create');
      assert.match(created.stdout, /^cron\s+0 3 \* \* \*$/m);
      assert.match(created.stdout, /^timezone\s+Europe\/Paris$/m);
      const list = await strata('schedules');
      const paused = await quick('schedules', 'pause', 'nightly');
      const badCron = await quick('schedules', 'create', 'bad', '--workflow', 'tick', '--cron', 'every day');
      const unknownWorkflow = await quick('schedules', 'create', 'bad', '--workflow', 'no-such-workflow', '--cron', '0 3 * * *');
      const unknownSchedule = await quick('schedules', 'pause', 'no-such-schedule');
      assertExit(list, 0, 'list');
      assert.match(list.stdout, /^NAME\s+WORKFLOW\s+CRON\s+TIMEZONE\s+STATUS\s+QUEUE\s+LAST TICK\s+NEXT TICK$/m);
      assert.match(list.stdout, /^nightly\s+tick\s+0 3 \* \* \*\s+Europe\/Paris\s+ACTIVE\s+emails\s+-\s+\d{4}-/m);
      assertExit(paused, 0, 'pause');
      assert.equal(paused.stdout, 'paused schedule nightly\n');
      assertError(badCron, 2, 'bad cron', 'every day');
      assertError(unknownWorkflow, 3, 'unknown workflow', 'no-such-workflow');
      assertError(unknownSchedule, 3, 'unknown schedule', 'no-such-schedule');

      assert.equal(parsed<{ status: string }>(await quick('schedules', 'get', 'nightly', '--json'), 'get').status, 'PAUSED');
      assert.equal(parsed<{ status: string }>(await quick('schedules', 'resume', 'nightly', '--json'), 'resume').status, 'ACTIVE');
      assertExit(await quick('schedules', 'delete', 'nightly'), 0, 'delete');
      assert.deepEqual(parsed<unknown[]>(await quick('schedules', 'list', '--json'), 'list --json'), []);
    });

    test('executors and sql', async () => {
      const [executors, table] = await Promise.all([
        strata('executors'),
        strata('sql', "select workflow_id, status, attributes from strata.workflows where workflow_id like 'three-%' order by workflow_id"),
      ]);
      const json = await quick('--json', 'sql', 'select 1 as one, null as nothing');
      const executorsJson = await quick('executors', '--json');
      const affected = await quick('sql', "update strata.workflows set priority = priority where workflow_id = 'three-y'");
      const bad = await quick('sql', 'select * from no_such_table');
      assertExit(executors, 0, 'executors');
      assert.match(executors.stdout, /^ID\s+HOST\s+PID\s+VERSION\s+ALIVE\s+LAST HEARTBEAT$/m);
      assert.match(executors.stdout, new RegExp(`^cli-test\\s+\\S+\\s+${process.pid}\\s+v1\\s+yes\\s+\\d{4}-`, 'm'));
      const [info] = parsed<{ executorId: string; alive: boolean; workflowNames: string[] }[]>(executorsJson, 'executors --json');
      assert.deepEqual([info!.executorId, info!.alive, [...info!.workflowNames].sort()], ['cli-test', true, ['blocked', 'boom', 'three', 'tick']]);

      assertExit(table, 0, 'sql');
      assert.deepEqual(table.stdout.split('\n').map((line) => line.trimEnd()), [
        'workflow_id   status   attributes',
        'three-x       SUCCESS  {"customer":"c-1"}',
        'three-y       SUCCESS  {"customer":"c-1"}',
        'three-y-fork  SUCCESS  {"customer":"c-1"}',
        '(3 rows)',
        '',
      ]);
      assert.deepEqual(parsed<unknown>(json, 'sql --json'), [{ one: 1, nothing: null }]);
      assertExit(affected, 0, 'sql update');
      assert.equal(affected.stdout, '(1 row affected)\n');
      assertError(bad, 1, 'sql error', 'no_such_table');
    });

    test('console serves the web console over the database until Ctrl-C', async () => {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, STRATA_DATABASE_URL: url };
      delete childEnv.NODE_TEST_CONTEXT;
      const child = spawn(process.execPath, [BIN, 'console', '--port', '0', '--json'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        let stdout = '';
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
        const consoleUrl = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`strata console printed no URL within ${CLI_TIMEOUT_MS} ms; stderr: ${stderr}`)), CLI_TIMEOUT_MS);
          child.stdout.on('data', (chunk: Buffer) => {
            stdout += chunk.toString();
            const match = /"url": "([^"]+)"/.exec(stdout);
            if (match) {
              clearTimeout(timer);
              resolve(match[1]!);
            }
          });
          void exited.then((code) => reject(new Error(`strata console exited ${code} before serving; stderr: ${stderr}`)));
        });
        assert.match(consoleUrl, /^http:\/\/127\.0\.0\.1:\d+/);
        const response = await fetch(`${consoleUrl}/api/workflows/three-y`);
        assert.equal(response.status, 200);
        assert.equal(((await response.json()) as { workflowId: string }).workflowId, 'three-y');
        child.kill('SIGINT');
        assert.equal(await exited, 0, `exit after Ctrl-C; stderr: ${stderr}`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });

    test('replay and check-deploy run histories through the app code and exit 1 on a divergence', async () => {
      const [changed, deployChanged] = await Promise.all([strata('replay', 'three-y', '--app', APP_CHANGED), strata('check-deploy', '--app', APP_CHANGED)]);
      const same = await quick('replay', 'three-y', '--app', APP);
      const deployOk = await quick('check-deploy', '--app', APP);
      const unknown = await quick('replay', 'no-such-workflow', '--app', APP);
      const missingApp = await quick('replay', 'three-y', '--app', './no-such-app.ts');
      const deployJson = await quick('check-deploy', '--app', APP_CHANGED, '--json');
      assertExit(same, 0, 'replay');
      assert.match(same.stdout, /replay of workflow "three-y" \(three\)/);
      assert.match(same.stdout, /no divergence/);
      assertExit(changed, 1, 'replay of changed code');
      assert.match(changed.stdout, /DIVERGED at step #1/);
      assert.match(changed.stdout, /b-renamed/);
      assertError(unknown, 3, 'replay unknown', 'no-such-workflow');
      assertError(missingApp, 2, 'missing app', 'no-such-app.ts');

      assertExit(deployOk, 0, 'check-deploy');
      assert.match(deployOk.stdout, /^ok: \d+ unfinished workflows? checked, none diverges$/m);
      assertExit(deployChanged, 1, 'check-deploy of changed code');
      assert.match(deployChanged.stdout, /DIVERGED at step #0/);
      assert.match(deployChanged.stdout, /^not safe to deploy: .*would diverge \(.*blocked-2/m);
      assertExit(deployJson, 1, 'check-deploy --json');
      const check = JSON.parse(deployJson.stdout) as { checked: number; diverged: { workflowId: string }[] };
      assert.ok(check.diverged.some((report) => report.workflowId === 'blocked-2'));
    });
  });

  describe('strata CLI on an embedded database', { skip: !engines().includes('pglite') }, () => {
    test('workflows list reads a PGlite directory an engine wrote and closed', async () => {
      const dir = await freshPgliteDir();
      const engine = defineApp(new Strata({ database: dir, executorId: 'embedded', logger: quiet }));
      await engine.launch();
      try {
        await (await engine.startByName('three', ['e'], { workflowId: 'three-embedded' })).result({ timeoutMs: WAIT_MS });
      } finally {
        await engine.shutdown();
      }
      const page = parsed<WorkflowPage>(await cli(['workflows', 'list', '--database', dir, '--json']), 'list on PGlite');
      assert.deepEqual(page.workflows.map((w) => [w.workflowId, w.status]), [['three-embedded', 'SUCCESS']]);
      assertError(await inProcess(['workflows', 'list', '--database', `${dir}-missing`]), 1, 'missing directory', 'no embedded database');
    });
  });
});
