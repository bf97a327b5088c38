// The console as an attacker meets it: raw HTTP with forged Host and Origin headers, no or wrong
// credentials on a console bound beyond loopback, and headless Chromium logging in with the
// token the console printed. Real PostgreSQL, real sockets, a real browser.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openDatabase, type Database } from '@strata/store';
import { engines, ensureChromium, freshPostgresUrl } from '@strata/testing';
import { StrataClient } from '@strata/transact';
import { startConsole, type RunningConsole } from '../src/index.js';
import { send, sendRaw, type Answer } from './raw-http.js';
import { firstExternalIPv4 } from '../src/security/hosts.js';

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';
/** An address of this machine that is not loopback, for a console bound beyond it. */
const externalAddress = firstExternalIPv4();
const skipExternal = skip || (externalAddress === undefined ? 'this machine has no non-loopback IPv4 address to bind to' : false);
/** Bounds a slow CI machine's page loads; pages answer from their own database in far less. */
const UI_TIMEOUT_MS = 10_000;

function errorCode(answer: Answer): string | undefined {
  assert.match(String(answer.headers['content-type']), /^application\/json/, `a JSON error body: ${answer.body.slice(0, 200)}`);
  const body = JSON.parse(answer.body) as { error?: { code?: string; message?: string } };
  assert.ok((body.error?.message ?? '').length > 20, 'the message says what to do');
  return body.error?.code;
}

