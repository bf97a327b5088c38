// Retention of finished workflows: which workflows a pass deletes (by age, by count, in batches),
// that their steps, messages, events, streams and application-database transaction outputs go
// with them, that unfinished work is never touched, and the background task that runs passes.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { loadMigrations, migrate, openDatabase, type Database, type Queryable } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { Strata } from '@strata/transact';
import { InvalidArgumentError } from '../src/errors.js';
import type { Logger } from '../src/interfaces.js';
import { RetentionTask, runRetention, validateRetentionPolicy } from '../src/system/retention.js';
import { LAUNCH_TIMEOUT_MS, countRows, delay, launchOrShutDown, quiet, waitFor } from './helpers.js';

type Status = 'ENQUEUED' | 'PENDING' | 'SUCCESS' | 'ERROR' | 'CANCELLED';

/** A workflow row to seed; each gets two steps, a message, an event and a stream entry. */
interface Seed {
  readonly id: string;
  readonly status: Status;
  /** ISO text (microseconds allowed) or a Date; null or absent for unfinished workflows. */
  readonly completedAt?: string | Date | null;
  readonly parentId?: string;
}

const HOUR_MS = 3600_000;
/** The fixed "now" of passes that take one: completion times are placed relative to it. */
const NOW = new Date('2030-06-01T12:00:00.000Z');

function hoursBefore(hours: number, now = NOW): Date {
  return new Date(now.getTime() - hours * HOUR_MS);
}

async function openMigrated(url: string, component: 'transact' | 'transact-app'): Promise<Database> {
  const db = await openDatabase({ url });
  const folder = component === 'transact' ? '../migrations/' : '../app-migrations/';
  await migrate(db, component, loadMigrations(new URL(folder, import.meta.url)));
  return db;
}

async function seed(db: Queryable, workflows: readonly Seed[]): Promise<void> {
  const completed = workflows.map((w) => (w.completedAt instanceof Date ? w.completedAt.toISOString() : (w.completedAt ?? null)));
  await db.query(
    `insert into strata.workflows (workflow_id, name, status, inputs, executor_id, app_version, parent_workflow_id, created_at, completed_at)
     select id, 'fixture', status, '{"json":[]}',
            case when status = 'ENQUEUED' then null else 'local' end,
            case when status = 'ENQUEUED' then null else '1' end,
            parent, coalesce(completed, now()), completed
       from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) as t(id, status, parent, completed)`,
    [workflows.map((w) => w.id), workflows.map((w) => w.status), workflows.map((w) => w.parentId ?? null), completed],
  );
  const ids = workflows.map((w) => w.id);
  await db.query(
    `insert into strata.steps (workflow_id, step_id, name, kind, output, started_at)
     select id, step_id, 'fixture-step', 'step', '{"json":1}', now() from unnest($1::text[]) as id, generate_series(0, 1) as step_id`,
    [ids],
  );
  await db.query(`insert into strata.messages (destination_id, topic, message) select id, '', '{"json":"hi"}' from unnest($1::text[]) as id`, [ids]);
  await db.query(`insert into strata.events (workflow_id, key, value) select id, 'k', '{"json":1}' from unnest($1::text[]) as id`, [ids]);
  await db.query(
    `insert into strata.streams (workflow_id, key, stream_offset, value) select id, 's', 0, '{"json":1}' from unnest($1::text[]) as id`,
    [ids],
  );
}

