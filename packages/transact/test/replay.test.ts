// Time travel: replayWorkflow() runs a workflow's current code against its recorded history with
// no side effects — recorded outcomes come back, nothing runs, waits or is written — and reports
// the timeline, a divergence with both versions, or where the history ends.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database, type Queryable } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { NonDeterminismError, Serializer, Strata, type WorkflowContext } from '@strata/transact';
import { formatReplayReport, HistoryEndError, replayWorkflow, type ReplayReport } from '../src/workflow/replay.js';
import { getWorkflow } from '../src/sql/get-workflow.js';
import { loadSteps } from '../src/sql/steps.js';
import type { StepRow } from '../src/sql/types.js';
import { LAUNCH_TIMEOUT_MS, quiet, uniqueId, WAIT_MS, waitFor, withTimeout } from './helpers.js';

const serializer = new Serializer();

/** Far beyond "well under a second": a replayed sleep that waited even a fraction of it would show. */
const RECORDED_SLEEP_MS = 60_000;
/** A replay has nothing to wait for; a loaded CI machine still finishes it well within this. */
const REPLAY_FAST_MS = 1_000;

const ORDERS_DDL = 'create table if not exists replay_orders (workflow_id text not null, note text not null)';

/** Per workflow ID: how often one of its step functions ran (the in-memory side effect). */
const sideEffects = new Map<string, number>();

function sideEffect(workflowId: string): number {
  const next = (sideEffects.get(workflowId) ?? 0) + 1;
  sideEffects.set(workflowId, next);
  return next;
}

async function insertOrder(tx: Queryable, workflowId: string, note: string): Promise<string> {
  await tx.query('insert into replay_orders (workflow_id, note) values ($1, $2)', [workflowId, note]);
  return `saved ${note}`;
}

// ---- the workflows as first deployed ----

async function checkout(ctx: WorkflowContext, item: string) {
  const reserved = await ctx.step('reserve', () => ({ item, run: sideEffect(ctx.workflowId) }));
  const saved = await ctx.transaction('record', (tx) => insertOrder(tx, ctx.workflowId, item));
  const charge = await ctx.step('charge', () => ({ id: 'ch_1', run: sideEffect(ctx.workflowId) }));
  let notified: string;
  try {
    await ctx.step('notify', () => {
      sideEffect(ctx.workflowId);
      throw new Error('mail server down');
    });
    notified = 'sent';
  } catch (error) {
    notified = (error as Error).message;
  }
  await ctx.setEvent('status', 'charged');
  const at = await ctx.now();
  return { reserved, saved, charge, notified, at };
}

async function awaiting(ctx: WorkflowContext) {
  await ctx.step('prepare', () => sideEffect(ctx.workflowId));
  await ctx.transaction('hold', (tx) => insertOrder(tx, ctx.workflowId, 'held'));
  const go = await ctx.recv<string>('go', { timeoutMs: Infinity });
  await ctx.step('finish', () => sideEffect(ctx.workflowId));
  return go;
}

async function sleeper(ctx: WorkflowContext) {
  await ctx.step('before', () => sideEffect(ctx.workflowId));
  await ctx.sleep(RECORDED_SLEEP_MS);
  return ctx.step('after', () => sideEffect(ctx.workflowId));
}

// ---- changed versions ----

/** `charge` moved before `record`. */
async function checkoutReordered(ctx: WorkflowContext, item: string) {
  const reserved = await ctx.step('reserve', () => ({ item, run: sideEffect(ctx.workflowId) }));
  const charge = await ctx.step('charge', () => ({ id: 'ch_1', run: sideEffect(ctx.workflowId) }));
  const saved = await ctx.transaction('record', (tx) => insertOrder(tx, ctx.workflowId, item));
  return { reserved, saved, charge };
}

/** Returns after `reserve`, leaving the rest of the history unreached. */
async function checkoutEarlyReturn(ctx: WorkflowContext, item: string) {
  return ctx.step('reserve', () => ({ item, run: sideEffect(ctx.workflowId) }));
}

/** Catches the divergence and returns normally: the replay must still report it. */
async function checkoutSwallowing(ctx: WorkflowContext, item: string) {
  await ctx.step('reserve', () => ({ item, run: sideEffect(ctx.workflowId) }));
  try {
    await ctx.step('refund', () => sideEffect(ctx.workflowId));
  } catch {
    // a workflow that hides errors must not hide a divergence
  }
  return 'looks fine';
}

type Recorded = { workflowId: string; name: string; recordedStatus: string; args: unknown[]; history: StepRow[]; deadlineAt: Date | null };

