// The Usage page against a real control plane (its usage module, on embedded PGlite) reached
// through the console's own backend, driven in headless Chromium: operations per hour drawn by uPlot
// from the proxy's rows, the monthly cap as a bar with its state, the month by instance, and
// another range; no Content-Security-Policy violation.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createControlPlane, usageModuleWith, type ControlPlane } from '@strata/control-plane';
import { ensureChromium, freshDatabaseUrl } from '@strata/testing';
import { startConsole, type RunningConsole } from '../src/index.js';

const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCREENSHOT_DIR = join(ROOT_DIR, 'test-artifacts', 'console');
/** The page answers in a few hundred ms; this bounds a slow CI machine. */
const UI_TIMEOUT_MS = 45_000;
const HOUR_MS = 3_600_000;
const QUIET = { info() {}, warn() {}, error: (...args: unknown[]) => console.error(...args) };

let cp: ControlPlane;
let strataConsole: RunningConsole;
let browser: Browser;
let page: Page;
let tenantKey: string;
const cspViolations: string[] = [];

async function api<T>(method: string, path: string, key: string, body?: unknown): Promise<T> {
  const reply = await fetch(`${cp.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  assert.ok(reply.ok, `${method} ${path}: ${reply.status}`);
  return (await reply.json()) as T;
}

/** Pixels of the operations chart's canvas in the series' colour (the accent, #2f5bd3): its line drawn from the data. */
function seriesPixels(): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('figure[data-metric="operations"] canvas');
    const context = canvas?.getContext('2d');
    if (!canvas || !context) return 0;
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! < 110 && data[i + 1]! < 150 && data[i + 2]! > 170 && data[i + 3]! > 200) count++;
    return count;
  });
}

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const executablePath = await ensureChromium();
  cp = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: [usageModuleWith({ evaluateCron: '0 0 0 1 1 *' })], logger: QUIET });
  const created = await api<{ tenant: { id: string }; token: string }>('POST', '/v1/tenants', cp.bootstrapKey!, { name: 'acme' });
  tenantKey = created.token;
  await cp.db.query(
    `insert into strata_cloud.instances (instance_id, tenant_id, name, status, flavor, memory_mb, max_connections, storage_mb, node_id) values ('ins_web1', $1, 'shop-db', 'ACTIVE', 'tiny', 128, 20, 1024, 'node-1')`,
    [created.tenant.id],
  );
  // The last five hours, as the proxy's meter writes them: a rising line.
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  for (let k = 0; k < 5; k++) {
    await cp.db.query(`insert into strata_cloud.usage (instance_id, tenant_id, minute, operations, bytes_in, bytes_out, connection_ms) values ('ins_web1', $1, $2, $3, 1000, 20000, 60000)`, [
      created.tenant.id,
      new Date(hour - k * HOUR_MS + 60_000),
      100 * (5 - k),
    ]);
  }
  // A cap the month's usage is most of: the bar shows the warning (or more, early in a month).
  await api('PUT', '/v1/usage/cap', tenantKey, { operationsPerMonth: 2_000 });
  strataConsole = await startConsole({ database: cp.db, cloud: { apiUrl: cp.url } });
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
  await cp?.close();
});

test('the Usage page charts operations per hour, shows the cap as a bar with its state, and the month by instance', async () => {
  const cap = await api<{ usage: { operations: number }; cap: { operationsPerMonth: number }; state: string }>('GET', '/v1/usage/cap', tenantKey);
  const hourly = await api<{ groups: unknown[] }>('GET', `/v1/usage?group=hour&from=${new Date(Math.floor((Date.now() - 24 * HOUR_MS) / HOUR_MS) * HOUR_MS).toISOString()}`, tenantKey);

  await page.goto(`${strataConsole.url}/usage`);
  await page.getByTestId('api-key-form').waitFor();
  await page.getByTestId('api-key-input').fill(tenantKey);
  await page.getByTestId('api-key-submit').click();

  const bar = page.locator('[data-testid=cap-bar][data-measure=operations]');
  await bar.waitFor();
  assert.equal(await bar.getAttribute('data-percent'), ((cap.usage.operations / cap.cap.operationsPerMonth) * 100).toFixed(1));
  assert.match((await bar.textContent()) ?? '', new RegExp(`${cap.usage.operations.toLocaleString('en-US')} of 2,000`));
  assert.equal(await page.getByTestId('cap-bars').getAttribute('data-state'), cap.state);
  assert.equal(await page.locator('[data-testid=cap-bar][data-measure=bytesOut]').count(), 0, 'no bar for a measure without a cap');

  const chart = page.locator('figure[data-metric="operations"]');
  await chart.locator('canvas').waitFor();
  assert.equal(Number(await chart.getAttribute('data-points')), hourly.groups.length);
  assert.ok(hourly.groups.length >= 5, 'the five hours are in the last day');
  const drawn = await (async () => {
    const deadline = Date.now() + UI_TIMEOUT_MS;
    for (;;) {
      const pixels = await seriesPixels();
      if (pixels > 20 || Date.now() > deadline) return pixels;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  assert.ok(drawn > 20, `the line is drawn from the data (${drawn} pixels)`);

  const row = page.locator('[data-testid=usage-table] tr[data-instance-id="ins_web1"]');
  await row.waitFor();
  assert.match((await row.textContent()) ?? '', /shop-db/);
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'cloud-usage.png'), fullPage: true });

  // Another range reads again; the nav shows where we are.
  await page.locator('.range-picker .chip[data-range="7d"]').click();
  await page.locator('.range-picker .chip[data-range="7d"][aria-pressed="true"]').waitFor();
  await chart.locator('canvas').waitFor();
  assert.equal(await page.locator('header nav a.active').textContent(), 'Usage');
  assert.deepEqual(cspViolations, []);
});

test('a tenant without a cap sees how to set one', async () => {
  await api('PUT', '/v1/usage/cap', tenantKey, { operationsPerMonth: null });
  await page.goto(`${strataConsole.url}/usage`);
  await page.getByTestId('no-cap').waitFor();
  assert.match((await page.getByTestId('no-cap').textContent()) ?? '', /strata usage cap --operations N/);
  assert.deepEqual(cspViolations, []);
});
