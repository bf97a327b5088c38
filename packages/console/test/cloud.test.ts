// The database service's pages — Instances (list and one instance) and Audit — against a real
// control plane and node agent started in this process (real PostgreSQL instances), reached
// through the console's own backend, driven in headless Chromium.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { engines, ensureChromium, freshPostgresUrl } from '@strata/testing';
import { startPlatform, type TestPlatform } from '../../cli/test/fixtures/cloud-platform.js';
import { startConsole, type RunningConsole } from '../src/index.js';

const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCREENSHOT_DIR = join(ROOT_DIR, 'test-artifacts', 'console');
/** The pages answer in a few hundred ms; this bounds a slow CI machine. */
const UI_TIMEOUT_MS = 15_000;
/** Bound on an instance becoming ACTIVE (copy of a template and a start: about a second here). */
const ACTIVE_TIMEOUT_MS = 120_000;

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';

let platform: TestPlatform;
let rootDir: string;
let strataConsole: RunningConsole;
let bareConsole: RunningConsole;
let browser: Browser;
let page: Page;
let instance: { id: string; name: string; port: number; currentOperation: { workflowId: string } | null };
let createWorkflowId: string;
const cspViolations: string[] = [];

/** One call to the control plane's API with the admin key. */
async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${platform.adminKey}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as T };
}

