// Cancellation (strata.cancel) and deadlines (start option timeoutMs): what ends, how fast, what
// is recorded, and how both reach child workflows and survive a restart.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Strata,
  WaitTimeoutError,
  WorkflowCancelledError,
  WorkflowNotFoundError,
  WorkflowStateError,
  WorkflowTimeoutError,
  type StrataConfig,
} from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { delay, LAUNCH_TIMEOUT_MS, launchOrShutDown, PROMPT_MS, quiet, SETTLE_MS, uniqueId, within } from './helpers.js';

/** Workflow IDs whose code ran past the wait it was cancelled in. */
const ranPastWait = new Set<string>();

/** A promise with its resolve function exposed. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Per workflow ID: resolved when its slow step starts, and when that step's function returns. */
const slowStepStarted = new Map<string, ReturnType<typeof deferred>>();
const slowStepReturned = new Map<string, ReturnType<typeof deferred>>();

function registerWorkflows(strata: Strata) {
  const quick = strata.workflow('quick', async () => 'ok');
  const sleeper = strata.workflow('sleeper', async (ctx, durationMs: number) => {
    await ctx.sleep(durationMs);
    ranPastWait.add(ctx.workflowId);
    return 'awake';
  });
  const blockedRecv = strata.workflow('blocked-recv', async (ctx) => {
    await ctx.setEvent('ready', true);
    await ctx.recv('never', { timeoutMs: Infinity });
    ranPastWait.add(ctx.workflowId);
    return 'received';
  });
  return {
    quick,
    sleeper,
    blockedRecv,
    /** A step whose function ignores its abort signal and returns 500 ms after it starts. */
    slowStep: strata.workflow('slow-step', async (ctx) => {
      const id = ctx.workflowId;
      return ctx.step('slow', async () => {
        slowStepStarted.get(id)?.resolve();
        await delay(500);
        slowStepReturned.get(id)?.resolve();
        return 'done';
      });
    }),
    /** Runs one child to completion, starts a second that blocks, and waits for it. */
    parentOfTwo: strata.workflow('parent-of-two', async (ctx) => {
      const finished = await ctx.startChild(quick);
      await finished.result();
      const blocked = await ctx.startChild(blockedRecv);
      await ctx.setEvent('children', { finished: finished.workflowId, blocked: blocked.workflowId });
      return blocked.result();
    }),
    /** Starts a child that sleeps 10 s and waits for it. */
    parentOfSleeper: strata.workflow('parent-of-sleeper', async (ctx) => {
      const child = await ctx.startChild(sleeper, 10_000);
      await ctx.setEvent('child', child.workflowId);
      return child.result();
    }),
  };
}

type App = ReturnType<typeof registerWorkflows> & { readonly strata: Strata };

/** Launches an engine; a launch that takes longer than `timeoutMs` is shut down and fails. */
async function launchApp(database: string, config: Partial<StrataConfig> = {}, timeoutMs = Infinity): Promise<App> {
  const strata = new Strata({ database, logger: quiet, ...config });
  const app = { strata, ...registerWorkflows(strata) };
  await launchOrShutDown(strata, timeoutMs);
  return app;
}

/** Checks that an error is a WorkflowTimeoutError with its stable code. */
function isTimeout(error: unknown): boolean {
  assert.ok(error instanceof WorkflowTimeoutError, `expected WorkflowTimeoutError, got ${String(error)}`);
  assert.equal(error.code, 'STRATA_WORKFLOW_TIMEOUT');
  return true;
}

