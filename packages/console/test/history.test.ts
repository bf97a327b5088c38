// The console's history of a workflow: who cancelled, resumed, restarted, forked or deleted it
// (by the signed-in identity), and every failed attempt of a retried step — in headless Chromium
// and through the API.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { engines, ensureChromium, freshPostgresUrl } from '@strata/testing';
import { Strata, type WorkflowContext } from '@strata/transact';
import { startConsole, type RunningConsole } from '../src/index.js';

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';
const quiet = { info() {}, warn() {}, error() {} };
/** The page answers from its own database within a few hundred ms; this bounds a slow CI machine. */
const UI_TIMEOUT_MS = 10_000;
const TOKEN = 'history-token-0123456789abcdef';

let url: string;
let strata: Strata;
let open: RunningConsole;
let guarded: RunningConsole;
let hooked: RunningConsole;
let browser: Browser;
let page: Page;
/** Workflows whose `fragile` step throws while listed here. */
const failing = new Set<string>();
let releaseGate: () => void = () => {};

async function status(workflowId: string): Promise<string> {
  return (await strata.retrieve(workflowId).status()).status;
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + UI_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function actionsVia(consoleUrl: string, workflowId: string, headers: Record<string, string> = {}): Promise<Array<{ action: string; actor: string; detail: Record<string, unknown> }>> {
  const response = await fetch(`${consoleUrl}/api/workflows/${encodeURIComponent(workflowId)}/actions`, { headers });
  assert.equal(response.status, 200);
  return ((await response.json()) as { actions: Array<{ action: string; actor: string; detail: Record<string, unknown> }> }).actions;
}

describe('console: operator actions and failed attempts', { skip }, () => {
  before(async () => {
    url = await freshPostgresUrl();
    strata = new Strata({ database: url, executorId: 'console-history', logger: quiet });
    strata.workflow('charge', async (ctx: WorkflowContext) =>
      ctx.step('charge', ({ attempt }) => {
        if (attempt < 3) throw Object.assign(new Error(`card declined (try ${attempt})`), { code: 'CARD_DECLINED' });
        return 'charged';
      }, { retry: { maxAttempts: 3, intervalMs: 1 } }),
    );
    strata.workflow('gated', async (ctx: WorkflowContext) =>
      ctx.step('gated', async ({ attempt }) => {
        if (attempt === 1) throw new Error('the first try failed');
        await new Promise<void>((resolve) => (releaseGate = resolve));
        return 'through';
      }, { retry: { maxAttempts: 2, intervalMs: 1 } }),
    );
    strata.workflow('fragile', async (ctx: WorkflowContext) =>
      ctx.step('fragile', () => {
        if (failing.has(ctx.workflowId)) throw new Error('the printer caught fire');
        return 'printed';
      }),
    );
    strata.workflow('waiter', async (ctx: WorkflowContext) => ctx.recv<string>('go', { timeoutMs: Infinity }));
    await strata.launch();
    open = await startConsole({ database: url, port: 0 });
    guarded = await startConsole({ database: url, port: 0, token: TOKEN });
    hooked = await startConsole({ database: url, port: 0, authenticate: (credential) => (credential === 'alice-key-0123456789' ? { id: 'alice@example.com' } : undefined) });
    browser = await chromium.launch({ executablePath: await ensureChromium(), headless: true });
    page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (error) => console.error('page error:', error));
  });
  after(async () => {
    await browser?.close();
    for (const running of [open, guarded, hooked]) await running?.close();
    await strata?.shutdown({ timeoutMs: 0 });
  });

  test('a retried step lists each failed attempt with its error, under the step', async () => {
    const handle = await strata.startByName('charge', [], { workflowId: 'charge-1' });
    assert.equal(await handle.result({ timeoutMs: UI_TIMEOUT_MS }), 'charged');
    await page.goto(`${open.url}/workflows/charge-1`);
    await page.locator('[data-testid=step][data-step-id="0"] .row-button').click();
    const attempts = page.locator('[data-testid=step-detail] [data-testid=failed-attempt]');
    await attempts.nth(1).waitFor();
    assert.deepEqual(await attempts.evaluateAll((items) => items.map((item) => item.getAttribute('data-attempt'))), ['1', '2']);
    assert.match(await attempts.nth(0).innerText(), /attempt 1[\s\S]*Error \[CARD_DECLINED\]: card declined \(try 1\)/);
    assert.match(await attempts.nth(1).innerText(), /attempt 2[\s\S]*card declined \(try 2\)/);
    // The API answers the same, in the steps response.
    const { steps } = (await (await fetch(`${open.url}/api/workflows/charge-1/steps`)).json()) as { steps: Array<{ failedAttempts: Array<{ attempt: number; error: { message: string } }> }> };
    assert.deepEqual(steps[0]!.failedAttempts.map((a) => [a.attempt, a.error.message]), [[1, 'card declined (try 1)'], [2, 'card declined (try 2)']]);
  });

  test('a step still retrying shows its failed attempts before it has an outcome', async () => {
    const handle = await strata.startByName('gated', [], { workflowId: 'gated-1' });
    await waitUntil(async () => (await strata.workflows.failedAttempts('gated-1')).length === 1, 'the first attempt failed');
    await page.goto(`${open.url}/workflows/gated-1`);
    const retrying = page.locator('[data-testid=retrying-step][data-step-id="0"]');
    await retrying.waitFor();
    assert.match(await retrying.innerText(), /gated[\s\S]*attempt 1[\s\S]*the first try failed/);
    const { attempts } = (await (await fetch(`${open.url}/api/workflows/gated-1/attempts`)).json()) as { attempts: Array<{ stepId: number; attempt: number }> };
    assert.deepEqual(attempts.map((a) => [a.stepId, a.attempt]), [[0, 1]]);
    releaseGate();
    await handle.result({ timeoutMs: UI_TIMEOUT_MS });
  });

  test('cancel and resume from the page are recorded as console@loopback and shown on the workflow page', async () => {
    await strata.startByName('waiter', [], { workflowId: 'waiter-1' });
    await waitUntil(async () => (await status('waiter-1')) === 'PENDING', 'waiter-1 runs');
    await page.goto(`${open.url}/workflows/waiter-1`);
    await page.locator('[data-testid=no-actions]').waitFor();
    await page.locator('[data-testid=action-cancel]').click();
    await page.locator('[data-testid=action-cancel-confirm]').click();
    await page.locator('[data-testid=operator-action][data-action=cancel]').waitFor();
    await page.locator('[data-testid=action-resume]').click();
    await page.locator('[data-testid=operator-action][data-action=resume]').waitFor();
    const rows = page.locator('[data-testid=operator-action]');
    assert.deepEqual(
      await rows.evaluateAll((items) => items.map((item) => [item.getAttribute('data-action'), item.querySelector('[data-testid=action-actor]')?.textContent])),
      [['cancel', 'console@loopback'], ['resume', 'console@loopback']],
    );
    assert.match(await rows.nth(1).innerText(), /from CANCELLED onto queue _strata[\s\S]*never on a queue/);
    await strata.cancel('waiter-1');
  });

  test('resuming a failed workflow shows the error of the step that runs again', async () => {
    failing.add('fragile-1');
    await assert.rejects((await strata.startByName('fragile', [], { workflowId: 'fragile-1' })).result({ timeoutMs: UI_TIMEOUT_MS }), /printer caught fire/);
    failing.delete('fragile-1');
    await page.goto(`${open.url}/workflows/fragile-1`);
    await page.locator('[data-testid=action-resume]').click();
    const forgotten = page.locator('[data-testid=operator-action][data-action=resume] [data-testid=forgotten-error]');
    await forgotten.waitFor();
    assert.equal(await forgotten.innerText(), 'Error: the printer caught fire');
    assert.equal(await strata.retrieve('fragile-1').result({ timeoutMs: UI_TIMEOUT_MS }), 'printed');
  });

  test('with the built-in token the actor is console-token; with an authenticate hook, its principal', async () => {
    await strata.startByName('waiter', [], { workflowId: 'waiter-2' });
    await strata.startByName('waiter', [], { workflowId: 'waiter-3' });
    await waitUntil(async () => (await status('waiter-2')) === 'PENDING' && (await status('waiter-3')) === 'PENDING', 'the waiters run');
    const cancel = (consoleUrl: string, id: string, credential: string) =>
      fetch(`${consoleUrl}/api/workflows/${id}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${credential}`, 'Content-Type': 'application/json' } });
    assert.equal((await cancel(guarded.url, 'waiter-2', TOKEN)).status, 200);
    assert.equal((await cancel(hooked.url, 'waiter-3', 'alice-key-0123456789')).status, 200);
    assert.deepEqual((await actionsVia(guarded.url, 'waiter-2', { Authorization: `Bearer ${TOKEN}` })).map((a) => [a.action, a.actor]), [['cancel', 'console-token']]);
    assert.deepEqual((await actionsVia(open.url, 'waiter-3')).map((a) => [a.action, a.actor]), [['cancel', 'alice@example.com']]);
    // No credential, no action: the refused request records nothing.
    assert.equal((await fetch(`${hooked.url}/api/workflows/waiter-2/resume`, { method: 'POST' })).status, 401);
    assert.deepEqual((await actionsVia(open.url, 'waiter-2')).map((a) => a.action), ['cancel']);
  });

  test('a deleted workflow\'s page history stays readable through the API', async () => {
    const response = await fetch(`${open.url}/api/workflows/waiter-2`, { method: 'DELETE' });
    assert.equal(response.status, 200);
    assert.deepEqual((await actionsVia(open.url, 'waiter-2')).map((a) => [a.action, a.actor, a.detail]), [
      ['cancel', 'console-token', { cancelledDescendants: 0 }],
      ['delete', 'console@loopback', { status: 'CANCELLED' }],
    ]);
  });
});
