// The console against a real PostgreSQL database and a real Strata engine, driven through headless
// Chromium (Debian's, via playwright-core) and through its JSON API.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openDatabase, type Database } from '@strata/store';
import { engines, ensureChromium, freshPostgresUrl } from '@strata/testing';
import { Strata, type WorkflowContext } from '@strata/transact';
import { startConsole, type RunningConsole } from '../src/index.js';

const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCREENSHOT_DIR = join(ROOT_DIR, 'test-artifacts', 'console');
/** The page answers from its own database within a few hundred ms; this bounds a slow CI machine. */
const UI_TIMEOUT_MS = 10_000;
/** Rows inserted for the paging test: "stays fast with 100,000 workflows". */
const BULK_WORKFLOWS = 100_000;
/** A page of the list must answer well under a second even with BULK_WORKFLOWS rows. */
const PAGE_ANSWER_MS_MAX = 1_000;

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';
const quiet = { info() {}, warn() {}, error() {} };

let url: string;
let db: Database;
let strata: Strata;
let strataConsole: RunningConsole;
let browser: Browser;
let page: Page;
/** How often step bodies ran: a forked workflow must not run its reused steps again. */
const calls = { charge: 0, ship: 0 };
let checkoutIds: string[] = [];
let failedId: string;
let startQuick: (workflowId: string) => Promise<unknown>;
/** Content-Security-Policy violations any page reported, over every test: there must be none. */
const cspViolations: string[] = [];

before(async () => {
  if (skip) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const executablePath = await ensureChromium(); // may install Chromium with apt-get the first time
  url = await freshPostgresUrl();
  db = await openDatabase(url);

  strata = new Strata({ database: url, executorId: 'console-test', logger: quiet });
  const checkout = strata.workflow('checkout', async (ctx: WorkflowContext, orderId: string) => {
    const reserved = await ctx.step('reserve', () => ({ orderId, items: 2 }));
    const charge = await ctx.step('charge', ({ attempt }) => {
      calls.charge += 1;
      if (attempt === 1) throw new Error('card network timed out');
      return { chargeId: `ch_${orderId}`, attempt };
    }, { retry: { maxAttempts: 3, intervalMs: 10 } });
    const tracking = await ctx.step('ship', () => {
      calls.ship += 1;
      return `TRK-${orderId}`;
    });
    return { reserved, charge, tracking };
  });
  const fails = strata.workflow('fails', async (ctx: WorkflowContext) => {
    await ctx.step('explode', () => {
      throw Object.assign(new Error('the warehouse is on fire'), { code: 'WAREHOUSE_FIRE' });
    });
  });
  const waiter = strata.workflow('waiter', async (ctx: WorkflowContext) => ctx.recv<string>('go', { timeoutMs: Infinity }));
  const quick = strata.workflow('quick', async (ctx: WorkflowContext) => ctx.step('only', () => 'done'));
  const publisher = strata.workflow('publisher', async (ctx: WorkflowContext) => {
    await ctx.setEvent('progress', { done: 2, of: 3, at: new Date(0) });
    await ctx.setEvent('stage', 'packed');
    await ctx.setEvent('stage', 'shipped'); // the latest value per key shows
    return 'published';
  });
  const nightly = strata.workflow('nightly-report', async (_ctx: WorkflowContext, tick: Date) => tick.toISOString());
  strata.schedule('nightly', nightly, { cron: '0 3 * * *', timezone: 'Europe/Paris' });
  const slow = strata.queue('slow', { concurrency: 1 });
  await strata.launch();

  for (const orderId of ['o-1', 'o-2', 'o-3']) await checkout.with({ workflowId: `checkout-${orderId}` }).run(orderId);
  await publisher.with({ workflowId: 'publisher-1' }).run();
  checkoutIds = ['checkout-o-1', 'checkout-o-2', 'checkout-o-3'];
  const failed = await fails.start();
  failedId = failed.workflowId;
  await failed.result().catch(() => {});
  await waiter.with({ workflowId: 'blocked-1' }).start();
  for (const id of ['queued-1', 'queued-2', 'queued-3']) await slow.enqueue(waiter.with({ workflowId: id }));
  startQuick = (workflowId) => quick.with({ workflowId }).start();
  // One queued workflow claimed by the queue (concurrency 1), two waiting.
  await waitUntil(async () => (await statusOf('queued-1')) === 'PENDING', 'the queue starts its first workflow');

  strataConsole = await startConsole({ database: url });
  browser = await chromium.launch({ executablePath, headless: true });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('pageerror', (error) => console.error('page error:', error));
  // Chromium reports a blocked inline script or style on the console, and as a DOM event.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));
  });
  page.on('console', (message) => {
    if (/Content Security Policy|CSP violation|Refused to (apply|execute|load)/i.test(message.text())) cspViolations.push(`${page.url()}: ${message.text()}`);
  });
});

