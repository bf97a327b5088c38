// Bad input breaks nothing: raw HTTP requests to a real console on a real PostgreSQL database.
// Each malformed request gets its status and a typed `{ error: { code, message } }` body — also
// the ones Node's HTTP parser refuses before the app sees them — and afterwards the workflows
// list still answers 200. A stopped database is a 503 until it is back.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openDatabase, type Database } from '@strata/store';
import { engines, findPostgresBinDir, freshPostgresUrl, startCluster, type PgCluster } from '@strata/testing';
import { StrataClient } from '@strata/transact';
import { startConsole, type RunningConsole } from '../src/index.js';
import { send, sendRaw, type Answer } from './raw-http.js';

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';

/** Bound on waiting for the console to answer 200 again after the database restarts. */
const RECOVERY_WAIT_MS = 60_000;

/** The typed error of an answer: asserts the status and the `{ error: { code, message } }` shape. */
function typedError(answer: Answer, status: number, code: string, what: string): string {
  assert.equal(answer.status, status, `${what}: status ${answer.status}, expected ${status}; body ${answer.body.slice(0, 300)}`);
  assert.match(String(answer.headers['content-type']), /^application\/json/, `${what}: a JSON body`);
  const body = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } };
  assert.equal(body.error?.code, code, `${what}: error code in ${answer.body.slice(0, 300)}`);
  assert.equal(typeof body.error?.message, 'string', `${what}: a message`);
  assert.ok((body.error!.message as string).length > 20, `${what}: the message says what to fix`);
  return body.error!.message as string;
}

const cursorOf = (created: string, workflowId: string) => Buffer.from(JSON.stringify([created, workflowId])).toString('base64url');

