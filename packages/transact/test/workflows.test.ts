// Workflows: start, result, status, idempotent IDs, child workflows, step numbering and the
// engine's lifecycle errors.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DuplicateWorkflowError,
  EngineStateError,
  InvalidArgumentError,
  Strata,
  UnknownWorkflowError,
  WorkflowConflictError,
} from '@strata/transact';
import { engines, freshDatabaseUrl, freshPostgresUrl } from '@strata/testing';
import { countRows, delay, launchWithin, quiet, randomId as uniqueId, WAIT_MS, waitFor } from './helpers.js';

const EXECUTOR_ID = 'exec-workflows';
const APP_VERSION = 'v7';

/** Side effects, keyed by workflow ID (and step name): shared by every engine in this process. */
const runs = new Map<string, number>();
function bump(key: string): number {
  const n = (runs.get(key) ?? 0) + 1;
  runs.set(key, n);
  return n;
}

/** Errors caught inside workflows, for instanceof checks the stored copy cannot give. */
const caught = new Map<string, unknown>();

/** A workflow of another engine, to be started (wrongly) from a workflow of this one. */
const foreignEngine = new Strata({ database: 'memory://', logger: quiet });
const foreignWorkflow = foreignEngine.workflow('foreign', async () => 'never runs');

function paymentError(): Error {
  return Object.assign(new Error('card declined'), { name: 'PaymentError', code: 'E_DECLINED' });
}

/** Every workflow the per-engine blocks need, registered on a new (unlaunched) engine. */
function createApp(database: string) {
  const strata = new Strata({ database, executorId: EXECUTOR_ID, appVersion: APP_VERSION, logger: quiet });
  const echo = strata.workflow('echo', async (ctx, x: number) => {
    bump(ctx.workflowId);
    return ctx.step('double', () => x * 2);
  });
  const other = strata.workflow('other', async () => 'other');
  const gated = strata.workflow('gated', async (ctx, x: string) => {
    await ctx.recv('go', { timeoutMs: Infinity });
    return `${x}!`;
  });
  const fails = strata.workflow('fails', async (ctx) => {
    await ctx.step('before', () => 1);
    throw paymentError();
  });
  const counted = strata.workflow('counted', async (ctx, label: string) => {
    const n = bump(ctx.workflowId);
    await delay(20); // keep the first execution running while the other starts arrive
    const at = await ctx.step('stamp', () => new Date().toISOString());
    return { label, n, at };
  });
  const child = strata.workflow('child', async (ctx, x: number) => {
    if (x < 0) throw new Error(`child refused ${x}`);
    return ctx.step('increment', () => x + 1);
  });
  const parent = strata.workflow('parent', async (ctx, x: number) => {
    const fromChild = await ctx.runChild(child, x);
    return { fromChild };
  });
  const parentViaStart = strata.workflow('parent-via-start', async (_ctx, x: number) => {
    const handle = await child.start(x);
    return { childId: handle.workflowId, result: await handle.result() };
  });
  const fanOut = strata.workflow('fan-out', async (ctx) => {
    const values = await Promise.all([
      ctx.step('first', async () => {
        bump(`${ctx.workflowId}/first`);
        await delay(40); // finishes last, so recording order differs from call order
        return 'a';
      }),
      ctx.step('second', () => {
        bump(`${ctx.workflowId}/second`);
        return 'b';
      }),
      ctx.step('third', async () => {
        bump(`${ctx.workflowId}/third`);
        await delay(10);
        return 'c';
      }),
    ]);
    await ctx.recv('go', { timeoutMs: Infinity });
    return values;
  });
  const usesForeign = strata.workflow('uses-foreign', async (ctx) => {
    try {
      await ctx.startChild(foreignWorkflow);
    } catch (error) {
      caught.set(ctx.workflowId, error);
      throw error;
    }
    return 'started';
  });
  return { strata, echo, other, gated, fails, counted, child, parent, parentViaStart, fanOut, usesForeign };
}

