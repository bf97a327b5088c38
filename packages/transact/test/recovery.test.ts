// Recovery: what a (re)launched engine resumes — its own executor's PENDING workflows of its own
// application version — and how it ends workflows it must not resume (non-determinism, poison
// workflows that keep crashing, names no longer registered).

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Strata, type Logger, type StrataConfig } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { delay, LAUNCH_TIMEOUT_MS, quiet, uniqueId, withTimeout } from './helpers.js';

/** Time for a resumed workflow to get going, so "it did not run" means something. */
const SETTLE_MS = 300;

/** Per workflow ID: how often its function was entered (first run and every replay). */
const runs = new Map<string, number>();
/** Per workflow ID: how often the function of one of its steps ran. */
const stepRuns = new Map<string, number>();

/** Polls `check` until it holds (bounded by the test runner's own timeout). */
async function waitUntil(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await delay(20);
}

function increment(counter: Map<string, number>, workflowId: string): number {
  const next = (counter.get(workflowId) ?? 0) + 1;
  counter.set(workflowId, next);
  return next;
}

/** A workflow that runs one step, announces 'ready', and ends on a message on 'go'. */
function registerBlocked(strata: Strata) {
  return strata.workflow('blocked', async (ctx) => {
    increment(runs, ctx.workflowId);
    await ctx.step('before', () => increment(stepRuns, ctx.workflowId));
    await ctx.setEvent('ready', true);
    await ctx.recv('go', { timeoutMs: Infinity });
    return 'finished';
  });
}

/** Logs kept for assertions. */
function capturingLogger(): Logger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, info() {}, warn: (message: string) => warnings.push(message), error: (message: string) => errors.push(message) };
}