/** Seeds `count` finished workflows `<prefix>-<i>`, completed `hours` before `now`, a millisecond apart. */
function finished(prefix: string, count: number, hours: number, now = NOW): Seed[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(3, '0')}`,
    status: (['SUCCESS', 'ERROR', 'CANCELLED'] as const)[i % 3]!,
    completedAt: new Date(hoursBefore(hours, now).getTime() + i),
  }));
}

async function ids(db: Queryable, sql: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`select distinct id from (${sql}) t order by id`);
  return rows.map((row) => row.id);
}

/** The workflow IDs that still own rows in each table. */
async function remaining(db: Queryable): Promise<Record<'workflows' | 'steps' | 'messages' | 'events' | 'streams', string[]>> {
  return {
    workflows: await ids(db, 'select workflow_id as id from strata.workflows'),
    steps: await ids(db, 'select workflow_id as id from strata.steps'),
    messages: await ids(db, 'select destination_id as id from strata.messages'),
    events: await ids(db, 'select workflow_id as id from strata.events'),
    streams: await ids(db, 'select workflow_id as id from strata.streams'),
  };
}

/** What remaining() returns when exactly `kept` survive (every seeded workflow owns rows in every table). */
function only(kept: readonly string[]): Record<'workflows' | 'steps' | 'messages' | 'events' | 'streams', string[]> {
  const sorted = [...kept].sort();
  return { workflows: sorted, steps: sorted, messages: sorted, events: sorted, streams: sorted };
}

async function clear(db: Queryable): Promise<void> {
  await db.query('truncate strata.workflows, strata.steps, strata.messages, strata.events, strata.streams');
}

/** A logger that records warnings. */
function recordingLogger(): Logger & { readonly warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  return { warnings, info() {}, warn: (message, ...details) => void warnings.push([message, ...details]), error() {} };
}

/** `db`, with `query` replaced by `intercept` (which may call through to the real one). */
function intercepted(db: Database, intercept: (sql: string, params: readonly unknown[] | undefined, real: Database['query']) => ReturnType<Database['query']>): Database {
  const real: Database['query'] = db.query.bind(db);
  return new Proxy(db, {
    get(target, property) {
      if (property === 'query') return (sql: string, params?: readonly unknown[]) => intercept(sql, params, real);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const isDelete = (sql: string) => sql.includes('delete from strata.workflows');

describe('validateRetentionPolicy', () => {
  test('a policy of positive integers is returned as it is, unknown keys included', () => {
    const policy = { maxAgeMs: 1, maxCount: 10, intervalMs: 1_000, batchSize: 100_000, note: 'ignored' };
    assert.equal(validateRetentionPolicy(policy), policy);
    assert.deepEqual(validateRetentionPolicy({}), {});
  });

  test('zero, negative, fractional, non-finite and non-number values throw InvalidArgumentError naming the option', () => {
    for (const key of ['maxAgeMs', 'maxCount', 'intervalMs', 'batchSize']) {
      for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null]) {
        assert.throws(
          () => validateRetentionPolicy({ [key]: value }),
          (error: unknown) => error instanceof InvalidArgumentError && error.message.includes(`retention.${key} must be a positive integer`),
          `${key}: ${String(value)}`,
        );
      }
    }
  });

  test('intervalMs beyond what setTimeout honours and batchSize beyond 100,000 throw InvalidArgumentError', () => {
    assert.throws(() => validateRetentionPolicy({ intervalMs: 2 ** 31 }), (error: unknown) => error instanceof InvalidArgumentError && /intervalMs must be at most/.test(error.message));
    assert.throws(() => validateRetentionPolicy({ batchSize: 100_001 }), (error: unknown) => error instanceof InvalidArgumentError && /batchSize must be at most/.test(error.message));
  });

  test('a policy that is not an options object throws InvalidArgumentError', () => {
    for (const value of [undefined, null, 5, 'daily', [1]]) {
      assert.throws(() => validateRetentionPolicy(value), (error: unknown) => error instanceof InvalidArgumentError && /retention must be an options object/.test(error.message));
    }
  });

  test('RetentionTask rejects an invalid policy at construction', () => {
    assert.throws(() => new RetentionTask({ db: {} as Database, policy: { maxCount: -5 }, logger: quiet }), InvalidArgumentError);
  });
});

for (const kind of engines()) {
  describe(`runRetention (${kind})`, () => {
    let db: Database;
    let appDb: Database;

    before(async () => {
      [db, appDb] = await Promise.all([
        freshDatabaseUrl(kind).then((url) => openMigrated(url, 'transact')),
        freshDatabaseUrl(kind).then((url) => openMigrated(url, 'transact-app')),
      ]);
    });
    after(async () => {
      await Promise.all([db?.close(), appDb?.close()]);
    });
    beforeEach(async () => {
      await clear(db);
      await appDb.query('truncate strata.transaction_outputs');
    });

    test('maxAgeMs deletes finished workflows older than the age with all their rows, and keeps recent, PENDING and ENQUEUED ones', async () => {
      await seed(db, [
        { id: 'old-success', status: 'SUCCESS', completedAt: hoursBefore(3) },
        { id: 'old-error', status: 'ERROR', completedAt: hoursBefore(2) },
        { id: 'old-cancelled', status: 'CANCELLED', completedAt: hoursBefore(1.5) },
        { id: 'recent-success', status: 'SUCCESS', completedAt: hoursBefore(0.5) },
        { id: 'old-pending', status: 'PENDING' },
        { id: 'old-enqueued', status: 'ENQUEUED' },
        // Unfinished however its completed_at reads: status decides.
        { id: 'pending-with-completed-at', status: 'PENDING', completedAt: hoursBefore(5) },
      ]);
      const result = await runRetention(db, undefined, { maxAgeMs: HOUR_MS }, NOW);
      assert.deepEqual(result, { deleted: 3, batches: 1 });
      assert.deepEqual(await remaining(db), only(['recent-success', 'old-pending', 'old-enqueued', 'pending-with-completed-at']));
    });

    test('a finished child is kept while its parent is PENDING or ENQUEUED, and deleted once the parent is finished or gone', async () => {
      await seed(db, [
        { id: 'parent-pending', status: 'PENDING' },
        { id: 'parent-enqueued', status: 'ENQUEUED' },
        { id: 'child-of-pending', status: 'SUCCESS', completedAt: hoursBefore(3), parentId: 'parent-pending' },
        { id: 'child-of-enqueued', status: 'ERROR', completedAt: hoursBefore(3), parentId: 'parent-enqueued' },
        { id: 'parent-done', status: 'SUCCESS', completedAt: hoursBefore(2) },
        { id: 'child-of-done', status: 'SUCCESS', completedAt: hoursBefore(3), parentId: 'parent-done' },
        { id: 'child-of-deleted', status: 'SUCCESS', completedAt: hoursBefore(3), parentId: 'parent-long-gone' },
      ]);
      const result = await runRetention(db, undefined, { maxAgeMs: HOUR_MS }, NOW);
      assert.equal(result.deleted, 3);
      assert.deepEqual(await remaining(db), only(['parent-pending', 'parent-enqueued', 'child-of-pending', 'child-of-enqueued']));
    });

    test('maxCount keeps the newest N finished workflows and the unfinished ones; a second pass deletes nothing', async () => {
      const done = finished('done', 10, 1);
      await seed(db, [...done, { id: 'pending', status: 'PENDING' }, { id: 'enqueued', status: 'ENQUEUED' }]);
      assert.deepEqual(await runRetention(db, undefined, { maxCount: 4 }, NOW), { deleted: 6, batches: 1 });
      assert.deepEqual(await remaining(db), only([...done.slice(6).map((w) => w.id), 'pending', 'enqueued']));
      assert.deepEqual(await runRetention(db, undefined, { maxCount: 4 }, NOW), { deleted: 0, batches: 0 });
    });

    test('maxCount at or above the number of finished workflows runs no delete at all', async () => {
      await seed(db, finished('done', 5, 1));
      assert.deepEqual(await runRetention(db, undefined, { maxCount: 5 }, NOW), { deleted: 0, batches: 0 });
      assert.equal((await remaining(db)).workflows.length, 5);
    });

    test('maxCount never cuts into the newest N: workflows completed in the same millisecond as the N-th newest survive', async () => {
      await seed(db, [
        { id: 'newest', status: 'SUCCESS', completedAt: '2030-06-01T11:00:01.000000Z' },
        { id: 'second', status: 'SUCCESS', completedAt: '2030-06-01T11:00:00.000700Z' },
        { id: 'third-same-ms', status: 'ERROR', completedAt: '2030-06-01T11:00:00.000200Z' },
        { id: 'fourth-same-time', status: 'CANCELLED', completedAt: '2030-06-01T11:00:00.000200Z' },
        { id: 'older', status: 'SUCCESS', completedAt: '2030-06-01T10:59:59.999900Z' },
      ]);
      assert.equal((await runRetention(db, undefined, { maxCount: 2 }, NOW)).deleted, 1);
      assert.deepEqual((await remaining(db)).workflows, ['fourth-same-time', 'newest', 'second', 'third-same-ms']);
    });

    test('with both maxAgeMs and maxCount, whichever deletes more applies', async () => {
      // Completed 1 … 6 hours ago.
      const done = [1, 2, 3, 4, 5, 6].map((hours) => ({ id: `done-${hours}h`, status: 'SUCCESS' as const, completedAt: hoursBefore(hours) }));
      await seed(db, done);
      assert.equal((await runRetention(db, undefined, { maxAgeMs: 4.5 * HOUR_MS, maxCount: 3 }, NOW)).deleted, 3);
      assert.deepEqual((await remaining(db)).workflows, ['done-1h', 'done-2h', 'done-3h']);
      assert.equal((await runRetention(db, undefined, { maxAgeMs: 1.5 * HOUR_MS, maxCount: 3 }, NOW)).deleted, 2);
      assert.deepEqual((await remaining(db)).workflows, ['done-1h']);
    });

    test('a policy without maxAgeMs or maxCount deletes nothing and queries nothing', async () => {
      await seed(db, finished('done', 3, 24 * 365));
      let queries = 0;
      const counting = intercepted(db, (sql, params, real) => {
        queries++;
        return real(sql, params);
      });
      assert.deepEqual(await runRetention(counting, undefined, { intervalMs: 10, batchSize: 1 }, NOW), { deleted: 0, batches: 0 });
      assert.equal(queries, 0);
      assert.equal((await remaining(db)).workflows.length, 3);
    });

    test('30 doomed workflows with batchSize 7 are all deleted, in 5 statements of at most 7', async () => {
      const doomed = finished('doomed', 30, 2);
      await seed(db, [...doomed, ...finished('recent', 2, 0.1)]);
      const batchSizes: number[] = [];
      const observed = intercepted(db, async (sql, params, real) => {
        const result = await real(sql, params);
        if (isDelete(sql)) batchSizes.push(result.rowCount);
        return result;
      });
      assert.deepEqual(await runRetention(observed, undefined, { maxAgeMs: HOUR_MS, batchSize: 7 }, NOW), { deleted: 30, batches: 5 });
      assert.deepEqual(batchSizes, [7, 7, 7, 7, 2]);
      assert.deepEqual(await remaining(db), only(['recent-000', 'recent-001']));
    });

    test('batches delete the oldest first', async () => {
      const doomed = finished('doomed', 6, 2);
      await seed(db, [...doomed].reverse());
      const deletedPerBatch: string[][] = [];
      const observed = intercepted(db, async (sql, params, real) => {
        const result = await real(sql, params);
        if (isDelete(sql)) deletedPerBatch.push(result.rows.map((row) => String(row.workflow_id)).sort());
        return result;
      });
      await runRetention(observed, undefined, { maxAgeMs: HOUR_MS, batchSize: 4 }, NOW);
      assert.deepEqual(deletedPerBatch, [doomed.slice(0, 4).map((w) => w.id), doomed.slice(4).map((w) => w.id)]);
    });

    test('with a separate application database, the transaction outputs of deleted workflows are deleted there too', async () => {
      await seed(db, [
        { id: 'old', status: 'SUCCESS', completedAt: hoursBefore(2) },
        { id: 'recent', status: 'SUCCESS', completedAt: hoursBefore(0.5) },
        { id: 'running', status: 'PENDING' },
      ]);
      await appDb.query(
        `insert into strata.transaction_outputs (workflow_id, step_id, output)
         select id, step_id, '{"json":1}' from unnest($1::text[]) as id, generate_series(0, 2) as step_id`,
        [['old', 'recent', 'running', 'orphan-of-an-earlier-crash']],
      );
      assert.equal((await runRetention(db, appDb, { maxAgeMs: HOUR_MS, batchSize: 1 }, NOW)).deleted, 1);
      assert.deepEqual(await remaining(db), only(['recent', 'running']));
      // Outputs are deleted by the IDs the system delete returned; an orphan from before is left (documented).
      assert.deepEqual(await ids(appDb, 'select workflow_id as id from strata.transaction_outputs'), ['orphan-of-an-earlier-crash', 'recent', 'running']);
      assert.deepEqual(
        (await appDb.query<{ n: number }>(`select count(*)::int as n from strata.transaction_outputs where workflow_id = 'recent'`)).rows[0]!.n,
        3,
      );
    });
  });

  describe(`RetentionTask (${kind})`, () => {
    let db: Database;

    before(async () => {
      db = await openMigrated(await freshDatabaseUrl(kind), 'transact');
    });
    after(async () => {
      await db?.close();
    });
    beforeEach(async () => {
      await clear(db);
    });

    const workflowIds = async () => (await remaining(db)).workflows;

    test('start() runs a first pass soon and then further passes every intervalMs; after stop() no pass runs', async () => {
      await seed(db, [...finished('old', 3, 2, new Date()), { id: 'running', status: 'PENDING' }]);
      const task = new RetentionTask({ db, policy: { maxAgeMs: HOUR_MS, intervalMs: 50 }, logger: quiet });
      const startedMs = Date.now();
      task.start();
      try {
        assert.equal(task.running, true);
        await waitFor('the first pass', async () => (await workflowIds()).length === 1);
        // The first pass waits a random delay under intervalMs (50 ms here); the bound is generous for a slow machine.
        assert.ok(Date.now() - startedMs < 5_000, `first pass took ${Date.now() - startedMs} ms`);
        await seed(db, finished('later', 2, 2, new Date()));
        await waitFor('a later pass', async () => (await workflowIds()).length === 1);
      } finally {
        await task.stop();
      }
      assert.equal(task.running, false);
      await seed(db, finished('after-stop', 2, 2, new Date()));
      await delay(300);
      assert.deepEqual(await workflowIds(), ['after-stop-000', 'after-stop-001', 'running']);
    });

    test('a failing pass is logged with logger.warn, not thrown, and the next pass runs on schedule', async () => {
      await seed(db, finished('old', 2, 2, new Date()));
      let failures = 1;
      const flaky = intercepted(db, (sql, params, real) => {
        if (isDelete(sql) && failures-- > 0) return Promise.reject(new Error('disk on fire'));
        return real(sql, params);
      });
      const logger = recordingLogger();
      const task = new RetentionTask({ db: flaky, policy: { maxAgeMs: HOUR_MS, intervalMs: 30 }, logger });
      task.start();
      try {
        await waitFor('the pass after the failure', async () => (await workflowIds()).length === 0);
      } finally {
        await task.stop();
      }
      assert.equal(logger.warnings.length, 1);
      assert.match(String(logger.warnings[0]![0]), /retention pass failed/);
      assert.equal((logger.warnings[0]![1] as Error).message, 'disk on fire');
    });

    test('stop() waits for the pass in progress, which then deletes no further batch', async () => {
      await seed(db, finished('old', 4, 2, new Date()));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let deletes = 0;
      let blocked = false;
      const slow = intercepted(db, async (sql, params, real) => {
        if (isDelete(sql)) {
          deletes++;
          blocked = true;
          await gate;
        }
        return real(sql, params);
      });
      const task = new RetentionTask({ db: slow, policy: { maxAgeMs: HOUR_MS, intervalMs: 20, batchSize: 2 }, logger: quiet });
      task.start();
      await waitFor('the first batch to start', async () => blocked);
      let stopped = false;
      const stopping = task.stop().then(() => (stopped = true));
      await delay(100);
      assert.equal(stopped, false, 'stop() returned while a batch was in flight');
      release();
      await stopping;
      assert.equal(deletes, 1, 'a batch ran after stop()');
      assert.equal((await workflowIds()).length, 2);
    });
  });

  describe(`an engine with a retention policy (${kind})`, () => {
    let strata: Strata;
    const register = (engine: Strata) => ({
      short: engine.workflow('short', async (ctx) => ctx.step('one', () => 1)),
      waits: engine.workflow('waits', async (ctx) => ctx.recv<string>('go', { timeoutMs: 60_000 })),
    });
    let workflows: ReturnType<typeof register>;

    before(async () => {
      strata = new Strata({ database: await freshDatabaseUrl(kind), logger: quiet, retention: { maxAgeMs: 50, intervalMs: 50 } });
      workflows = register(strata);
      await launchOrShutDown(strata, LAUNCH_TIMEOUT_MS);
    });
    after(async () => {
      await strata?.shutdown({ timeoutMs: 0 });
    });

    test('deletes its own finished workflows with their steps, and keeps a running one', async () => {
      const waiter = await workflows.waits.with({ workflowId: 'waiter' }).start();
      assert.equal(await workflows.short.with({ workflowId: 'short-1' }).run(), 1);
      const db = strata.systemDatabase;
      assert.equal(await countRows(db, `select 1 from strata.steps where workflow_id = 'short-1'`, []), 1);
      await waitFor('retention to delete short-1', async () => (await countRows(db, `select 1 from strata.workflows where workflow_id = 'short-1'`, [])) === 0);
      assert.equal(await countRows(db, `select 1 from strata.steps where workflow_id = 'short-1'`, []), 0);
      assert.equal(await countRows(db, `select 1 from strata.workflows where workflow_id = 'waiter' and status = 'PENDING'`, []), 1);
      await strata.send('waiter', 'go on', { topic: 'go' });
      assert.equal(await waiter.result(), 'go on');
    });
  });
}