type App = ReturnType<typeof createApp>;

for (const kind of engines()) {
  describe(`workflows (${kind})`, () => {
    let database: string;
    let app: App;

    before(async () => {
      database = await freshDatabaseUrl(kind);
      app = createApp(database);
      await app.strata.launch();
    });

    after(async () => {
      await app.strata.shutdown();
    });

    test('a started workflow is PENDING until it finishes, then SUCCESS with its result', async () => {
      const id = uniqueId('gated');
      const handle = await app.gated.with({ workflowId: id }).start('hi');
      assert.equal(handle.workflowId, id);

      const pending = await handle.status();
      assert.equal(pending.status, 'PENDING');
      assert.equal(pending.workflowId, id);
      assert.equal(pending.name, 'gated');
      assert.equal(pending.executorId, EXECUTOR_ID);
      assert.equal(pending.appVersion, APP_VERSION);
      assert.equal(pending.parentWorkflowId, null);
      assert.equal(pending.completedAt, null);
      assert.ok(pending.createdAt instanceof Date);

      await app.strata.send(id, 'x', { topic: 'go' });
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'hi!');

      const done = await handle.status();
      assert.equal(done.status, 'SUCCESS');
      assert.ok(done.completedAt instanceof Date);
      assert.ok(done.completedAt.getTime() >= done.createdAt.getTime());
      assert.ok(done.updatedAt.getTime() >= done.createdAt.getTime());
      assert.equal(done.createdAt.getTime(), pending.createdAt.getTime());
    });

    test('run() starts a workflow with a random ID and returns its result', async () => {
      assert.equal(await app.echo.run(21), 42);
    });

    test('the result of a failing workflow rethrows its error (name, message, code) and the status is ERROR', async () => {
      const handle = await app.fails.start();
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), (error: Error & { code?: unknown }) => {
        assert.equal(error.name, 'PaymentError');
        assert.equal(error.message, 'card declined');
        assert.equal(error.code, 'E_DECLINED');
        return true;
      });
      const status = await handle.status();
      assert.equal(status.status, 'ERROR');
      assert.ok(status.completedAt instanceof Date);
    });

    test('retrieve() reaches a workflow by ID and rethrows its stored error', async () => {
      const id = uniqueId('fails');
      await app.fails.with({ workflowId: id }).start();
      await assert.rejects(app.strata.retrieve(id).result({ timeoutMs: WAIT_MS }), { name: 'PaymentError', message: 'card declined' });
      assert.equal((await app.strata.retrieve(id).status()).status, 'ERROR');
    });

    test('starting an existing workflow ID again returns that workflow and runs nothing, even after it finished', async () => {
      const id = uniqueId('counted');
      const first = await app.counted.with({ workflowId: id }).start('first');
      const firstResult = await first.result({ timeoutMs: WAIT_MS });
      assert.equal(firstResult.label, 'first');

      const second = await app.counted.with({ workflowId: id }).start('second');
      assert.equal(second.workflowId, id);
      assert.deepEqual(await second.result({ timeoutMs: WAIT_MS }), firstResult);
      assert.equal(runs.get(id), 1);
    });

    test('reusing a workflow ID for a different workflow name throws WorkflowConflictError', async () => {
      const id = uniqueId('conflict');
      await (await app.echo.with({ workflowId: id }).start(1)).result({ timeoutMs: WAIT_MS });
      await assert.rejects(app.other.with({ workflowId: id }).start(), (error: unknown) => {
        assert.ok(error instanceof WorkflowConflictError);
        assert.equal(error.code, 'STRATA_WORKFLOW_CONFLICT');
        return true;
      });
      assert.equal((await app.strata.retrieve(id).status()).name, 'echo');
    });

    test('50 concurrent starts of one workflow ID run its body exactly once', async () => {
      const id = uniqueId('concurrent');
      const handles = await Promise.all(Array.from({ length: 50 }, (_, i) => app.counted.with({ workflowId: id }).start(`caller-${i}`)));
      const results = await Promise.all(handles.map((handle) => handle.result({ timeoutMs: WAIT_MS })));
      assert.equal(runs.get(id), 1);
      assert.ok(handles.every((handle) => handle.workflowId === id));
      for (const result of results) assert.deepEqual(result, results[0]);
      assert.equal(await countRows(app.strata.systemDatabase, 'select 1 from strata.workflows where workflow_id = $1', [id]), 1);
    });

    test('runChild returns the child result; the child has ID <parentId>-<stepNumber> and its parent recorded', async () => {
      const id = uniqueId('parent');
      const handle = await app.parent.with({ workflowId: id }).start(41);
      assert.deepEqual(await handle.result({ timeoutMs: WAIT_MS }), { fromChild: 42 });

      const childStatus = await app.strata.retrieve(`${id}-0`).status();
      assert.equal(childStatus.name, 'child');
      assert.equal(childStatus.parentWorkflowId, id);
      assert.equal(childStatus.status, 'SUCCESS');
      const { rows } = await app.strata.systemDatabase.query<{ kind: string; child_workflow_id: string | null }>(
        'select kind, child_workflow_id from strata.steps where workflow_id = $1 order by step_id',
        [id],
      );
      assert.deepEqual(rows, [
        { kind: 'start_child', child_workflow_id: `${id}-0` },
        { kind: 'child_result', child_workflow_id: null },
      ]);
    });

    test("a child's error propagates to its parent", async () => {
      const id = uniqueId('parent-of-failing');
      const handle = await app.parent.with({ workflowId: id }).start(-1);
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { message: 'child refused -1' });
      assert.equal((await handle.status()).status, 'ERROR');
      assert.equal((await app.strata.retrieve(`${id}-0`).status()).status, 'ERROR');
    });

    test('workflow.start() called inside a workflow starts a child of it', async () => {
      const id = uniqueId('parent-via-start');
      const result = await (await app.parentViaStart.with({ workflowId: id }).start(1)).result({ timeoutMs: WAIT_MS });
      assert.deepEqual(result, { childId: `${id}-0`, result: 2 });
      assert.equal((await app.strata.retrieve(`${id}-0`).status()).parentWorkflowId, id);
    });

    test('startByName with an unregistered name throws UnknownWorkflowError', async () => {
      await assert.rejects(app.strata.startByName('no-such-workflow', []), (error: unknown) => {
        assert.ok(error instanceof UnknownWorkflowError);
        assert.equal(error.code, 'STRATA_UNKNOWN_WORKFLOW');
        return true;
      });
    });

    test('startByName starts a registered workflow with the given ID', async () => {
      const id = uniqueId('by-name');
      const handle = await app.strata.startByName<number>('echo', [5], { workflowId: id });
      assert.equal(handle.workflowId, id);
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 10);
    });

    test('registering a workflow name twice throws DuplicateWorkflowError', () => {
      const strata = new Strata({ database: database, logger: quiet });
      strata.workflow('twice', async () => 1);
      assert.throws(() => strata.workflow('twice', async () => 2), DuplicateWorkflowError);
    });

    test('registering a workflow after launch throws EngineStateError', () => {
      assert.throws(() => app.strata.workflow('late', async () => 1), EngineStateError);
    });

    test('starting a workflow before launch throws EngineStateError', async () => {
      const strata = new Strata({ database: database, logger: quiet });
      const wf = strata.workflow('early', async () => 1);
      await assert.rejects(wf.start(), EngineStateError);
      await assert.rejects(strata.startByName('early', []), EngineStateError);
    });

    test('starting a workflow after shutdown throws EngineStateError', async () => {
      // Shares the block's database object, so shutting it down closes nothing of the block's.
      const strata = new Strata({ database: app.strata.systemDatabase, executorId: 'short-lived', logger: quiet });
      const wf = strata.workflow('late-start', async () => 1);
      await strata.launch();
      assert.equal(await wf.run(), 1);
      await strata.shutdown();
      await assert.rejects(wf.start(), EngineStateError);
    });

    test("starting another engine's workflow as a child throws InvalidArgumentError and starts nothing", async () => {
      const id = uniqueId('uses-foreign');
      const handle = await app.usesForeign.with({ workflowId: id }).start();
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { name: 'InvalidArgumentError', code: 'STRATA_INVALID_ARGUMENT' });
      assert.ok(caught.get(id) instanceof InvalidArgumentError);
      assert.equal(await countRows(app.strata.systemDatabase, 'select 1 from strata.workflows where parent_workflow_id = $1', [id]), 0);
    });
    test('steps started together with Promise.all are numbered in call order and replayed after a restart', async () => {
      const id = uniqueId('fan-out');
      await app.fanOut.with({ workflowId: id }).start();
      const stepsQuery = "select step_id, name from strata.steps where workflow_id = $1 and kind = 'step' order by step_id";
      await waitFor('the three steps to be recorded', async () => (await countRows(app.strata.systemDatabase, stepsQuery, [id])) === 3);
      const { rows } = await app.strata.systemDatabase.query(stepsQuery, [id]);
      assert.deepEqual(rows, [
        { step_id: 0, name: 'first' },
        { step_id: 1, name: 'second' },
        { step_id: 2, name: 'third' },
      ]);

      await app.strata.shutdown();
      app = createApp(database);
      await launchWithin(app.strata);
      await app.strata.send(id, 'x', { topic: 'go' });

      assert.deepEqual(await app.strata.retrieve(id).result({ timeoutMs: WAIT_MS }), ['a', 'b', 'c']);
      assert.equal(runs.get(`${id}/first`), 1);
      assert.equal(runs.get(`${id}/second`), 1);
      assert.equal(runs.get(`${id}/third`), 1);
    });
  });
}