/** One malformed request and what the console must answer. */
interface BadRequest {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly status: number;
  readonly code: string;
  /** Text the message must contain. */
  readonly says?: string;
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

const BAD_REQUESTS: readonly BadRequest[] = [
  // Sizes: the app's own limits, and past what Node's parser takes (still a typed answer, no reset).
  { name: 'a 20 KB query string', path: `/api/workflows?name=${'a'.repeat(20_000)}`, status: 414, code: 'CONSOLE_URL_TOO_LONG', says: '8192 bytes' },
  { name: 'a 1 MB query string', path: `/api/workflows?name=${'a'.repeat(1_000_000)}`, status: 414, code: 'CONSOLE_URL_TOO_LONG' },
  { name: 'a 1 MB workflow ID in the path', path: `/api/workflows/${'x'.repeat(1_000_000)}`, status: 414, code: 'CONSOLE_URL_TOO_LONG' },
  { name: '20 KB of header fields', path: '/api/workflows', headers: { 'X-Padding': 'p'.repeat(20_000) }, status: 431, code: 'CONSOLE_HEADERS_TOO_LARGE', says: '16384 bytes' },
  { name: '1 MB of header fields', path: '/api/workflows', headers: { 'X-Padding': 'p'.repeat(1_000_000) }, status: 431, code: 'CONSOLE_HEADERS_TOO_LARGE' },
  { name: 'a 1 MB fork body', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: `{"fromStep": 0, "pad": "${'x'.repeat(1_000_000)}"}`, status: 413, code: 'CONSOLE_BODY_TOO_LARGE' },
  { name: 'a 100 KB chunked body without Content-Length', method: 'POST', path: '/api/workflows/ok-1/restart', headers: { ...JSON_HEADERS, 'Transfer-Encoding': 'chunked' }, body: `{"pad": "${'x'.repeat(100_000)}"}`, status: 413, code: 'CONSOLE_BODY_TOO_LARGE' },
  // NUL, broken encoding, lone surrogates: never a raw database error.
  { name: 'NUL in a workflow ID', path: '/api/workflows/a%00b', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'NUL in a workflow ID of its steps', path: '/api/workflows/a%00b/steps', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'NUL in a workflow ID to cancel', method: 'POST', path: '/api/workflows/a%00b/cancel', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'NUL in a workflow ID to delete', method: 'DELETE', path: '/api/workflows/a%00b', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'NUL in a name filter', path: '/api/workflows?name=a%00b', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'name contains NUL' },
  { name: 'NUL in an ID prefix', path: '/api/workflows?workflowIdPrefix=%00', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'NUL in an attribute key', path: '/api/workflows?attr.a%00=b', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'NUL in an attribute value', path: '/api/workflows?attr.customer=c%00', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'NUL' },
  { name: 'an escape sequence in a workflow ID', path: '/api/workflows/a%1B%5B2Jb', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'control character U+001B' },
  { name: 'a carriage return in a workflow ID to cancel', method: 'POST', path: '/api/workflows/a%0Db/cancel', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'control character U+000D' },
  { name: 'a BEL in a name filter', path: '/api/workflows?name=a%07', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'name contains the control character U+0007' },
  { name: 'a newline in a queue filter', path: '/api/workflows?queue=a%0Ab', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'control character U+000A' },
  { name: 'an escape in a new workflow ID', method: 'POST', path: '/api/workflows/ok-1/restart', headers: JSON_HEADERS, body: '{"workflowId": "a\\u001bb"}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'control character U+001B' },
  { name: 'a path segment that is not UTF-8', path: '/api/workflows/%ED%A0%80', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'percent-encoded UTF-8' },
  { name: 'a truncated percent-escape', path: '/api/workflows/%E0%A4%A', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'percent-encoded UTF-8' },
  { name: 'a query value that is not UTF-8', path: '/api/workflows?name=%FF', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'percent-encoded UTF-8' },
  { name: 'NUL in a new workflow ID', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: '{"fromStep": 0, "workflowId": "a\\u0000b"}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'NUL' },
  { name: 'a lone surrogate in a new workflow ID', method: 'POST', path: '/api/workflows/ok-1/restart', headers: JSON_HEADERS, body: '{"workflowId": "a\\ud800"}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'lone UTF-16 surrogate' },
  // Over-long values.
  { name: 'an over-long workflow ID', path: `/api/workflows/${'x'.repeat(600)}`, status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'limit is 512' },
  { name: 'an over-long name filter', path: `/api/workflows?name=${'n'.repeat(600)}`, status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'limit is 512' },
  { name: 'an over-long new workflow ID', method: 'POST', path: '/api/workflows/ok-1/restart', headers: JSON_HEADERS, body: JSON.stringify({ workflowId: 'y'.repeat(600) }), status: 400, code: 'CONSOLE_INVALID_BODY', says: 'limit is 512' },
  // Numbers, statuses, orders, dates, cursors.
  { name: 'a negative limit', path: '/api/workflows?limit=-1', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'from 1 to 1000' },
  { name: 'a zero limit', path: '/api/workflows?limit=0', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'from 1 to 1000' },
  { name: 'a fractional limit', path: '/api/workflows?limit=2.5', status: 400, code: 'CONSOLE_INVALID_PARAMETER' },
  { name: 'a limit in exponent form', path: '/api/workflows?limit=1e3', status: 400, code: 'CONSOLE_INVALID_PARAMETER' },
  { name: 'a huge limit', path: '/api/workflows?limit=99999999999999999999', status: 400, code: 'CONSOLE_INVALID_PARAMETER' },
  { name: 'two limits', path: '/api/workflows?limit=1&limit=2', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'once' },
  { name: 'an unknown status', path: '/api/workflows?status=RUNNING', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'ENQUEUED, PENDING' },
  { name: 'an unknown order', path: '/api/workflows?order=sideways', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'newest' },
  { name: 'an unknown parameter', path: '/api/workflows?stauts=ERROR', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'unknown query parameter' },
  { name: 'a date that is not a date', path: '/api/workflows?createdAfter=yesterday', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'ISO 8601' },
  { name: 'a calendar date that does not exist', path: '/api/workflows?createdAfter=2026-02-31', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'ISO 8601' },
  { name: 'an hour that does not exist', path: '/api/workflows?createdBefore=2026-01-01T25:00:00Z', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'ISO 8601' },
  { name: 'epoch milliseconds past any date', path: '/api/workflows?createdAfter=9999999999999999', status: 400, code: 'CONSOLE_INVALID_PARAMETER' },
  { name: 'createdAfter not before createdBefore', path: '/api/workflows?createdAfter=2026-02-01&createdBefore=2026-01-01', status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'earlier' },
  { name: 'a cursor the API never returned', path: '/api/workflows?cursor=not-a-cursor', status: 400, code: 'STRATA_INVALID_ARGUMENT', says: 'cursor' },
  { name: 'a cursor around a NUL', path: `/api/workflows?cursor=${cursorOf('2026-01-01T00:00:00Z', 'a\u0000b')}`, status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: '22021' },
  { name: 'a cursor around a time PostgreSQL cannot read', path: `/api/workflows?cursor=${cursorOf('1', 'a')}`, status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: '22007' },
  { name: 'an over-long cursor', path: `/api/workflows?cursor=${'c'.repeat(3_000)}`, status: 400, code: 'CONSOLE_INVALID_PARAMETER', says: 'limit is 2048' },
  // Bodies.
  { name: 'a fork body that is not JSON', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: '{"fromStep": ', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'not valid JSON' },
  { name: 'a fork body that is an array', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: '[0]', status: 400, code: 'CONSOLE_INVALID_BODY' },
  { name: 'a negative fromStep', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: '{"fromStep": -1}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'fromStep' },
  { name: 'a fromStep past any safe integer', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: '{"fromStep": 1e300}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'fromStep' },
  { name: 'a fromStep as a string', method: 'POST', path: '/api/workflows/ok-1/fork', headers: JSON_HEADERS, body: '{"fromStep": "1"}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'fromStep' },
  { name: 'an unknown body field', method: 'POST', path: '/api/workflows/ok-1/restart', headers: JSON_HEADERS, body: '{"workflowID": "typo"}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'unknown field' },
  { name: 'a new workflow ID that is a number', method: 'POST', path: '/api/workflows/ok-1/restart', headers: JSON_HEADERS, body: '{"workflowId": 42}', status: 400, code: 'CONSOLE_INVALID_BODY', says: 'non-empty string' },
  // Routes.
  { name: 'an unknown API route', path: '/api/nothing-here', status: 404, code: 'CONSOLE_NOT_FOUND' },
  { name: 'an unknown workflow', path: '/api/workflows/no-such-workflow', status: 404, code: 'STRATA_WORKFLOW_NOT_FOUND' },
];

describe('bad input to the console', { skip }, () => {
  let url: string;
  let db: Database;
  let strataConsole: RunningConsole;

  /** Every workflow row and step, as one text: unchanged by a refused request. */
  const snapshot = async () => JSON.stringify((await db.query('select w.*, (select count(*) from strata.steps s where s.workflow_id = w.workflow_id) as steps from strata.workflows w order by workflow_id')).rows);

  before(async () => {
    url = await freshPostgresUrl();
    await (await StrataClient.connect({ database: url })).close(); // migrates
    db = await openDatabase(url);
    await db.query(
      `insert into strata.workflows (workflow_id, name, status, inputs, output, executor_id, app_version, created_at, updated_at, completed_at)
       values ('ok-1', 'three', 'SUCCESS', '{"json":["x"]}', '{"json":"done"}', 'bad-input-test', '0', now(), now(), now())`,
    );
    strataConsole = await startConsole({ database: url });
  });

  after(async () => {
    await strataConsole?.close();
    await db?.close();
  });

  test('each malformed request gets its status and typed error; nothing changes and the list still answers 200', async () => {
    const unchanged = await snapshot();
    for (const bad of BAD_REQUESTS) {
      const what = `${bad.method ?? 'GET'} ${bad.name}`;
      const answer = await send(strataConsole.url, bad.method ?? 'GET', bad.path, bad.headers, bad.body);
      const message = typedError(answer, bad.status, bad.code, what);
      if (bad.says !== undefined) assert.ok(message.includes(bad.says), `${what}: ${JSON.stringify(message)} should mention ${JSON.stringify(bad.says)}`);
      assert.equal(await snapshot(), unchanged, `${what}: nothing changed`);
      const list = await send(strataConsole.url, 'GET', '/api/workflows');
      assert.equal(list.status, 200, `${what}: the list afterwards: ${list.body.slice(0, 300)}`);
      assert.deepEqual((JSON.parse(list.body) as { workflows: { workflowId: string }[] }).workflows.map((w) => w.workflowId), ['ok-1']);
    }
  });

  test('requests that are not HTTP get a typed 400 on a raw socket, and the server keeps serving', async () => {
    const garbage = await sendRaw(strataConsole.url, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.match(garbage, /"code":"CONSOLE_BAD_REQUEST"/);
    const overflow = await sendRaw(strataConsole.url, `GET /api/workflows?name=${'a'.repeat(200_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(overflow, /^HTTP\/1\.1 414 URI Too Long\r\n/);
    assert.match(overflow, /"code":"CONSOLE_URL_TOO_LONG"/);
    const headers = await sendRaw(strataConsole.url, `GET /api/workflows HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(200_000)}\r\n\r\n`);
    assert.match(headers, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.equal((await send(strataConsole.url, 'GET', '/api/workflows')).status, 200);
  });
});

describe('the console while its database is down', { skip }, () => {
  let cluster: PgCluster;
  let strataConsole: RunningConsole;

  before(async () => {
    cluster = await startCluster();
    await (await StrataClient.connect({ database: cluster.url })).close(); // migrates
    strataConsole = await startConsole({ database: cluster.url });
  });

  after(async () => {
    await strataConsole?.close();
    await cluster?.stop();
  });

  test('answers 503 STRATA_DATABASE_UNAVAILABLE with Retry-After while PostgreSQL is stopped, and 200 once it is back', async () => {
    assert.equal((await send(strataConsole.url, 'GET', '/api/workflows')).status, 200, 'up before');
    await pgCtl(cluster, 'stop', '-m', 'fast');
    for (const path of ['/api/workflows', '/api/workflows/some-id', '/api/workflows/some-id/steps', '/api/queues', '/api/schedules', '/api/executors']) {
      const answer = await send(strataConsole.url, 'GET', path);
      const message = typedError(answer, 503, 'STRATA_DATABASE_UNAVAILABLE', `GET ${path} while down`);
      assert.match(message, /retry/i);
      assert.equal(answer.headers['retry-after'], '5');
    }
    const cancel = await send(strataConsole.url, 'POST', '/api/workflows/some-id/cancel');
    typedError(cancel, 503, 'STRATA_DATABASE_UNAVAILABLE', 'POST cancel while down');

    await pgCtl(cluster, 'restart');
    const deadline = Date.now() + RECOVERY_WAIT_MS;
    let answer = await send(strataConsole.url, 'GET', '/api/workflows');
    // The pool may hand out a connection the restart ended once more; then it reconnects.
    while (answer.status !== 200 && Date.now() < deadline) {
      typedError(answer, 503, 'STRATA_DATABASE_UNAVAILABLE', 'GET while coming back');
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await send(strataConsole.url, 'GET', '/api/workflows');
    }
    assert.equal(answer.status, 200, `up again: ${answer.body.slice(0, 300)}`);
    assert.deepEqual(JSON.parse(answer.body), { workflows: [], nextCursor: null });
  });
});

/**
 * Runs pg_ctl on the cluster's data directory as the user that owns it. `restart` on a stopped
 * server starts it with the options of its last start (postmaster.opts), so on the same port.
 */
async function pgCtl(cluster: PgCluster, command: 'stop' | 'restart', ...args: string[]): Promise<void> {
  const binDir = findPostgresBinDir();
  assert.ok(binDir, 'the PostgreSQL server binaries are installed (startCluster found them)');
  const pgCtlArgs = ['-D', cluster.dataDir, '-l', join(cluster.dataDir, '..', 'log'), '-w', command, ...args];
  const owner = statSync(cluster.dataDir).uid;
  const asOwner = process.getuid?.() === 0 && owner !== 0;
  const [file, argv] = asOwner
    ? ['runuser', ['-u', (await promisify(execFile)('id', ['-nu', String(owner)])).stdout.trim(), '--', join(binDir, 'pg_ctl'), ...pgCtlArgs]]
    : [join(binDir, 'pg_ctl'), pgCtlArgs];
  await promisify(execFile)(file, argv, { timeout: 90_000 });
}