for (const kind of engines()) {
  describe(`recovery (${kind})`, () => {
    let database: string;
    /** Engines of the running test; an embedded database takes one engine at a time. */
    const live = new Set<Strata>();

    /** Launches an engine on the shared database, as a (re)started process; other engines must be stopped first. */
    async function launch<W>(config: Omit<StrataConfig, 'database'>, register: (strata: Strata) => W): Promise<{ strata: Strata; workflows: W }> {
      const strata = new Strata({ database, logger: quiet, ...config });
      const workflows = register(strata);
      live.add(strata);
      await withTimeout(strata.launch(), LAUNCH_TIMEOUT_MS, `strata.launch() did not finish within ${LAUNCH_TIMEOUT_MS} ms`);
      return { strata, workflows };
    }

    async function stopAll(): Promise<void> {
      for (const strata of live) await strata.shutdown();
      live.clear();
    }

    before(async () => {
      database = await freshDatabaseUrl(kind);
      // The first open of a fresh embedded database is slow; pay it here, not inside a test.
      const warmUp = new Strata({ database, logger: quiet });
      await warmUp.launch();
      await warmUp.shutdown();
    });
    afterEach(stopAll);
    after(stopAll);

    test("a restarted engine resumes its executor's PENDING workflows and finishes them without re-running recorded steps", async () => {
      const executorId = uniqueId('resume');
      const workflowId = uniqueId('resumed');
      const first = await launch({ executorId }, registerBlocked);
      await first.workflows.with({ workflowId }).start();
      assert.equal(await first.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await stopAll();

      const second = await launch({ executorId }, registerBlocked);
      await second.strata.send(workflowId, 'go', { topic: 'go' });
      assert.equal(await second.strata.retrieve(workflowId).result({ timeoutMs: 5_000 }), 'finished');
      assert.equal(runs.get(workflowId), 2, 'the function ran once per execution');
      assert.equal(stepRuns.get(workflowId), 1, 'the recorded step ran again');
      assert.equal((await second.strata.retrieve(workflowId).status()).recoveryAttempts, 1, 'one restart is one recovery');
    });

    test('an engine does not resume the workflows of another executorId', async () => {
      const workflowId = uniqueId('foreign');
      const first = await launch({ executorId: uniqueId('executor-a') }, registerBlocked);
      await first.workflows.with({ workflowId }).start();
      assert.equal(await first.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await stopAll();

      const other = await launch({ executorId: uniqueId('executor-b') }, registerBlocked);
      await delay(SETTLE_MS);
      const status = await other.strata.retrieve(workflowId).status();
      assert.equal(status.status, 'PENDING');
      assert.equal(status.recoveryAttempts, 0);
      assert.equal(runs.get(workflowId), 1, 'the other executor ran the workflow');
    });

    test("an engine of another appVersion leaves the old version's workflows PENDING and warns; the old version finishes them", async () => {
      const executorId = uniqueId('versions');
      const workflowId = uniqueId('old-version');
      const old = await launch({ executorId, appVersion: 'v1' }, registerBlocked);
      await old.workflows.with({ workflowId }).start();
      assert.equal(await old.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await stopAll();

      const logger = capturingLogger();
      const newer = await launch({ executorId, appVersion: 'v2', logger }, registerBlocked);
      await delay(SETTLE_MS);
      assert.equal((await newer.strata.retrieve(workflowId).status()).status, 'PENDING');
      assert.equal(runs.get(workflowId), 1, 'version v2 ran the workflow of version v1');
      assert.ok(
        logger.warnings.some((message) => message.includes('"v1"')),
        `no warning names version "v1"; warnings: ${JSON.stringify(logger.warnings)}`,
      );
      await stopAll();

      const again = await launch({ executorId, appVersion: 'v1' }, registerBlocked);
      await again.strata.send(workflowId, 'go', { topic: 'go' });
      assert.equal(await again.strata.retrieve(workflowId).result({ timeoutMs: 5_000 }), 'finished');
    });

    test('a workflow whose replay calls a different step than recorded ends ERROR with NonDeterminismError', async () => {
      const executorId = uniqueId('nd');
      const workflowId = uniqueId('nd');
      const first = await launch({ executorId }, (strata) =>
        strata.workflow('nd', async (ctx) => {
          await ctx.step('a', () => 'a');
          await ctx.setEvent('ready', true);
          return ctx.recv('go', { timeoutMs: Infinity });
        }),
      );
      await first.workflows.with({ workflowId }).start();
      assert.equal(await first.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await stopAll();

      const changed = await launch({ executorId }, (strata) =>
        strata.workflow('nd', async (ctx) => {
          await ctx.step('b', () => increment(stepRuns, ctx.workflowId));
          return ctx.recv('go', { timeoutMs: Infinity });
        }),
      );
      await assert.rejects(changed.strata.retrieve(workflowId).result({ timeoutMs: 5_000 }), (error: Error & { code?: string }) => {
        assert.equal(error.name, 'NonDeterminismError');
        assert.equal(error.code, 'STRATA_NON_DETERMINISM');
        assert.match(error.message, /step "a"/);
        assert.match(error.message, /step "b"/);
        return true;
      });
      assert.equal((await changed.strata.retrieve(workflowId).status()).status, 'ERROR');
      assert.equal(stepRuns.get(workflowId), undefined, 'the new step "b" ran');
    });

    test('a NonDeterminismError ends the workflow ERROR even when its code catches it', async () => {
      const executorId = uniqueId('nd-catch');
      const workflowId = uniqueId('nd-catch');
      const first = await launch({ executorId }, (strata) =>
        strata.workflow('nd-catch', async (ctx) => {
          await ctx.step('a', () => 'a');
          await ctx.setEvent('ready', true);
          await ctx.recv('go', { timeoutMs: Infinity });
          return 'finished';
        }),
      );
      await first.workflows.with({ workflowId }).start();
      assert.equal(await first.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await stopAll();

      const changed = await launch({ executorId }, (strata) =>
        strata.workflow('nd-catch', async (ctx) => {
          try {
            await ctx.step('b', () => 'b');
          } catch {
            // Swallowing the error must not let the workflow succeed.
          }
          return 'swallowed';
        }),
      );
      await assert.rejects(changed.strata.retrieve(workflowId).result({ timeoutMs: 5_000 }), (error: Error & { code?: string }) => {
        assert.equal(error.name, 'NonDeterminismError');
        assert.equal(error.code, 'STRATA_NON_DETERMINISM');
        return true;
      });
      assert.equal((await changed.strata.retrieve(workflowId).status()).status, 'ERROR');
    });

    /** A poison workflow: its step never finishes, so every run ends with the process (here: a shutdown that does not wait). */
    function registerHanging(strata: Strata) {
      return strata.workflow('hanging', async (ctx) => {
        increment(runs, ctx.workflowId);
        await ctx.step('hang', () => new Promise<never>(() => {}));
        return 'unreachable';
      });
    }

    test('a workflow recovered more than maxRecoveryAttempts times without getting past where it stopped is marked ERROR with STRATA_MAX_RECOVERY_ATTEMPTS', async () => {
      const executorId = uniqueId('poison');
      const workflowId = uniqueId('poison');
      const config = { executorId, maxRecoveryAttempts: 2 };
      const crash = async () => {
        for (const strata of live) await strata.shutdown({ timeoutMs: 0 });
        live.clear();
      };
      const first = await launch(config, registerHanging);
      await first.workflows.with({ workflowId }).start();
      await waitUntil(() => runs.get(workflowId) === 1);
      await crash();

      for (let recovery = 1; recovery <= 2; recovery++) {
        const engine = await launch(config, registerHanging);
        await waitUntil(() => runs.get(workflowId) === recovery + 1);
        const status = await engine.strata.retrieve(workflowId).status();
        assert.equal(status.status, 'PENDING', `after recovery ${recovery}`);
        assert.equal(status.recoveryAttempts, recovery);
        await crash();
      }

      const last = await launch(config, registerHanging);
      await assert.rejects(last.strata.retrieve(workflowId).result({ timeoutMs: 5_000 }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'STRATA_MAX_RECOVERY_ATTEMPTS');
        return true;
      });
      assert.equal((await last.strata.retrieve(workflowId).status()).status, 'ERROR');
      assert.equal(runs.get(workflowId), 3, 'the first run and two recoveries, not the third');
    });

    test('a workflow that reaches its durable wait after each recovery is never marked ERROR, however often its executor restarts', async () => {
      const executorId = uniqueId('patient');
      const workflowId = uniqueId('patient');
      const config = { executorId, maxRecoveryAttempts: 2 };
      const first = await launch(config, registerBlocked);
      await first.workflows.with({ workflowId }).start();
      assert.equal(await first.strata.getEvent(workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await stopAll();

      for (let restart = 1; restart <= 5; restart++) {
        const engine = await launch(config, registerBlocked);
        await waitUntil(() => runs.get(workflowId) === restart + 1);
        // Its recv began again: it got past where it stopped, so the count is forgiven (from 2 on).
        await waitUntil(async () => (await engine.strata.retrieve(workflowId).status()).recoveryAttempts <= 1);
        assert.equal((await engine.strata.retrieve(workflowId).status()).status, 'PENDING', `after restart ${restart}`);
        await stopAll();
      }
      const last = await launch(config, registerBlocked);
      await last.strata.send(workflowId, 'now', { topic: 'go' });
      assert.equal(await last.strata.retrieve(workflowId).result({ timeoutMs: 10_000 }), 'finished');
      assert.equal(stepRuns.get(workflowId), 1, 'its step ran once, before the first restart');
    });

    test('a PENDING workflow whose name is no longer registered stays PENDING and an error is logged', async () => {
      const executorId = uniqueId('ghosts');
      const workflowId = uniqueId('ghost');
      const first = await launch({ executorId }, (strata) =>
        strata.workflow('ghost', async (ctx) => {
          increment(runs, ctx.workflowId);
          return ctx.recv('go', { timeoutMs: Infinity });
        }),
      );
      await first.workflows.with({ workflowId }).start();
      await delay(SETTLE_MS);
      await stopAll();

      const logger = capturingLogger();
      const without = await launch({ executorId, logger }, registerBlocked);
      await delay(SETTLE_MS);
      assert.equal((await without.strata.retrieve(workflowId).status()).status, 'PENDING');
      assert.ok(
        logger.errors.some((message) => message.includes(workflowId) && message.includes('"ghost"')),
        `no error names the workflow and its name; errors: ${JSON.stringify(logger.errors)}`,
      );
      assert.equal(runs.get(workflowId), 1);
    });
  });
}