function screenshot(name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

before(async () => {
  if (skip) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const executablePath = await ensureChromium();
  rootDir = mkdtempSync(join(tmpdir(), 'strata-console-cloud-'));
  platform = await startPlatform({ database: await freshPostgresUrl(), rootDir });

  const created = await api<typeof instance>('POST', '/v1/instances', { name: 'shop-db', flavor: 'tiny', databases: ['app'], users: [{ name: 'alice', password: 'alice-password-1' }] });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  createWorkflowId = created.json.currentOperation?.workflowId ?? '';
  assert.ok(createWorkflowId !== '', 'the create runs as a workflow');
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (;;) {
    const shown = await api<typeof instance & { status: string }>('GET', '/v1/instances/shop-db');
    if (shown.json.status === 'ACTIVE' && shown.json.currentOperation === null) {
      instance = shown.json;
      break;
    }
    assert.ok(Date.now() < deadline && shown.json.status !== 'ERROR', `shop-db did not become ACTIVE: ${JSON.stringify(shown.json)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // The console shows the control plane's own system database, so an operation's workflow opens here.
  strataConsole = await startConsole({ database: platform.db, cloud: { apiUrl: platform.apiUrl } });
  bareConsole = await startConsole({ database: platform.db });
  browser = await chromium.launch({ executablePath, headless: true });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('pageerror', (error) => console.error('page error:', error));
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
  await bareConsole?.close();
  await platform?.close();
  if (rootDir) rmSync(rootDir, { recursive: true, force: true });
});

test('the instances page asks once for an API key, then lists the instances with their status', { skip }, async () => {
  await page.goto(`${strataConsole.url}/instances`);
  await page.getByTestId('api-key-form').waitFor();
  await screenshot('cloud-api-key');
  await page.getByTestId('api-key-input').fill(platform.adminKey);
  await page.getByTestId('api-key-submit').click();
  const row = page.locator('[data-testid=instance-table] tr[data-instance="shop-db"]');
  await row.waitFor();
  assert.equal(await row.getAttribute('data-instance-id'), instance.id);
  assert.equal(await row.getByTestId('instance-status').getAttribute('data-status'), 'ACTIVE');
  assert.match((await row.textContent()) ?? '', new RegExp(`tiny.*127\\.0\\.0\\.1:${instance.port}`));
  await screenshot('cloud-instances');
  // The key stays for this tab only: a reload shows the list straight away.
  await page.reload();
  await row.waitFor();
  assert.equal(await page.getByTestId('api-key-form').count(), 0);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing kept beyond the tab');
});

test("an instance's page: connection string, flavor, databases, users, and its operations as workflows", { skip }, async () => {
  await page.goto(`${strataConsole.url}/instances`);
  await page.locator('tr[data-instance="shop-db"] a').first().click();
  await page.getByTestId('instance-page').waitFor();
  const connection = page.getByTestId('connection-string');
  await connection.waitFor();
  assert.equal(await connection.textContent(), `postgres://alice@127.0.0.1:${instance.port}/app`);
  assert.equal(await page.getByTestId('instance-flavor').textContent(), 'tiny');
  assert.equal(await page.getByTestId('instance-status').first().getAttribute('data-status'), 'ACTIVE');
  await page.locator('[data-testid=database-list] li', { hasText: 'app' }).waitFor();
  await page.locator('[data-testid=user-table] tr[data-user="alice"]').waitFor();
  assert.match((await page.locator('tr[data-user="alice"]').textContent()) ?? '', /app: all/);
  const create = page.locator('[data-testid=operation-table] tr[data-operation="create"]');
  await create.waitFor();
  assert.equal(await create.getByTestId('operation-workflow').textContent(), createWorkflowId);
  await screenshot('cloud-instance');

  // The operation is a workflow of the control plane: its link opens the console's workflow page.
  await create.getByTestId('operation-workflow').click();
  const workflowPage = page.getByTestId('workflow-page');
  await workflowPage.waitFor();
  assert.equal(await workflowPage.getAttribute('data-workflow-id'), createWorkflowId);
  assert.equal(await page.getByTestId('workflow-status').getAttribute('data-status'), 'SUCCESS');
  await screenshot('cloud-operation-workflow');
});

test('the audit page lists the calls and shows the hash chain intact; a changed row shows it broken', { skip }, async () => {
  await page.goto(`${strataConsole.url}/audit`);
  const verdict = page.getByTestId('audit-verify');
  await page.locator('[data-testid=audit-verify][data-intact]').waitFor();
  assert.equal(await verdict.getAttribute('data-intact'), 'true', (await verdict.textContent()) ?? '');
  const createRow = page.locator('[data-testid=audit-table] tr[data-action="instances.create"]');
  await createRow.waitFor();
  assert.match((await createRow.textContent()) ?? '', /shop-db.*ok/);
  await screenshot('cloud-audit');

  // Someone with database access rewrites history: the chain no longer matches.
  await platform.db.query('alter table strata_cloud.audit_log disable trigger audit_log_append_only');
  try {
    await platform.db.query(`update strata_cloud.audit_log set result = 'forged' where action = 'instances.create'`);
  } finally {
    await platform.db.query('alter table strata_cloud.audit_log enable trigger audit_log_append_only');
  }
  await page.getByTestId('verify-audit').click();
  await page.locator('[data-testid=audit-verify][data-intact="false"]').waitFor();
  assert.match((await verdict.textContent()) ?? '', /BROKEN at row \d+ \(hash_mismatch\)/);
  // The rows were read again with the check: the forged result is what the table shows now.
  await page.locator('tr[data-action="instances.create"] [data-testid=audit-result]', { hasText: 'forged' }).waitFor();
  await screenshot('cloud-audit-broken');
});

test('a key the control plane refuses is forgotten and asked for again', { skip }, async () => {
  await page.goto(`${strataConsole.url}/instances`);
  await page.evaluate(() => sessionStorage.setItem('strata.cloud.apiKey', 'sk_key_not_a_real_one'));
  await page.reload();
  await page.getByTestId('api-key-form').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('strata.cloud.apiKey')), null);
});

test('the console passes on only the calls its pages make, and only with a key', { skip }, async () => {
  const call = (method: string, path: string, key?: string) =>
    fetch(`${strataConsole.url}${path}`, { method, headers: key === undefined ? {} : { 'X-Strata-Api-Key': key } });
  const listed = await call('GET', '/api/cloud/v1/instances', platform.adminKey);
  assert.equal(listed.status, 200);
  assert.deepEqual(((await listed.json()) as { instances: { name: string }[] }).instances.map((i) => i.name), ['shop-db']);
  const noKey = await call('GET', '/api/cloud/v1/instances');
  assert.equal(noKey.status, 401);
  assert.equal(((await noKey.json()) as { error: { code: string } }).error.code, 'CONSOLE_API_KEY_MISSING');
  for (const [method, path] of [['GET', '/api/cloud/v1/keys'], ['POST', '/api/cloud/v1/instances'], ['POST', `/api/cloud/v1/instances/${instance.id}/stop`], ['GET', '/api/cloud/v1/nodes']] as const) {
    const refused = await call(method, path, platform.adminKey);
    assert.equal(refused.status, 404, `${method} ${path}`);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'CONSOLE_NOT_FOUND', `${method} ${path}`);
  }
  assert.equal((await api<{ status: string }>('GET', '/v1/instances/shop-db')).json.status, 'ACTIVE', 'nothing was stopped');
  // A console without a control plane says how to connect one.
  await page.goto(`${bareConsole.url}/instances`);
  await page.getByTestId('cloud-not-configured').waitFor();
});

test('at 360 px wide no cloud page scrolls sideways', { skip }, async () => {
  const narrow = await browser.newPage({ viewport: { width: 360, height: 740 } });
  try {
    await narrow.goto(`${strataConsole.url}/instances`);
    await narrow.evaluate((key) => sessionStorage.setItem('strata.cloud.apiKey', key), platform.adminKey);
    for (const [path, ready] of [['/instances', 'instance-table'], ['/instances/shop-db', 'operation-table'], ['/audit', 'audit-table']] as const) {
      await narrow.goto(`${strataConsole.url}${path}`);
      await narrow.getByTestId(ready).waitFor();
      const { scrollWidth, clientWidth } = await narrow.evaluate(() => ({ scrollWidth: document.scrollingElement!.scrollWidth, clientWidth: document.scrollingElement!.clientWidth }));
      assert.ok(scrollWidth <= clientWidth, `${path}: the page is ${scrollWidth} px wide in a ${clientWidth} px window`);
    }
    await narrow.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-narrow-audit.png'), fullPage: true });
  } finally {
    await narrow.close();
  }
});

test('no Content-Security-Policy violation on any cloud page', { skip }, () => {
  assert.deepEqual(cspViolations, []);
});