after(async () => {
  await browser?.close();
  await strataConsole?.close();
  await strata?.shutdown({ timeoutMs: 0 });
  await db?.close();
});

async function statusOf(workflowId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ status: string }>('select status from strata.workflows where workflow_id = $1', [workflowId]);
  return rows[0]?.status;
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function screenshot(name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

const rowsSelector = '[data-testid=workflow-table] tbody tr';
const api = (path: string, init?: RequestInit) => fetch(`${strataConsole.url}${path}`, init);

// ─── In the browser ─────────────────────────────────────────────────────────────────────────

test('the list shows every workflow, and a status filter shows only the matching rows', { skip }, async () => {
  await page.goto(strataConsole.url);
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from strata.workflows');
  await page.waitForFunction(([selector, n]) => document.querySelectorAll(selector).length === n, [rowsSelector, rows[0]!.n] as const);
  await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor();
  await screenshot('list');

  await page.click('[data-testid=status-filter-ERROR]');
  await page.waitForFunction((selector) => {
    const shown = [...document.querySelectorAll<HTMLElement>(selector)];
    return shown.length > 0 && shown.every((row) => row.dataset.status === 'ERROR');
  }, rowsSelector);
  assert.deepEqual(await page.locator(rowsSelector).evaluateAll((shown) => shown.map((row) => (row as HTMLElement).dataset.workflowId)), [failedId]);
  assert.match(page.url(), /[?&]status=ERROR\b/, 'the filter is in the URL, so the view can be shared');
  await screenshot('list-status-error');

  // Two statuses at once; then the name filter narrows further.
  await page.click('[data-testid=status-filter-SUCCESS]');
  await page.waitForFunction((selector) => document.querySelectorAll(selector).length >= 4, rowsSelector);
  const statuses = await page.locator(rowsSelector).evaluateAll((shown) => shown.map((row) => (row as HTMLElement).dataset.status));
  assert.ok(statuses.every((status) => status === 'ERROR' || status === 'SUCCESS'), `only ERROR and SUCCESS rows: ${statuses.join(', ')}`);
  await page.fill('[data-testid=filter-name]', 'checkout');
  await page.press('[data-testid=filter-name]', 'Enter');
  await page.waitForFunction((selector) => [...document.querySelectorAll<HTMLElement>(selector)].every((row) => row.dataset.workflowId?.startsWith('checkout-')), rowsSelector);
  assert.equal(await page.locator(rowsSelector).count(), 3);
});

test('a workflow page shows its step timeline with outputs, errors and retries', { skip }, async () => {
  await page.goto(`${strataConsole.url}/?name=checkout`);
  await page.click(`${rowsSelector}[data-workflow-id="checkout-o-1"] a`);
  await page.waitForSelector('[data-testid=timeline]');
  assert.equal(new URL(page.url()).pathname, '/workflows/checkout-o-1');
  const steps = page.locator('[data-testid=step]');
  assert.equal(await steps.count(), 3);
  assert.deepEqual(await steps.locator('.step-name').allTextContents(), ['reserve', 'charge', 'ship']);
  assert.equal((await steps.nth(1).locator('.retried').textContent())?.trim(), '2', 'the charge took two attempts');
  assert.equal(await page.locator('.track .bar').count(), 3, 'every step has a duration bar');
  await steps.nth(1).locator('.row-button').click();
  assert.match(await page.locator('[data-testid=step-output]').textContent() ?? '', /"chargeId": "ch_o-1"/);
  assert.match(await page.locator('[data-testid=workflow-output]').textContent() ?? '', /"tracking": "TRK-o-1"/);
  await screenshot('workflow-steps');

  await page.goto(`${strataConsole.url}/workflows/${encodeURIComponent(failedId)}`);
  await page.waitForSelector('[data-testid=timeline] .timeline-row.failed');
  assert.match(await page.locator('[data-testid=workflow-error]').textContent() ?? '', /\[WAREHOUSE_FIRE\]: the warehouse is on fire/);
  await screenshot('workflow-error');
});

test('cancelling the blocked workflow from its page makes it CANCELLED on the page and in the database', { skip }, async () => {
  assert.equal(await statusOf('blocked-1'), 'PENDING');
  await page.goto(`${strataConsole.url}/workflows/blocked-1`);
  await page.waitForSelector('[data-testid=workflow-status][data-status=PENDING]');
  // The first click only asks; "Keep running" leaves it alone.
  await page.click('[data-testid=action-cancel]');
  await page.locator('[data-testid=confirm]', { hasText: 'Really cancel blocked-1?' }).waitFor();
  assert.equal(await statusOf('blocked-1'), 'PENDING', 'asking changed nothing');
  await screenshot('workflow-cancel-confirm');
  await page.click('[data-testid=action-cancel-keep]');
  await page.waitForSelector('[data-testid=action-cancel]');
  assert.equal(await statusOf('blocked-1'), 'PENDING', 'kept running');
  await page.click('[data-testid=action-cancel]');
  await page.click('[data-testid=action-cancel-confirm]');
  await page.waitForSelector('[data-testid=workflow-status][data-status=CANCELLED]');
  assert.equal(await statusOf('blocked-1'), 'CANCELLED');
  await page.waitForSelector('[data-testid=action-resume]'); // the actions follow the status
  assert.equal(await page.locator('[data-testid=action-cancel]').count(), 0);
  await screenshot('workflow-cancelled');
});

test('forking a finished workflow from a chosen step starts a new workflow that reuses the earlier steps and runs', { skip }, async () => {
  const before = { ...calls };
  await page.goto(`${strataConsole.url}/workflows/checkout-o-2`);
  await page.locator('[data-testid=step][data-step-id="2"] .row-button').click();
  await page.click('[data-testid=fork-here]');
  await page.waitForURL((address) => address.pathname.startsWith('/workflows/') && address.pathname !== '/workflows/checkout-o-2');
  const forkId = decodeURIComponent(new URL(page.url()).pathname.slice('/workflows/'.length));

  // It exists in the database with steps 0 and 1 copied, and an executor runs the rest.
  const fork = strata.retrieve<{ tracking: string }>(forkId);
  assert.deepEqual((await fork.result({ timeoutMs: UI_TIMEOUT_MS })).tracking, 'TRK-o-2');
  const stepRows = async (workflowId: string) =>
    (await db.query<{ step_id: number; name: string; output: string }>('select step_id, name, output from strata.steps where workflow_id = $1 order by step_id', [workflowId])).rows;
  const [original, forked] = [await stepRows('checkout-o-2'), await stepRows(forkId)];
  assert.deepEqual(forked.map((step) => step.name), ['reserve', 'charge', 'ship']);
  assert.deepEqual(forked.slice(0, 2), original.slice(0, 2), 'steps 0 and 1 are the original checkpoints');
  assert.deepEqual(calls, { charge: before.charge, ship: before.ship + 1 }, 'the charge was reused, only the shipment ran again');

  await page.waitForSelector('[data-testid=workflow-status][data-status=SUCCESS]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=step]').length === 3);
  assert.equal((await page.locator('[data-testid=forked-from]').innerText()).trim(), 'checkout-o-2 at step 2', 'the page names the original and the fork step');
  await screenshot('workflow-forked');
});

