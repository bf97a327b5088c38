// Steps: recorded results, retries and backoff, attempt timeouts, replay after a restart, and
// argument validation.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, Serializer, StepTimeoutError, Strata, type StepOptions } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { launchWithin, quiet, randomId as uniqueId, stepRows, WAIT_MS, waitFor } from './helpers.js';

/** Side effects, keyed by `<workflowId>/<step>`: shared by every engine in this process. */
const runs = new Map<string, number>();
function bump(key: string): number {
  const n = (runs.get(key) ?? 0) + 1;
  runs.set(key, n);
  return n;
}

/** When each attempt of a step started (performance.now()), by workflow ID. */
const attemptTimes = new Map<string, number[]>();
/** The abort signal each attempt received, by workflow ID. */
const attemptSignals = new Map<string, AbortSignal[]>();
/** Errors caught inside workflows, for instanceof checks the stored copy cannot give. */
const caught = new Map<string, unknown>();

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

const serializer = new Serializer();

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Every workflow the per-engine blocks need, registered on a new (unlaunched) engine. */
function createApp(database: string) {
  const strata = new Strata({ database, logger: quiet });
  const fetchOrder = strata.workflow('fetch-order', async (ctx, orderId: string) => {
    return ctx.step('fetch', () => ({ orderId, items: [1, 2], at: new Date(0) }));
  });
  const flaky = strata.workflow('flaky', async (ctx) => {
    return ctx.step(
      'flaky',
      ({ attempt }) => {
        bump(`${ctx.workflowId}/flaky`);
        if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
        return `succeeded on attempt ${attempt}`;
      },
      { retry: { maxAttempts: 3, intervalMs: 10 } },
    );
  });
  const exhausted = strata.workflow('exhausted', async (ctx) => {
    let failure: { message: string; code: unknown };
    try {
      await ctx.step(
        'always-fails',
        ({ attempt }) => {
          bump(`${ctx.workflowId}/always-fails`);
          throw codedError(`failure ${attempt}`, 'E_FLAKY');
        },
        { retry: { maxAttempts: 2, intervalMs: 10 } },
      );
      return 'unreachable';
    } catch (error) {
      failure = { message: (error as Error).message, code: (error as { code?: unknown }).code };
    }
    await ctx.recv('go', { timeoutMs: Infinity });
    return failure;
  });
  const notRetried = strata.workflow('not-retried', async (ctx) => {
    return ctx.step(
      'fatal',
      () => {
        bump(`${ctx.workflowId}/fatal`);
        throw codedError('do not retry me', 'E_FATAL');
      },
      { retry: { maxAttempts: 5, intervalMs: 10, retryIf: (error) => (error as { code?: unknown }).code !== 'E_FATAL' } },
    );
  });
  const lostOwnConnection = strata.workflow('lost-own-connection', async (ctx) => {
    return ctx.step('query elsewhere', () => {
      bump(`${ctx.workflowId}/query elsewhere`);
      // What pg throws when another database of the step's own drops its connection.
      throw codedError('Connection terminated unexpectedly', 'ECONNRESET');
    }, { retry: { maxAttempts: 2, intervalMs: 10 } });
  });
  const backoff = strata.workflow('backoff', async (ctx, retry: { intervalMs: number; backoffFactor: number; maxIntervalMs?: number }) => {
    return ctx.step(
      'slow-to-succeed',
      ({ attempt }) => {
        push(attemptTimes, ctx.workflowId, performance.now());
        if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
        return attempt;
      },
      { retry: { maxAttempts: 3, ...retry } },
    );
  });
  const hangs = strata.workflow('hangs', async (ctx, maxAttempts: number) => {
    try {
      return await ctx.step(
        'hang-once',
        ({ signal, attempt }) => {
          push(attemptSignals, ctx.workflowId, signal);
          if (attempt === 1) return new Promise<string>(() => {}); // never settles
          return `attempt ${attempt} finished`;
        },
        { timeoutMs: 50, retry: { maxAttempts, intervalMs: 10 } },
      );
    } catch (error) {
      caught.set(ctx.workflowId, error);
      throw error;
    }
  });
  const checkpointed = strata.workflow('checkpointed', async (ctx) => {
    const a = await ctx.step('A', () => {
      bump(`${ctx.workflowId}/A`);
      return 'value-a';
    });
    const got = await ctx.recv<string>('go', { timeoutMs: Infinity });
    return { a, got };
  });
  const invalidStep = strata.workflow('invalid-step', async (ctx, variant: string) => {
    const fn = () => 'never';
    try {
      switch (variant) {
        case 'empty-name':
          return await ctx.step('', fn);
        case 'number-name':
          return await ctx.step(42 as unknown as string, fn);
        case 'not-a-function':
          return await ctx.step('named', 'nope' as unknown as () => string);
        case 'zero-attempts':
          return await ctx.step('named', fn, { retry: { maxAttempts: 0 } });
        case 'negative-timeout':
          return await ctx.step('named', fn, { timeoutMs: -1 } satisfies StepOptions);
        default:
          throw new Error(`unknown variant ${variant}`);
      }
    } catch (error) {
      caught.set(ctx.workflowId, error);
      throw error;
    }
  });
  return { strata, fetchOrder, flaky, exhausted, notRetried, lostOwnConnection, backoff, hangs, checkpointed, invalidStep };
}

