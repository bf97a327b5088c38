// The cloud commands' own checks, before any call: where the API and key come from, flag values,
// passwords from stdin, and which exit code each HTTP status means. No server is needed for these.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { UsageError } from '../src/errors.js';
import { main } from '../src/main.js';
import { exitCodeForStatus } from '../src/commands/cloud/api-client.js';
import { DEFAULT_API_URL, resolveApi } from '../src/commands/cloud/context.js';
import { parseParameters, parsePrivilege } from '../src/commands/cloud/flags.js';
import { readPassword } from '../src/commands/cloud/password.js';
import { DEFAULT_WAIT_TIMEOUT_MS, parseWaitTimeout } from '../src/commands/cloud/wait.js';

/** A stdin that holds `text`, as a pipe would. */
function pipedStdin(text: string): NodeJS.ReadStream {
  const stream = new PassThrough();
  stream.end(text);
  return stream as unknown as NodeJS.ReadStream;
}

/** A stderr that keeps what is written to it. */
function capturedStderr(): NodeJS.WriteStream & { text: string } {
  const sink = { text: '', write(chunk: string) { sink.text += chunk; return true; } };
  return sink as unknown as NodeJS.WriteStream & { text: string };
}

describe('where the API and its key come from', () => {
  test('flags win over the environment, which wins over the default URL', () => {
    assert.deepEqual(resolveApi({ apiKey: 'sk_flag', apiUrl: 'http://flag:1' }, { STRATA_API_KEY: 'sk_env', STRATA_API_URL: 'http://env:2' }), { baseUrl: 'http://flag:1', apiKey: 'sk_flag' });
    assert.deepEqual(resolveApi({}, { STRATA_API_KEY: 'sk_env', STRATA_API_URL: 'http://env:2' }), { baseUrl: 'http://env:2', apiKey: 'sk_env' });
    assert.deepEqual(resolveApi({}, { STRATA_API_KEY: 'sk_env' }), { baseUrl: DEFAULT_API_URL, apiKey: 'sk_env' });
  });

  test('no key, or a URL that is not http(s), is a usage error that says what to set', () => {
    assert.throws(() => resolveApi({}, {}), (error: unknown) => error instanceof UsageError && /STRATA_API_KEY/.test(error.message));
    assert.throws(() => resolveApi({ apiUrl: 'ftp://x' }, { STRATA_API_KEY: 'k' }), (error: unknown) => error instanceof UsageError && /http:\/\//.test(error.message));
    assert.throws(() => resolveApi({ apiUrl: 'not a url' }, { STRATA_API_KEY: 'k' }), UsageError);
  });

  test('a command refused for its flags exits 2 before it needs a key', async () => {
    let stderr = '';
    const code = await main(['instances', 'create', 'x', '--flavor', 'tiny', '--param', 'oops'], { stdout() {}, stderr: (text) => void (stderr += text) }, {});
    assert.equal(code, 2);
    assert.match(stderr, /--param "oops" is not name=value/);
  });
});

describe('flag values', () => {
  test('--param name=value, repeatable, each name once', () => {
    assert.deepEqual(parseParameters(['work_mem=8MB', 'statement_timeout=30s', 'search_path=a,b=c']), { work_mem: '8MB', statement_timeout: '30s', search_path: 'a,b=c' });
    assert.throws(() => parseParameters(['work_mem']), /not name=value/);
    assert.throws(() => parseParameters(['a=1', 'a=2']), /given twice/);
  });

  test('--wait-timeout takes seconds or minutes', () => {
    assert.equal(parseWaitTimeout(undefined), DEFAULT_WAIT_TIMEOUT_MS);
    assert.equal(parseWaitTimeout('90'), 90_000);
    assert.equal(parseWaitTimeout('90s'), 90_000);
    assert.equal(parseWaitTimeout('5m'), 300_000);
    for (const bad of ['0', 'soon', '-1s', '1h']) assert.throws(() => parseWaitTimeout(bad), UsageError, bad);
  });

  test('--privilege is all or read', () => {
    assert.equal(parsePrivilege(undefined), 'all');
    assert.equal(parsePrivilege('READ'), 'read');
    assert.throws(() => parsePrivilege('write'), /valid: all, read/);
  });
});

describe('passwords', () => {
  test('--password-stdin reads the first line only, without its line ending', async () => {
    assert.equal(await readPassword({ passwordStdin: true }, 'alice', { stdin: pipedStdin('s3cret pass\r\nsecond line\n'), stderr: capturedStderr() }), 's3cret pass');
  });

  test('--password works but warns that argv is visible', async () => {
    const stderr = capturedStderr();
    assert.equal(await readPassword({ password: 'on-the-line' }, 'alice', { stdin: pipedStdin(''), stderr }), 'on-the-line');
    assert.match(stderr.text, /warning: --password puts the password in the process list/);
  });

  test('without a terminal and without a flag, or with an empty line, it is a usage error', async () => {
    await assert.rejects(readPassword({}, 'alice', { stdin: pipedStdin(''), stderr: capturedStderr() }), (error: unknown) => error instanceof UsageError && /--password-stdin/.test(error.message));
    await assert.rejects(readPassword({ passwordStdin: true }, 'alice', { stdin: pipedStdin('\n'), stderr: capturedStderr() }), /empty/);
    await assert.rejects(readPassword({ passwordStdin: true, password: 'x' }, 'alice', { stdin: pipedStdin(''), stderr: capturedStderr() }), /not both/);
  });
});

test('HTTP statuses map to the exit codes scripts branch on', () => {
  assert.deepEqual(
    [400, 401, 403, 404, 409, 413, 422, 500, 503].map((status) => [status, exitCodeForStatus(status)]),
    [[400, 2], [401, 1], [403, 1], [404, 3], [409, 4], [413, 2], [422, 2], [500, 5], [503, 5]],
  );
});