test('a workflow started after the page loaded appears without a reload', { skip }, async () => {
  await page.goto(strataConsole.url);
  await page.waitForSelector(rowsSelector);
  await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor();
  const workflowId = `live-${Date.now()}`;
  const startedAtMs = Date.now();
  await startQuick(workflowId);
  await page.waitForSelector(`${rowsSelector}[data-workflow-id="${workflowId}"][data-status=SUCCESS]`);
  console.log(`# live update: ${workflowId} appeared on the open page ${Date.now() - startedAtMs} ms after it started`);
  await screenshot('list-live-update');
});

test('the queues, schedules and executors pages show the system', { skip }, async () => {
  await page.goto(`${strataConsole.url}/queues`);
  const slow = page.locator('[data-testid=queue-table] tr[data-queue=slow]');
  await slow.waitFor();
  assert.equal((await slow.locator('[data-testid=queued]').textContent())?.trim(), '2');
  assert.equal((await slow.locator('[data-testid=running]').textContent())?.trim(), '1');
  await screenshot('queues');

  await page.click('header nav a[href="/schedules"]');
  await page.locator('[data-testid=schedule-table] tr[data-schedule=nightly]', { hasText: '0 3 * * *' }).waitFor();
  await screenshot('schedules');

  await page.click('header nav a[href="/executors"]');
  await page.locator('[data-testid=executor-table] tr[data-executor=console-test]', { hasText: 'alive' }).waitFor();
  await screenshot('executors');
});