type App = ReturnType<typeof createApp>;

for (const kind of engines()) {
  describe(`steps (${kind})`, () => {
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

    async function restart(): Promise<void> {
      await app.strata.shutdown();
      app = createApp(database);
      await launchWithin(app.strata);
    }

    test("a step's result is returned and recorded with kind, name, output and attempts", async () => {
      const id = uniqueId('fetch');
      const result = await (await app.fetchOrder.with({ workflowId: id }).start('o-1')).result({ timeoutMs: WAIT_MS });
      assert.deepEqual(result, { orderId: 'o-1', items: [1, 2], at: new Date(0) });

      const rows = await stepRows(app.strata.systemDatabase, id);
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.equal(row!.step_id, 0);
      assert.equal(row!.kind, 'step');
      assert.equal(row!.name, 'fetch');
      assert.equal(row!.attempts, 1);
      assert.equal(row!.error, null);
      assert.deepEqual(serializer.deserialize(row!.output!), result);
    });

    test('a step that fails twice succeeds on its third attempt under maxAttempts 3, recording 3 attempts', async () => {
      const id = uniqueId('flaky');
      const result = await (await app.flaky.with({ workflowId: id }).start()).result({ timeoutMs: WAIT_MS });
      assert.equal(result, 'succeeded on attempt 3');
      assert.equal(runs.get(`${id}/flaky`), 3);
      const [row] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(row!.attempts, 3);
      assert.equal(row!.error, null);
    });

    test('a step whose retryIf returns false fails after one attempt', async () => {
      const id = uniqueId('not-retried');
      const handle = await app.notRetried.with({ workflowId: id }).start();
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { message: 'do not retry me', code: 'E_FATAL' });
      assert.equal(runs.get(`${id}/fatal`), 1);
      const [row] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(row!.attempts, 1);
      assert.notEqual(row!.error, null);
    });

    test("a step whose own code loses a connection (not the engine's) fails the workflow with that error: ERROR, not left PENDING", async () => {
      const id = uniqueId('lost-own-connection');
      const handle = await app.lostOwnConnection.with({ workflowId: id }).start();
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { message: 'Connection terminated unexpectedly', code: 'ECONNRESET' });
      assert.equal((await handle.status())?.status, 'ERROR');
      assert.equal(runs.get(`${id}/query elsewhere`), 2, 'retried per its policy, then recorded');
      const [row] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(row!.attempts, 2);
      assert.match(row!.error ?? '', /Connection terminated unexpectedly/);
    });

    test('the delay between retries grows by backoffFactor', async () => {
      const id = uniqueId('backoff');
      const result = await (await app.backoff.with({ workflowId: id }).start({ intervalMs: 100, backoffFactor: 3 })).result({ timeoutMs: WAIT_MS });
      assert.equal(result, 3);
      const [t1, t2, t3] = attemptTimes.get(id)!;
      const firstGap = t2! - t1!;
      const secondGap = t3! - t2!;
      assert.ok(firstGap >= 90, `first gap ${firstGap} ms is shorter than intervalMs`);
      assert.ok(secondGap >= firstGap * 2, `second gap ${secondGap} ms did not grow from first gap ${firstGap} ms`);
    });

    test('the delay between retries is capped by maxIntervalMs', async () => {
      const id = uniqueId('capped');
      await (await app.backoff.with({ workflowId: id }).start({ intervalMs: 100, backoffFactor: 20, maxIntervalMs: 150 })).result({ timeoutMs: WAIT_MS });
      const [, t2, t3] = attemptTimes.get(id)!;
      const secondGap = t3! - t2!;
      assert.ok(secondGap >= 140, `second gap ${secondGap} ms is shorter than maxIntervalMs`);
      assert.ok(secondGap < 1_000, `second gap ${secondGap} ms ignored maxIntervalMs 150 (uncapped it would be 2000)`);
    });

    test('an attempt that outlives timeoutMs is aborted and fails with StepTimeoutError', async () => {
      const id = uniqueId('hangs');
      const handle = await app.hangs.with({ workflowId: id }).start(1);
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { name: 'StepTimeoutError', code: 'STRATA_STEP_TIMEOUT' });
      const error = caught.get(id);
      assert.ok(error instanceof StepTimeoutError);
      assert.equal(error.code, 'STRATA_STEP_TIMEOUT');
      const [signal] = attemptSignals.get(id)!;
      assert.equal(signal!.aborted, true);
      assert.ok(signal!.reason instanceof StepTimeoutError);
      const [row] = await stepRows(app.strata.systemDatabase, id);
      assert.notEqual(row!.error, null);
    });

    test('a timed-out attempt is retried when the policy allows', async () => {
      const id = uniqueId('hangs-retried');
      const result = await (await app.hangs.with({ workflowId: id }).start(2)).result({ timeoutMs: WAIT_MS });
      assert.equal(result, 'attempt 2 finished');
      const signals = attemptSignals.get(id)!;
      assert.equal(signals.length, 2);
      assert.equal(signals[0]!.aborted, true);
      assert.equal(signals[1]!.aborted, false);
      const [row] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(row!.attempts, 2);
    });

    for (const variant of ['empty-name', 'number-name', 'not-a-function', 'zero-attempts', 'negative-timeout']) {
      test(`an invalid step call (${variant}) throws InvalidArgumentError and fails the workflow with it`, async () => {
        const id = uniqueId(variant);
        const handle = await app.invalidStep.with({ workflowId: id }).start(variant);
        await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), { name: 'InvalidArgumentError', code: 'STRATA_INVALID_ARGUMENT' });
        assert.ok(caught.get(id) instanceof InvalidArgumentError);
        assert.equal((await handle.status()).status, 'ERROR');
        assert.deepEqual(await stepRows(app.strata.systemDatabase, id), []);
      });
    }

    // Restarts last: each replaces the block's engine.

    test('a step whose checkpoint committed never runs again after a restart', async () => {
      const id = uniqueId('checkpointed');
      await app.checkpointed.with({ workflowId: id }).start();
      await waitFor('step A to be recorded', async () => (await stepRows(app.strata.systemDatabase, id)).some((row) => row.name === 'A'));

      await restart();
      await app.strata.send(id, 'x', { topic: 'go' });

      assert.deepEqual(await app.strata.retrieve(id).result({ timeoutMs: WAIT_MS }), { a: 'value-a', got: 'x' });
      assert.equal(runs.get(`${id}/A`), 1);
    });

    test('a step that exhausted its retries records the last error, and replay rethrows it without running the step', async () => {
      const id = uniqueId('exhausted');
      await app.exhausted.with({ workflowId: id }).start();
      await waitFor('the failed step to be recorded', async () => (await stepRows(app.strata.systemDatabase, id)).length > 0);
      const [row] = await stepRows(app.strata.systemDatabase, id);
      assert.equal(row!.name, 'always-fails');
      assert.equal(row!.attempts, 2);
      assert.equal(row!.output, null);
      assert.notEqual(row!.error, null);
      assert.equal(runs.get(`${id}/always-fails`), 2);

      await restart();
      await app.strata.send(id, 'x', { topic: 'go' });

      assert.deepEqual(await app.strata.retrieve(id).result({ timeoutMs: WAIT_MS }), { message: 'failure 2', code: 'E_FLAKY' });
      assert.equal(runs.get(`${id}/always-fails`), 2);
    });
  });
}
