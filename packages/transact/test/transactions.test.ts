// Transactions: writes and results, exactly-once effects across a restart, rollback on error,
// isolation, non-serializable results and a separate application database.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NotSerializableError, Serializer, Strata } from '@strata/transact';
import { openDatabase, type Database, type Queryable } from '@strata/store';
import { engines, freshDatabaseUrl, freshPgliteDir, freshPostgresUrl, type EngineKind } from '@strata/testing';
import { countRows, launchWithin, quiet, randomId as uniqueId, stepRows, WAIT_MS, waitFor } from './helpers.js';

const APP_EFFECTS_DDL = 'create table if not exists app_effects (workflow_id text not null, note text not null)';

/** Errors caught inside workflows, for instanceof checks the stored copy cannot give. */
const caught = new Map<string, unknown>();

function effectsOf(db: Queryable, workflowId: string): Promise<number> {
  return countRows(db, 'select 1 from app_effects where workflow_id = $1', [workflowId]);
}

async function insertEffect(tx: Queryable, workflowId: string, note: string): Promise<void> {
  await tx.query('insert into app_effects (workflow_id, note) values ($1, $2)', [workflowId, note]);
}

async function isolationOf(tx: Queryable): Promise<string> {
  const { rows } = await tx.query<{ transaction_isolation: string }>('show transaction_isolation');
  return rows[0]!.transaction_isolation;
}

/** Every workflow the blocks need, registered on a new (unlaunched) engine. */
function createApp(database: string, appDatabase?: string) {
  const strata = new Strata({ database, appDatabase, logger: quiet });
  const writes = strata.workflow('writes', async (ctx, note: string) => {
    return ctx.transaction('insert-effect', async (tx) => {
      await insertEffect(tx, ctx.workflowId, note);
      const { rows } = await tx.query<{ notes: string[] }>('select array_agg(note) as notes from app_effects where workflow_id = $1', [ctx.workflowId]);
      return { notes: rows[0]!.notes, isolation: await isolationOf(tx) };
    });
  });
  const effectThenWait = strata.workflow('effect-then-wait', async (ctx) => {
    const inserted = await ctx.transaction('insert-effect', async (tx) => {
      await insertEffect(tx, ctx.workflowId, 'once');
      return 'inserted';
    });
    const got = await ctx.recv<string>('go', { timeoutMs: Infinity });
    return { inserted, got };
  });
  const rollsBack = strata.workflow('rolls-back', async (ctx) => {
    let failure: { message: string; code: unknown };
    try {
      await ctx.transaction('refused', async (tx) => {
        await insertEffect(tx, ctx.workflowId, 'must not stay');
        throw Object.assign(new Error('credit limit exceeded'), { code: 'E_LIMIT' });
      });
      return 'unreachable';
    } catch (error) {
      failure = { message: (error as Error).message, code: (error as { code?: unknown }).code };
    }
    const after = await ctx.transaction('after', async (tx) => {
      await insertEffect(tx, ctx.workflowId, 'after the failure');
      return 'continued';
    });
    return { failure, after };
  });
  const serializable = strata.workflow('serializable', async (ctx) => {
    return ctx.transaction('level', (tx) => isolationOf(tx), { isolation: 'serializable' });
  });
  const returnsFunction = strata.workflow('returns-function', async (ctx) => {
    try {
      return await ctx.transaction('bad-result', async (tx) => {
        await insertEffect(tx, ctx.workflowId, 'must not stay');
        return { callback: () => 1 };
      });
    } catch (error) {
      caught.set(ctx.workflowId, error);
      throw error;
    }
  });
  return { strata, writes, effectThenWait, rollsBack, serializable, returnsFunction };
}

type App = ReturnType<typeof createApp>;

