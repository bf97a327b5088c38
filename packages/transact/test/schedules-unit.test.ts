// Cron schedules, module by module: validation of expressions and time zones, tick arithmetic
// (seconds, time zones, daylight saving), the schedule admin against a real database, and the
// per-executor Scheduler loop driven through a recording host: exactly one start per tick with
// several loops on one database, pause and resume, catch-up after downtime (on, off, capped), a
// late pass, failures, reload and stop.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadMigrations, migrate, openDatabase, type Database } from '@strata/store';
import { engines, freshDatabaseUrl, type EngineKind } from '@strata/testing';
import {
  DuplicateScheduleError,
  InvalidArgumentError,
  InvalidScheduleError,
  UnknownQueueError,
  UnknownScheduleError,
  UnknownWorkflowError,
} from '../src/errors.js';
import type { Logger, ScheduleInfo } from '../src/interfaces.js';
import {
  MAX_CATCH_UP_TICKS_PER_PASS,
  nextTick,
  ScheduleAdminImpl,
  Scheduler,
  scheduleTickWorkflowId,
  validateSchedule,
  type SchedulerHost,
} from '../src/schedules/index.js';
import { advanceLastTick, getSchedule } from '../src/sql/schedules.js';
import { delay, uniqueId, waitFor } from './helpers.js';

const EVERY_SECOND = '* * * * * *';

async function openMigrated(url: string): Promise<Database> {
  const db = await openDatabase({ url });
  await migrate(db, 'transact', loadMigrations(new URL('../migrations/', import.meta.url)));
  await db.query('create table if not exists tick_log (workflow_id text primary key, schedule_name text not null, tick_at timestamptz not null)');
  return db;
}

/** Every tick of `cron` (UTC) in `(afterMs, upToMs]`, oldest first. */
function ticksBetween(cron: string, afterMs: number, upToMs: number): Date[] {
  const ticks: Date[] = [];
  for (let tick = nextTick(cron, 'UTC', new Date(afterMs)); tick !== null && tick.getTime() <= upToMs; tick = nextTick(cron, 'UTC', tick)) ticks.push(tick);
  return ticks;
}

/** Every tick of `cron` in `timezone` from `from` (exclusive) to `to` (exclusive). */
function ticksInZone(cron: string, timezone: string, from: string, to: string): Date[] {
  const ticks: Date[] = [];
  for (let tick = nextTick(cron, timezone, new Date(from)); tick !== null && tick < new Date(to); tick = nextTick(cron, timezone, tick)) ticks.push(tick);
  return ticks;
}

function isoTimes(dates: readonly Date[]): string[] {
  return dates.map((date) => date.toISOString());
}

/** Asserts that `error` is an InvalidScheduleError whose message contains `text`. */
function invalidSchedule(text: string) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidScheduleError, `expected InvalidScheduleError, got ${String(error)}`);
    assert.ok(error instanceof InvalidArgumentError);
    assert.equal(error.code, 'STRATA_INVALID_SCHEDULE');
    assert.ok(error.message.includes(text), `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(text)}`);
    return true;
  };
}

/** Asserts a plain InvalidArgumentError (a wrong type, not a cron or time zone problem) naming `text`. */
function invalidArgument(text: string | RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    assert.ok(!(error instanceof InvalidScheduleError), `expected a plain InvalidArgumentError, got ${error.message}`);
    assert.match(error.message, typeof text === 'string' ? new RegExp(text) : text);
    return true;
  };
}