for (const kind of engines()) {
  describe(`cancel and timeout (${kind})`, () => {
    let database: string;
    let executorId = 'local';
    let app: App;

    before(async () => {
      database = await freshDatabaseUrl(kind);
      app = await launchApp(database, { executorId });
    });
    after(async () => {
      await app?.strata.shutdown();
    });

    test('cancelling a workflow blocked in recv(Infinity) ends it promptly as CANCELLED without running the code after the wait', async () => {
      const handle = await app.blockedRecv.with({ workflowId: uniqueId('cancel-recv') }).start();
      assert.equal(await app.strata.getEvent(handle.workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await delay(SETTLE_MS);

      const cancelledAtMs = Date.now();
      await app.strata.cancel(handle.workflowId);
      await assert.rejects(handle.result({ timeoutMs: 5_000 }), WorkflowCancelledError);
      const endedAfterMs = Date.now() - cancelledAtMs;
      assert.ok(endedAfterMs < PROMPT_MS, `result() settled ${endedAfterMs} ms after cancel()`);

      assert.equal((await handle.status()).status, 'CANCELLED');
      await delay(SETTLE_MS);
      assert.equal(ranPastWait.has(handle.workflowId), false, 'the code after recv ran');
    });

    test('cancelling a workflow in sleep(60_000) interrupts the sleep promptly', async () => {
      const handle = await app.sleeper.with({ workflowId: uniqueId('cancel-sleep') }).start(60_000);
      await delay(SETTLE_MS);

      const cancelledAtMs = Date.now();
      await app.strata.cancel(handle.workflowId);
      await assert.rejects(handle.result({ timeoutMs: 5_000 }), WorkflowCancelledError);
      const endedAfterMs = Date.now() - cancelledAtMs;
      assert.ok(endedAfterMs < PROMPT_MS, `result() settled ${endedAfterMs} ms after cancel()`);
      assert.equal((await handle.status()).status, 'CANCELLED');
      assert.equal(ranPastWait.has(handle.workflowId), false, 'the code after sleep ran');
    });

    test('a step that is running when its workflow is cancelled records no checkpoint', async () => {
      const workflowId = uniqueId('cancel-step');
      slowStepStarted.set(workflowId, deferred());
      slowStepReturned.set(workflowId, deferred());
      const handle = await app.slowStep.with({ workflowId }).start();
      await within(slowStepStarted.get(workflowId)!.promise, 'the slow step starting', 5_000);

      await app.strata.cancel(workflowId);
      await assert.rejects(handle.result({ timeoutMs: 5_000 }), WorkflowCancelledError);
      await within(slowStepReturned.get(workflowId)!.promise, 'the slow step function returning', 5_000);
      await delay(SETTLE_MS); // time for a (wrong) checkpoint write to land

      const { rows } = await app.strata.systemDatabase.query('select step_id from strata.steps where workflow_id = $1 and name = $2', [workflowId, 'slow']);
      assert.equal(rows.length, 0, 'the cancelled step was checkpointed');
      assert.equal((await handle.status()).status, 'CANCELLED');
    });

    test('cancelling a parent cancels its PENDING children and leaves finished ones alone', async () => {
      const handle = await app.parentOfTwo.with({ workflowId: uniqueId('cancel-parent') }).start();
      const children = await app.strata.getEvent<{ finished: string; blocked: string }>(handle.workflowId, 'children', { timeoutMs: 5_000 });
      assert.ok(children, 'the parent started its children');

      await app.strata.cancel(handle.workflowId);
      await assert.rejects(handle.result({ timeoutMs: 5_000 }), WorkflowCancelledError);
      await assert.rejects(app.strata.retrieve(children.blocked).result({ timeoutMs: 5_000 }), WorkflowCancelledError);
      assert.equal((await app.strata.retrieve(children.blocked).status()).status, 'CANCELLED');
      assert.equal((await app.strata.retrieve(children.finished).status()).status, 'SUCCESS');
    });

    test('cancelling a cancelled workflow does nothing', async () => {
      const handle = await app.blockedRecv.with({ workflowId: uniqueId('cancel-twice') }).start();
      await app.strata.cancel(handle.workflowId);
      const first = await handle.status();
      await app.strata.cancel(handle.workflowId);
      const second = await handle.status();
      assert.equal(second.status, 'CANCELLED');
      assert.deepEqual(second.completedAt, first.completedAt);
    });

    test('cancelling a finished workflow fails with WorkflowStateError and leaves its status', async () => {
      const handle = await app.quick.with({ workflowId: uniqueId('cancel-finished') }).start();
      assert.equal(await handle.result({ timeoutMs: 5_000 }), 'ok');
      await assert.rejects(app.strata.cancel(handle.workflowId), (error: unknown) => {
        assert.ok(error instanceof WorkflowStateError, `expected WorkflowStateError, got ${String(error)}`);
        assert.equal(error.status, 'SUCCESS');
        return true;
      });
      assert.equal((await handle.status()).status, 'SUCCESS');
      assert.equal(await handle.result({ timeoutMs: 5_000 }), 'ok');
    });

    test('cancelling an unknown workflow ID fails with WorkflowNotFoundError', async () => {
      await assert.rejects(app.strata.cancel(uniqueId('nobody')), WorkflowNotFoundError);
    });

    test('a workflow that outlives its timeoutMs ends CANCELLED with WorkflowTimeoutError', async () => {
      const handle = await app.sleeper.with({ workflowId: uniqueId('timeout'), timeoutMs: 300 }).start(10_000);
      await assert.rejects(handle.result({ timeoutMs: 5_000 }), isTimeout);
      assert.equal((await handle.status()).status, 'CANCELLED');
      assert.equal(ranPastWait.has(handle.workflowId), false, 'the code after sleep ran');
    });

    test("a parent's deadline applies to its children: both end CANCELLED and the child's deadline is no later", async () => {
      const handle = await app.parentOfSleeper.with({ workflowId: uniqueId('timeout-parent'), timeoutMs: 300 }).start();
      const childId = await app.strata.getEvent<string>(handle.workflowId, 'child', { timeoutMs: 5_000 });
      assert.ok(childId, 'the parent started its child');

      await assert.rejects(handle.result({ timeoutMs: 5_000 }), isTimeout);
      await assert.rejects(app.strata.retrieve(childId).result({ timeoutMs: 5_000 }), isTimeout);
      const parent = await handle.status();
      const child = await app.strata.retrieve(childId).status();
      assert.equal(parent.status, 'CANCELLED');
      assert.equal(child.status, 'CANCELLED');
      assert.ok(parent.deadlineAt && child.deadlineAt, 'both have a deadline');
      assert.ok(child.deadlineAt.getTime() <= parent.deadlineAt.getTime(), `child deadline ${child.deadlineAt.toISOString()} is after the parent's ${parent.deadlineAt.toISOString()}`);
    });

    test('result({ timeoutMs: 100 }) of a long workflow fails with WaitTimeoutError and the workflow keeps running', async () => {
      const handle = await app.blockedRecv.with({ workflowId: uniqueId('wait-timeout') }).start();
      await assert.rejects(handle.result({ timeoutMs: 100 }), WaitTimeoutError);
      assert.equal((await handle.status()).status, 'PENDING');
      await app.strata.send(handle.workflowId, 'now', { topic: 'never' });
      assert.equal(await handle.result({ timeoutMs: 5_000 }), 'received');
    });

    test('a deadline that passed while the process was down cancels the workflow with WorkflowTimeoutError on restart', async () => {
      const workflowId = uniqueId('timeout-while-down');
      const startedAtMs = Date.now();
      await app.blockedRecv.with({ workflowId, timeoutMs: 1_000 }).start();
      assert.equal(await app.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await app.strata.shutdown();
      await delay(Math.max(0, startedAtMs + 1_200 - Date.now()));

      try {
        app = await launchApp(database, { executorId }, LAUNCH_TIMEOUT_MS);
      } catch (error) {
        executorId = uniqueId('replacement');
        app = await launchApp(database, { executorId });
        throw error;
      }
      await assert.rejects(app.strata.retrieve(workflowId).result({ timeoutMs: 5_000 }), isTimeout);
      assert.equal((await app.strata.retrieve(workflowId).status()).status, 'CANCELLED');
      assert.equal(ranPastWait.has(workflowId), false, 'the code after recv ran');
    });
  });
}
