// The CLI's view of a workflow's history: a line per failed attempt of a retried step under it
// (escaped like every table cell), and who cancelled, resumed, forked or deleted it — recorded as
// cli:<os user> for the CLI's own actions.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Strata, StrataClient, type Logger, type OperatorAction } from '@strata/transact';
import { engines, freshPostgresUrl } from '@strata/testing';
import { main } from '../src/main.js';

const BIN = fileURLToPath(new URL('../bin/strata.js', import.meta.url));
/** One CLI run takes about a second; a run past this is hung. */
const CLI_TIMEOUT_MS = 30_000;
const WAIT_MS = 30_000;
const quiet: Logger = { info() {}, warn() {}, error() {} };
/** An error text that would retitle the terminal and forge a line if printed raw. */
const HOSTILE = 'declined\x1b]0;pwned\x07\rstrata: all good';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('strata CLI: failed attempts and operator actions', { skip: !engines().includes('postgres') }, () => {
  let url: string;
  let engine: Strata;
  let client: StrataClient;
  let releaseGate: () => void = () => {};
  const me = `cli:${userInfo().username}`;

  /** `strata <args>` in this process (the binary's code path, without a process start). */
  async function strata(...args: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, { STRATA_DATABASE_URL: url });
    return { code, stdout, stderr };
  }
  /** `strata <args>` as a child process. */
  function child(...args: string[]): Promise<Run> {
    const env: NodeJS.ProcessEnv = { ...process.env, STRATA_DATABASE_URL: url };
    delete env.NODE_TEST_CONTEXT;
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [BIN, ...args], { env, timeout: CLI_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(new Error(`strata ${args.join(' ')}: ${error.message}\n${stderr}`));
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      });
    });
  }
  function ok(run: Run, what: string): string {
    assert.equal(run.code, 0, `${what}: exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    return run.stdout;
  }

  before(async () => {
    url = await freshPostgresUrl();
    engine = new Strata({ database: url, executorId: 'cli-history', logger: quiet, safetyPollIntervalMs: 1_000 });
    engine.workflow('charge', async (ctx) =>
      ctx.step('charge', ({ attempt }) => {
        if (attempt < 3) throw Object.assign(new Error(attempt === 1 ? HOSTILE : 'card declined again'), { code: 'E_CARD' });
        return 'charged';
      }, { retry: { maxAttempts: 3, intervalMs: 1 } }),
    );
    engine.workflow('gated', async (ctx) =>
      ctx.step('gated', async ({ attempt }) => {
        if (attempt === 1) throw new Error('the first try failed');
        await new Promise<void>((resolve) => (releaseGate = resolve));
        return 'through';
      }, { retry: { maxAttempts: 2, intervalMs: 1 } }),
    );
    engine.workflow('waiter', async (ctx) => ctx.recv('go', { timeoutMs: Infinity }));
    await engine.launch();
    client = await StrataClient.connect({ database: url });
  });
  after(async () => {
    releaseGate();
    await client?.close();
    await engine?.shutdown({ timeoutMs: 0 });
  });

  test('workflows steps prints a line per failed attempt under its step, control characters escaped', async () => {
    assert.equal(await (await engine.startByName('charge', [], { workflowId: 'charge-1' })).result({ timeoutMs: WAIT_MS }), 'charged');
    const out = ok(await child('workflows', 'steps', 'charge-1'), 'steps');
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0]!, /^#\s+KIND\s+NAME\s+ATTEMPTS/);
    assert.match(lines[1]!, /^0\s+step\s+charge\s+3\s+\d+\s+charged$/);
    assert.match(lines[2]!, /^\s+attempt 1 failed\s+\S+ Error \[E_CARD\]: declined\\x1b\]0;pwned\\x07\\rstr/);
    assert.match(lines[3]!, /^\s+attempt 2 failed\s+\S+ Error \[E_CARD\]: card declined again$/);
    assert.equal(lines.length, 4);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(out), 'no raw control character reaches the terminal');
    // --json has the exact values.
    const [step] = JSON.parse(ok(await strata('workflows', 'steps', 'charge-1', '--json'), 'steps --json')) as Array<{ failedAttempts: Array<{ error: { message: string } }> }>;
    assert.deepEqual(step!.failedAttempts.map((a) => a.error.message), [HOSTILE, 'card declined again']);
  });

  test('workflows steps shows the failed attempts of a step still retrying', async () => {
    const handle = await engine.startByName('gated', [], { workflowId: 'gated-1' });
    await waitFor('the first attempt to fail', async () => (await client.workflows.failedAttempts('gated-1')).length === 1);
    const lines = ok(await strata('workflows', 'steps', 'gated-1'), 'steps').trimEnd().split('\n');
    assert.match(lines[1]!, /^0\s+step\s+gated\s+-\s+-\s+retrying: no outcome yet$/);
    assert.match(lines[2]!, /^\s+attempt 1 failed\s+\S+ Error: the first try failed$/);
    releaseGate();
    await handle.result({ timeoutMs: WAIT_MS });
  });

  test('the CLI\'s cancel, resume, fork and delete are recorded as cli:<os user>; get and actions show them', async () => {
    await engine.startByName('waiter', [], { workflowId: 'waiter-1' });
    await waitFor('waiter-1 to run', async () => (await client.status('waiter-1')).status === 'PENDING');
    ok(await child('workflows', 'cancel', 'waiter-1'), 'cancel');
    ok(await strata('workflows', 'resume', 'waiter-1'), 'resume');
    await waitFor('waiter-1 to run again', async () => (await client.status('waiter-1')).status === 'PENDING');
    await client.cancel('waiter-1', { actor: 'alice' });
    const forkId = ok(await strata('workflows', 'fork', 'waiter-1', '--from-step', '0', '--new-id', 'waiter-1-fork'), 'fork').trim();
    assert.equal(forkId, 'waiter-1-fork');

    const get = ok(await strata('workflows', 'get', 'waiter-1'), 'get');
    const table = get.slice(get.indexOf('operator actions:'));
    const rows = table.trimEnd().split('\n').slice(2);
    assert.match(table.split('\n')[1]!, /^WHEN\s+WHO\s+ACTION\s+DETAIL$/);
    assert.deepEqual(rows.map((row) => row.split(/\s{2,}/).slice(1, 3)), [[me, 'cancel'], [me, 'resume'], ['alice', 'cancel'], [me, 'fork']]);
    assert.match(rows[1]!, /from=CANCELLED .*never on a queue/);
    assert.match(rows[3]!, /newWorkflowId=waiter-1-fork/);

    const json = JSON.parse(ok(await strata('workflows', 'get', 'waiter-1', '--json'), 'get --json')) as { operatorActions: OperatorAction[] };
    assert.deepEqual(json.operatorActions.map((a) => [a.action, a.actor]), [['cancel', me], ['resume', me], ['cancel', 'alice'], ['fork', me]]);

    await client.cancel('waiter-1-fork').catch(() => {}); // it may not have started yet
    await waitFor('the fork to end', async () => (await client.status('waiter-1-fork')).status === 'CANCELLED');
    ok(await strata('workflows', 'delete', 'waiter-1'), 'delete');
    const actions = ok(await strata('workflows', 'actions', 'waiter-1'), 'actions after delete');
    assert.match(actions.trimEnd().split('\n').at(-1)!, new RegExp(`\\s${me.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+delete\\s+status=CANCELLED$`));
    assert.match(ok(await strata('workflows', 'actions', 'never-seen'), 'actions of an unknown ID'), /^no operator actions recorded for never-seen\n$/);
  });
});