describe('validateSchedule', () => {
  test('accepts 5-field and 6-field (seconds first) expressions, IANA time zones and every option', () => {
    validateSchedule({ cron: '0 3 * * *' });
    validateSchedule({ cron: '*/10 * * * * *', timezone: 'Europe/Paris', catchUp: true, queue: 'reports' });
    validateSchedule({ cron: '0 9 * * 1-5', timezone: 'America/New_York', catchUp: false, queue: null });
  });

  test('an out-of-range field is an InvalidScheduleError that quotes the expression, the reason and the expected shape', () => {
    assert.throws(
      () => validateSchedule({ cron: '61 * * * *' }),
      invalidSchedule(
        'cron expression "61 * * * *" is invalid: CronPattern: Invalid value for minute: 61; use 5 fields (minute hour day month weekday) or 6 (seconds first)',
      ),
    );
  });

  test('the wrong number of fields, garbage, and non-strings are InvalidScheduleErrors', () => {
    assert.throws(() => validateSchedule({ cron: '* * * *' }), invalidSchedule('use 5 fields'));
    assert.throws(() => validateSchedule({ cron: '0 0 0 * * * 2030' }), invalidSchedule('cron expression "0 0 0 * * * 2030" is invalid'));
    assert.throws(() => validateSchedule({ cron: 'every day' }), invalidSchedule('cron expression "every day" is invalid'));
    assert.throws(() => validateSchedule({ cron: '' }), invalidSchedule('cron expression must be a non-empty string'));
    assert.throws(() => validateSchedule({ cron: 5 as unknown as string }), invalidSchedule('got number 5'));
  });

  test('an expression that never matches (February 30) is an InvalidScheduleError', () => {
    assert.throws(() => validateSchedule({ cron: '0 0 30 2 *' }), invalidSchedule('cron expression "0 0 30 2 *" never matches a time'));
  });

  test('an unknown time zone is an InvalidScheduleError that gives an example of a valid one', () => {
    assert.throws(
      () => validateSchedule({ cron: '0 3 * * *', timezone: 'Mars/Base' }),
      invalidSchedule('time zone "Mars/Base" is not an IANA time zone, e.g. "Europe/Paris"'),
    );
    assert.throws(() => validateSchedule({ cron: '0 3 * * *', timezone: '' }), invalidSchedule('time zone must be an IANA time zone name'));
  });

  test('a non-boolean catchUp, a non-string queue and an unknown option are plain InvalidArgumentErrors', () => {
    assert.throws(() => validateSchedule({ cron: '0 3 * * *', catchUp: 'yes' as unknown as boolean }), invalidArgument(/catchUp must be true or false, got "yes"/));
    assert.throws(() => validateSchedule({ cron: '0 3 * * *', queue: 7 as unknown as string }), invalidArgument(/schedule queue must be a non-empty string/));
    assert.throws(() => validateSchedule({ cron: '0 3 * * *', queue: '' }), invalidArgument(/schedule queue must be a non-empty string/));
    assert.throws(
      () => validateSchedule({ cron: '0 3 * * *', timeZone: 'Europe/Paris' } as unknown as { cron: string }),
      invalidArgument(/no option "timeZone"; the options are cron, timezone, catchUp and queue/),
    );
    assert.throws(() => validateSchedule(undefined as unknown as { cron: string }), invalidArgument(/options object with a cron expression/));
    assert.throws(() => validateSchedule('0 3 * * *' as unknown as { cron: string }), invalidArgument(/schedule config must be an options object/));
  });
});

describe('nextTick', () => {
  test('is strictly after the given time and falls on whole seconds', () => {
    assert.equal(nextTick('0 * * * *', 'UTC', new Date('2025-01-01T00:00:00.000Z'))?.toISOString(), '2025-01-01T01:00:00.000Z');
    assert.equal(nextTick('0 * * * *', 'UTC', new Date('2025-01-01T00:59:59.999Z'))?.toISOString(), '2025-01-01T01:00:00.000Z');
    assert.equal(nextTick(EVERY_SECOND, 'UTC', new Date('2025-01-01T00:00:00.400Z'))?.toISOString(), '2025-01-01T00:00:01.000Z');
    assert.equal(nextTick('*/15 * * * * *', 'UTC', new Date('2025-01-01T00:00:15.000Z'))?.toISOString(), '2025-01-01T00:00:30.000Z');
  });

  test('reads the expression in the time zone: 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC in summer', () => {
    assert.equal(nextTick('0 3 * * *', 'Europe/Paris', new Date('2025-01-15T00:00:00Z'))?.toISOString(), '2025-01-15T02:00:00.000Z');
    assert.equal(nextTick('0 3 * * *', 'Europe/Paris', new Date('2025-07-15T00:00:00Z'))?.toISOString(), '2025-07-15T01:00:00.000Z');
    assert.equal(nextTick('0 9 * * *', 'America/New_York', new Date('2025-01-15T00:00:00Z'))?.toISOString(), '2025-01-15T14:00:00.000Z');
    // Time zone aliases of UTC give the same ticks as UTC.
    assert.equal(nextTick('0 3 * * *', 'Etc/UTC', new Date('2025-01-15T00:00:00Z'))?.toISOString(), '2025-01-15T03:00:00.000Z');
  });

  test('across daylight saving changes a daily tick happens once a day, at the same local time where that time exists', () => {
    const parisHour = (date: Date) => Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: 'numeric', hour12: false }).format(date));
    // Spring forward (2025-03-30: 02:00 → 03:00) and fall back (2025-10-26: 03:00 → 02:00).
    for (const [from, to] of [['2025-03-27T00:00:00Z', '2025-04-03T00:00:00Z'], ['2025-10-23T00:00:00Z', '2025-10-30T00:00:00Z']] as const) {
      const ticks = ticksInZone('0 9 * * *', 'Europe/Paris', from, to);
      assert.equal(ticks.length, 7, `one tick per day from ${from}: ${isoTimes(ticks).join(', ')}`);
      assert.deepEqual(ticks.map(parisHour), [9, 9, 9, 9, 9, 9, 9]);
    }
    // 02:30 does not exist on the spring-forward day: that day's tick still happens, once.
    const springDay = [nextTick('30 2 * * *', 'Europe/Paris', new Date('2025-03-29T12:00:00Z'))!, nextTick('30 2 * * *', 'Europe/Paris', new Date('2025-03-30T12:00:00Z'))!];
    assert.deepEqual(isoTimes(springDay), ['2025-03-30T01:30:00.000Z', '2025-03-31T00:30:00.000Z']);
    // 02:30 happens twice on the fall-back day: it ticks once.
    const fallTicks = ticksInZone('30 2 * * *', 'Europe/Paris', '2025-10-25T12:00:00Z', '2025-10-27T12:00:00Z');
    assert.equal(fallTicks.length, 2, isoTimes(fallTicks).join(', '));
  });

  test('is null for an expression that never matches, and throws InvalidScheduleError for bad input', () => {
    assert.equal(nextTick('0 0 30 2 *', 'UTC', new Date('2025-01-01T00:00:00Z')), null);
    assert.throws(() => nextTick('61 * * * *', 'UTC', new Date()), invalidSchedule('Invalid value for minute: 61'));
    assert.throws(() => nextTick('0 3 * * *', 'Mars/Base', new Date()), invalidSchedule('"Mars/Base" is not an IANA time zone'));
  });

  test('a tick workflow ID is sched:<name>:<tick ISO time>', () => {
    assert.equal(scheduleTickWorkflowId('nightly', new Date('2025-01-01T03:00:00Z')), 'sched:nightly:2025-01-01T03:00:00.000Z');
  });
});