/** Everything a replay of `workflowId` needs, read from the database as the engine would. */
async function recorded(db: Queryable, workflowId: string): Promise<Recorded> {
  const row = await getWorkflow(db, workflowId);
  assert.ok(row, `workflow ${workflowId} exists`);
  return {
    workflowId,
    name: row.name,
    recordedStatus: row.status,
    args: serializer.deserialize<unknown[]>(row.inputs),
    history: await loadSteps(db, workflowId),
    deadlineAt: row.deadline_at,
  };
}

function replay(input: Recorded, fn: (ctx: WorkflowContext, ...args: never[]) => Promise<unknown>): Promise<ReplayReport> {
  return replayWorkflow({ ...input, fn: fn as (ctx: WorkflowContext, ...args: unknown[]) => Promise<unknown>, serializer });
}

/** Every row a replay could conceivably touch, and the in-memory side effects. */
async function snapshot(db: Queryable) {
  const read = async (sql: string) => (await db.query(sql)).rows;
  return {
    steps: await read('select workflow_id, step_id, kind, name, output, error, attempts from strata.steps order by workflow_id, step_id'),
    workflows: await read('select workflow_id, status, output, error, recovery_attempts, updated_at from strata.workflows order by workflow_id'),
    messages: await read('select count(*)::int as n from strata.messages'),
    events: await read('select workflow_id, key, value from strata.events order by workflow_id, key'),
    orders: await read('select workflow_id, note from replay_orders order by workflow_id, note'),
    sideEffects: [...sideEffects].sort(),
  };
}