if (engines().includes('postgres')) {
  describe('idempotent start across engines (postgres)', () => {
    const engineRuns = new Map<string, number>();
    let first: Strata;
    let second: Strata;
    const once = new Map<Strata, ReturnType<Strata['workflow']>>();

    function register(strata: Strata) {
      return strata.workflow('once', async (ctx) => {
        engineRuns.set(ctx.workflowId, (engineRuns.get(ctx.workflowId) ?? 0) + 1);
        await ctx.transaction('effect', (tx) => tx.query('insert into app_effects (workflow_id) values ($1)', [ctx.workflowId]));
        return 'done';
      });
    }

    before(async () => {
      const url = await freshPostgresUrl();
      first = new Strata({ database: url, executorId: 'exec-a', logger: quiet });
      second = new Strata({ database: url, executorId: 'exec-b', logger: quiet });
      once.set(first, register(first));
      once.set(second, register(second));
      await first.launch();
      await second.launch();
      await first.systemDatabase.exec('create table app_effects (workflow_id text not null)');
    });

    after(async () => {
      await Promise.allSettled([first?.shutdown(), second?.shutdown()]);
    });

    test('two engines starting one workflow ID from 20 callers each run it exactly once', async () => {
      const id = uniqueId('once');
      const starts = [first, second].flatMap((strata) => Array.from({ length: 20 }, () => once.get(strata)!.with({ workflowId: id }).start()));
      const handles = await Promise.all(starts);
      const results = await Promise.all(handles.map((handle) => handle.result({ timeoutMs: WAIT_MS })));
      assert.deepEqual(new Set(results), new Set(['done']));
      assert.equal(engineRuns.get(id), 1);
      assert.equal(await countRows(first.systemDatabase, 'select 1 from app_effects where workflow_id = $1', [id]), 1);
      const status = await first.retrieve(id).status();
      assert.ok(['exec-a', 'exec-b'].includes(status.executorId ?? ''));
    });
  });
}