const sharedDatabases = new Map<EngineKind, Promise<{ url: string; db: Database }>>();

/** One migrated database per engine for the whole file: creating a PGlite database takes seconds. */
function sharedDatabase(kind: EngineKind): Promise<{ url: string; db: Database }> {
  let shared = sharedDatabases.get(kind);
  if (shared === undefined) {
    shared = (async () => {
      const url = await freshDatabaseUrl(kind);
      return { url, db: await openMigrated(url) };
    })();
    sharedDatabases.set(kind, shared);
  }
  return shared;
}

after(async () => {
  for (const shared of sharedDatabases.values()) await (await shared).db.close();
});

const KNOWN_WORKFLOWS = ['report', 'cleanup'];
const KNOWN_QUEUES = ['reports'];

for (const kind of engines()) {
  describe(`schedule admin (${kind})`, () => {
    let db: Database;
    let admin: ScheduleAdminImpl;
    let changes = 0;

    before(async () => {
      ({ db } = await sharedDatabase(kind));
      admin = new ScheduleAdminImpl({
        db,
        onChange: async () => {
          changes++;
        },
        knownWorkflow: async (name) => {
          if (!KNOWN_WORKFLOWS.includes(name)) throw new UnknownWorkflowError(name, KNOWN_WORKFLOWS);
        },
        knownQueue: async (name) => {
          if (!KNOWN_QUEUES.includes(name)) throw new UnknownQueueError(name, KNOWN_QUEUES);
        },
      });
    });
    test('create stores an ACTIVE schedule with defaults, reports its next tick, and announces the change', async () => {
      const changesBefore = changes;
      const beforeCreate = new Date();
      const info = await admin.create('hourly', { workflow: 'report', cron: '0 * * * *' });
      assert.equal(changes, changesBefore + 1);
      assert.deepEqual(
        { ...info, nextTickAt: undefined, createdAt: undefined, updatedAt: undefined },
        { name: 'hourly', workflowName: 'report', cron: '0 * * * *', timezone: 'UTC', catchUp: false, queue: null, status: 'ACTIVE', lastTickAt: null, nextTickAt: undefined, createdAt: undefined, updatedAt: undefined },
      );
      assert.equal(info.nextTickAt?.toISOString(), nextTick('0 * * * *', 'UTC', beforeCreate)?.toISOString());
      assert.ok(info.createdAt instanceof Date && info.updatedAt instanceof Date);
      const stored = await admin.get('hourly');
      assert.deepEqual({ ...stored, nextTickAt: undefined }, { ...info, nextTickAt: undefined });
    });

    test('create stores the time zone, catch-up and queue it is given', async () => {
      const info = await admin.create('paris-report', { workflow: 'report', cron: '0 3 * * *', timezone: 'Europe/Paris', catchUp: true, queue: 'reports' });
      assert.equal(info.timezone, 'Europe/Paris');
      assert.equal(info.catchUp, true);
      assert.equal(info.queue, 'reports');
      assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: 'numeric', hour12: false }).format(info.nextTickAt!), '03');
      const { rows } = await db.query('select timezone, catch_up, queue_name from strata.schedules where name = $1', ['paris-report']);
      assert.deepEqual(rows, [{ timezone: 'Europe/Paris', catch_up: true, queue_name: 'reports' }]);
    });

    test('creating an existing name is a DuplicateScheduleError and leaves the schedule as it was', async () => {
      await admin.create('dup', { workflow: 'report', cron: '0 1 * * *' });
      const changesBefore = changes;
      await assert.rejects(admin.create('dup', { workflow: 'cleanup', cron: '0 2 * * *' }), (error: unknown) => {
        assert.ok(error instanceof DuplicateScheduleError);
        assert.equal(error.code, 'STRATA_DUPLICATE_SCHEDULE');
        assert.match(error.message, /"dup" already exists/);
        return true;
      });
      const stored = await admin.get('dup');
      assert.equal(stored?.workflowName, 'report');
      assert.equal(stored?.cron, '0 1 * * *');
      assert.equal(changes, changesBefore);
    });

    test('invalid input and unknown workflows or queues are typed errors, and nothing is written', async () => {
      const before = await admin.list();
      const changesBefore = changes;
      await assert.rejects(admin.create('bad', { workflow: 'report', cron: '61 * * * *' }), invalidSchedule('Invalid value for minute: 61'));
      await assert.rejects(admin.create('bad', { workflow: 'report', cron: '0 3 * * *', timezone: 'Mars/Base' }), invalidSchedule('"Mars/Base" is not an IANA time zone'));
      await assert.rejects(admin.create('bad', { workflow: 'nope', cron: '0 3 * * *' }), UnknownWorkflowError);
      await assert.rejects(admin.create('bad', { workflow: 'report', cron: '0 3 * * *', queue: 'nope' }), UnknownQueueError);
      await assert.rejects(admin.create('bad', { workflow: 'report', cron: '0 3 * * *', catchUp: 1 as unknown as boolean }), invalidArgument(/catchUp/));
      await assert.rejects(admin.create('', { workflow: 'report', cron: '0 3 * * *' }), invalidArgument(/schedule name must be a non-empty string/));
      await assert.rejects(admin.create('bad', { cron: '0 3 * * *' } as unknown as { workflow: string; cron: string }), invalidArgument(/schedule workflow must be a non-empty string/));
      assert.deepEqual((await admin.list()).map((s) => s.name), before.map((s) => s.name));
      assert.equal(await admin.get('bad'), undefined);
      assert.equal(changes, changesBefore);
    });

    test('update changes only the given options, keeps status and last tick, and recomputes the next tick', async () => {
      const created = await admin.create('to-update', { workflow: 'report', cron: '0 1 * * *', queue: 'reports' });
      await admin.pause('to-update');
      await advanceLastTick(db, 'to-update', new Date('2025-01-01T01:00:00Z'));
      await admin.resume('to-update');
      const changesBefore = changes;
      const updated = await admin.update('to-update', { cron: '0 4 * * *', timezone: 'America/New_York', workflow: 'cleanup' });
      assert.equal(changes, changesBefore + 1);
      assert.deepEqual(
        [updated.workflowName, updated.cron, updated.timezone, updated.catchUp, updated.queue, updated.status],
        ['cleanup', '0 4 * * *', 'America/New_York', false, 'reports', 'ACTIVE'],
      );
      assert.equal(updated.lastTickAt?.toISOString(), '2025-01-01T01:00:00.000Z');
      assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: 'numeric', hour12: false }).format(updated.nextTickAt!), '04');
      assert.ok(updated.updatedAt > created.updatedAt);
      assert.equal(updated.createdAt.getTime(), created.createdAt.getTime());
      const noQueue = await admin.update('to-update', { queue: null, catchUp: true });
      assert.equal(noQueue.queue, null);
      assert.equal(noQueue.catchUp, true);
      assert.equal(noQueue.cron, '0 4 * * *');
    });

    test('an update that changes nothing writes nothing and announces nothing', async () => {
      const created = await admin.create('unchanged', { workflow: 'report', cron: '0 1 * * *' });
      const changesBefore = changes;
      const same = await admin.update('unchanged', { cron: '0 1 * * *', timezone: 'UTC' });
      assert.equal(same.updatedAt.getTime(), created.updatedAt.getTime());
      assert.equal(changes, changesBefore);
    });

    test('an invalid update or an update of an unknown schedule is a typed error, and nothing is written', async () => {
      const created = await admin.create('keep', { workflow: 'report', cron: '0 1 * * *' });
      const changesBefore = changes;
      await assert.rejects(admin.update('keep', { cron: '0 25 * * *' }), invalidSchedule('Invalid value for hour: 25'));
      await assert.rejects(admin.update('keep', { timezone: 'Europe/Atlantis' }), invalidSchedule('"Europe/Atlantis" is not an IANA time zone'));
      await assert.rejects(admin.update('keep', { workflow: 'nope' }), UnknownWorkflowError);
      await assert.rejects(admin.update('keep', { queue: 'nope' }), UnknownQueueError);
      await assert.rejects(admin.update('keep', { catchUp: 'no' as unknown as boolean }), invalidArgument(/catchUp/));
      await assert.rejects(admin.update('missing', { cron: '0 2 * * *' }), (error: unknown) => error instanceof UnknownScheduleError && /"missing"/.test(error.message));
      assert.equal(await admin.get('missing'), undefined);
      const stored = (await admin.get('keep'))!;
      assert.equal(stored.cron, '0 1 * * *');
      assert.equal(stored.updatedAt.getTime(), created.updatedAt.getTime());
      assert.equal(changes, changesBefore);
    });

    test('pause reports no next tick until resume; both are idempotent; unknown names are UnknownScheduleErrors', async () => {
      await admin.create('pausable', { workflow: 'report', cron: '0 1 * * *' });
      const paused = await admin.pause('pausable');
      assert.equal(paused.status, 'PAUSED');
      assert.equal(paused.nextTickAt, null);
      const pausedAgain = await admin.pause('pausable');
      assert.equal(pausedAgain.updatedAt.getTime(), paused.updatedAt.getTime());
      assert.equal((await admin.get('pausable'))?.nextTickAt, null);
      const resumed = await admin.resume('pausable');
      assert.equal(resumed.status, 'ACTIVE');
      assert.ok(resumed.nextTickAt instanceof Date && resumed.nextTickAt > new Date());
      assert.equal((await admin.resume('pausable')).status, 'ACTIVE');
      await assert.rejects(admin.pause('missing'), UnknownScheduleError);
      await assert.rejects(admin.resume('missing'), UnknownScheduleError);
    });

    test('delete removes the schedule; deleting an unknown one is an UnknownScheduleError', async () => {
      await admin.create('doomed', { workflow: 'report', cron: '0 1 * * *' });
      const changesBefore = changes;
      await admin.delete('doomed');
      assert.equal(changes, changesBefore + 1);
      assert.equal(await admin.get('doomed'), undefined);
      await assert.rejects(admin.delete('doomed'), (error: unknown) => error instanceof UnknownScheduleError && error.code === 'STRATA_UNKNOWN_SCHEDULE');
      assert.equal(changes, changesBefore + 1);
    });

    test('list returns every schedule by name', async () => {
      const names = (await admin.list()).map((schedule) => schedule.name);
      assert.deepEqual(names, [...names].sort());
      for (const name of ['hourly', 'paris-report', 'dup', 'to-update', 'pausable']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
      assert.ok(!names.includes('doomed'));
    });

    test('upsert (code declarations) creates, is a no-op when unchanged, and keeps status and last tick when changed', async () => {
      assert.equal(await admin.upsert('declared', { workflow: 'report', cron: '0 1 * * *' }), true);
      await admin.pause('declared');
      await advanceLastTick(db, 'declared', new Date('2025-01-01T01:00:00Z'));
      const before = (await admin.get('declared'))!;
      const changesBefore = changes;
      assert.equal(await admin.upsert('declared', { workflow: 'report', cron: '0 1 * * *' }), false);
      assert.equal((await admin.get('declared'))!.updatedAt.getTime(), before.updatedAt.getTime());
      assert.equal(changes, changesBefore);
      assert.equal(await admin.upsert('declared', { workflow: 'report', cron: '0 2 * * *', catchUp: true }), true);
      const after = (await admin.get('declared'))!;
      assert.deepEqual([after.cron, after.catchUp, after.status, after.lastTickAt?.toISOString()], ['0 2 * * *', true, 'PAUSED', '2025-01-01T01:00:00.000Z']);
      assert.equal(changes, changesBefore + 1);
      await assert.rejects(admin.upsert('declared', { workflow: 'report', cron: 'nope' }), InvalidScheduleError);
    });

    test('the last tick only moves forward', async () => {
      await admin.create('forward', { workflow: 'report', cron: '* * * * *' });
      await advanceLastTick(db, 'forward', new Date('2025-01-01T00:05:00Z'));
      await advanceLastTick(db, 'forward', new Date('2025-01-01T00:03:00Z'));
      assert.equal((await getSchedule(db, 'forward'))?.last_tick_at?.toISOString(), '2025-01-01T00:05:00.000Z');
      await advanceLastTick(db, 'forward', new Date('2025-01-01T00:06:00Z'));
      assert.equal((await getSchedule(db, 'forward'))?.last_tick_at?.toISOString(), '2025-01-01T00:06:00.000Z');
    });
  });

  describe(`scheduler (${kind})`, { concurrency: true }, () => {
    let url: string;
    let db: Database;
    let admin: ScheduleAdminImpl;
    const extraDatabases: Database[] = [];

    before(async () => {
      ({ url, db } = await sharedDatabase(kind));
      admin = new ScheduleAdminImpl({ db, onChange: async () => {} });
    });
    after(async () => {
      for (const extra of extraDatabases) await extra.close();
    });

    /** Another connection pool to the same database on PostgreSQL (as another process would have); the shared one on PGlite. */
    async function anotherDatabase(engine: EngineKind): Promise<Database> {
      if (engine === 'pglite') return db;
      const extra = await openDatabase({ url });
      extraDatabases.push(extra);
      return extra;
    }

    /** Creates a schedule of a workflow name unique to the calling test, so hosts of other tests never run it. */
    async function createSchedule(label: string, config: { cron: string; catchUp?: boolean }) {
      const name = uniqueId(label);
      const workflow = `wf-${name}`;
      const info = await admin.create(name, { workflow, ...config });
      return { name, workflow, info };
    }

    /** Moves a schedule into the past, as if it had existed (and its last tick had run) before a downtime. */
    async function backdate(name: string, lastTickAt: Date | null, changedAt: Date): Promise<void> {
      await db.query('update strata.schedules set last_tick_at = $2, created_at = $3, updated_at = $3 where name = $1', [name, lastTickAt, changedAt]);
    }

    async function loggedTicks(name: string): Promise<string[]> {
      const { rows } = await db.query<{ tick_at: Date }>('select tick_at from tick_log where schedule_name = $1 order by tick_at', [name]);
      return rows.map((row) => row.tick_at.toISOString());
    }

    async function lastTickAt(name: string): Promise<string | undefined> {
      return (await getSchedule(db, name))?.last_tick_at?.toISOString();
    }

    test('three schedulers on one database start each tick of a per-second schedule exactly once, with no gap', async () => {
      // With catch-up, a pass delayed past the next tick (a loaded machine) still starts every tick.
      const { name, workflow, info } = await createSchedule('three', { cron: EVERY_SECOND, catchUp: true });
      const hosts = await Promise.all([0, 1, 2].map(async () => new RecordingHost(await anotherDatabase(kind), [workflow])));
      const bystander = new RecordingHost(db, ['some-other-workflow']);
      const schedulers = [...hosts, bystander].map((host) => new Scheduler(host));
      try {
        await Promise.all(schedulers.map((scheduler) => scheduler.start()));
        await waitFor('4 ticks logged', async () => (await loggedTicks(name)).length >= 4);
      } finally {
        await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
      }
      const logged = await loggedTicks(name);
      // Consecutive seconds after the schedule was created: no tick skipped.
      assert.deepEqual(logged, isoTimes(ticksBetween(EVERY_SECOND, Date.parse(logged[0]!) - 1, Date.parse(logged.at(-1)!))));
      assert.ok(Date.parse(logged[0]!) > info.updatedAt.getTime(), 'a tick from before the schedule existed');
      // Every start of every scheduler used the tick's deterministic ID, each scheduler at most once per tick.
      const calledIds = new Set<string>();
      for (const host of hosts) {
        const ids = host.calls.map((call) => call.workflowId);
        assert.equal(new Set(ids).size, ids.length, `a scheduler started a tick twice: ${ids.join(', ')}`);
        for (const call of host.calls) {
          assert.equal(call.workflowId, `sched:${name}:${call.tickAt.toISOString()}`);
          assert.equal(call.schedule.name, name);
          calledIds.add(call.workflowId);
        }
      }
      assert.deepEqual([...calledIds].sort(), logged.map((tick) => `sched:${name}:${tick}`).sort());
      assert.equal(await lastTickAt(name), logged.at(-1));
      assert.equal(bystander.calls.length, 0, 'a scheduler that cannot run the workflow started it');
      for (const host of [...hosts, bystander]) assert.deepEqual(host.warnings, []);
    });

    test('pause stops the ticks; resume starts them again without the ticks skipped while paused, even with catch-up', async () => {
      const { name, workflow } = await createSchedule('pause', { cron: EVERY_SECOND, catchUp: true });
      const host = new RecordingHost(db, [workflow]);
      const scheduler = new Scheduler(host);
      let pausedAtMs: number;
      let resumingAtMs: number;
      try {
        await scheduler.start();
        await waitFor('a first tick', async () => (await loggedTicks(name)).length >= 1);
        await admin.pause(name);
        scheduler.reload();
        pausedAtMs = Date.now();
        // Nothing to wait for: no tick may come. Longer than a tick period and the retry delay.
        await delay(1_500);
        assert.deepEqual((await loggedTicks(name)).filter((tick) => Date.parse(tick) > pausedAtMs), [], 'a tick started while paused');
        resumingAtMs = Date.now();
        await admin.resume(name);
        scheduler.reload();
        await waitFor('a tick after resume', async () => (await loggedTicks(name)).some((tick) => Date.parse(tick) > resumingAtMs));
      } finally {
        await scheduler.stop();
      }
      const skipped = (await loggedTicks(name)).filter((tick) => Date.parse(tick) > pausedAtMs && Date.parse(tick) <= resumingAtMs);
      assert.deepEqual(skipped, [], 'ticks of the paused period were caught up');
      assert.deepEqual(host.warnings, []);
    });

    test('with catch-up, start() starts every tick missed during a downtime, oldest first, each once', async () => {
      const cron = '* * * * *';
      const { name, workflow } = await createSchedule('catch-up', { cron, catchUp: true });
      const minuteMs = 60_000;
      const lastBeforeDowntimeMs = Math.floor(Date.now() / minuteMs) * minuteMs - 5 * minuteMs;
      await backdate(name, new Date(lastBeforeDowntimeMs), new Date(lastBeforeDowntimeMs - 3_600_000));
      const host = new RecordingHost(db, [workflow]);
      const scheduler = new Scheduler(host);
      const startCalledAtMs = Date.now();
      try {
        await scheduler.start();
      } finally {
        await scheduler.stop();
      }
      const started = host.calls.map((call) => call.tickAt.toISOString());
      const missed = isoTimes(ticksBetween(cron, lastBeforeDowntimeMs, startCalledAtMs));
      assert.ok(missed.length >= 5, missed.join(', '));
      // A minute may have begun while start() ran; then its tick is due too.
      assert.deepEqual(started.slice(0, missed.length), missed);
      assert.ok(started.length <= missed.length + 1, started.join(', '));
      assert.deepEqual(await loggedTicks(name), started);
      assert.equal(await lastTickAt(name), started.at(-1));
    });

    test('without catch-up, no tick from before start() is started, only the ticks after it', async () => {
      const { name, workflow } = await createSchedule('no-catch-up', { cron: EVERY_SECOND, catchUp: false });
      const lastBeforeDowntimeMs = Math.floor(Date.now() / 1_000) * 1_000 - 30_000;
      await backdate(name, new Date(lastBeforeDowntimeMs), new Date(lastBeforeDowntimeMs - 3_600_000));
      const host = new RecordingHost(db, [workflow]);
      const scheduler = new Scheduler(host);
      const startCalledAtMs = Date.now();
      try {
        await scheduler.start();
        await waitFor('a tick after start', async () => (await loggedTicks(name)).length >= 1);
      } finally {
        await scheduler.stop();
      }
      assert.ok(host.calls.length >= 1);
      for (const call of host.calls) assert.ok(call.tickAt.getTime() > startCalledAtMs, `tick ${call.tickAt.toISOString()} is from before start()`);
    });

    test(`catch-up starts at most ${MAX_CATCH_UP_TICKS_PER_PASS} ticks per pass, warns, and finishes the backlog in the next passes`, async () => {
      const { name, workflow } = await createSchedule('capped', { cron: EVERY_SECOND, catchUp: true });
      const backlog = 1_300;
      const lastBeforeDowntimeMs = Math.floor(Date.now() / 1_000) * 1_000 - backlog * 1_000;
      await backdate(name, new Date(lastBeforeDowntimeMs), new Date(lastBeforeDowntimeMs - 3_600_000));
      // Records in memory only: 1,300 starts stay fast; the scheduler still records each tick.
      const host = new RecordingHost(db, [workflow], { log: false });
      const scheduler = new Scheduler(host);
      let caughtUpAtMs = 0;
      try {
        await scheduler.start();
        assert.equal(host.calls.length, MAX_CATCH_UP_TICKS_PER_PASS, 'the first pass starts exactly the cap');
        assert.equal(host.warnings.length, 1);
        assert.match(host.warnings[0]!, new RegExp(`schedule "${name}": more than ${MAX_CATCH_UP_TICKS_PER_PASS} missed ticks to catch up`));
        caughtUpAtMs = Date.now();
        await waitFor('the backlog started', async () => (host.calls.at(-1)?.tickAt.getTime() ?? 0) >= caughtUpAtMs);
      } finally {
        await scheduler.stop();
      }
      const started = host.calls.map((call) => call.tickAt.toISOString());
      assert.deepEqual(started, isoTimes(ticksBetween(EVERY_SECOND, lastBeforeDowntimeMs, Date.parse(started.at(-1)!))));
      assert.ok(started.length > backlog);
      assert.equal(await lastTickAt(name), started.at(-1));
    });

    test('a pass that runs late, with several ticks due, starts only the latest of them', async () => {
      const { name, workflow } = await createSchedule('late', { cron: EVERY_SECOND, catchUp: false });
      // The first start holds the pass for 2.5 s: by its end, at least two more ticks are due.
      const host = new RecordingHost(db, [workflow], { holdFirstMs: 2_500 });
      const scheduler = new Scheduler(host);
      try {
        await scheduler.start();
        await waitFor('a tick after the late pass', async () => host.calls.length >= 2);
      } finally {
        await scheduler.stop();
      }
      const [first, second] = host.calls.map((call) => call.tickAt.getTime());
      assert.ok(second! - first! >= 2_000, `after ${new Date(first!).toISOString()} the late pass started ${new Date(second!).toISOString()}, not the latest due tick`);
      assert.ok(second! <= host.calls[1]!.calledAtMs);
      assert.ok(!(await loggedTicks(name)).includes(new Date(first! + 1_000).toISOString()), 'a skipped tick was started');
    });

    test('a failing start is logged and tried again at the next pass, not thrown out of the timer', async () => {
      const { name, workflow } = await createSchedule('failing', { cron: EVERY_SECOND, catchUp: true });
      const host = new RecordingHost(db, [workflow], { failFirst: 1 });
      const scheduler = new Scheduler(host);
      try {
        await scheduler.start();
        await waitFor('two ticks logged', async () => (await loggedTicks(name)).length >= 2);
      } finally {
        await scheduler.stop();
      }
      const failedId = host.calls[0]!.workflowId;
      assert.equal(host.warnings.length, 1);
      assert.match(host.warnings[0]!, new RegExp(`could not start workflow "${failedId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
      assert.equal(host.calls[1]!.workflowId, failedId, 'the failed tick was not the next one tried');
      const logged = await loggedTicks(name);
      assert.equal(`sched:${name}:${logged[0]}`, failedId);
      assert.deepEqual(logged, isoTimes(ticksBetween(EVERY_SECOND, Date.parse(logged[0]!) - 1, Date.parse(logged.at(-1)!))));
    });

    test('reload() picks up a schedule created after start() at once, not at the reload interval', async () => {
      const workflow = `wf-${uniqueId('reload')}`;
      const host = new RecordingHost(db, [workflow], { reloadIntervalMs: 60_000 });
      const scheduler = new Scheduler(host);
      try {
        await scheduler.start();
        const name = uniqueId('reload');
        await admin.create(name, { workflow, cron: EVERY_SECOND });
        scheduler.reload();
        await waitFor('a tick of the new schedule', async () => host.calls.length >= 1);
        assert.equal(host.calls[0]!.schedule.name, name);
      } finally {
        await scheduler.stop();
      }
    });

    test('without reload(), the loop still sees a new schedule within its reload interval', async () => {
      const workflow = `wf-${uniqueId('interval')}`;
      const host = new RecordingHost(db, [workflow], { reloadIntervalMs: 300 });
      const scheduler = new Scheduler(host);
      try {
        await scheduler.start();
        const name = uniqueId('interval');
        await admin.create(name, { workflow, cron: EVERY_SECOND });
        await waitFor('a tick of the new schedule', async () => host.calls.length >= 1);
        assert.equal(host.calls[0]!.schedule.name, name);
      } finally {
        await scheduler.stop();
      }
    });

    test('stop() waits for a start in flight, and no tick starts after it', async () => {
      const { name, workflow } = await createSchedule('stop', { cron: EVERY_SECOND });
      let openGate = () => {};
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      const host = new RecordingHost(db, [workflow], { gate });
      const scheduler = new Scheduler(host);
      await scheduler.start();
      await waitFor('a start in flight', async () => host.calls.length === 1);
      let stopped = false;
      const stopping = scheduler.stop().then(() => {
        stopped = true;
      });
      await delay(100);
      assert.equal(stopped, false, 'stop() returned while a start was in flight');
      openGate();
      await stopping;
      assert.equal(await lastTickAt(name), host.calls[0]!.tickAt.toISOString(), 'the tick in flight was not recorded');
      // Nothing to wait for: no start may come. Longer than a tick period and the retry delay.
      await delay(1_500);
      assert.equal(host.calls.length, 1, 'a tick started after stop()');
    });
  });
}

interface TickCall {
  readonly schedule: ScheduleInfo;
  readonly tickAt: Date;
  readonly workflowId: string;
  readonly calledAtMs: number;
}

/**
 * A host that records every startTick and (unless `log: false`) creates the "workflow" as a
 * tick_log row, idempotently by ID, as the engine's start does.
 */
class RecordingHost implements SchedulerHost {
  readonly calls: TickCall[] = [];
  readonly warnings: string[] = [];
  readonly logger: Logger;
  readonly reloadIntervalMs: number;
  readonly #runnable: ReadonlySet<string>;
  readonly #options: { log?: boolean; failFirst?: number; holdFirstMs?: number; gate?: Promise<void> };

  constructor(
    readonly db: Database,
    runnable: readonly string[],
    options: { log?: boolean; failFirst?: number; holdFirstMs?: number; gate?: Promise<void>; reloadIntervalMs?: number } = {},
  ) {
    this.#runnable = new Set(runnable);
    this.#options = options;
    this.reloadIntervalMs = options.reloadIntervalMs ?? 5_000;
    this.logger = { info() {}, warn: (message: string) => this.warnings.push(message), error: (message: string) => this.warnings.push(message) };
  }

  canRun(workflowName: string): boolean {
    return this.#runnable.has(workflowName);
  }

  async startTick(schedule: ScheduleInfo, tickAt: Date, workflowId: string): Promise<void> {
    this.calls.push({ schedule, tickAt, workflowId, calledAtMs: Date.now() });
    if (this.calls.length <= (this.#options.failFirst ?? 0)) throw new Error('injected start failure');
    if (this.calls.length === 1 && this.#options.holdFirstMs !== undefined) await delay(this.#options.holdFirstMs);
    if (this.#options.gate !== undefined) await this.#options.gate;
    if (this.#options.log === false) return;
    await this.db.query('insert into tick_log (workflow_id, schedule_name, tick_at) values ($1, $2, $3) on conflict (workflow_id) do nothing', [
      workflowId,
      schedule.name,
      tickAt,
    ]);
  }
}
