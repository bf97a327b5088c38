// The database service's pages — Instances (list and one instance, with its metrics, backups,
// restore form, replicas and alerts) and Audit — against a real control plane and node agent
// started in this process (real PostgreSQL instances, backups in a pgBackRest repository, metrics
// sampled every 500 ms), reached through the console's own backend, driven in headless Chromium.

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
/** The pages answer in a few hundred ms; this bounds a slow CI machine (Chromium beside two saturating test files). */
const UI_TIMEOUT_MS = 45_000;
/** Bound on an instance becoming ACTIVE (copy of a template and a start: about a second here; a restore: seconds). */
const ACTIVE_TIMEOUT_MS = 120_000;
/** Bound on what waits for the platform's own pace: a backup, the sampler, an alert evaluation (every 10 s). */
const PLATFORM_TIMEOUT_MS = 120_000;
/** The charts that have data on a primary without replicas. */
const SAMPLED_METRICS = ['connections', 'transactionsPerSecond', 'cacheHitRatio', 'databaseBytes'] as const;

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

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = PLATFORM_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Pixels of a chart's canvas in the series' colour (the accent, #2f5bd3): its line drawn from the data. */
function seriesPixels(metric: string): Promise<number> {
  return page.evaluate((name) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`figure[data-metric="${name}"] canvas`);
    const context = canvas?.getContext('2d');
    if (!canvas || !context) return 0;
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! < 110 && data[i + 1]! < 150 && data[i + 2]! > 170 && data[i + 3]! > 200) count++;
    return count;
  }, metric);
}

