// Events (ctx.setEvent / getEvent: the latest value under a key) and streams (ctx.writeStream /
// readStream: an ordered, closable sequence of values), read from outside and from workflows.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DEFAULT_MAX_VALUE_BYTES,
  InvalidArgumentError,
  Serializer,
  Strata,
  StreamClosedError,
  WorkflowNotFoundError,
} from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { delay, PROMPT_MS, quiet, SAFETY_POLL_INTERVAL_MS, SETTLE_MS, uniqueId, within } from './helpers.js';

function registerWorkflows(strata: Strata) {
  return {
    /** Sets 'status' to 'first', waits for 'go', then replaces it with 'second'. */
    twoStatuses: strata.workflow('two-statuses', async (ctx) => {
      await ctx.setEvent('status', 'first');
      await ctx.recv('go', { timeoutMs: Infinity });
      await ctx.setEvent('status', 'second');
    }),
    /** Sets event 'late' only after a message on 'go'. */
    lateEvent: strata.workflow('late-event', async (ctx) => {
      await ctx.recv('go', { timeoutMs: Infinity });
      await ctx.setEvent('late', 'finally');
    }),
    /** Sets one event and ends. */
    publish: strata.workflow('publish', async (ctx, key: string, value: unknown) => {
      await ctx.setEvent(key, value);
    }),
    /** Reads another workflow's event. */
    readEvent: strata.workflow('read-event', async (ctx, sourceId: string, key: string) => ctx.getEvent(sourceId, key, { timeoutMs: 10_000 })),
    /** Writes three values to stream 'out' and closes it. */
    writeThree: strata.workflow('write-three', async (ctx) => {
      for (const value of ['v0', 'v1', 'v2']) await ctx.writeStream('out', value);
      await ctx.closeStream('out');
    }),
    /** Writes one value per message on 'next', three times, then closes the stream. */
    pacedWriter: strata.workflow('paced-writer', async (ctx) => {
      for (const value of ['v0', 'v1', 'v2']) {
        await ctx.recv('next', { timeoutMs: Infinity });
        await ctx.writeStream('out', value);
      }
      await ctx.closeStream('out');
    }),
    /** Writes two values, never closes the stream, and ends on 'go'. */
    unclosedWriter: strata.workflow('unclosed-writer', async (ctx) => {
      await ctx.writeStream('out', 'v0');
      await ctx.writeStream('out', 'v1');
      await ctx.recv('go', { timeoutMs: Infinity });
    }),
    /** Closes a stream, then writes to it and reports what it caught. */
    writeAfterClose: strata.workflow('write-after-close', async (ctx) => {
      await ctx.writeStream('out', 'v0');
      await ctx.closeStream('out');
      try {
        await ctx.writeStream('out', 'too late');
        return { caught: 'nothing' };
      } catch (error) {
        return { caught: (error as Error).name, isStreamClosed: error instanceof StreamClosedError, code: (error as { code?: string }).code };
      }
    }),
  };
}

type App = ReturnType<typeof registerWorkflows> & { readonly strata: Strata };

const serializer = new Serializer(DEFAULT_MAX_VALUE_BYTES);

/** Every value of a stream, read to its end. */
async function readAll<T>(strata: Strata, workflowId: string, key: string, options: { fromOffset?: number } = {}): Promise<T[]> {
  const values: T[] = [];
  for await (const value of strata.readStream<T>(workflowId, key, options)) values.push(value);
  return values;
}

