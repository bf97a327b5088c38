// Cron schedules through the engine: three executors on one database start each tick's workflow
// exactly once; schedules created, paused, resumed, changed and deleted at runtime through
// strata.schedules reach every executor; invalid schedules are typed errors that write nothing.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import {
  DuplicateScheduleError,
  InvalidArgumentError,
  InvalidScheduleError,
  Strata,
  UnknownQueueError,
  UnknownScheduleError,
  UnknownWorkflowError,
} from '@strata/transact';
import { engines, freshDatabaseUrl, type EngineKind } from '@strata/testing';
import { delay, launchOrShutDown, quiet, waitFor } from './helpers.js';

const EVERY_SECOND = '* * * * * *';
const EXECUTOR_IDS = ['sched-a', 'sched-b', 'sched-c'];

/** How many times each tick's workflow body ran, over every engine of the process: `<engine kind>/<schedule>@<tick ISO>` → count. */
const runs = new Map<string, number>();

/** A new (unlaunched) engine with the scheduled workflow and a queue to enqueue ticks on. */
function createEngine(kind: EngineKind, database: string | Database, executorId: string): Strata {
  const strata = new Strata({ database, executorId, logger: quiet });
  const tick = strata.workflow('tick', async (ctx, scheduledAt: Date) => {
    const workflowId = ctx.workflowId;
    await ctx.step('count', async () => {
      const key = `${kind}/${workflowId.split(':')[1]}@${scheduledAt.toISOString()}`;
      runs.set(key, (runs.get(key) ?? 0) + 1);
    });
    return scheduledAt.toISOString();
  });
  strata.queue('ticks');
  strata.schedule('every-second', tick, { cron: EVERY_SECOND });
  return strata;
}

interface TickRow {
  readonly workflowId: string;
  readonly tickAt: Date;
  readonly status: string;
  readonly queueName: string | null;
}

/** The workflows a schedule's ticks created, oldest tick first. */
async function tickRows(db: Database, schedule: string): Promise<TickRow[]> {
  const { rows } = await db.query<{ workflow_id: string; status: string; queue_name: string | null }>(
    `select workflow_id, status, queue_name from strata.workflows where workflow_id like $1 order by workflow_id`,
    [`sched:${schedule}:%`],
  );
  return rows.map((row) => ({
    workflowId: row.workflow_id,
    tickAt: new Date(row.workflow_id.slice(`sched:${schedule}:`.length)),
    status: row.status,
    queueName: row.queue_name,
  }));
}

function ticksAfter(rows: readonly TickRow[], afterMs: number): TickRow[] {
  return rows.filter((row) => row.tickAt.getTime() > afterMs);
}

describe('declaring a schedule', () => {
  test('an invalid cron or time zone in strata.schedule() is an InvalidScheduleError at once', () => {
    const strata = new Strata({ database: 'memory://', logger: quiet });
    const tick = strata.workflow('tick', async (_ctx, _scheduledAt: Date) => {});
    assert.throws(() => strata.schedule('bad', tick, { cron: '61 * * * *' }), InvalidScheduleError);
    assert.throws(() => strata.schedule('bad', tick, { cron: '0 3 * * *', timezone: 'Mars/Base' }), InvalidScheduleError);
    assert.throws(() => strata.schedule('bad', tick, { cron: '0 3 * * *', catchUp: 'yes' as unknown as boolean }), InvalidArgumentError);
  });
});