function screenshot(name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

before(async () => {
  if (skip) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const executablePath = await ensureChromium();
  rootDir = mkdtempSync(join(tmpdir(), 'strata-console-cloud-'));
  platform = await startPlatform({ database: await freshPostgresUrl(), rootDir, backups: true });

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

test("an instance's metrics are charts of its samples, over the last hour, 6 hours or day", { skip }, async () => {
  await page.goto(`${strataConsole.url}/instances/shop-db`);
  const section = page.getByTestId('metrics-section');
  await section.waitFor();
  assert.equal(await section.getAttribute('data-range'), '1h');
  // The page reads the samples again every few seconds; the sampler writes one every 500 ms.
  const charted = (minimum: number) => page.waitForFunction(
    ([metrics, least]) => metrics.every((metric) => {
      const figure = document.querySelector(`figure[data-metric="${metric}"]`);
      return figure?.querySelector('canvas') && Number(figure.getAttribute('data-points')) >= least;
    }),
    [SAMPLED_METRICS, minimum] as const,
    { timeout: PLATFORM_TIMEOUT_MS },
  );
  await charted(3);
  // A minute of samples in an hour's width is a short stroke: a few pixels of the series' colour.
  for (const metric of SAMPLED_METRICS) await until(`${metric}'s line drawn on its canvas`, async () => ((await seriesPixels(metric)) >= 3 ? true : undefined), PLATFORM_TIMEOUT_MS);
  const sampled = (await api<{ samples: unknown[] }>('GET', `/v1/instances/${instance.id}/metrics`)).json.samples.length;
  assert.ok(sampled >= 3, `the API has the samples the charts show (${sampled})`);
  // A primary with no replica has no lag to chart, and says so.
  assert.equal(await page.locator('figure[data-metric="replicationLagSeconds"]').getAttribute('data-points'), '0');
  assert.match((await page.locator('figure[data-metric="replicationLagSeconds"]').textContent()) ?? '', /No replica streams from this instance/);
  assert.match((await page.locator('figure[data-metric="databaseBytes"] figcaption').textContent()) ?? '', /\d+(\.\d+)? MiB now/);
  await section.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-instance-metrics.png') });

  await section.locator('button[data-range="6h"]').click();
  await page.locator('[data-testid=metrics-section][data-range="6h"]').waitFor();
  assert.equal(await section.locator('button[data-range="6h"]').getAttribute('aria-pressed'), 'true');
  await charted(3);
  await section.locator('button[data-range="24h"]').click();
  await page.locator('[data-testid=metrics-section][data-range="24h"]').waitFor();
  await charted(3);
});

test("an instance's backups list the one taken when it was born, its restore window and its restore points", { skip }, async () => {
  // The first backup starts once the instance is ACTIVE; wait for it through the API.
  await until('the initial backup to complete', async () => {
    const listed = await api<{ backups: { trigger: string; status: string }[] }>('GET', '/v1/instances/shop-db/backups');
    return listed.json.backups.find((b) => b.trigger === 'initial' && b.status === 'COMPLETED');
  });
  const point = await api<{ name: string }>('POST', '/v1/instances/shop-db/restore-points', { name: 'before-console-test' });
  assert.equal(point.status, 202, JSON.stringify(point.json));
  await page.goto(`${strataConsole.url}/instances/shop-db`);
  const initial = page.locator('[data-testid=backup-table] tr[data-trigger="initial"]');
  await initial.waitFor();
  assert.equal(await initial.getByTestId('backup-status').getAttribute('data-status'), 'COMPLETED');
  assert.match((await initial.textContent()) ?? '', /^bak_\S+full \(initial\)COMPLETED\d+(\.\d+)? MiB\d+(\.\d+)? (KiB|MiB)\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.match((await page.getByTestId('restore-window').textContent()) ?? '', /Restorable to any moment from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  const restorePoint = page.locator('[data-testid=restore-point-table] tr[data-restore-point="before-console-test"]');
  await restorePoint.locator('[data-status="CREATED"]').waitFor({ timeout: PLATFORM_TIMEOUT_MS });
  await page.getByTestId('backups-section').screenshot({ path: join(SCREENSHOT_DIR, 'cloud-instance-backups.png') });
});

test('the restore form shows the API\'s error for a bad moment, and restores a good one into a new instance that becomes ACTIVE', { skip }, async () => {
  await page.goto(`${strataConsole.url}/instances/shop-db`);
  const form = page.getByTestId('restore-form');
  await form.waitFor();
  await form.getByTestId('restore-target').selectOption('time');
  const time = form.getByTestId('restore-time');
  assert.match(await time.inputValue(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'a moment starts as now');
  await form.getByTestId('restore-name').fill('shop-db-bad');

  // Not ISO 8601, and in the future: the control plane refuses both with its typed error, and makes nothing.
  await time.fill('yesterday at noon');
  await form.getByTestId('restore-submit').click();
  const error = form.getByTestId('error-banner');
  await error.waitFor();
  assert.match((await error.textContent()) ?? '', /invalid_time.*time must be an ISO 8601 timestamp with a zone.*"yesterday at noon"/);
  await form.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-restore-bad-time.png') });
  await time.fill(new Date(Date.now() + 3_600_000).toISOString());
  await form.getByTestId('restore-submit').click();
  await form.locator('[data-testid=error-banner]', { hasText: 'is in the future' }).waitFor();
  assert.equal((await api('GET', '/v1/instances/shop-db-bad')).status, 404, 'a refused restore makes no instance');

  // A moment inside the restore window (it opens just after the first backup's end).
  const { restorableFrom } = (await api<{ restorableFrom: string }>('GET', '/v1/instances/shop-db/backups')).json;
  await until('the restore window to open', async () => (Date.now() > Date.parse(restorableFrom) + 1_000 ? true : undefined));
  await time.fill(new Date().toISOString());
  await form.getByTestId('restore-name').fill('shop-db-pitr');
  await form.getByTestId('restore-submit').click();
  const result = form.getByTestId('restore-result');
  await result.waitFor();
  assert.equal(await form.getByTestId('error-banner').count(), 0, 'the error of the refused attempt is gone');
  const restoredId = await result.getAttribute('data-instance-id');
  assert.match(restoredId ?? '', /\S/);
  await result.locator('[data-testid=restored-status][data-status="ACTIVE"]').waitFor({ timeout: ACTIVE_TIMEOUT_MS });
  await form.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-restore-done.png') });
  const restored = (await api<{ name: string; status: string; currentOperation: { kind: string } | null }>('GET', `/v1/instances/${restoredId}`)).json;
  assert.equal(restored.name, 'shop-db-pitr');
  assert.equal(restored.status, 'ACTIVE');

  // Its link opens the new instance's page.
  await result.getByTestId('restored-instance').click();
  await page.locator('[data-testid=instance-page] h1', { hasText: 'shop-db-pitr' }).waitFor();
  assert.equal(await page.getByTestId('instance-status').first().getAttribute('data-status'), 'ACTIVE');
  assert.equal(new URL(page.url()).pathname, `/instances/${restoredId}`);
});

test("an instance's replicas: none for one made without any; one made with a replica lists it with its lag, and the replica's page names its primary", { skip }, async () => {
  await page.goto(`${strataConsole.url}/instances/shop-db`);
  await page.locator('[data-testid=replicas-section] [data-testid=empty-replicas]').waitFor();
  assert.equal(await page.getByTestId('replica-of').count(), 0, 'shop-db is no replica');

  const created = await api<{ id: string; synchronous: boolean }>('POST', '/v1/instances', { name: 'orders-db', flavor: 'tiny', databases: ['app'], users: [{ name: 'bob', password: 'bob-password-1' }], replicas: 1, synchronous: true });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  const replicaId = await until('orders-db and its replica to be ACTIVE', async () => {
    const [primary, replicas] = await Promise.all([
      api<{ status: string }>('GET', '/v1/instances/orders-db'),
      api<{ replicas: { id: string; status: string }[] }>('GET', '/v1/instances/orders-db/replicas'),
    ]);
    assert.notEqual(primary.json.status, 'ERROR');
    const replica = replicas.json.replicas?.[0];
    return primary.json.status === 'ACTIVE' && replica?.status === 'ACTIVE' ? replica.id : undefined;
  }, ACTIVE_TIMEOUT_MS);

  await page.goto(`${strataConsole.url}/instances/orders-db`);
  const row = page.locator(`[data-testid=replica-table] tr[data-replica-id="${replicaId}"]`);
  await row.locator('[data-testid=replica-status][data-status="ACTIVE"]').waitFor({ timeout: PLATFORM_TIMEOUT_MS });
  assert.equal(await row.getAttribute('data-replica'), 'orders-db-r1');
  assert.match((await page.getByTestId('replication-mode').textContent()) ?? '', /^Synchronous: a commit on this instance waits until one replica has it on disk/);
  // Its lag comes from the replica's own newest sample, which the primary's node measures.
  await page.waitForFunction((id) => /^\d/.test(document.querySelector(`tr[data-replica-id="${id}"] [data-testid=replica-lag]`)?.textContent ?? ''), replicaId, { timeout: PLATFORM_TIMEOUT_MS });
  await page.getByTestId('replicas-section').screenshot({ path: join(SCREENSHOT_DIR, 'cloud-instance-replicas.png') });

  await row.locator('a').click();
  await page.locator('[data-testid=instance-page] h1', { hasText: 'orders-db-r1' }).waitFor();
  const primaryLink = page.locator('[data-testid=replica-of] a', { hasText: 'orders-db' });
  await primaryLink.waitFor();
  assert.equal(await primaryLink.getAttribute('href'), `/instances/${created.json.id}`);
  await page.locator('[data-testid=replicas-section] [data-testid=empty-replicas]').waitFor();
  // The replica's own lag is charted in its metrics.
  await page.waitForFunction(() => Number(document.querySelector('figure[data-metric="replicationLagSeconds"]')?.getAttribute('data-points')) >= 1, undefined, { timeout: PLATFORM_TIMEOUT_MS });
  assert.equal(await page.locator('figure[data-metric="replicationLagSeconds"] canvas').count(), 1);
});

test("an instance's alerts: a rule of the tenant's firing on it shows under Firing now and in its events", { skip }, async () => {
  const rule = await api<{ id: string }>('POST', '/v1/alerts/rules', { name: 'console-any-connection', instance: 'shop-db', metric: 'connections', comparison: '>', threshold: -1, durationSeconds: 0 });
  assert.equal(rule.status, 201, JSON.stringify(rule.json));
  await page.goto(`${strataConsole.url}/instances/shop-db`);
  const section = page.getByTestId('alerts-section');
  await section.waitFor();
  // Rules are evaluated every 10 s; the page reads the alerts again every few seconds.
  const firing = section.locator('[data-testid=firing-table] tr[data-rule="console-any-connection"]');
  await firing.waitFor({ timeout: PLATFORM_TIMEOUT_MS });
  assert.match((await firing.textContent()) ?? '', /FIRING console-any-connectionconnections > -1\d/);
  const event = section.locator('[data-testid=alert-event-table] tr[data-event="firing"][data-rule="console-any-connection"]');
  await event.waitFor();
  assert.match((await event.textContent()) ?? '', /firingconsole-any-connection connections/);
  await section.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-instance-alerts.png') });
  // The rule is shop-db's alone: the restored instance's page shows nothing firing.
  await page.goto(`${strataConsole.url}/instances/shop-db-pitr`);
  await page.locator('[data-testid=alerts-section] [data-testid=empty-firing]').waitFor();
});

test('the audit page lists the calls and shows the hash chain intact; a changed row shows it broken', { skip }, async () => {
  await page.goto(`${strataConsole.url}/audit`);
  const verdict = page.getByTestId('audit-verify');
  await page.locator('[data-testid=audit-verify][data-intact]').waitFor();
  assert.equal(await verdict.getAttribute('data-intact'), 'true', (await verdict.textContent()) ?? '');
  // shop-db's create (orders-db was created too, by the replicas test).
  const createRow = page.locator('[data-testid=audit-table] tr[data-action="instances.create"]', { hasText: 'shop-db' });
  await createRow.waitFor();
  assert.match((await createRow.textContent()) ?? '', /shop-db.*ok/);
  await screenshot('cloud-audit');

  // Someone with database access rewrites history: the chain no longer matches.
  await platform.db.query('alter table strata_cloud.audit_log disable trigger audit_log_append_only');
  try {
    await platform.db.query(`update strata_cloud.audit_log set result = 'forged' where action = 'instances.create' and target = 'shop-db'`);
  } finally {
    await platform.db.query('alter table strata_cloud.audit_log enable trigger audit_log_append_only');
  }
  await page.getByTestId('verify-audit').click();
  await page.locator('[data-testid=audit-verify][data-intact="false"]').waitFor();
  assert.match((await verdict.textContent()) ?? '', /BROKEN at row \d+ \(hash_mismatch\)/);
  // The rows were read again with the check: the forged result is what the table shows now.
  await createRow.locator('[data-testid=audit-result]', { hasText: 'forged' }).waitFor();
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
  assert.ok(((await listed.json()) as { instances: { name: string }[] }).instances.some((i) => i.name === 'shop-db'));
  const noKey = await call('GET', '/api/cloud/v1/instances');
  assert.equal(noKey.status, 401);
  assert.equal(((await noKey.json()) as { error: { code: string } }).error.code, 'CONSOLE_API_KEY_MISSING');
  const refusedCalls = [
    ['GET', '/api/cloud/v1/keys'],
    ['POST', '/api/cloud/v1/instances'],
    ['POST', `/api/cloud/v1/instances/${instance.id}/stop`],
    ['GET', '/api/cloud/v1/nodes'],
    ['POST', `/api/cloud/v1/instances/${instance.id}/restore-in-place`],
    ['POST', `/api/cloud/v1/instances/${instance.id}/fork`],
    ['POST', `/api/cloud/v1/instances/${instance.id}/backups`],
    ['POST', '/api/cloud/v1/alerts/rules'],
    ['GET', '/api/cloud/v1/alerts/webhook'],
    ['GET', `/api/cloud/v1/instances/${instance.id}/restore/extra`],
  ] as const;
  for (const [method, path] of refusedCalls) {
    const refused = await call(method, path, platform.adminKey);
    assert.equal(refused.status, 404, `${method} ${path}`);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'CONSOLE_NOT_FOUND', `${method} ${path}`);
  }
  assert.equal((await api<{ status: string }>('GET', '/v1/instances/shop-db')).json.status, 'ACTIVE', 'nothing was stopped');
  // The restore's body is passed on only as a JSON object within the console's body limit.
  const instanceNames = async () => ((await (await call('GET', '/api/cloud/v1/instances', platform.adminKey)).json()) as { instances: { name: string }[] }).instances.map((i) => i.name).sort();
  const namesBefore = await instanceNames();
  const restore = (body: string) =>
    fetch(`${strataConsole.url}/api/cloud/v1/instances/${instance.id}/restore`, { method: 'POST', headers: { 'X-Strata-Api-Key': platform.adminKey, 'Content-Type': 'application/json' }, body });
  const notJson = await restore('{"name": ');
  assert.equal(notJson.status, 400);
  assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'CONSOLE_INVALID_BODY');
  const tooLarge = await restore(JSON.stringify({ name: 'x'.repeat(20_000) }));
  assert.equal(tooLarge.status, 413);
  assert.equal(((await tooLarge.json()) as { error: { code: string } }).error.code, 'CONSOLE_BODY_TOO_LARGE');
  // The control plane's own refusal comes back as it is.
  const unnamed = await restore('{}');
  assert.equal(unnamed.status, 400);
  assert.equal(((await unnamed.json()) as { error: { code: string } }).error.code, 'invalid_request');
  assert.deepEqual(await instanceNames(), namesBefore, 'no refused restore made an instance');
  // A console without a control plane says how to connect one.
  await page.goto(`${bareConsole.url}/instances`);
  await page.getByTestId('cloud-not-configured').waitFor();
});

test('a suspended instance has a badge in the list and on its page; after its wake the page counts the wake', { skip }, async () => {
  const power = platform.agent.power;
  // Frozen where the freezer is writable (stopped instead elsewhere); a backup or a metrics sample may hold it a moment.
  for (const deadline = Date.now() + PLATFORM_TIMEOUT_MS; !(await power.suspend(instance.id, 'frozen')); ) {
    assert.ok(Date.now() < deadline, `shop-db was never free to suspend (held for ${power.holders(instance.id).join(', ')})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tier = power.state(instance.id);
  try {
    await power.flush();
    assert.equal((await api<{ power: { state: string } | null }>('GET', '/v1/instances/shop-db')).json.power?.state, tier);
    // The list reads no more than the instance rows: it leaves the instance suspended. (An earlier test made the tab forget its key.)
    await page.goto(`${strataConsole.url}/instances`);
    await page.evaluate((key) => sessionStorage.setItem('strata.cloud.apiKey', key), platform.adminKey);
    await page.reload();
    await page.locator(`[data-testid=instance-table] tr[data-instance="shop-db"] [data-testid=instance-power][data-power="${tier}"]`).waitFor();
    // The page shows the state it read first (its databases and users are then read from the server, which wakes it).
    await page.goto(`${strataConsole.url}/instances/shop-db`);
    await page.locator(`[data-testid=instance-page] .page-head [data-testid=instance-power][data-power="${tier}"]`).waitFor();
    await page.locator('[data-testid=instance-power-state]', { hasText: /since .* its next client wakes it/ }).waitFor();
    await screenshot('cloud-instance-suspended');
  } finally {
    await power.wake(instance.id);
  }
  await power.flush();
  await page.goto(`${strataConsole.url}/instances/shop-db`);
  await page.locator('[data-testid=instance-power-state]', { hasText: /^Running since .* 1 wake, the last \d+ ms$/ }).waitFor();
  assert.equal(await page.locator('[data-testid=instance-power]').count(), 0, 'no badge once awake');
});

test('at 360 px wide no cloud page scrolls sideways', { skip }, async () => {
  const narrow = await browser.newPage({ viewport: { width: 360, height: 740 } });
  try {
    await narrow.goto(`${strataConsole.url}/instances`);
    await narrow.evaluate((key) => sessionStorage.setItem('strata.cloud.apiKey', key), platform.adminKey);
    for (const [path, ready] of [['/instances', 'instance-table'], ['/instances/shop-db', 'operation-table'], ['/audit', 'audit-table']] as const) {
      await narrow.goto(`${strataConsole.url}${path}`);
      await narrow.getByTestId(ready).waitFor();
      if (path === '/instances/shop-db') {
        // Every section drawn: the charts, the backups with the restore form (a moment chosen), the alerts.
        await narrow.locator('figure[data-metric="connections"] canvas').waitFor();
        await narrow.getByTestId('backup-table').waitFor();
        await narrow.getByTestId('firing-table').waitFor();
        await narrow.getByTestId('restore-target').selectOption('time');
        await narrow.getByTestId('restore-time').waitFor();
        await narrow.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-narrow-instance.png'), fullPage: true });
      }
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
