import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DatabaseCrashedError,
  DatabaseUnreachableError,
  InvalidArgumentError,
  InvalidDatabaseUrlError,
  StoreError,
  openDatabase,
  redact,
  type OpenDatabaseOptions,
} from '@strata/store';
import { engines, freshPgliteDir, freshPostgresUrl } from '@strata/testing';

const PASSWORD = 's3cret-pw';

/** Resolves with the error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('openDatabase URL checks', () => {
  test("'' and blank URLs are rejected with InvalidDatabaseUrlError saying the URL is empty", async () => {
    for (const url of ['', '   ']) {
      const error = await rejection(openDatabase(url));
      assert.ok(error instanceof InvalidDatabaseUrlError);
      assert.equal(error.code, 'STRATA_INVALID_DATABASE_URL');
      assert.match(error.message, /empty/);
      assert.match(error.message, /postgres:\/\//);
    }
    assert.ok((await rejection(openDatabase({ url: '' }))) instanceof InvalidDatabaseUrlError);
  });

  test("'mysql://x/y' is rejected with InvalidDatabaseUrlError naming the scheme and the supported ones", async () => {
    const error = await rejection(openDatabase('mysql://x/y'));
    assert.ok(error instanceof InvalidDatabaseUrlError);
    assert.match(error.message, /mysql:\/\//);
    assert.match(error.message, /postgres:\/\/user:password@host:port\/database/);
    assert.match(error.message, /memory:\/\//);
  });

  test("'postgres://' without a host is rejected with InvalidDatabaseUrlError saying it names no host", async () => {
    for (const url of ['postgres://', 'postgresql://', 'postgres:///db']) {
      const error = await rejection(openDatabase(url));
      assert.ok(error instanceof InvalidDatabaseUrlError, `${url}: ${error.message}`);
      assert.match(error.message, /names no host/);
    }
  });

  test("a malformed 'postgres://u:p@[bad' is rejected with InvalidDatabaseUrlError saying it cannot be parsed", async () => {
    const error = await rejection(openDatabase('postgres://u:p@[bad'));
    assert.ok(error instanceof InvalidDatabaseUrlError);
    assert.match(error.message, /cannot be parsed/);
    assert.match(error.message, /expected postgres:\/\/user:password@host:port\/database/);
  });

  test('the password never appears in the message of a rejected URL', async () => {
    const urls = [
      `postgres://u:${PASSWORD}@[bad`,
      `postgres://u:${PASSWORD}@`,
      `postgres://u:${PASSWORD}@/db`,
      `postgresql://u:${PASSWORD}@[::1/db`,
    ];
    for (const url of urls) {
      const error = await rejection(openDatabase(url));
      assert.ok(error instanceof InvalidDatabaseUrlError, `${url}: ${error.message}`);
      assert.ok(!error.message.includes(PASSWORD), `password leaked for ${url}: ${error.message}`);
    }
  });

  test("no part of a password containing ':' appears in the message of a rejected URL", async () => {
    // An unencoded ':' is valid inside a password (only the first one separates user and password).
    const url = 'postgres://u:s3cret:pw@[bad';
    const error = await rejection(openDatabase(url));
    assert.ok(error instanceof InvalidDatabaseUrlError, error.message);
    assert.ok(!error.message.includes('s3cret'), `part of the password leaked: ${error.message}`);
  });

  describe('a malformed URL never echoes its password', () => {
    // Each URL is rejected before any connection is tried; the message may quote the URL, masked.
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['one slash after the scheme', `postgres:/user:${PASSWORD}@host/db`],
      ['one slash, postgresql: scheme', `postgresql:/user:${PASSWORD}@host/db`],
      ['no slash after the scheme', `postgres:user:${PASSWORD}@host/db`],
      ['no slash and no host', `postgres:user:${PASSWORD}`],
      ['upper-case scheme with one slash', `POSTGRES:/user:${PASSWORD}@host/db`],
      ["a password holding '@' and a bad port", `postgres://user:${PASSWORD}@x@host:port/db`],
      ["a password holding '/'", `postgres://user:${PASSWORD}/x@host/db`],
      ["a password holding '?' and '#'", `postgres://user:${PASSWORD}?#x@host:bad/db`],
      ['one slash and a password holding @ and /', `postgres:/user:${PASSWORD}@/x@host/db`],
      ['a forgotten host, so the password looks like a port', `postgres://user:${PASSWORD}`],
      ['a secret ?password= parameter in an unparsable URL', `postgres://user@[bad/db?password=${PASSWORD}&sslmode=disable`],
      ['a secret ?sslpassword= parameter with one slash', `postgres:/user@host/db?sslpassword=${PASSWORD}`],
      ['a secret parameter in capitals', `postgres://user@[bad/db?PASSWORD=${PASSWORD}`],
      ['leading whitespace (not taken for a directory path)', `  postgres://user:${PASSWORD}@[bad`],
    ];
    for (const [what, url] of cases) {
      test(`${what}: InvalidDatabaseUrlError without the password`, async () => {
        const error = await rejection(openDatabase({ url, connectTimeoutMs: 500 }));
        assert.ok(error instanceof InvalidDatabaseUrlError, `${url}: ${error.name} ${error.message}`);
        assert.equal((error as InvalidDatabaseUrlError).code, 'STRATA_INVALID_DATABASE_URL');
        assert.ok(!error.message.includes(PASSWORD), `password leaked for ${url}: ${error.message}`);
        assert.match(error.message, /postgres:\/\/user:password@host:port\/database/, 'the message shows the expected form');
      });
    }
  });

  test('redact() replaces the password of a URL', () => {
    assert.equal(redact(`postgres://u:${PASSWORD}@db.example.com:5433/app`), 'postgres://u:***@db.example.com:5433/app');
    assert.equal(redact('postgres://u@db.example.com/app'), 'postgres://u@db.example.com/app');
  });

  test('redact() hides secret query parameters whatever their case', () => {
    const redacted = redact(`postgres://u@db.example.com/app?Password=${PASSWORD}&SSLPASSWORD=${PASSWORD}`);
    assert.ok(!redacted.includes(PASSWORD), redacted);
  });

  test('redact() hides a password given as a ?password= query parameter', () => {
    // pg reads every query parameter of the URL into its connection config, password included.
    const redacted = redact(`postgres://u@db.example.com/app?password=${PASSWORD}&sslmode=disable`);
    assert.ok(!redacted.includes(PASSWORD), redacted);
    assert.match(redacted, /sslmode=disable/);
  });
});

describe('openDatabase on an unreachable server', () => {
  test('a refused connection gives DatabaseUnreachableError naming host and port, without the password', async () => {
    const error = await rejection(openDatabase({ url: `postgres://u:${PASSWORD}@127.0.0.1:1/db`, connectTimeoutMs: 500 }));
    assert.ok(error instanceof DatabaseUnreachableError);
    assert.ok(error instanceof StoreError);
    assert.equal(error.code, 'STRATA_DATABASE_UNREACHABLE');
    assert.match(error.message, /127\.0\.0\.1:1\b/);
    assert.match(error.message, /Check that the server is running/);
    assert.ok(!error.message.includes(PASSWORD), error.message);
    assert.ok(error.cause !== undefined, 'the driver error is kept as the cause');
  });

  test('a password in a ?password= query parameter does not appear in DatabaseUnreachableError', async () => {
    const error = await rejection(openDatabase({ url: `postgres://u@127.0.0.1:1/db?password=${PASSWORD}`, connectTimeoutMs: 500 }));
    assert.ok(error instanceof DatabaseUnreachableError);
    assert.ok(!error.message.includes(PASSWORD), error.message);
  });

  test('a server that accepts TCP but never answers gives DatabaseUnreachableError after connectTimeoutMs', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => sockets.add(socket)); // accepts, never speaks
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const startedMs = Date.now();
      const error = await rejection(openDatabase({ url: `postgres://u:${PASSWORD}@127.0.0.1:${port}/db`, connectTimeoutMs: 300 }));
      const elapsedMs = Date.now() - startedMs;
      assert.ok(error instanceof DatabaseUnreachableError);
      assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message);
      assert.ok(!error.message.includes(PASSWORD), error.message);
      assert.ok(elapsedMs >= 250 && elapsedMs < 3_000, `took ${elapsedMs} ms for a 300 ms timeout`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('openDatabase options', () => {
  test('a non-positive or non-finite poolSize, pollIntervalMs or connectTimeoutMs is rejected with InvalidArgumentError', async () => {
    // An unreachable server: if a check were missing, the error would be DatabaseUnreachableError instead.
    const url = 'postgres://u@127.0.0.1:1/db';
    const bad: OpenDatabaseOptions[] = [
      { url, poolSize: 0 },
      { url, poolSize: -3 },
      { url, poolSize: Number.POSITIVE_INFINITY },
      { url, pollIntervalMs: -1 },
      { url, pollIntervalMs: 0, notifications: 'poll' },
      { url, connectTimeoutMs: Number.NaN },
      { url: 'memory://', pollIntervalMs: -1 },
    ];
    for (const options of bad) {
      const error = await rejection(openDatabase(options));
      assert.ok(error instanceof InvalidArgumentError, `${JSON.stringify(options)}: ${error.name} ${error.message}`);
      assert.equal(error.code, 'STRATA_INVALID_ARGUMENT');
    }
  });

  test("notifications: 'bogus' is rejected with InvalidArgumentError listing the valid modes", async () => {
    const error = await rejection(
      openDatabase({ url: 'postgres://u@127.0.0.1:1/db', notifications: 'bogus' as OpenDatabaseOptions['notifications'] }),
    );
    assert.ok(error instanceof InvalidArgumentError);
    assert.match(error.message, /'auto', 'listen' or 'poll'/);
    assert.match(error.message, /bogus/);
  });

  test('a target that is neither a string nor an options object is rejected with InvalidArgumentError', async () => {
    const error = await rejection(openDatabase(null as unknown as string));
    assert.ok(error instanceof InvalidArgumentError);
  });
});

if (engines().includes('pglite')) {
  test("'memory://' opens an in-memory PGlite database in listen mode", async () => {
    const db = await openDatabase('memory://');
    try {
      assert.equal(db.engine, 'pglite');
      assert.equal(db.notificationMode, 'listen');
      assert.match(db.description, /memory/);
      assert.deepEqual((await db.query<{ n: number }>('select 1 as n')).rows, [{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  test('a directory path opens PGlite and the description names the directory', async () => {
    const dir = await freshPgliteDir();
    const db = await openDatabase({ url: dir, notifications: 'poll', pollIntervalMs: 50 });
    try {
      assert.equal(db.engine, 'pglite');
      assert.equal(db.notificationMode, 'poll');
      assert.ok(db.description.includes(dir), db.description);
    } finally {
      await db.close();
    }
  });

  test('an empty postmaster.pid left by a process killed while PGlite started does not stop the next open', async () => {
    const dir = await freshPgliteDir();
    const first = await openDatabase(dir);
    await first.query('create table kept (id integer)');
    await first.query('insert into kept values (1)');
    await first.close();
    await writeFile(join(dir, 'pgdata', 'postmaster.pid'), '');
    const again = await openDatabase(dir);
    try {
      assert.deepEqual((await again.query<{ id: number }>('select id from kept')).rows, [{ id: 1 }]);
    } finally {
      await again.close();
    }
  });

  test("a directory whose files PostgreSQL refuses gives DatabaseCrashedError quoting PostgreSQL's reason, and releases the directory", async () => {
    const dir = await freshPgliteDir();
    await (await openDatabase(dir)).close();
    await writeFile(join(dir, 'pgdata', 'global', 'pg_control'), Buffer.alloc(8192, 7)); // a damaged control file
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = await rejection(openDatabase(dir));
      assert.ok(error instanceof DatabaseCrashedError, error.message);
      assert.equal(error.code, 'STRATA_DATABASE_CRASHED');
      assert.match(error.message, /could not start/);
      assert.match(error.message, /FATAL: +database files are incompatible with server/, "PostgreSQL's own reason is quoted");
      assert.match(error.message, /restore/, 'the message says what to do');
    }
    await assert.rejects(readFile(join(dir, 'lock')), { code: 'ENOENT' }, 'the failed open released the lock');
  });
}

if (engines().includes('postgres')) {
  test('a postgres:// or postgresql:// URL opens PostgreSQL; the description keeps host and database but not the password', async () => {
    const url = new URL(await freshPostgresUrl());
    url.password = PASSWORD; // the test cluster trusts local connections, so any password works
    const databaseName = url.pathname.slice(1);
    for (const scheme of ['postgres:', 'postgresql:']) {
      const withScheme = `${scheme}${url.toString().slice(url.protocol.length)}`;
      const db = await openDatabase(withScheme);
      try {
        assert.equal(db.engine, 'postgres');
        assert.equal(db.notificationMode, 'listen');
        assert.ok(!db.description.includes(PASSWORD), db.description);
        assert.ok(db.description.includes(url.host), db.description);
        assert.ok(db.description.includes(databaseName), db.description);
        assert.deepEqual((await db.query<{ n: number }>('select 1 as n')).rows, [{ n: 1 }]);
      } finally {
        await db.close();
      }
    }
  });

  test("notifications 'poll', 'listen' and 'auto' give the matching notificationMode on PostgreSQL", async () => {
    const url = await freshPostgresUrl();
    const expected = { poll: 'poll', listen: 'listen', auto: 'listen' } as const;
    for (const [notifications, mode] of Object.entries(expected)) {
      const db = await openDatabase({ url, notifications: notifications as keyof typeof expected });
      try {
        assert.equal(db.notificationMode, mode, notifications);
        assert.equal(db.engine, 'postgres');
      } finally {
        await db.close();
      }
    }
  });

  test('a password in a ?password= query parameter does not appear in db.description', async () => {
    const url = new URL(await freshPostgresUrl());
    url.searchParams.set('password', PASSWORD);
    const db = await openDatabase(url.toString());
    try {
      assert.ok(!db.description.includes(PASSWORD), db.description);
    } finally {
      await db.close();
    }
  });
}
