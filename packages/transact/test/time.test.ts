// Time and randomness in workflows: durable sleep (wakes at the recorded time, across restarts)
// and ctx.now / random / uuid (recorded once, replayed after).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_MAX_VALUE_BYTES, InvalidArgumentError, Serializer, Strata, type StrataConfig } from '@strata/transact';
import { engines } from '@strata/testing';
import { delay, launchOrShutDown, quiet, restartableApp, uniqueId } from './helpers.js';

function registerWorkflows(strata: Strata) {
  return {
    sleeper: strata.workflow('sleeper', async (ctx, durationMs: number) => {
      await ctx.sleep(durationMs);
      return 'awake';
    }),
    /** Draws a time, a random number and a UUID, publishes them, then waits for 'go' and returns them. */
    draws: strata.workflow('draws', async (ctx) => {
      const values = { now: await ctx.now(), random: await ctx.random(), uuid: await ctx.uuid() };
      await ctx.setEvent('values', values);
      await ctx.recv('go', { timeoutMs: Infinity });
      return values;
    }),
    /** Sleeps for a negative duration and reports what it caught. */
    negativeSleep: strata.workflow('negative-sleep', async (ctx) => {
      try {
        await ctx.sleep(-1);
        return { caught: 'nothing' };
      } catch (error) {
        return { caught: (error as Error).name, isInvalidArgument: error instanceof InvalidArgumentError };
      }
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

const serializer = new Serializer(DEFAULT_MAX_VALUE_BYTES);

for (const kind of engines()) {
  describe(`time (${kind})`, () => {
    const fixture = restartableApp(kind, (database, executorId, timeoutMs) => launchApp(database, { executorId }, timeoutMs));

    test('ctx.sleep(200) lasts at least 200 ms', async () => {
      const startedAtMs = Date.now();
      assert.equal(await fixture.app.sleeper.with({ workflowId: uniqueId('short-sleep') }).run(200), 'awake');
      const elapsedMs = Date.now() - startedAtMs;
      assert.ok(elapsedMs >= 200, `the workflow finished ${elapsedMs} ms after it started`);
    });

    test('a sleep survives a restart and ends at the originally recorded wake time', async () => {
      const workflowId = uniqueId('durable-sleep');
      const startedAtMs = Date.now();
      await fixture.app.sleeper.with({ workflowId }).start(3_000);
      await delay(500);

      await fixture.restart();
      const relaunchedAtMs = Date.now();
      assert.equal(await fixture.app.strata.retrieve(workflowId).result({ timeoutMs: 10_000 }), 'awake');
      const finishedAtMs = Date.now();

      const elapsedMs = finishedAtMs - startedAtMs;
      assert.ok(elapsedMs >= 3_000, `finished ${elapsedMs} ms after it first started, before its wake time`);
      assert.ok(elapsedMs < 5_500, `finished ${elapsedMs} ms after it first started; the restart made it sleep again`);
      assert.ok(finishedAtMs - relaunchedAtMs < 3_000, `finished ${finishedAtMs - relaunchedAtMs} ms after the relaunch: it slept the full duration again`);

      const { rows } = await fixture.app.strata.systemDatabase.query<{ output: string }>(
        `select output from strata.steps where workflow_id = $1 and kind = 'sleep'`,
        [workflowId],
      );
      assert.equal(rows.length, 1);
      const wakeAtMs = serializer.deserialize<number>(rows[0]!.output);
      assert.ok(wakeAtMs >= startedAtMs + 3_000 && wakeAtMs < startedAtMs + 3_000 + 1_000, `recorded wake time is ${wakeAtMs - startedAtMs} ms after the start`);
      assert.ok(finishedAtMs >= wakeAtMs, 'finished before its recorded wake time');
    });

    test('ctx.now, ctx.random and ctx.uuid return the recorded values when replayed after a restart', async () => {
      const workflowId = uniqueId('draws');
      await fixture.app.draws.with({ workflowId }).start();
      const recorded = await fixture.app.strata.getEvent<{ now: number; random: number; uuid: string }>(workflowId, 'values', { timeoutMs: 5_000 });
      assert.ok(recorded, 'the workflow published its values');

      await fixture.restart();
      await delay(20); // so a fresh ctx.now() could not return the same millisecond
      await fixture.app.strata.send(workflowId, 'go', { topic: 'go' });

      assert.deepEqual(await fixture.app.strata.retrieve(workflowId).result({ timeoutMs: 10_000 }), recorded);
    });

    test('ctx.sleep with a negative duration throws InvalidArgumentError', async () => {
      assert.deepEqual(await fixture.app.negativeSleep.with({ workflowId: uniqueId('negative') }).run(), {
        caught: 'InvalidArgumentError',
        isInvalidArgument: true,
      });
    });
  });
}
