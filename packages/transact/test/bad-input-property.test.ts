// Property tests of bad input: arbitrary strings — NUL, lone surrogates, control characters,
// backslashes that look like escapes — fed through every kind of stored value come back exactly
// through the API, and never make the strata.* views fail; as identifiers they are either kept
// exactly or refused with an InvalidArgumentError, never a raw database error.
// Replay a failure with STRATA_PROPERTY_SEED=<seed printed by fast-check>.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Database } from '@strata/store';
import { InvalidArgumentError, Strata, StrataError } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { quiet, seedFromEnv, WAIT_MS } from './helpers.js';

/** Runs per property and engine: each run starts a workflow, so a few dozen keep the file quick on a loaded machine. */
const NUM_RUNS = 30;
const SEED = seedFromEnv('STRATA_PROPERTY_SEED', 20_260_131);

/** Any UTF-16 code unit (so lone surrogates too), weighted towards the characters that broke storage. */
const awkwardUnit = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), weight: 3 },
  { arbitrary: fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\\', '0', 'u', 'D', '"', '\n', '\u0001', '\u001f', '\u007f', '\ud83d\ude00'), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 3 }), weight: 1 },
);
const awkwardString = fc.string({ unit: awkwardUnit, maxLength: 40 });
/** Identifiers: the awkward strings, plus empty and over-long ones. */
const awkwardIdentifier = fc.oneof(
  { arbitrary: awkwardString, weight: 8 },
  { arbitrary: fc.constant(''), weight: 1 },
  { arbitrary: fc.string({ minLength: 500, maxLength: 520 }), weight: 1 },
);

const VIEWS = ['strata.workflow_status', 'strata.step_history', 'strata.event_values', 'strata.message_log'] as const;
/** The column of each view that names the workflow a row belongs to. */
const VIEW_ID_COLUMNS: Record<(typeof VIEWS)[number], string> = {
  'strata.workflow_status': 'workflow_id',
  'strata.step_history': 'workflow_id',
  'strata.event_values': 'workflow_id',
  'strata.message_log': 'destination_id',
};

async function assertViewsAnswer(db: Database): Promise<void> {
  for (const view of VIEWS) {
    await db.query(`select * from ${view}`).catch((error: unknown) => assert.fail(`select * from ${view} failed: ${(error as Error).message}`));
  }
}

/** A refusal must be one of Strata's typed errors: a raw database error (22021, 22P05, …) has no STRATA_ code. */
function assertTypedRefusal(error: unknown, what: string): void {
  assert.ok(error instanceof StrataError, `${what}: expected a StrataError, got ${String((error as Error)?.stack ?? error)}`);
  assert.match(error.code, /^STRATA_/);
}

let runCounter = 0;