for (const kind of engines()) {
  describe(`replay (${kind})`, () => {
    let db: Database;
    const ids = { checkout: uniqueId('checkout'), awaiting: uniqueId('awaiting'), sleeper: uniqueId('sleeper') };

    before(async () => {
      const database = await freshDatabaseUrl(kind);
      const strata = new Strata({ database, logger: quiet });
      const workflows = {
        checkout: strata.workflow('checkout', checkout),
        awaiting: strata.workflow('awaiting', awaiting),
        sleeper: strata.workflow('sleeper', sleeper),
      };
      await withTimeout(strata.launch(), LAUNCH_TIMEOUT_MS, 'launch');
      try {
        await strata.systemDatabase.exec(ORDERS_DDL);
        await (await workflows.checkout.with({ workflowId: ids.checkout }).start('book')).result({ timeoutMs: WAIT_MS });
        await workflows.awaiting.with({ workflowId: ids.awaiting }).start();
        await workflows.sleeper.with({ workflowId: ids.sleeper }).start();
        // Left mid-way: blocked in recv after two recorded steps, asleep after two.
        await waitFor('awaiting to block in recv', async () => (await loadSteps(strata.systemDatabase, ids.awaiting)).length === 2);
        await waitFor('sleeper to fall asleep', async () => (await loadSteps(strata.systemDatabase, ids.sleeper)).length === 2);
      } finally {
        await strata.shutdown();
      }
      db = await openDatabase(database);
    });

    after(async () => {
      await db?.close();
    });

    test('the same code replays a finished workflow to its recorded output, every operation replayed, with no side effect and no write', async () => {
      const before = await snapshot(db);
      const input = await recorded(db, ids.checkout);
      const report = await replay(input, checkout);

      assert.equal(report.diverged, false);
      assert.equal(report.recordedStatus, 'SUCCESS');
      assert.equal(report.end.kind, 'completed');
      const { rows } = await db.query<{ output: string }>('select output from strata.workflows where workflow_id = $1', [ids.checkout]);
      assert.deepEqual(report.end.kind === 'completed' && report.end.output, serializer.deserialize(rows[0]!.output));
      assert.deepEqual(
        report.timeline.map((event) => [event.stepId, event.kind, event.name, event.outcome]),
        [
          [0, 'step', 'reserve', 'replayed'],
          [1, 'transaction', 'record', 'replayed'],
          [2, 'step', 'charge', 'replayed'],
          [3, 'step', 'notify', 'replayed'],
          [4, 'set_event', 'status', 'replayed'],
          [5, 'now', 'now', 'replayed'],
        ],
      );
      assert.deepEqual(report.timeline[2]!.recorded, { output: { id: 'ch_1', run: 2 } });
      assert.deepEqual(report.timeline[3]!.recorded, { error: { name: 'Error', message: 'mail server down' } });
      assert.equal(report.unreached, 0);

      assert.deepEqual(await snapshot(db), before, 'replay changed no row and ran no step function');
      const text = formatReplayReport(report);
      assert.match(text, /#2 step "charge" ✓ replayed → \{"id":"ch_1","run":2\}/);
      assert.match(text, /#3 step "notify" ✓ replayed → threw Error: mail server down/);
      assert.match(text, /no divergence/);
    });

    test('a changed step order diverges at the first moved operation, showing the recorded and the current version', async () => {
      const before = await snapshot(db);
      const report = await replay(await recorded(db, ids.checkout), checkoutReordered);

      assert.equal(report.diverged, true);
      assert.deepEqual(report.end, { kind: 'diverged', stepId: 1, recorded: 'transaction "record"', current: 'step "charge"' });
      assert.deepEqual(report.timeline.at(-1), {
        stepId: 1,
        kind: 'transaction',
        name: 'record',
        outcome: 'diverged',
        recorded: { output: 'saved book' },
        current: { kind: 'step', name: 'charge' },
      });
      const text = formatReplayReport(report);
      assert.match(text, /#1 transaction "record" ✗ diverged\n\s+recorded: transaction "record"\n\s+current:  step "charge"/);
      assert.match(text, /DIVERGED at step #1/);
      assert.deepEqual(await snapshot(db), before);
    });

    test('a divergence the workflow code catches is reported all the same', async () => {
      const report = await replay(await recorded(db, ids.checkout), checkoutSwallowing);
      assert.equal(report.diverged, true);
      assert.deepEqual(report.end, { kind: 'diverged', stepId: 1, recorded: 'transaction "record"', current: 'step "refund"' });
    });

    test('code that now returns early diverges: the recorded operations it never reaches are counted and named', async () => {
      const report = await replay(await recorded(db, ids.checkout), checkoutEarlyReturn);
      assert.equal(report.end.kind, 'completed');
      assert.equal(report.unreached, 5);
      assert.deepEqual(report.unreachedSteps[0], { stepId: 1, kind: 'transaction', name: 'record' });
      assert.equal(report.diverged, true);
      const text = formatReplayReport(report);
      assert.match(text, /DIVERGED: the workflow returned without reaching 5 recorded operations, from #1 transaction "record"/);
    });

    test('an unfinished workflow replays to the end of its history, which names the next operation and is not a divergence', async () => {
      const before = await snapshot(db);
      const report = await replay(await recorded(db, ids.awaiting), awaiting);

      assert.equal(report.recordedStatus, 'PENDING');
      assert.equal(report.diverged, false);
      assert.deepEqual(report.end, { kind: 'history-end', stepId: 2, next: 'recv "go"' });
      assert.deepEqual(
        report.timeline.map((event) => [event.stepId, event.kind, event.name, event.outcome]),
        [
          [0, 'step', 'prepare', 'replayed'],
          [1, 'transaction', 'hold', 'replayed'],
          [2, 'recv', 'go', 'not-recorded'],
        ],
      );
      assert.match(formatReplayReport(report), /history ends at step #2: the live workflow would run recv "go" next \(not a divergence/);
      assert.deepEqual(await snapshot(db), before, 'the recv neither waited nor consumed, and no step ran');
    });

    test('a recorded 60 s sleep replays at once', async () => {
      const input = await recorded(db, ids.sleeper);
      const startedMs = Date.now();
      const report = await replay(input, sleeper);
      const elapsedMs = Date.now() - startedMs;

      assert.ok(elapsedMs < REPLAY_FAST_MS, `replay took ${elapsedMs} ms`);
      assert.deepEqual(report.end, { kind: 'history-end', stepId: 2, next: 'step "after"' });
      const sleep = report.timeline[1]!;
      assert.equal(sleep.kind, 'sleep');
      assert.equal(sleep.outcome, 'replayed');
      assert.ok((sleep.recorded!.output as number) > Date.now(), 'the recorded wake-up time is still ahead');
      assert.match(formatReplayReport(report), /#1 sleep ✓ replayed → \d+ \(\d{4}-/);
    });
  });
}

describe('replay without a database', () => {
  /** A recorded row as loadSteps() returns it. */
  function row(stepId: number, kind: StepRow['kind'], name: string, outcome: { output?: unknown; error?: Error; child?: string } = {}): StepRow {
    return {
      step_id: stepId,
      kind,
      name,
      output: 'output' in outcome ? serializer.serialize(outcome.output, 'test output') : null,
      error: outcome.error ? serializer.serializeError(outcome.error) : null,
      child_workflow_id: outcome.child ?? null,
    };
  }

  function replayHistory(history: StepRow[], fn: (ctx: WorkflowContext) => Promise<unknown>, recordedStatus = 'SUCCESS') {
    return replayWorkflow({ workflowId: 'wf-1', name: 'unit', recordedStatus, fn, args: [], history, serializer, deadlineAt: null });
  }

  test('a recorded 60 s sleep followed by a step completes at once with the recorded values', async () => {
    const history = [row(0, 'sleep', 'sleep', { output: Date.now() + RECORDED_SLEEP_MS }), row(1, 'step', 'after', { output: 'done' })];
    let ran = 0;
    const startedMs = Date.now();
    const report = await replayHistory(history, async (ctx) => {
      await ctx.sleep(RECORDED_SLEEP_MS);
      return ctx.step('after', () => ++ran);
    });
    assert.ok(Date.now() - startedMs < REPLAY_FAST_MS);
    assert.deepEqual(report.end, { kind: 'completed', output: 'done' });
    assert.equal(report.diverged, false);
    assert.equal(ran, 0, 'a recorded step function does not run');
  });

  test('an operation without a record does not run, and catching the end of the history does not hide it', async () => {
    let ran = 0;
    let caught: unknown;
    const report = await replayHistory([row(0, 'step', 'a', { output: 1 })], async (ctx) => {
      await ctx.step('a', () => ++ran);
      try {
        await ctx.step('b', () => ++ran);
      } catch (error) {
        caught = error;
      }
      await ctx.step('c', () => ++ran).catch(() => undefined); // every later operation is refused too
      return 'carried on';
    }, 'PENDING');
    assert.equal(ran, 0);
    assert.ok(caught instanceof HistoryEndError);
    assert.equal((caught as HistoryEndError).code, 'STRATA_REPLAY_HISTORY_END');
    assert.deepEqual(report.end, { kind: 'history-end', stepId: 1, next: 'step "b"' });
    assert.equal(report.timeline.length, 2, 'the refused later operation is not in the timeline');
  });

  test('recorded messages, events, children and waits return their recorded values without blocking', async () => {
    const history = [
      row(0, 'deadline', 'deadline', { output: Date.now() + RECORDED_SLEEP_MS }),
      row(1, 'recv', 'go', { output: 'ok' }),
      row(2, 'get_event', 'other:ready', { output: true }),
      row(3, 'send', 'other'),
      row(4, 'start_child', 'child', { child: 'wf-1-4' }),
      row(5, 'child_result', 'wf-1-4', { output: 42 }),
      row(6, 'stream_write', 'log'),
      row(7, 'uuid', 'uuid', { output: 'u-1' }),
    ];
    const child = { name: 'child', binding: { owner: {}, options: {} }, start: async () => assert.fail('not started'), run: async () => assert.fail('not run') };
    const report = await replayHistory(history, async (ctx) => {
      const got = await ctx.recv('go', { timeoutMs: RECORDED_SLEEP_MS });
      const ready = await ctx.getEvent('other', 'ready', { timeoutMs: Infinity });
      await ctx.send('other', 'hello', 'other');
      const result = await ctx.runChild(child as never);
      await ctx.writeStream('log', 'line');
      return { got, ready, result, id: await ctx.uuid() };
    });
    assert.deepEqual(report.end, { kind: 'completed', output: { got: 'ok', ready: true, result: 42, id: 'u-1' } });
    assert.deepEqual(report.timeline[4]!.recorded, { output: 'wf-1-4' });
    assert.ok(report.timeline.every((event) => event.outcome === 'replayed'));
  });

  test('a recorded error is thrown again to the workflow code, and an uncaught one ends the replay as failed', async () => {
    const report = await replayHistory([row(0, 'step', 'charge', { error: new Error('card declined') })], async (ctx) => ctx.step('charge', () => 'paid'), 'ERROR');
    assert.deepEqual(report.end, { kind: 'failed', error: { name: 'Error', message: 'card declined' } });
    assert.equal(report.diverged, false);
    assert.match(formatReplayReport(report), /failed: Error: card declined; no divergence/);
  });

  test('a divergence keeps the NonDeterminismError the workflow code saw, with both versions', async () => {
    let caught: unknown;
    const report = await replayHistory([row(0, 'step', 'charge', { output: 1 })], async (ctx) => {
      try {
        await ctx.sleep(5);
      } catch (error) {
        caught = error;
      }
    });
    assert.ok(caught instanceof NonDeterminismError);
    assert.deepEqual(report.end, { kind: 'diverged', stepId: 0, recorded: 'step "charge"', current: 'sleep' });
    assert.match(formatReplayReport(report), /recorded: step "charge"\n\s+current:  sleep/);
  });
});
