// Graceful shutdown: a step in progress finishes and is recorded (within timeoutMs), waits end at
// once, a step past the timeout is abandoned unrecorded; the workflows stay PENDING, the executor
// is marked stopped so a live engine takes them over at once, and a stopped engine claims nothing.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { InvalidArgumentError, EngineStateError, Strata, type StrataConfig, type WorkflowHandle } from '@strata/transact';
import { delay, launchWithin, PROMPT_MS, quiet, SETTLE_MS, stepRows, uniqueId, waitFor, WAIT_MS, within } from './helpers.js';

/** A promise and its resolver, to learn from inside a step that it started. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

for (const kind of engines()) {
  describe(`graceful shutdown (${kind})`, () => {
    /** One database per block (PGlite opens slowly), shared by every engine of the block. */
    let db: Database;
    /** Engines still running if a test fails half-way. */
    const live = new Set<Strata>();

    before(async () => {
      db = await openDatabase(await freshDatabaseUrl(kind));
    });

    after(async () => {
      for (const strata of live) await strata.shutdown({ timeoutMs: 0 });
      await db?.close();
    });

    /** An engine on the block's database; workflow names are unique per test, so engines of other tests never run them. */
    function engine(executorId: string, config: Omit<StrataConfig, 'database' | 'executorId'> = {}): Strata {
      const strata = new Strata({ database: db, executorId, logger: quiet, ...config });
      live.add(strata);
      return strata;
    }

    async function shutDown(strata: Strata, timeoutMs: number): Promise<number> {
      const startedAtMs = Date.now();
      await strata.shutdown({ timeoutMs });
      live.delete(strata);
      return Date.now() - startedAtMs;
    }

    async function workflowRow(workflowId: string): Promise<{ status: string; executor_id: string | null; recovery_attempts: number }> {
      const { rows } = await db.query<{ status: string; executor_id: string | null; recovery_attempts: number }>(
        'select status, executor_id, recovery_attempts from strata.workflows where workflow_id = $1',
        [workflowId],
      );
      assert.ok(rows[0], `workflow ${workflowId} exists`);
      return rows[0];
    }

    async function stoppedAt(executorId: string): Promise<Date | null> {
      const { rows } = await db.query<{ stopped_at: Date | null }>('select stopped_at from strata.executors where executor_id = $1', [executorId]);
      assert.ok(rows[0], `executor ${executorId} is recorded`);
      return rows[0].stopped_at;
    }

    test('a step in progress finishes and is recorded before shutdown returns; the workflow stays PENDING and resumes after it without running it again', async () => {
      const name = uniqueId('graceful');
      const executorId = uniqueId('graceful-executor');
      const runs = { slow: 0, next: 0 };
      const slowStarted = deferred();
      let slowEndedAtMs = 0;
      const register = (strata: Strata) =>
        strata.workflow(name, async (ctx) => {
          const slow = await ctx.step('slow', async () => {
            runs.slow++;
            slowStarted.resolve();
            await delay(300);
            slowEndedAtMs = Date.now();
            return 'slow';
          });
          const next = await ctx.step('next', () => {
            runs.next++;
            return 'next';
          });
          return `${slow}+${next}`;
        });

      const first = engine(executorId);
      const workflow = register(first);
      await launchWithin(first);
      const handle = await workflow.start();
      await within(slowStarted.promise, 'the slow step starting', WAIT_MS);
      const shutdownMs = await shutDown(first, 5_000);
      const returnedAtMs = Date.now();

      assert.ok(slowEndedAtMs > 0 && slowEndedAtMs <= returnedAtMs, 'shutdown returned after the step ended');
      assert.ok(shutdownMs < 2_000, `shutdown returned once the step was recorded, not at its timeout (${shutdownMs} ms)`);
      const steps = await stepRows(db, handle.workflowId);
      assert.deepEqual(steps.map((row) => [row.name, row.error]), [['slow', null]], 'the finished step is recorded, nothing after it');
      assert.notEqual(steps[0]!.output, null);
      assert.equal((await workflowRow(handle.workflowId)).status, 'PENDING');
      assert.notEqual(await stoppedAt(executorId), null, 'the executor is marked stopped');
      assert.deepEqual(runs, { slow: 1, next: 0 });

      const second = engine(executorId);
      register(second);
      await launchWithin(second);
      assert.equal(await second.retrieve<string>(handle.workflowId).result({ timeoutMs: WAIT_MS }), 'slow+next');
      assert.deepEqual(runs, { slow: 1, next: 1 }, 'the recorded step did not run again');
      assert.equal(await stoppedAt(executorId), null, 'the relaunched executor is no longer stopped');
      await shutDown(second, 5_000);
    });

    test('workflows waiting in a durable sleep or a recv are stopped at once', async () => {
      const executorId = uniqueId('waits-executor');
      const sleeperName = uniqueId('sleeper');
      const listenerName = uniqueId('listener');
      const register = (strata: Strata) => ({
        sleeper: strata.workflow(sleeperName, async (ctx) => {
          await ctx.sleep(60_000);
          return 'woke';
        }),
        listener: strata.workflow(listenerName, async (ctx) => ctx.recv<string>('mail', { timeoutMs: 60_000 })),
      });

      const first = engine(executorId);
      const workflows = register(first);
      await launchWithin(first);
      const sleeper = await workflows.sleeper.start();
      const listener = await workflows.listener.start();
      await waitFor('the sleep being recorded', async () => (await stepRows(db, sleeper.workflowId)).some((row) => row.kind === 'sleep'));
      await delay(SETTLE_MS); // the listener reaches its recv
      const shutdownMs = await shutDown(first, 10_000);
      assert.ok(shutdownMs < PROMPT_MS, `shutdown did not wait for the sleep or the recv (${shutdownMs} ms of a 10,000 ms timeout)`);
      assert.equal((await workflowRow(sleeper.workflowId)).status, 'PENDING');
      assert.equal((await workflowRow(listener.workflowId)).status, 'PENDING');

      // Resumed by the next launch: the recv gets a message sent after it.
      const second = engine(executorId);
      register(second);
      await launchWithin(second);
      await second.send(listener.workflowId, 'hello', { topic: 'mail' });
      assert.equal(await second.retrieve<string>(listener.workflowId).result({ timeoutMs: WAIT_MS }), 'hello');
      assert.equal((await workflowRow(sleeper.workflowId)).status, 'PENDING', 'the sleeper sleeps on');
      await second.cancel(sleeper.workflowId);
      await shutDown(second, 5_000);
    });

    for (const timeoutMs of [100, 0]) {
      test(`shutdown({ timeoutMs: ${timeoutMs} }) abandons a step that would take 5 s: nothing is recorded and the step runs again after relaunch`, async () => {
        const name = uniqueId('abandoned');
        const executorId = uniqueId('abandoned-executor');
        let stepMs = 5_000;
        let runs = 0;
        let signalled = false;
        const started = deferred();
        const register = (strata: Strata) =>
          strata.workflow(name, async (ctx) =>
            ctx.step('slow', ({ signal }) => {
              runs++;
              started.resolve();
              return new Promise<string>((resolve, reject) => {
                const timer = setTimeout(() => resolve('done'), stepMs);
                signal.addEventListener('abort', () => {
                  signalled = true;
                  clearTimeout(timer);
                  reject(signal.reason);
                });
              });
            }),
          );

        const first = engine(executorId);
        const workflow = register(first);
        await launchWithin(first);
        const handle = await workflow.start();
        await within(started.promise, 'the slow step starting', WAIT_MS);
        const shutdownMs = await shutDown(first, timeoutMs);
        assert.ok(shutdownMs >= timeoutMs - 10, `shutdown gave the step its ${timeoutMs} ms (returned after ${shutdownMs} ms)`);
        assert.ok(shutdownMs < timeoutMs + PROMPT_MS, `shutdown returned soon after its timeout, not after the step's 5 s (${shutdownMs} ms)`);
        assert.ok(signalled, "the abandoned step's signal was aborted");
        await delay(SETTLE_MS);
        assert.deepEqual(await stepRows(db, handle.workflowId), [], 'the abandoned step is not recorded');
        assert.equal((await workflowRow(handle.workflowId)).status, 'PENDING');
        assert.equal(runs, 1);

        stepMs = 10;
        const second = engine(executorId);
        register(second);
        await launchWithin(second);
        assert.equal(await second.retrieve<string>(handle.workflowId).result({ timeoutMs: WAIT_MS }), 'done');
        assert.equal(runs, 2, 'the abandoned step ran again after relaunch');
        assert.deepEqual((await stepRows(db, handle.workflowId)).map((row) => row.name), ['slow']);
        await shutDown(second, 5_000);
      });
    }

    test('a shut-down executor is marked stopped, and a live engine with another executor ID takes over its PENDING workflows at once, well before executorTimeoutMs', async () => {
      const name = uniqueId('handover');
      /** Far above the test: a takeover that comes sooner comes from the stopped mark, not the timeout. */
      const config = { heartbeatIntervalMs: 100, executorTimeoutMs: 60_000 };
      const stoppingId = uniqueId('stopping');
      const survivorId = uniqueId('survivor');
      const runs = { first: 0, second: 0, bodies: 0 };
      const register = (strata: Strata) =>
        strata.workflow(name, async (ctx) => {
          runs.bodies++;
          await ctx.step('first', () => runs.first++);
          await ctx.sleep(300);
          await ctx.step('second', () => runs.second++);
          return ctx.workflowId;
        });
      const stopping = engine(stoppingId, config);
      const workflow = register(stopping);
      const survivor = engine(survivorId, config);
      register(survivor);
      await launchWithin(stopping);
      await launchWithin(survivor);

      const handle: WorkflowHandle<string> = await workflow.start();
      await waitFor('the sleep being recorded', async () => (await stepRows(db, handle.workflowId)).some((row) => row.kind === 'sleep'));
      const shutdownMs = await shutDown(stopping, 5_000);
      const stoppedAtMs = Date.now();
      assert.ok(shutdownMs < PROMPT_MS, `the sleep ended at once (${shutdownMs} ms)`);

      const executors = new Map((await survivor.listExecutors()).map((info) => [info.executorId, info]));
      assert.notEqual(executors.get(stoppingId)?.stoppedAt ?? null, null, 'the shut-down executor is marked stopped');
      assert.equal(executors.get(stoppingId)?.alive, false, 'a stopped executor is not alive');
      assert.equal(executors.get(survivorId)?.alive, true);
      assert.equal(executors.get(survivorId)?.stoppedAt, null);

      await waitFor('the takeover', async () => (await workflowRow(handle.workflowId)).executor_id === survivorId);
      const takeoverMs = Date.now() - stoppedAtMs;
      assert.ok(takeoverMs < 5_000, `taken over within heartbeats of the stop, not after executorTimeoutMs 60,000 ms (${takeoverMs} ms)`);
      assert.equal(await survivor.retrieve<string>(handle.workflowId).result({ timeoutMs: WAIT_MS }), handle.workflowId);
      const status = await survivor.retrieve(handle.workflowId).status();
      assert.equal(status.executorId, survivorId, 'the survivor finished it');
      assert.equal(status.recoveryAttempts, 1, 'taken over once');
      assert.deepEqual(runs, { first: 1, second: 1, bodies: 2 }, 'the recorded step did not run again; the body ran once per engine');
      await shutDown(survivor, 5_000);
    });

    test('an executor draining longer than executorTimeoutMs is still alive: nobody takes over the workflow whose step is finishing, so the step runs once', async () => {
      const name = uniqueId('long-drain');
      const config = { heartbeatIntervalMs: 100, executorTimeoutMs: 400 };
      /** Several executor timeouts: a draining executor that stopped heartbeating looks dead long before the step ends. */
      const stepMs = 1_500;
      const drainingId = uniqueId('draining');
      const otherId = uniqueId('other');
      let running = 0;
      let runningMax = 0;
      let runs = 0;
      const started = deferred();
      const register = (strata: Strata) =>
        strata.workflow(name, async (ctx) => {
          await ctx.step('slow', async () => {
            runs++;
            runningMax = Math.max(runningMax, ++running);
            started.resolve();
            try {
              await delay(stepMs);
            } finally {
              running--;
            }
            return 'slow';
          });
          return ctx.step('after', () => 'after');
        });
      const draining = engine(drainingId, config);
      const workflow = register(draining);
      const other = engine(otherId, config);
      register(other);
      await launchWithin(draining);
      await launchWithin(other);

      const handle = await workflow.start();
      await within(started.promise, 'the slow step starting', WAIT_MS);
      // The draining executor is alive and finishing the step: it must stay alive for the others
      // (heartbeating, or marked draining) until the step is recorded, then be marked stopped.
      const shutdownMs = await shutDown(draining, 5_000);
      const ownerAfterDrain = (await workflowRow(handle.workflowId)).executor_id;
      assert.ok(shutdownMs < 5_000, `the drain ended with the step (${shutdownMs} ms)`);
      assert.equal(await other.retrieve<string>(handle.workflowId).result({ timeoutMs: WAIT_MS }), 'after');
      assert.equal(runningMax, 1, 'the step never ran in two engines at once');
      assert.equal(runs, 1, `the step that finished during the drain ran once (the workflow was with "${ownerAfterDrain}" when the drain ended)`);
      assert.equal((await other.retrieve(handle.workflowId).status()).recoveryAttempts, 1, 'taken over once, after the stop');
      await shutDown(other, 5_000);
    });

    test('a stopped engine takes nothing off its queues: a delayed workflow that comes due after the shutdown stays ENQUEUED until a live executor claims it', async () => {
      const name = uniqueId('queued');
      const queueName = uniqueId('queue');
      const delayMs = 500;
      const register = (strata: Strata) => ({
        workflow: strata.workflow(name, async (ctx) => ctx.step('work', () => ctx.workflowId)),
        queue: strata.queue(queueName, { concurrency: 2 }),
      });

      const stoppingId = uniqueId('queue-stopping');
      const stopping = engine(stoppingId);
      const first = register(stopping);
      await launchWithin(stopping);
      // The engine arms a wake-up for when the delayed workflow comes due.
      const handle = await first.queue.enqueue(first.workflow.with({ queue: queueName, delayMs }));
      await shutDown(stopping, 5_000);
      await assert.rejects(first.queue.enqueue(first.workflow), EngineStateError, 'a stopped engine refuses to enqueue');

      await delay(delayMs + 1_000);
      const waiting = await workflowRow(handle.workflowId);
      assert.deepEqual(waiting, { status: 'ENQUEUED', executor_id: null, recovery_attempts: 0 }, 'nobody claimed the due workflow');

      const claimerId = uniqueId('queue-claimer');
      const claimer = engine(claimerId);
      register(claimer);
      await launchWithin(claimer);
      assert.equal(await claimer.retrieve<string>(handle.workflowId).result({ timeoutMs: WAIT_MS }), handle.workflowId);
      assert.equal((await workflowRow(handle.workflowId)).executor_id, claimerId, 'the live executor claimed it');
      await shutDown(claimer, 5_000);
    });

    test('a shutdown called while launch() runs waits for the launch, then stops the engine and marks the executor stopped', async () => {
      const executorId = uniqueId('launch-race');
      const strata = engine(executorId);
      strata.workflow(uniqueId('race-wf'), async () => 'never started');
      const launching = strata.launch();
      const stopping = strata.shutdown({ timeoutMs: 0 });
      await within(Promise.all([launching, stopping]), 'launch and shutdown', WAIT_MS);
      live.delete(strata);
      await assert.rejects(strata.retrieve('x').status(), (error: unknown) => error instanceof EngineStateError && /shut down/.test(error.message));
      assert.ok((await stoppedAt(executorId)) !== null, 'the executor is marked stopped, not left heartbeating');
      await assert.rejects(strata.launch(), EngineStateError);
    });

    test('shutdown rejects a bad timeoutMs with InvalidArgumentError and leaves the engine running', async () => {
      const strata = engine(uniqueId('bad-input'));
      const workflow = strata.workflow(uniqueId('still-running'), async () => 'ran');
      await launchWithin(strata);
      for (const timeoutMs of [-1, Number.NaN, '100' as unknown as number]) {
        await assert.rejects(strata.shutdown({ timeoutMs }), InvalidArgumentError, `timeoutMs ${String(timeoutMs)} is refused`);
      }
      await assert.rejects(strata.shutdown('soon' as never), InvalidArgumentError, 'options must be an object');
      assert.equal(await workflow.run(), 'ran', 'the engine still runs workflows');
      await shutDown(strata, 5_000);
      await strata.shutdown({ timeoutMs: 5_000 }); // a second shutdown does nothing
    });
  });
}