for (const kind of engines()) {
  describe(`arbitrary strings through Strata (${kind})`, () => {
    let strata: Strata;
    let db: Database;
    let everywhere: ReturnType<typeof register>['everywhere'];
    let echo: ReturnType<typeof register>['echo'];

    function register(engine: Strata) {
      return {
        echo: engine.workflow('echo', async (_ctx, value: unknown) => value),
        /** Stores `value` as each kind of value: step output, event, stream entry, message (to itself), output. */
        everywhere: engine.workflow('everywhere', async (ctx, value: { text: string; nested: unknown }) => {
          const stepped = await ctx.step('keep', () => value);
          await ctx.setEvent('value', value.text);
          await ctx.writeStream('values', value.text);
          await ctx.writeStream('values', value.nested);
          await ctx.closeStream('values');
          await ctx.send(ctx.workflowId, value.text, 'self');
          const received = await ctx.recv<string>('self', { timeoutMs: WAIT_MS });
          return { stepped, received };
        }),
      };
    }

    before(async () => {
      strata = new Strata({ database: await freshDatabaseUrl(kind), logger: quiet });
      ({ everywhere, echo } = register(strata));
      await strata.launch();
      db = strata.systemDatabase;
    });

    after(async () => {
      await strata?.shutdown();
    });

    test('every stored kind of value round-trips exactly through the API, and the views never fail', async () => {
      await fc.assert(
        fc.asyncProperty(awkwardString, async (text) => {
          const id = `prop-value-${process.pid}-${++runCounter}`;
          const nested = { text, list: [text, { [`k${runCounter}`]: text }], map: new Map([[text, text]]), set: new Set([text]) };
          const value = { text, nested };
          const handle = await everywhere.with({ workflowId: id }).start(value);
          assert.deepStrictEqual(await handle.result({ timeoutMs: WAIT_MS }), { stepped: value, received: text });
          assert.deepStrictEqual(await strata.retrieve(id).result({ timeoutMs: WAIT_MS }), { stepped: value, received: text });
          assert.equal(await strata.getEvent(id, 'value', { timeoutMs: 0 }), text);
          const streamed: unknown[] = [];
          for await (const entry of strata.readStream(id, 'values')) streamed.push(entry);
          assert.deepStrictEqual(streamed, [text, nested]);
          assert.deepStrictEqual((await strata.workflows.get(id)).inputs, [value]);
          assert.deepStrictEqual((await strata.workflows.steps(id))[0]!.output, value);
          await assertViewsAnswer(db);
          for (const [view, idColumn] of Object.entries(VIEW_ID_COLUMNS)) {
            const { rows } = await db.query(`select * from ${view} where ${idColumn} = $1`, [id]);
            assert.ok(rows.length > 0, `${view} shows the workflow's rows`);
          }
        }),
        { numRuns: NUM_RUNS, seed: SEED },
      );
    });

    test('an arbitrary workflow ID is either kept exactly or refused with InvalidArgumentError, never a raw database error', async () => {
      await fc.assert(
        fc.asyncProperty(awkwardIdentifier, async (workflowId) => {
          let handle;
          try {
            handle = await echo.with({ workflowId }).start(workflowId);
          } catch (error) {
            assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String((error as Error)?.stack ?? error)}`);
            assert.ok(error.message.includes('workflowId'), error.message);
            return;
          }
          assert.equal(handle.workflowId, workflowId);
          assert.equal(await handle.result({ timeoutMs: WAIT_MS }), workflowId);
          assert.equal((await strata.retrieve(workflowId).status()).workflowId, workflowId);
          const { rows } = await db.query<{ workflow_id: string }>('select workflow_id from strata.workflow_status where workflow_id = $1', [workflowId]);
          assert.deepEqual(rows, [{ workflow_id: workflowId }]);
        }),
        { numRuns: NUM_RUNS, seed: SEED },
      );
      await assertViewsAnswer(db);
    });

    test('arbitrary names, topics and keys at the other doors are kept or refused with a typed error, never a raw database error', async () => {
      await fc.assert(
        fc.asyncProperty(awkwardIdentifier, async (name) => {
          const doors: Array<[string, () => Promise<unknown>]> = [
            ['startByName', () => strata.startByName(name, [])],
            ['send destination', () => strata.send(name, 1)],
            ['send topic', () => strata.send('prop-nowhere', 1, { topic: name })],
            ['getEvent key', () => strata.getEvent('prop-nowhere', name, { timeoutMs: 0 })],
            ['readStream key', () => strata.readStream('prop-nowhere', name, { fromOffset: 0 }).next()],
            ['status', () => strata.retrieve(name).status()],
            ['list by name', () => strata.workflows.list({ name, limit: 1 })],
            ['list by prefix', () => strata.workflows.list({ workflowIdPrefix: name, limit: 1 })],
            ['queue get', () => strata.queues.get(name)],
          ];
          for (const [door, call] of doors) {
            await Promise.resolve().then(call).catch((error: unknown) => assertTypedRefusal(error, door));
          }
        }),
        { numRuns: NUM_RUNS, seed: SEED },
      );
      await assertViewsAnswer(db);
    });
  });
}