test('a workflow page shows the values it published with setEvent, the latest per key', { skip }, async () => {
  await page.goto(`${strataConsole.url}/workflows/publisher-1`);
  const events = page.locator('[data-testid=events] tbody tr');
  await events.first().waitFor();
  assert.deepEqual(await events.evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.eventKey)), ['progress', 'stage']);
  assert.match(await events.nth(0).locator('[data-testid=event-value]').textContent() ?? '', /"done": 2,\s+"of": 3,\s+"at": "1970-01-01T00:00:00.000Z"/);
  assert.equal((await events.nth(1).locator('[data-testid=event-value]').textContent())?.trim(), '"shipped"');
  await screenshot('workflow-events');
  const api = await (await fetch(`${strataConsole.url}/api/workflows/publisher-1/events`)).json() as { events: Array<{ key: string; value: unknown }> };
  assert.deepEqual(api.events.map(({ key, value }) => [key, value]), [['progress', { done: 2, of: 3, at: '1970-01-01T00:00:00.000Z' }], ['stage', 'shipped']]);
});

test('deleting asks first, in the page; "Keep" keeps it and "Really delete" deletes it', { skip }, async () => {
  await startQuick('to-delete');
  await waitUntil(async () => (await statusOf('to-delete')) === 'SUCCESS', 'the workflow to delete finishes');
  await page.goto(`${strataConsole.url}/workflows/to-delete`);
  await page.click('[data-testid=action-delete]');
  await page.locator('[data-testid=confirm]', { hasText: 'Really delete to-delete?' }).waitFor();
  await page.click('[data-testid=action-delete-keep]');
  await page.waitForSelector('[data-testid=action-delete]');
  assert.equal(await statusOf('to-delete'), 'SUCCESS');
  await page.click('[data-testid=action-delete]');
  await page.click('[data-testid=action-delete-confirm]');
  await page.waitForURL((address) => address.pathname === '/');
  assert.equal(await statusOf('to-delete'), undefined, 'deleted');
});

test('numeric columns are right-aligned, header and cells alike', { skip }, async () => {
  for (const [path, table] of [['/queues', 'queue-table'], ['/', 'workflow-table'], ['/executors', 'executor-table']] as const) {
    await page.goto(`${strataConsole.url}${path}`);
    await page.waitForSelector(`[data-testid=${table}] tbody tr`);
    const columns = await page.locator(`[data-testid=${table}]`).evaluate((element) => {
      const headers = [...element.querySelectorAll('thead th')];
      return headers.flatMap((th, index) => th.classList.contains('num')
        ? [{ header: th.textContent, aligns: [th, ...element.querySelectorAll(`tbody tr td:nth-child(${index + 1})`)].map((cell) => getComputedStyle(cell).textAlign) }]
        : []);
    });
    assert.ok(columns.length > 0, `${path} has numeric columns`);
    for (const column of columns) assert.ok(column.aligns.every((align) => align === 'right'), `${path} ${column.header}: ${column.aligns.join(', ')}`);
  }
});

test('at 360 px wide no page scrolls sideways', { skip }, async () => {
  const narrow = await browser.newPage({ viewport: { width: 360, height: 740 } });
  try {
    for (const path of ['/', '/?status=SUCCESS', '/workflows/checkout-o-1', `/workflows/${encodeURIComponent(failedId)}`, '/workflows/publisher-1', '/queues', '/schedules', '/executors', '/no/such/page']) {
      await narrow.goto(`${strataConsole.url}${path}`);
      await narrow.waitForSelector('main section.page h1');
      await narrow.waitForLoadState('networkidle').catch(() => {}); // the event stream keeps one request open
      await narrow.waitForFunction(() => !document.body.textContent?.includes('Loading…'));
      const { scrollWidth, clientWidth } = await narrow.evaluate(() => ({ scrollWidth: document.scrollingElement!.scrollWidth, clientWidth: document.scrollingElement!.clientWidth }));
      assert.ok(scrollWidth <= clientWidth, `${path}: the page is ${scrollWidth} px wide in a ${clientWidth} px window`);
    }
    await narrow.goto(`${strataConsole.url}/workflows/checkout-o-1`);
    await narrow.waitForSelector('[data-testid=timeline]');
    await narrow.screenshot({ path: join(SCREENSHOT_DIR, 'narrow-workflow.png'), fullPage: true });
  } finally {
    await narrow.close();
  }
});