for (const kind of engines()) {
  describe(`transactions (${kind})`, () => {
    let database: string;
    let app: App;

    before(async () => {
      database = await freshDatabaseUrl(kind);
      app = createApp(database);
      await app.strata.launch();
      await app.strata.systemDatabase.exec(APP_EFFECTS_DDL);
    });

    after(async () => {
      await app.strata.shutdown();
    });

    test('a transaction writes application rows, returns its value and is recorded as a transaction step', async () => {
      const id = uniqueId('writes');
      const result = await (await app.writes.with({ workflowId: id }).start('hello')).result({ timeoutMs: WAIT_MS });
      // The default level, unless the profile allows SERIALIZABLE only (the portable pass of the suite).
      const isolation = app.strata.systemDatabase.profile.capabilities.weakIsolation ? 'read committed' : 'serializable';
      assert.deepEqual(result, { notes: ['hello'], isolation });
      assert.equal(await effectsOf(app.strata.systemDatabase, id), 1);

      const rows = await stepRows(app.strata.systemDatabase, id);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.kind, 'transaction');
      assert.equal(rows[0]!.name, 'insert-effect');
      assert.equal(rows[0]!.error, null);
      assert.deepEqual(new Serializer().deserialize(rows[0]!.output!), result);
    });

    test('a transaction whose body throws rolls back, records the error, and the workflow can catch it and go on', async () => {
      const id = uniqueId('rolls-back');
      const result = await (await app.rollsBack.with({ workflowId: id }).start()).result({ timeoutMs: WAIT_MS });
      assert.deepEqual(result, { failure: { message: 'credit limit exceeded', code: 'E_LIMIT' }, after: 'continued' });

      const { rows: notes } = await app.strata.systemDatabase.query('select note from app_effects where workflow_id = $1', [id]);
      assert.deepEqual(notes, [{ note: 'after the failure' }]);
      const [refused, continued] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(refused!.kind, 'transaction');
      assert.equal(refused!.name, 'refused');
      assert.equal(refused!.output, null);
      assert.notEqual(refused!.error, null);
      assert.equal(continued!.name, 'after');
    });

    test("the isolation option runs the transaction at that level ('serializable')", async () => {
      const result = await (await app.serializable.start()).result({ timeoutMs: WAIT_MS });
      assert.equal(result, 'serializable');
    });

    test('a transaction returning a function fails with NotSerializableError and rolls back its writes', async () => {
      const id = uniqueId('returns-function');
      const handle = await app.returnsFunction.with({ workflowId: id }).start();
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { name: 'NotSerializableError', code: 'STRATA_NOT_SERIALIZABLE' });
      const error = caught.get(id);
      assert.ok(error instanceof NotSerializableError);
      assert.match(error.message, /callback/);
      assert.equal(await effectsOf(app.strata.systemDatabase, id), 0);
    });

    // Restarts last: each replaces the block's engine.

    test('a committed transaction is not repeated after a restart: its effect happens exactly once', async () => {
      const id = uniqueId('exactly-once');
      await app.effectThenWait.with({ workflowId: id }).start();
      await waitFor('the transaction step to be recorded', async () => (await stepRows(app.strata.systemDatabase, id)).length > 0);
      assert.equal(await effectsOf(app.strata.systemDatabase, id), 1);

      await app.strata.shutdown();
      app = createApp(database);
      await launchWithin(app.strata);
      await app.strata.send(id, 'x', { topic: 'go' });

      assert.deepEqual(await app.strata.retrieve(id).result({ timeoutMs: WAIT_MS }), { inserted: 'inserted', got: 'x' });
      assert.equal(await effectsOf(app.strata.systemDatabase, id), 1);
    });
  });
}

/** The system database on `systemKind`, the application database on a separate PostgreSQL database. */
function separateAppDatabaseSuite(systemKind: EngineKind): void {
  describe(`transactions with a separate application database (system ${systemKind}, app postgres)`, () => {
    let systemUrl: string;
    let appUrl: string;
    let appDb: Database;
    let app: App;

    before(async () => {
      systemUrl = systemKind === 'postgres' ? await freshPostgresUrl() : await freshPgliteDir();
      appUrl = await freshPostgresUrl();
      appDb = await openDatabase(appUrl);
      await appDb.exec(APP_EFFECTS_DDL);
      app = createApp(systemUrl, appUrl);
      await app.strata.launch();
    });

    after(async () => {
      await app.strata.shutdown();
      await appDb.close();
    });

    test('effects land in the app database with their output, the step in the system database, exactly once across a restart', async () => {
      const id = uniqueId('separate');
      await app.effectThenWait.with({ workflowId: id }).start();
      await waitFor('the transaction step to be recorded', async () => (await stepRows(app.strata.systemDatabase, id)).length > 0);

      const [step] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(step!.kind, 'transaction');
      assert.equal(step!.name, 'insert-effect');
      assert.equal(await effectsOf(appDb, id), 1);
      assert.equal(await countRows(appDb, 'select 1 from strata.transaction_outputs where workflow_id = $1 and step_id = 0', [id]), 1);
      const { rows } = await app.strata.systemDatabase.query<{ table: string | null }>("select to_regclass('public.app_effects')::text as table");
      assert.equal(rows[0]!.table, null, 'the system database has no app_effects table');

      await app.strata.shutdown();
      app = createApp(systemUrl, appUrl);
      await launchWithin(app.strata);
      await app.strata.send(id, 'x', { topic: 'go' });

      assert.deepEqual(await app.strata.retrieve(id).result({ timeoutMs: WAIT_MS }), { inserted: 'inserted', got: 'x' });
      assert.equal(await effectsOf(appDb, id), 1);
      assert.equal(await countRows(appDb, 'select 1 from strata.transaction_outputs where workflow_id = $1', [id]), 1);
    });
  });
}

if (engines().includes('postgres')) {
  separateAppDatabaseSuite('postgres');
  if (engines().includes('pglite')) separateAppDatabaseSuite('pglite');
}