describe('schedules through the engine', { concurrency: true }, () => {
  for (const kind of engines()) {
    describe(`three executors (${kind})`, { concurrency: true }, () => {
      const databases: Database[] = [];
      let reader: Database;
      let engines3: Strata[] = [];

      before(async () => {
        const url = await freshDatabaseUrl(kind);
        // PGlite allows one process: its engines share one Database. On PostgreSQL each engine has
        // its own connections, as separate processes would.
        const shared = kind === 'pglite' ? await openDatabase({ url }) : undefined;
        if (shared !== undefined) databases.push(shared);
        engines3 = EXECUTOR_IDS.map((executorId) => createEngine(kind, shared ?? url, executorId));
        for (const strata of engines3) await launchOrShutDown(strata);
        reader = shared ?? (await openDatabase({ url }));
        if (shared === undefined) databases.push(reader);
      });
      after(async () => {
        await Promise.all(engines3.map((strata) => strata.shutdown()));
        for (const db of databases) await db.close();
      });

      test('each tick of a per-second schedule declared by every executor runs one workflow, once, with its tick time', async () => {
        const [first] = engines3;
        await waitFor('3 ticks finished', async () => (await tickRows(reader, 'every-second')).filter((row) => row.status === 'SUCCESS').length >= 3);
        await first!.schedules.pause('every-second');
        await waitFor('every tick finished', async () => (await tickRows(reader, 'every-second')).every((row) => row.status === 'SUCCESS'));
        const rows = await tickRows(reader, 'every-second');
        assert.ok(rows.length >= 3);
        for (const row of rows) {
          assert.equal(row.status, 'SUCCESS');
          assert.equal(row.workflowId, `sched:every-second:${row.tickAt.toISOString()}`);
          assert.equal(await first!.retrieve<string>(row.workflowId).result(), row.tickAt.toISOString(), 'the workflow got another time than its tick');
          const ran = runs.get(`${kind}/every-second@${row.tickAt.toISOString()}`);
          assert.equal(ran, 1, `tick ${row.tickAt.toISOString()} ran ${ran} times`);
        }
        assert.equal(new Set(rows.map((row) => row.tickAt.getTime())).size, rows.length);
      });

      test('a schedule created at runtime ticks on the executors; pause, resume, update and delete take effect at once', async () => {
        const [first, second, third] = engines3;
        const created = await first!.schedules.create('runtime', { workflow: 'tick', cron: EVERY_SECOND });
        assert.equal(created.status, 'ACTIVE');
        await waitFor('a tick of the new schedule', async () => (await tickRows(reader, 'runtime')).length >= 1);

        await second!.schedules.pause('runtime');
        const pausedAtMs = Date.now();
        // Nothing to wait for: no tick may come. Longer than a tick period.
        await delay(1_300);
        assert.deepEqual(ticksAfter(await tickRows(reader, 'runtime'), pausedAtMs), [], 'a tick ran while paused');

        const resumingAtMs = Date.now();
        await third!.schedules.resume('runtime');
        await waitFor('a tick after resume', async () => ticksAfter(await tickRows(reader, 'runtime'), resumingAtMs).length >= 1);

        const updatingAtMs = Date.now();
        const updated = await first!.schedules.update('runtime', { cron: '*/2 * * * * *' });
        assert.equal(updated.cron, '*/2 * * * * *');
        assert.equal(updated.nextTickAt!.getUTCSeconds() % 2, 0);
        await waitFor('ticks 2.5 s past the update', async () => ticksAfter(await tickRows(reader, 'runtime'), updatingAtMs + 2_500).length >= 1);
        const afterUpdate = ticksAfter(await tickRows(reader, 'runtime'), updatingAtMs + 1_000);
        assert.deepEqual(afterUpdate.filter((row) => row.tickAt.getUTCSeconds() % 2 !== 0), [], 'a tick of the old cron ran after the update');

        await second!.schedules.delete('runtime');
        const deletedAtMs = Date.now();
        assert.equal(await first!.schedules.get('runtime'), undefined);
        await delay(1_300);
        assert.deepEqual(ticksAfter(await tickRows(reader, 'runtime'), deletedAtMs), [], 'a tick ran after delete');
      });

      test('a schedule with a queue enqueues each tick on it', async () => {
        const [first] = engines3;
        await first!.schedules.create('queued', { workflow: 'tick', cron: EVERY_SECOND, queue: 'ticks' });
        try {
          await waitFor('a queued tick finished', async () => (await tickRows(reader, 'queued')).some((row) => row.status === 'SUCCESS'));
        } finally {
          await first!.schedules.delete('queued');
        }
        const rows = await tickRows(reader, 'queued');
        assert.deepEqual(rows.filter((row) => row.queueName !== 'ticks'), [], 'a tick was not enqueued on its queue');
      });

      test('an invalid cron or time zone, an unknown workflow or queue, and unknown names are typed errors, and nothing is written', async () => {
        const [first] = engines3;
        const schedules = first!.schedules;
        await assert.rejects(schedules.create('bad-cron', { workflow: 'tick', cron: '0 0 32 * *' }), InvalidScheduleError);
        await assert.rejects(schedules.create('bad-zone', { workflow: 'tick', cron: '0 3 * * *', timezone: 'Mars/Base' }), InvalidScheduleError);
        await assert.rejects(schedules.create('bad-workflow', { workflow: 'no-such-workflow', cron: '0 3 * * *' }), UnknownWorkflowError);
        await assert.rejects(schedules.create('bad-queue', { workflow: 'tick', cron: '0 3 * * *', queue: 'no-such-queue' }), UnknownQueueError);
        await assert.rejects(schedules.create('every-second', { workflow: 'tick', cron: '0 3 * * *' }), DuplicateScheduleError);
        await assert.rejects(schedules.update('nope', { cron: '0 3 * * *' }), UnknownScheduleError);
        await assert.rejects(schedules.pause('nope'), UnknownScheduleError);
        await assert.rejects(schedules.resume('nope'), UnknownScheduleError);
        await assert.rejects(schedules.delete('nope'), UnknownScheduleError);
        const { rows } = await reader.query<{ name: string }>(
          `select name from strata.schedules where name in ('bad-cron', 'bad-zone', 'bad-workflow', 'bad-queue', 'nope')`,
        );
        assert.deepEqual(rows, []);
        assert.equal((await schedules.get('every-second'))?.cron, EVERY_SECOND, 'a failed create changed the existing schedule');
      });
    });
  }
});
