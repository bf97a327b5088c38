// The engine as a whole: configuration errors, unreachable or malformed databases, several
// independent engines in one process, and an engine over a database whose notifications are
// polled (the fallback for engines without LISTEN/NOTIFY).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DatabaseUnreachableError, InvalidDatabaseUrlError, openDatabase, type Database } from '@strata/store';
import { EngineStateError, InvalidArgumentError, Strata } from '@strata/transact';
import { engines, freshDatabaseUrl, freshPostgresUrl } from '@strata/testing';
import { quiet } from './helpers.js';

describe('engine configuration', () => {
  test('invalid config values throw InvalidArgumentError naming the option', () => {
    assert.throws(() => new Strata({ executorId: '' }), (error: unknown) => error instanceof InvalidArgumentError && /executorId/.test(error.message));
    assert.throws(() => new Strata({ appVersion: 7 as unknown as string }), (error: unknown) => error instanceof InvalidArgumentError && /appVersion/.test(error.message));
    assert.throws(() => new Strata({ maxValueBytes: 0 }), (error: unknown) => error instanceof InvalidArgumentError && /maxValueBytes/.test(error.message));
    assert.throws(() => new Strata({ maxRecoveryAttempts: 1.5 }), (error: unknown) => error instanceof InvalidArgumentError && /maxRecoveryAttempts/.test(error.message));
    assert.throws(() => new Strata({ safetyPollIntervalMs: -1 }), (error: unknown) => error instanceof InvalidArgumentError && /safetyPollIntervalMs/.test(error.message));
    assert.throws(() => new Strata('postgres://x' as never), (error: unknown) => error instanceof InvalidArgumentError);
  });

  test('a malformed database URL fails launch with InvalidDatabaseUrlError, and the engine stays unusable', async () => {
    const strata = new Strata({ database: 'mysql://db.example/app', logger: quiet });
    await assert.rejects(strata.launch(), InvalidDatabaseUrlError);
    await assert.rejects(strata.launch(), EngineStateError);
    await assert.rejects(strata.retrieve('x').status(), EngineStateError);
  });

  test('an unreachable database fails launch with DatabaseUnreachableError that names the server but not the password', async () => {
    const strata = new Strata({ database: 'postgres://app:hunter2-secret@127.0.0.1:1/app', logger: quiet });
    await assert.rejects(strata.launch(), (error: unknown) => {
      assert.ok(error instanceof DatabaseUnreachableError);
      assert.match(error.message, /127\.0\.0\.1:1/);
      assert.doesNotMatch(error.message, /hunter2-secret/);
      return true;
    });
  });

  test('a database option that is neither a URL nor a Database throws InvalidArgumentError at launch', async () => {
    const strata = new Strata({ database: { nope: true } as unknown as Database, logger: quiet });
    await assert.rejects(strata.launch(), InvalidArgumentError);
  });
});

describe('several engines in one process (postgres)', () => {
  const strataA = (url: string) => new Strata({ database: url, logger: quiet });
  let first: Strata;
  let second: Strata;
  let counts: { first: number; second: number };

  before(async () => {
    counts = { first: 0, second: 0 };
    first = strataA(await freshPostgresUrl());
    second = strataA(await freshPostgresUrl());
    first.workflow('count', async (ctx) => ctx.step('bump', () => ++counts.first));
    second.workflow('count', async (ctx) => ctx.step('bump', () => ++counts.second));
    await Promise.all([first.launch(), second.launch()]);
  });
  after(async () => {
    await Promise.all([first?.shutdown(), second?.shutdown()]);
  });

  test('engines on different databases keep separate registries and separate workflow rows', async () => {
    assert.equal(await (await first.startByName('count', [], { workflowId: 'same-id' })).result(), 1);
    assert.equal(await (await second.startByName('count', [], { workflowId: 'same-id' })).result(), 1);
    assert.deepEqual(counts, { first: 1, second: 1 });
    const rows = await first.systemDatabase.query<{ n: number }>('select count(*)::int as n from strata.workflows');
    assert.equal(rows.rows[0]!.n, 1);
  });
});

for (const kind of engines()) {
  describe(`an engine over a polled-notification database (${kind})`, () => {
    let db: Database;
    let strata: Strata;
    let waiter: ReturnType<typeof register>;
    let nestedInStep: ReturnType<typeof registerNested>['inStep'];
    let nestedInTransaction: ReturnType<typeof registerNested>['inTransaction'];
    const register = (engine: Strata) => engine.workflow('wait-for-mail', async (ctx) => ctx.recv<string>('mail', { timeoutMs: 20_000 }));
    const registerNested = (engine: Strata) => ({
      inStep: engine.workflow('nested-in-step', async (ctx) => ctx.step('outer', () => ctx.step('inner', () => 1))),
      inTransaction: engine.workflow('nested-in-transaction', async (ctx) => ctx.transaction('outer-tx', async () => ctx.now())),
    });

    before(async () => {
      db = await openDatabase({ url: await freshDatabaseUrl(kind), notifications: 'poll', pollIntervalMs: 25 });
      // The safety poll is far away, so only a delivered notification can wake the waiter in time.
      strata = new Strata({ database: db, safetyPollIntervalMs: 15_000, logger: quiet });
      waiter = register(strata);
      ({ inStep: nestedInStep, inTransaction: nestedInTransaction } = registerNested(strata));
      await strata.launch();
    });
    after(async () => {
      await strata?.shutdown();
      await db?.close();
    });

    test('a message wakes a waiting workflow through the polled notifications table', async () => {
      const handle = await waiter.start();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const sentAt = Date.now();
      await strata.send(handle.workflowId, 'hello', { topic: 'mail' });
      assert.equal(await handle.result(), 'hello');
      assert.ok(Date.now() - sentAt < 5_000, 'woken by a notification, well before the 15 s safety poll');
    });

    test('a durable operation called inside a step or transaction fails the workflow with a clear error and records nothing for it', async () => {
      for (const [workflow, outer] of [[nestedInStep, 'outer'], [nestedInTransaction, 'outer-tx']] as const) {
        const handle = await workflow.start();
        await assert.rejects(handle.result(), (error: Error) => {
          assert.equal(error.name, 'InvalidArgumentError');
          assert.match(error.message, new RegExp(`inside "${outer}"`));
          return true;
        });
        assert.equal((await handle.status()).status, 'ERROR');
        const { rows } = await db.query<{ name: string }>('select name from strata.steps where workflow_id = $1', [handle.workflowId]);
        assert.ok(rows.every((row) => row.name === outer), `only the outer operation may be recorded, got ${rows.map((row) => row.name).join(', ')}`);
      }
    });

    test('shutdown leaves a Database passed in by the caller open', async () => {
      const other = new Strata({ database: db, logger: quiet, executorId: 'other' });
      await other.launch();
      await other.shutdown();
      const { rows } = await db.query<{ one: number }>('select 1 as one');
      assert.equal(rows[0]!.one, 1);
    });
  });
}