/** The security headers every answer must carry. */
function assertSecurityHeaders(answer: Answer, what: string): void {
  const csp = String(answer.headers['content-security-policy'] ?? '');
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP forbids framing`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${what}: CSP allows no inline code`);
  assert.equal(answer.headers['x-frame-options'], 'DENY', `${what}: X-Frame-Options`);
  assert.equal(answer.headers['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(answer.headers['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
}

let url: string;
let db: Database;

before(async () => {
  if (skip) return;
  url = await freshPostgresUrl();
  await (await StrataClient.connect({ database: url })).close(); // migrates
  db = await openDatabase(url);
  await db.query(
    `insert into strata.workflows (workflow_id, name, status, inputs, executor_id, app_version, created_at, updated_at)
     select id, 'waiter', 'PENDING', '{"json":[]}', 'gone', '0', now(), now() from unnest($1::text[]) as id`,
    [['target-1', 'target-2', 'target-3', 'target-4']],
  );
});

after(async () => {
  await db?.close();
});

async function statusOf(workflowId: string): Promise<string | undefined> {
  return (await db.query<{ status: string }>('select status from strata.workflows where workflow_id = $1', [workflowId])).rows[0]?.status;
}

describe('a console on loopback', { skip }, () => {
  let strataConsole: RunningConsole;
  let port: string;

  before(async () => {
    strataConsole = await startConsole({ database: url, allowedHosts: ['console.internal'] });
    port = new URL(strataConsole.url).port;
  });
  after(async () => {
    await strataConsole?.close();
  });

  test('needs no credential and prints no login URL', async () => {
    assert.equal(strataConsole.loginUrl, undefined);
    assert.equal((await send(strataConsole.url, 'GET', '/api/workflows')).status, 200);
  });

  test('answers only its own hosts: a DNS-rebinding Host gets 421 CONSOLE_UNKNOWN_HOST, for reads, writes and pages', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'console.internal', `console.internal:${port}`, `LOCALHOST:${port}`]) {
      assert.equal((await send(strataConsole.url, 'GET', '/api/workflows', { Host: host })).status, 200, `Host ${host} is the console's own`);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${Number(port) + 1}`, `console.internal:${Number(port) + 1}`, `localhost.evil.example:${port}`]) {
      const read = await send(strataConsole.url, 'GET', '/api/workflows/target-1', { Host: host });
      assert.equal(read.status, 421, `GET with Host ${host}: ${read.body.slice(0, 200)}`);
      assert.equal(errorCode(read), 'CONSOLE_UNKNOWN_HOST');
      assert.doesNotMatch(read.body, /target-1"|waiter/, 'nothing of the workflow leaks');
      assertSecurityHeaders(read, `421 for ${host}`);
      assert.equal((await send(strataConsole.url, 'GET', '/', { Host: host })).status, 421, 'the page too');
      assert.equal((await send(strataConsole.url, 'GET', '/api/events', { Host: host })).status, 421, 'the live stream too');
    }
    // The rebinding page's own POST: its Host and Origin are its own name.
    const cancel = await send(strataConsole.url, 'POST', '/api/workflows/target-1/cancel', { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}` });
    assert.equal(cancel.status, 421);
    assert.equal(await statusOf('target-1'), 'PENDING', 'the forged cancel changed nothing');
    // No Host at all (HTTP/1.1 or 1.0): the same typed refusal.
    for (const version of ['1.1', '1.0']) {
      const bare = await sendRaw(strataConsole.url, `GET /api/workflows/target-1 HTTP/${version}\r\n\r\n`);
      assert.match(bare, /^HTTP\/1\.1 421 /, `HTTP/${version} without Host`);
      assert.match(bare, /"code":"CONSOLE_UNKNOWN_HOST"/);
      assert.match(bare, /\r\nX-Frame-Options: DENY\r\n/i);
    }
  });

  test('refuses a state-changing request whose Origin is another site, even with the right Host', async () => {
    const own = `127.0.0.1:${port}`;
    for (const origin of ['https://evil.example', `http://evil.example:${port}`, 'null', `http://localhost:${Number(port) + 1}`]) {
      for (const [method, path] of [['POST', '/api/workflows/target-1/cancel'], ['DELETE', '/api/workflows/target-1'], ['POST', '/api/workflows/target-1/restart']] as const) {
        const answer = await send(strataConsole.url, method, path, { Host: own, Origin: origin });
        assert.equal(answer.status, 403, `${method} ${path} from Origin ${origin}: ${answer.body.slice(0, 200)}`);
        assert.equal(errorCode(answer), 'CONSOLE_CROSS_SITE');
      }
    }
    const sneaky = await send(strataConsole.url, 'POST', '/api/workflows/target-1/cancel', { Host: own, 'Sec-Fetch-Site': 'cross-site' });
    assert.equal(sneaky.status, 403);
    assert.equal(await statusOf('target-1'), 'PENDING', 'no refused request changed anything');
    // Its own pages' Origin, and scripts with no Origin, may act.
    const fromPage = await send(strataConsole.url, 'POST', '/api/workflows/target-1/cancel', { Host: own, Origin: `http://${own}` });
    assert.equal(fromPage.status, 200, fromPage.body);
    assert.equal(await statusOf('target-1'), 'CANCELLED');
    const fromScript = await send(strataConsole.url, 'POST', '/api/workflows/target-2/cancel');
    assert.equal(fromScript.status, 200, fromScript.body);
  });

  test('every answer carries the Content-Security-Policy, frame and referrer headers', async () => {
    const answers: Array<[string, Answer]> = [
      ['the page', await send(strataConsole.url, 'GET', '/')],
      ['a module', await send(strataConsole.url, 'GET', '/assets/app.js')],
      ['a vendor module', await send(strataConsole.url, 'GET', '/vendor/preact.mjs')],
      ['an API answer', await send(strataConsole.url, 'GET', '/api/workflows')],
      ['a 400', await send(strataConsole.url, 'GET', '/api/workflows?limit=0')],
      ['a 404 API route', await send(strataConsole.url, 'GET', '/api/nothing')],
      ['a 404 page', await send(strataConsole.url, 'GET', '/no/such/page')],
      ['a 403', await send(strataConsole.url, 'POST', '/api/workflows/target-3/cancel', { Origin: 'https://evil.example' })],
    ];
    for (const [what, answer] of answers) assertSecurityHeaders(answer, what);
    const csp = String(answers[0]![1].headers['content-security-policy']);
    assert.match(csp, /script-src 'self' 'sha256-[A-Za-z0-9+/]+=*'/, 'the import map is allowed by its hash, nothing else inline');
    assert.match(csp, /style-src 'self'(;|$)/);
    // A request Node's parser refuses is answered outside the app, with the headers too.
    const raw = await sendRaw(strataConsole.url, `GET /api/workflows HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(200_000)}\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.match(raw, /\r\nX-Frame-Options: DENY\r\n/);
    assert.match(raw, /\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n/);
  });

  test('an unknown page path gets the UI (its own not-found page) with a 404; an unknown API path a JSON 404', async () => {
    const page = await send(strataConsole.url, 'GET', '/no/such/page');
    assert.equal(page.status, 404);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<div id="app">/);
    const api = await send(strataConsole.url, 'GET', '/api/no/such/route');
    assert.equal(api.status, 404);
    assert.equal(errorCode(api), 'CONSOLE_NOT_FOUND');
  });

  test('a configured token is required on loopback too, by Bearer header', async () => {
    const token = 'loopback-token-0123456789';
    const guarded = await startConsole({ database: url, token });
    try {
      assert.match(guarded.loginUrl ?? '', /\/login#token=loopback-token-0123456789$/);
      const none = await send(guarded.url, 'GET', '/api/workflows');
      assert.equal(none.status, 401);
      assert.equal(errorCode(none), 'CONSOLE_UNAUTHENTICATED');
      assert.match(String(none.headers['www-authenticate']), /^Bearer /);
      assert.equal((await send(guarded.url, 'GET', '/api/workflows', { Authorization: `Bearer ${token}` })).status, 200);
    } finally {
      await guarded.close();
    }
  });
});

describe('a console bound beyond loopback', { skip: skipExternal }, () => {
  let strataConsole: RunningConsole;
  const warnings: string[] = [];
  let token: string;

  before(async () => {
    strataConsole = await startConsole({ database: url, host: externalAddress!, logger: { warn: (message) => warnings.push(message) } });
    token = decodeURIComponent(new URL(strataConsole.loginUrl!).hash.slice('#token='.length));
  });
  after(async () => {
    await strataConsole?.close();
  });

  test('warns that it is beyond loopback and prints a login URL with a generated random token', () => {
    assert.equal(new URL(strataConsole.url).hostname, externalAddress);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /beyond loopback/);
    assert.ok(warnings[0]!.includes(strataConsole.loginUrl!), 'the warning carries the login URL');
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
  });

  test('without a valid credential nothing is readable or changeable: API 401, pages redirect to /login, the live stream 401', async () => {
    const attempts: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong-token-0123456789' }, { Authorization: `Bearer ${token}x` }, { Cookie: 'strata_console_session=guess' }, { Authorization: `Basic ${token}` }];
    for (const headers of attempts) {
      const what = JSON.stringify(headers);
      for (const path of ['/api/workflows', '/api/workflows/target-3', '/api/workflows/target-3/steps', '/api/queues', '/api/executors', '/api/info', '/api/events']) {
        const answer = await send(strataConsole.url, 'GET', path, headers);
        assert.equal(answer.status, 401, `GET ${path} with ${what}: ${answer.body.slice(0, 200)}`);
        assert.equal(errorCode(answer), 'CONSOLE_UNAUTHENTICATED');
        assertSecurityHeaders(answer, `401 of ${path}`);
      }
      for (const path of ['/', '/workflows/target-3', '/queues', '/no/such/page']) {
        const answer = await send(strataConsole.url, 'GET', path, headers);
        assert.equal(answer.status, 303, `page ${path} with ${what}`);
        assert.equal(answer.headers.location, '/login');
      }
      for (const [method, path] of [['POST', '/api/workflows/target-3/cancel'], ['DELETE', '/api/workflows/target-3'], ['POST', '/api/workflows/target-3/restart']] as const) {
        assert.equal((await send(strataConsole.url, method, path, headers)).status, 401, `${method} ${path} with ${what}`);
      }
    }
    assert.equal(await statusOf('target-3'), 'PENDING', 'nothing changed');
    // The login page and the UI's code carry no data; they load without a credential.
    assert.equal((await send(strataConsole.url, 'GET', '/login')).status, 200);
    assert.equal((await send(strataConsole.url, 'GET', '/assets/app.js')).status, 200);
  });

  test('the token works as a Bearer header, and a login exchanges it for an HttpOnly, SameSite=Strict cookie', async () => {
    const bearer = await send(strataConsole.url, 'GET', '/api/workflows', { Authorization: `Bearer ${token}` });
    assert.equal(bearer.status, 200, bearer.body);
    const wrong = await send(strataConsole.url, 'POST', '/api/login', { 'Content-Type': 'application/json' }, JSON.stringify({ token: 'not-the-token-0123456789' }));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['set-cookie'], undefined);
    const login = await send(strataConsole.url, 'POST', '/api/login', { 'Content-Type': 'application/json' }, JSON.stringify({ token }));
    assert.equal(login.status, 200, login.body);
    const [cookie] = login.headers['set-cookie'] as string[];
    assert.match(cookie!, /^strata_console_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
    const withCookie = await send(strataConsole.url, 'GET', '/api/workflows', { Cookie: cookie!.split(';')[0]! });
    assert.equal(withCookie.status, 200);
    // A login from another site is refused like any cross-site write.
    const crossSite = await send(strataConsole.url, 'POST', '/api/login', { 'Content-Type': 'application/json', Origin: 'https://evil.example' }, JSON.stringify({ token }));
    assert.equal(crossSite.status, 403);
  });

  test('an authenticate hook replaces the token: it gets each request\'s credential and decides', async () => {
    const seen: string[] = [];
    const hooked = await startConsole({
      database: url,
      host: externalAddress!,
      logger: { warn() {} },
      authenticate: (credential) => {
        seen.push(credential);
        return credential === 'key_live_abc' ? { id: 'key-1' } : undefined;
      },
    });
    try {
      assert.equal(hooked.loginUrl, `${hooked.url}/login`, 'no token in the URL: the keys are the operator\'s own');
      assert.equal((await send(hooked.url, 'GET', '/api/workflows', { Authorization: 'Bearer key_live_abc' })).status, 200);
      assert.equal((await send(hooked.url, 'GET', '/api/workflows', { Authorization: 'Bearer key_live_xyz' })).status, 401);
      assert.deepEqual(seen, ['key_live_abc', 'key_live_xyz']);
    } finally {
      await hooked.close();
    }
  });

  test('in Chromium: the page sends a visitor to log in, the printed login URL logs in, and the pages load under the CSP', async () => {
    const executablePath = await ensureChromium();
    const browser: Browser = await chromium.launch({ executablePath, headless: true });
    try {
      const context = await browser.newContext();
      const violations: string[] = [];
      const watchViolations = (watched: Page) => watched.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      let page = await context.newPage();
      page.setDefaultTimeout(UI_TIMEOUT_MS);
      watchViolations(page);
      await page.goto(`${strataConsole.url}/workflows/target-4`);
      await page.waitForSelector('[data-testid=login-page]');
      assert.equal(new URL(page.url()).pathname, '/login');

      // A wrong token is refused on the page.
      await page.fill('[data-testid=login-token]', 'not-the-token-0123456789');
      await page.click('[data-testid=login-submit]');
      await page.locator('[data-testid=error-banner]', { hasText: 'CONSOLE_UNAUTHENTICATED' }).waitFor();

      // The printed login URL, opened in a new tab as a person would.
      await page.close();
      page = await context.newPage();
      page.setDefaultTimeout(UI_TIMEOUT_MS);
      watchViolations(page);
      await page.goto(strataConsole.loginUrl!);
      await page.waitForSelector('[data-testid=workflow-table] tbody tr[data-workflow-id="target-4"]');
      assert.equal(new URL(page.url()).pathname, '/');
      assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
      const cookies = await context.cookies();
      const session = cookies.find((cookie) => cookie.name === 'strata_console_session');
      assert.ok(session?.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
      await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor(); // the event stream is authenticated too
      await page.goto(`${strataConsole.url}/workflows/target-4`);
      await page.waitForSelector('[data-testid=workflow-status][data-status=PENDING]');
      assert.deepEqual(violations, []);
    } finally {
      await browser.close();
    }
  });
});
