// StrataClient: enqueue by name (also inside the caller's transaction), results, messages, events,
// cancellation, runtime queues and executors, from a client that runs no workflows, and its
// errors for unknown names and bad input.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  EngineStateError,
  InvalidArgumentError,
  Strata,
  StrataClient,
  UnknownQueueError,
  UnknownWorkflowError,
  WorkflowCancelledError,
  WorkflowNotFoundError,
} from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { countRows, PROMPT_MS, quiet, SAFETY_POLL_INTERVAL_MS, uniqueId, WAIT_MS, waitFor } from './helpers.js';

/** Executions of each workflow body, by workflow ID. */
const runs = new Map<string, number>();

for (const kind of engines()) {
  describe(`StrataClient (${kind})`, () => {
    let strata: Strata;
    let client: StrataClient;
    /** When each `stamp` workflow's first line ran (performance.now()). */
    const startedAt = new Map<string, number>();

    before(async () => {
      const url = await freshDatabaseUrl(kind);
      strata = new Strata({ database: url, logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS, executorId: uniqueId('client-exec') });
      strata.workflow('greet', async (ctx, name: string) => {
        runs.set(ctx.workflowId, (runs.get(ctx.workflowId) ?? 0) + 1);
        return ctx.step('greet', () => `hello ${name}`);
      });
      strata.workflow('stamp', async (ctx) => {
        startedAt.set(ctx.workflowId, performance.now());
        return 'stamped';
      });
      strata.workflow('waiter', async (ctx) => {
        await ctx.setEvent('ready', true);
        return ctx.recv<string>('go', { timeoutMs: WAIT_MS });
      });
      strata.queue('work');
      strata.queue('one-at-a-time', { concurrency: 1 });
      await strata.launch();
      // PGlite is one process: the client shares the engine's Database. PostgreSQL: its own connections.
      client = await StrataClient.connect({ database: kind === 'pglite' ? strata.systemDatabase : url, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS });
    });
    after(async () => {
      await client?.close();
      await strata?.shutdown({ timeoutMs: 0 });
    });

    test('enqueue by name runs the workflow on an executor; the handle reports its queue and returns its result', async () => {
      const handle = await client.enqueue<string>({ workflow: 'greet', queue: 'work', workflowId: uniqueId('greet') }, 'ada');
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'hello ada');
      const status = await handle.status();
      assert.equal(status.status, 'SUCCESS');
      assert.equal(status.queueName, 'work');
      assert.equal(status.executorId, strata.executorId);
      assert.equal(runs.get(handle.workflowId), 1);
    });

    test('an enqueue on an idle queue starts within milliseconds (notification, not the 10 s safety poll)', async () => {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const id = uniqueId('stamp');
        const handle = await client.enqueue({ workflow: 'stamp', queue: 'work', workflowId: id });
        const returned = performance.now();
        await handle.result({ timeoutMs: WAIT_MS });
        samples.push(startedAt.get(id)! - returned);
      }
      assert.ok(Math.max(...samples) < PROMPT_MS, `start latencies ${samples.map((s) => s.toFixed(1)).join(', ')} ms`);
    });

    test('an enqueue inside a rolled-back transaction never exists and never runs; a committed one runs', async () => {
      const rolledBack = uniqueId('greet-rollback');
      await assert.rejects(
        client.database.transaction(async (tx) => {
          await client.enqueue({ workflow: 'greet', queue: 'work', workflowId: rolledBack, transaction: tx }, 'nobody');
          throw new Error('roll back');
        }),
        /roll back/,
      );
      const committed = uniqueId('greet-commit');
      await client.database.transaction(async (tx) => {
        await client.enqueue({ workflow: 'greet', queue: 'work', workflowId: committed, transaction: tx }, 'bob');
      });
      assert.equal(await client.retrieve(committed).result({ timeoutMs: WAIT_MS }), 'hello bob');
      await assert.rejects(client.status(rolledBack), WorkflowNotFoundError);
      assert.equal(runs.get(rolledBack), undefined);
    });

    test('unknown workflow names and queues, and bad options, are typed errors and enqueue nothing', async () => {
      const before = await countRows(client.database, 'select 1 from strata.workflows', []);
      await assert.rejects(client.enqueue({ workflow: 'no-such-workflow', queue: 'work' }), (error: unknown) => {
        assert.ok(error instanceof UnknownWorkflowError);
        assert.match(error.message, /no-such-workflow/);
        assert.match(error.message, /greet/, 'the message lists the registered names');
        return true;
      });
      await assert.rejects(client.enqueue({ workflow: 'greet', queue: 'no-such-queue' }, 'x'), UnknownQueueError);
      await assert.rejects(client.enqueue({ workflow: 'greet', queue: 'work', priority: 1.5 }, 'x'), InvalidArgumentError);
      await assert.rejects(client.enqueue({ workflow: 'greet', queue: 'work', onDuplicate: 'maybe' as never }, 'x'), InvalidArgumentError);
      await assert.rejects(client.enqueue({ workflow: '', queue: 'work' }), InvalidArgumentError);
      await assert.rejects(client.enqueue(undefined as never), InvalidArgumentError);
      await assert.rejects(client.enqueue({ workflow: 'greet', queue: 'work' }, () => 'a function'), /function/);
      assert.equal(await countRows(client.database, 'select 1 from strata.workflows', []), before);
    });

    test('a queue created by the client is served by the running executor at once', async () => {
      const name = uniqueId('client-queue');
      await client.queues.create(name, { concurrency: 2 });
      const handle = await client.enqueue<string>({ workflow: 'greet', queue: name }, 'cy');
      assert.equal(await handle.result({ timeoutMs: PROMPT_MS * 5 }), 'hello cy');
      assert.deepEqual((await client.queues.get(name))?.concurrency, 2);
      await client.queues.delete(name);
      assert.equal(await client.queues.get(name), undefined);
    });

    test('send, getEvent and cancel reach workflows from the client', async () => {
      const waiter = await client.enqueue<string>({ workflow: 'waiter', queue: 'work', workflowId: uniqueId('waiter') });
      assert.equal(await client.getEvent(waiter.workflowId, 'ready', { timeoutMs: WAIT_MS }), true);
      await client.send(waiter.workflowId, 'went', { topic: 'go' });
      assert.equal(await waiter.result({ timeoutMs: WAIT_MS }), 'went');

      // A workflow still queued (behind a running one on a concurrency-1 queue) is cancelled before it starts.
      const blocker = await client.enqueue({ workflow: 'waiter', queue: 'one-at-a-time', workflowId: uniqueId('blocker') });
      await waitFor('the blocker to run', async () => (await blocker.status()).status === 'PENDING');
      const queued = await client.enqueue({ workflow: 'greet', queue: 'one-at-a-time', workflowId: uniqueId('queued') }, 'never');
      assert.equal((await queued.status()).status, 'ENQUEUED');
      await client.cancel(queued.workflowId);
      await assert.rejects(queued.result({ timeoutMs: WAIT_MS }), WorkflowCancelledError);
      await client.send(blocker.workflowId, 'done', { topic: 'go' });
      await blocker.result({ timeoutMs: WAIT_MS });
      assert.equal((await queued.status()).status, 'CANCELLED');
      assert.equal(runs.get(queued.workflowId), undefined);
    });

    test('listExecutors reports the running engine alive, with its workflow names', async () => {
      const executors = await client.listExecutors();
      const me = executors.find((e) => e.executorId === strata.executorId);
      assert.ok(me, `executor missing from ${JSON.stringify(executors.map((e) => e.executorId))}`);
      assert.equal(me.alive, true);
      assert.equal(me.pid, process.pid);
      assert.deepEqual([...me.workflowNames].sort(), ['greet', 'stamp', 'waiter']);
    });

    test('a closed client refuses further calls with EngineStateError', async () => {
      const other = await StrataClient.connect({ database: client.database });
      await other.close();
      await assert.rejects(other.enqueue({ workflow: 'greet', queue: 'work' }, 'x'), EngineStateError);
      assert.throws(() => other.retrieve('x'), EngineStateError);
    });
  });
}

describe('StrataClient.connect', () => {
  test('rejects a missing or wrong database with InvalidArgumentError', async () => {
    await assert.rejects(StrataClient.connect(undefined as never), InvalidArgumentError);
    await assert.rejects(StrataClient.connect({} as never), InvalidArgumentError);
    await assert.rejects(StrataClient.connect({ database: 42 as never }), InvalidArgumentError);
  });
});