/** Resolves when `condition` holds; fails after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadlineMs) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await delay(10);
  }
}

for (const kind of engines()) {
  describe(`events and streams (${kind})`, () => {
    let app: App;

    before(async () => {
      const strata = new Strata({ database: await freshDatabaseUrl(kind), logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS });
      app = { strata, ...registerWorkflows(strata) };
      await strata.launch();
    });
    after(async () => {
      await app?.strata.shutdown();
    });

    test('getEvent returns the value a workflow set, and the newer value after it is set again', async () => {
      const handle = await app.twoStatuses.with({ workflowId: uniqueId('statuses') }).start();
      assert.equal(await app.strata.getEvent(handle.workflowId, 'status', { timeoutMs: 5_000 }), 'first');
      await app.strata.send(handle.workflowId, 'go', { topic: 'go' });
      await handle.result({ timeoutMs: 5_000 });
      assert.equal(await app.strata.getEvent(handle.workflowId, 'status', { timeoutMs: 5_000 }), 'second');
    });

    test('getEvent waits for an event set later and is woken by it, long before the safety poll', async () => {
      const handle = await app.lateEvent.with({ workflowId: uniqueId('late') }).start();
      const reading = app.strata.getEvent(handle.workflowId, 'late', { timeoutMs: SAFETY_POLL_INTERVAL_MS + 5_000 });
      await delay(SETTLE_MS);
      const sentAtMs = Date.now();
      await app.strata.send(handle.workflowId, 'go', { topic: 'go' });
      assert.equal(await reading, 'finally');
      const wokenAfterMs = Date.now() - sentAtMs;
      assert.ok(wokenAfterMs < PROMPT_MS, `getEvent returned ${wokenAfterMs} ms after the event was triggered; safety poll is ${SAFETY_POLL_INTERVAL_MS} ms`);
    });

    test('getEvent returns null when the event is not set within its timeout', async () => {
      const handle = await app.lateEvent.with({ workflowId: uniqueId('never') }).start();
      assert.equal(await app.strata.getEvent(handle.workflowId, 'late', { timeoutMs: 100 }), null);
    });

    test("ctx.getEvent reads another workflow's event and records it as a get_event step", async () => {
      const sourceId = uniqueId('source');
      await app.publish.with({ workflowId: sourceId }).run('answer', { n: 42 });
      const readerId = uniqueId('reader');
      assert.deepEqual(await app.readEvent.with({ workflowId: readerId }).run(sourceId, 'answer'), { n: 42 });

      const { rows } = await app.strata.systemDatabase.query<{ name: string; output: string | null }>(
        `select name, output from strata.steps where workflow_id = $1 and kind = 'get_event'`,
        [readerId],
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.name, `${sourceId}:answer`);
      assert.deepEqual(serializer.deserialize(rows[0]!.output!), { n: 42 });
    });

    test('readStream yields the written values in order and ends at the close', async () => {
      const handle = await app.writeThree.with({ workflowId: uniqueId('three') }).start();
      await handle.result({ timeoutMs: 5_000 });
      assert.deepEqual(await within(readAll(app.strata, handle.workflowId, 'out'), 'reading the stream', 5_000), ['v0', 'v1', 'v2']);
    });

    test('readStream with fromOffset 1 skips the first value', async () => {
      const handle = await app.writeThree.with({ workflowId: uniqueId('offset') }).start();
      await handle.result({ timeoutMs: 5_000 });
      assert.deepEqual(await within(readAll(app.strata, handle.workflowId, 'out', { fromOffset: 1 }), 'reading the stream', 5_000), ['v1', 'v2']);
    });

    test('a reader that starts before the writes receives each value as it is written', async () => {
      const handle = await app.pacedWriter.with({ workflowId: uniqueId('paced') }).start();
      const received: string[] = [];
      const reading = (async () => {
        for await (const value of app.strata.readStream<string>(handle.workflowId, 'out')) received.push(value);
      })();
      try {
        for (let i = 0; i < 3; i++) {
          await app.strata.send(handle.workflowId, 'next', { topic: 'next' });
          // Well under the safety poll: a notification delivered the value.
          await waitFor(() => received.length === i + 1, `value ${i} reaching the reader`, 3_000);
        }
        await within(reading, 'the reader ending after the close', 3_000);
        assert.deepEqual(received, ['v0', 'v1', 'v2']);
      } finally {
        await app.strata.cancel(handle.workflowId).catch(() => {});
      }
    });

    test('a stream that is never closed ends for its readers when the workflow finishes', async () => {
      const handle = await app.unclosedWriter.with({ workflowId: uniqueId('unclosed') }).start();
      const received: string[] = [];
      const reading = (async () => {
        for await (const value of app.strata.readStream<string>(handle.workflowId, 'out')) received.push(value);
      })();
      await waitFor(() => received.length === 2, 'both values reaching the reader', 5_000);
      await app.strata.send(handle.workflowId, 'go', { topic: 'go' });
      await handle.result({ timeoutMs: 5_000 });
      await within(reading, 'the reader ending after the workflow finished', 5_000);
      assert.deepEqual(received, ['v0', 'v1']);
    });

    test('writing to a closed stream throws StreamClosedError inside the workflow', async () => {
      const outcome = await app.writeAfterClose.with({ workflowId: uniqueId('closed') }).run();
      assert.deepEqual(outcome, { caught: 'StreamClosedError', isStreamClosed: true, code: 'STRATA_STREAM_CLOSED' });
    });

    test('readStream of an unknown workflow fails with WorkflowNotFoundError', async () => {
      await assert.rejects(within(readAll(app.strata, uniqueId('nobody'), 'out'), 'reading the stream', 5_000), WorkflowNotFoundError);
    });

    test('readStream with a negative or fractional fromOffset fails with InvalidArgumentError', async () => {
      const handle = await app.writeThree.with({ workflowId: uniqueId('bad-offset') }).start();
      await handle.result({ timeoutMs: 5_000 });
      await assert.rejects(readAll(app.strata, handle.workflowId, 'out', { fromOffset: -1 }), InvalidArgumentError);
      await assert.rejects(readAll(app.strata, handle.workflowId, 'out', { fromOffset: 1.5 }), InvalidArgumentError);
    });
  });
}