test('unknown routes get the console\'s own not-found page, from the server and in the browser', { skip }, async () => {
  const response = await page.goto(`${strataConsole.url}/no/such/page`);
  assert.equal(response?.status(), 404);
  await page.locator('[data-testid=not-found-page]', { hasText: '/no/such/page' }).waitFor();
  await page.click('[data-testid=not-found-page] a[href="/"]');
  await page.waitForSelector(rowsSelector);
  // A client-side route the app does not know.
  await page.evaluate(() => {
    history.pushState(null, '', '/queuez');
    dispatchEvent(new PopStateEvent('popstate'));
  });
  await page.locator('[data-testid=not-found-page]', { hasText: '/queuez' }).waitFor();
  await screenshot('not-found');
});

test('on an empty database each page says how to create what it lists', { skip }, async () => {
  const emptyConsole = await startConsole({ database: await freshPostgresUrl() });
  try {
    for (const [path, testid, says] of [
      ['/', 'empty-workflows', /No workflows yet — define one with strata\.workflow\('name', fn\) and start it with \.start\(…\)/],
      ['/queues', 'empty-queues', /No queues yet — declare one in your app with strata\.queue\(/],
      ['/schedules', 'empty-schedules', /No schedules yet — add one with strata\.schedule\(/],
      ['/executors', 'empty-executors', /No executors yet — an app registers one when it calls strata\.launch\(\)/],
    ] as const) {
      await page.goto(`${emptyConsole.url}${path}`);
      assert.match(await page.locator(`[data-testid=${testid}]`).textContent() ?? '', says);
    }
    await screenshot('empty-workflows');
  } finally {
    await emptyConsole.close();
  }
});

test('no page violated the Content-Security-Policy (no inline script or style, nothing from elsewhere)', { skip }, () => {
  assert.deepEqual(cspViolations, []);
});

// ─── The JSON API ───────────────────────────────────────────────────────────────────────────

async function expectError(response: Response, status: number, code: RegExp | string): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  assert.equal(response.status, status, JSON.stringify(body));
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  if (typeof code === 'string') assert.equal(body.error?.code, code);
  else assert.match(body.error?.code ?? '', code);
  assert.ok((body.error?.message ?? '').length > 10, 'the message says what to fix');
  return body.error!.message!;
}

test('malformed parameters and bodies are 400 with a JSON error that says what to fix', { skip }, async () => {
  assert.match(await expectError(await api('/api/workflows?status=DONE'), 400, 'CONSOLE_INVALID_PARAMETER'), /ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED/);
  assert.match(await expectError(await api('/api/workflows?limit=ten'), 400, 'CONSOLE_INVALID_PARAMETER'), /limit/);
  await expectError(await api('/api/workflows?limit=0'), 400, 'CONSOLE_INVALID_PARAMETER');
  await expectError(await api('/api/workflows?limit=5000'), 400, 'CONSOLE_INVALID_PARAMETER');
  assert.match(await expectError(await api('/api/workflows?createdAfter=yesterday'), 400, 'CONSOLE_INVALID_PARAMETER'), /ISO 8601/);
  await expectError(await api('/api/workflows?createdBefore=2026-02-30T99:00:00Z'), 400, 'CONSOLE_INVALID_PARAMETER');
  await expectError(await api('/api/workflows?order=sideways'), 400, 'CONSOLE_INVALID_PARAMETER');
  assert.match(await expectError(await api('/api/workflows?stauts=ERROR'), 400, 'CONSOLE_INVALID_PARAMETER'), /unknown query parameter "stauts"/);
  await expectError(await api('/api/workflows?cursor=not-a-cursor'), 400, 'STRATA_INVALID_ARGUMENT');

  const countWorkflows = async () => (await db.query<{ n: number }>('select count(*)::int as n from strata.workflows')).rows[0]!.n;
  const workflowsBefore = await countWorkflows();
  const fork = (body: string) => api('/api/workflows/checkout-o-3/fork', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  assert.match(await expectError(await fork('{"fromStep": 7}'), 400, 'STRATA_INVALID_ARGUMENT'), /recorded 3 step/);
  await expectError(await fork('{"fromStep": -1}'), 400, 'CONSOLE_INVALID_BODY');
  await expectError(await fork('{"fromStep": "2"}'), 400, 'CONSOLE_INVALID_BODY');
  await expectError(await fork('{}'), 400, 'CONSOLE_INVALID_BODY');
  await expectError(await fork('{"fromStep": 1,'), 400, 'CONSOLE_INVALID_BODY');
  await expectError(await fork('[1]'), 400, 'CONSOLE_INVALID_BODY');
  await expectError(await fork('{"fromStep": 1, "form": 2}'), 400, 'CONSOLE_INVALID_BODY');

  assert.equal(await countWorkflows(), workflowsBefore, 'no bad request created a workflow');

  // A valid query with every filter answers.
  const ok = await api(`/api/workflows?status=SUCCESS,ERROR&name=checkout&workflowIdPrefix=checkout-&createdAfter=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&limit=2&order=oldest`);
  assert.equal(ok.status, 200);
  const page1 = (await ok.json()) as { workflows: Array<{ workflowId: string }>; nextCursor: string | null };
  assert.deepEqual(page1.workflows.map((w) => w.workflowId), ['checkout-o-1', 'checkout-o-2']);
  assert.ok(page1.nextCursor);
});

test('unknown workflow IDs and routes are 404 JSON', { skip }, async () => {
  await expectError(await api('/api/workflows/no-such-workflow'), 404, 'STRATA_WORKFLOW_NOT_FOUND');
  await expectError(await api('/api/workflows/no-such-workflow/steps'), 404, 'STRATA_WORKFLOW_NOT_FOUND');
  await expectError(await api('/api/workflows/no-such-workflow/cancel', { method: 'POST' }), 404, 'STRATA_WORKFLOW_NOT_FOUND');
  await expectError(await api('/api/workflows/no-such-workflow/fork', { method: 'POST', body: '{"fromStep": 0}' }), 404, 'STRATA_WORKFLOW_NOT_FOUND');
  await expectError(await api('/api/workflows/no-such-workflow', { method: 'DELETE' }), 404, 'STRATA_WORKFLOW_NOT_FOUND');
  await expectError(await api('/api/nothing-here'), 404, 'CONSOLE_NOT_FOUND');
  // IDs with URL-special characters are one path segment.
  const odd = await api(`/api/workflows/${encodeURIComponent('a/b?c#d')}`);
  await expectError(odd, 404, 'STRATA_WORKFLOW_NOT_FOUND');
});

test('acting on a workflow in the wrong state is 409 and changes nothing', { skip }, async () => {
  assert.match(await expectError(await api('/api/workflows/checkout-o-3/cancel', { method: 'POST' }), 409, 'STRATA_WORKFLOW_STATE'), /SUCCESS/);
  await expectError(await api('/api/workflows/checkout-o-3/resume', { method: 'POST' }), 409, 'STRATA_WORKFLOW_STATE');
  await expectError(await api('/api/workflows/queued-1', { method: 'DELETE' }), 409, 'STRATA_WORKFLOW_STATE');
  assert.equal(await statusOf('checkout-o-3'), 'SUCCESS');
  assert.equal(await statusOf('queued-1'), 'PENDING');
  // A state-changing request from another web site's page is refused.
  await expectError(await api('/api/workflows/queued-2/cancel', { method: 'POST', headers: { Origin: 'https://evil.example' } }), 403, 'CONSOLE_CROSS_SITE');
  assert.equal(await statusOf('queued-2'), 'ENQUEUED');
});

test(`paging over ${BULK_WORKFLOWS.toLocaleString('en')} workflows answers each page in well under a second`, { skip }, async () => {
  const bulkUrl = await freshPostgresUrl();
  const bulkConsole = await startConsole({ database: bulkUrl });
  const bulkDb = await openDatabase(bulkUrl);
  try {
    const insertStartedMs = Date.now();
    await bulkDb.query(
      `insert into strata.workflows (workflow_id, name, status, inputs, output, executor_id, app_version, created_at, updated_at, completed_at)
       select 'bulk-' || lpad(i::text, 6, '0'),
              case when i % 10 = 0 then 'report' else 'checkout' end,
              case when i % 100 = 0 then 'ERROR' when i % 100 = 1 then 'CANCELLED' else 'SUCCESS' end,
              '{"json":[]}', '{"json":null}', 'bulk', '0',
              now() - make_interval(secs => ($1 - i) * 0.5), now() - make_interval(secs => ($1 - i) * 0.5), now() - make_interval(secs => ($1 - i) * 0.5)
         from generate_series(1, $1::int) as i`,
      [BULK_WORKFLOWS],
    );
    await bulkDb.exec('analyze strata.workflows');
    console.log(`# inserted ${BULK_WORKFLOWS} workflows in ${Date.now() - insertStartedMs} ms`);

    const timed = async (label: string, path: string) => {
      const startedMs = performance.now();
      const response = await fetch(`${bulkConsole.url}${path}`);
      const body = (await response.json()) as { workflows: Array<{ workflowId: string; status: string; name: string }>; nextCursor: string | null };
      const elapsedMs = performance.now() - startedMs;
      assert.equal(response.status, 200, JSON.stringify(body));
      console.log(`# ${label.padEnd(40)} ${elapsedMs.toFixed(1).padStart(7)} ms  (${body.workflows.length} rows)`);
      assert.ok(elapsedMs < PAGE_ANSWER_MS_MAX, `${label} took ${elapsedMs.toFixed(0)} ms`);
      return body;
    };

    // Newest first, page after page through the cursor: no row twice, none skipped.
    let body = await timed('first page (100, newest first)', '/api/workflows?limit=100');
    assert.equal(body.workflows[0]!.workflowId, 'bulk-100000');
    const seen = new Set(body.workflows.map((w) => w.workflowId));
    for (let pageNumber = 2; pageNumber <= 5; pageNumber += 1) {
      body = await timed(`page ${pageNumber} by cursor`, `/api/workflows?limit=100&cursor=${encodeURIComponent(body.nextCursor!)}`);
      for (const w of body.workflows) assert.ok(!seen.has(w.workflowId), `${w.workflowId} came twice`);
      for (const w of body.workflows) seen.add(w.workflowId);
    }
    assert.equal(seen.size, 500);
    assert.ok(seen.has('bulk-099501') && !seen.has('bulk-099500'));

    body = await timed('status=ERROR (1 in 100)', '/api/workflows?status=ERROR&limit=100');
    assert.ok(body.workflows.length === 100 && body.workflows.every((w) => w.status === 'ERROR'));
    body = await timed('status=CANCELLED&name=report (none)', '/api/workflows?status=CANCELLED&name=report&limit=100');
    assert.equal(body.workflows.length, 0, 'i % 100 = 1 is never a multiple of 10');
    body = await timed('name=report, oldest first', '/api/workflows?name=report&order=oldest&limit=1000');
    assert.equal(body.workflows[0]!.workflowId, 'bulk-000010');
    body = await timed('ID prefix bulk-0500', '/api/workflows?workflowIdPrefix=bulk-0500&limit=100');
    assert.equal(body.workflows.length, 100);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    body = await timed('created in the last hour', `/api/workflows?createdAfter=${encodeURIComponent(hourAgo)}&limit=100`);
    assert.equal(body.workflows.length, 100);
    const startedMs = performance.now();
    const queues = await fetch(`${bulkConsole.url}/api/queues`);
    assert.equal(queues.status, 200);
    console.log(`# ${'queues (counts)'.padEnd(40)} ${(performance.now() - startedMs).toFixed(1).padStart(7)} ms`);

    // And the page itself: the first rows show at once.
    const bulkPage = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    try {
      const loadStartedMs = Date.now();
      await bulkPage.goto(bulkConsole.url);
      await bulkPage.waitForFunction((selector) => document.querySelectorAll(selector).length === 50, rowsSelector, { timeout: UI_TIMEOUT_MS });
      console.log(`# the list page showed its first 50 of ${BULK_WORKFLOWS} rows ${Date.now() - loadStartedMs} ms after navigation`);
      await bulkPage.click('[data-testid=load-more]');
      await bulkPage.waitForFunction((selector) => document.querySelectorAll(selector).length === 100, rowsSelector, { timeout: UI_TIMEOUT_MS });
      await bulkPage.screenshot({ path: join(SCREENSHOT_DIR, 'list-100k.png') });
    } finally {
      await bulkPage.close();
    }
  } finally {
    await bulkConsole.close();
    await bulkDb.close();
  }
});
