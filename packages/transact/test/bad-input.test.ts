// Bad input breaks nothing: every door of the transact library (values, identifiers,
// configuration, times, dangerous operations) refuses what it cannot keep with a typed error that
// says what to fix — and after each refusal nothing was written and the shared strata.* views
// still answer. Values it can keep (NUL characters, lone surrogates) round-trip exactly.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '@strata/store';
import {
  InvalidArgumentError,
  MAX_DURATION_MS,
  NotSerializableError,
  Serializer,
  Strata,
  StrataClient,
  UnknownOptionError,
  type Logger,
} from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { quiet, randomId, WAIT_MS } from './helpers.js';

/** Text PostgreSQL's jsonb cannot hold as JSON escapes: NUL, lone surrogates of both halves, and their neighbours. */
const AWKWARD = 'a\u0000b \ud800 c\udfff \ud83d\ude00 \\0 \\uD800 \u0001\u001f';

/** The views every observer queries; one stored value must never make them fail. */
const VIEWS = ['strata.workflow_status', 'strata.step_history', 'strata.event_values', 'strata.message_log'] as const;

async function assertViewsAnswer(db: Database): Promise<void> {
  for (const view of VIEWS) {
    await db.query(`select * from ${view}`).catch((error: unknown) => {
      assert.fail(`select * from ${view} failed: ${(error as Error).message}`);
    });
  }
}

/** Rows of every table a workflow writes to, to show a refused call wrote nothing. */
async function rowCounts(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ t: string; n: number }>(
    `select 'workflows' as t, count(*)::int as n from strata.workflows
     union all select 'steps', count(*)::int from strata.steps
     union all select 'messages', count(*)::int from strata.messages
     union all select 'events', count(*)::int from strata.events
     union all select 'streams', count(*)::int from strata.streams
     union all select 'queues', count(*)::int from strata.queues
     union all select 'schedules', count(*)::int from strata.schedules`,
  );
  return Object.fromEntries(rows.map((row) => [row.t, row.n]));
}

/** Runs `refused` (which must reject as `check` says), then shows nothing was written and the views answer. */
async function refusedAndNothingWritten(db: Database, refused: () => Promise<unknown> | unknown, check: (error: unknown) => boolean): Promise<void> {
  const before = await rowCounts(db);
  await assert.rejects(async () => refused(), (error: unknown) => {
    assert.ok(check(error), `unexpected error: ${String((error as Error)?.stack ?? error)}`);
    return true;
  });
  assert.deepEqual(await rowCounts(db), before, 'a refused call wrote nothing');
  await assertViewsAnswer(db);
}

function invalidArgument(pattern: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof InvalidArgumentError && pattern.test(error.message);
}

function unknownOption(option: string, suggestion: string): (error: unknown) => boolean {
  return (error) =>
    error instanceof UnknownOptionError &&
    error.code === 'STRATA_UNKNOWN_OPTION' &&
    error.option === option &&
    error.suggestion === suggestion &&
    error.message.includes(`did you mean "${suggestion}"`);
}

function notSerializable(path: string): (error: unknown) => boolean {
  return (error) => error instanceof NotSerializableError && error.path === path && error.message.includes(path);
}

describe('configuration mistakes are errors, before anything opens', () => {
  test('a misspelled option names the key and the closest valid one', () => {
    assert.throws(() => new Strata({ databse: 'memory://' } as never), unknownOption('databse', 'database'));
    assert.throws(() => new Strata({ logger: quiet, safetyPollInterval: 100 } as never), unknownOption('safetyPollInterval', 'safetyPollIntervalMs'));
    assert.throws(() => new Strata({ logger: quiet, retention: { maxAge: 1_000 } } as never), unknownOption('maxAge', 'maxAgeMs'));
  });

  test('an option far from every known one is still named, with the list of options', () => {
    assert.throws(
      () => new Strata({ logger: quiet, colour: 'blue' } as never),
      (error: unknown) => error instanceof UnknownOptionError && error.suggestion === undefined && /no option "colour"/.test(error.message) && /database/.test(error.message),
    );
  });

  test('safetyPollIntervalMs: 0 (an idle engine would spin) is refused, naming the minimum', () => {
    assert.throws(() => new Strata({ logger: quiet, safetyPollIntervalMs: 0 }), invalidArgument(/safetyPollIntervalMs must be .* from 10 \(.*spin\)/));
    assert.throws(() => new Strata({ logger: quiet, safetyPollIntervalMs: 2 ** 31 }), invalidArgument(/safetyPollIntervalMs/));
  });

  test('settings out of range are refused: maxValueBytes, maxRecoveryAttempts, heartbeatIntervalMs, executorTimeoutMs', () => {
    assert.throws(() => new Strata({ logger: quiet, maxValueBytes: 10 }), invalidArgument(/maxValueBytes must be a whole number from 256/));
    assert.throws(() => new Strata({ logger: quiet, maxValueBytes: 2 ** 40 }), invalidArgument(/maxValueBytes/));
    assert.throws(() => new Strata({ logger: quiet, maxRecoveryAttempts: 0 }), invalidArgument(/maxRecoveryAttempts/));
    assert.throws(() => new Strata({ logger: quiet, heartbeatIntervalMs: 1 }), invalidArgument(/heartbeatIntervalMs must be .* from 10/));
    assert.throws(() => new Strata({ logger: quiet, executorTimeoutMs: 1e16 }), invalidArgument(/executorTimeoutMs/));
    assert.throws(() => new Strata({ logger: quiet, executorId: 'a\u0000b' }), invalidArgument(/executorId contains the NUL character U\+0000 at position 1/));
  });

  test('a logger without all of info, warn and error is refused at construction, naming what is missing', () => {
    const partial = { info() {} } as unknown as Logger;
    assert.throws(() => new Strata({ logger: partial }), invalidArgument(/logger has no warn, error methods/));
    assert.throws(() => new Strata({ logger: 'console' as never }), invalidArgument(/logger must be an object/));
    assert.doesNotThrow(() => new Strata({ logger: console, database: 'memory://' }));
  });

  test('StrataClient.connect refuses a misspelled or out-of-range option before connecting', async () => {
    await assert.rejects(StrataClient.connect({ databse: 'memory://' } as never), unknownOption('databse', 'database'));
    await assert.rejects(StrataClient.connect({ database: 'memory://', safetyPollIntervalMs: 0 }), invalidArgument(/safetyPollIntervalMs/));
  });
});

describe('Serializer: every failure is a NotSerializableError with the path of the bad value', () => {
  const serializer = new Serializer();

  const refused: Array<[string, unknown, string]> = [
    ['a __proto__ key', JSON.parse('{"a": {"__proto__": {"polluted": true}}}'), '(value).a.__proto__'],
    ['a constructor key', { user: { constructor: 'x' } }, '(value).user.constructor'],
    ['a prototype key', [{ prototype: 1 }], '(value)[0].prototype'],
    ['an invalid Date', { at: new Date(Number.NaN) }, '(value).at'],
    ['a key holding NUL', { ['k\u0000']: 1 }, '(value)["k\\u0000"]'],
    ['a key holding a lone surrogate', { ['\ud800']: 1 }, '(value)["\\ud800"]'],
    ["an Error whose cause is a function", Object.assign(new Error('x'), { cause: () => 1 }), '(value).cause'],
  ];
  for (const [label, value, path] of refused) {
    test(`refuses ${label}`, () => {
      assert.throws(() => serializer.serialize(value, 'test value'), notSerializable(path));
    });
  }

  test('stores strings holding NUL or lone surrogates as text jsonb accepts, and returns them exactly', () => {
    const value = { text: AWKWARD, list: ['\u0000', '\ud800'], map: new Map([[AWKWARD, AWKWARD]]), error: Object.assign(new Error(AWKWARD), { code: AWKWARD }) };
    const text = serializer.serialize(value, 'test value');
    assert.ok(!/(?<!\\)(\\\\)*\\u(0000|d[89a-f])/i.test(text), `no NUL or surrogate escape left for jsonb to refuse: ${text}`);
    const back = serializer.deserialize<typeof value>(text);
    assert.equal(back.text, AWKWARD);
    assert.deepEqual(back.list, ['\u0000', '\ud800']);
    assert.equal(back.map.get(AWKWARD), AWKWARD);
    assert.equal(back.error.message, AWKWARD);
    assert.equal((back.error as Error & { code?: string }).code, AWKWARD);
  });

  test('a thrown value that cannot be stored is kept as an UnserializableError cut to fit a small limit', () => {
    const text = new Serializer(256).serializeError(Object.assign(new Error('x'.repeat(5_000)), { cause: () => 1 }));
    const back = new Serializer().deserialize<Error>(text);
    assert.equal(back.name, 'UnserializableError');
    assert.ok(back.message.startsWith('Error: xxx'), back.message);
  });
});

for (const kind of engines()) {
  describe(`bad input breaks nothing (${kind})`, () => {
    let strata: Strata;
    let db: Database;
    const workflows = {} as ReturnType<typeof register>;

    function register(engine: Strata) {
      return {
        echo: engine.workflow('echo', async (_ctx, value: unknown) => value),
        everywhere: engine.workflow('everywhere', async (ctx, value: string) => {
          const stepped = await ctx.step('keep', () => value);
          await ctx.setEvent('value', value);
          await ctx.writeStream('values', value);
          await ctx.closeStream('values');
          const received = await ctx.recv<string>('in', { timeoutMs: WAIT_MS });
          return { stepped, received };
        }),
        fails: engine.workflow('fails', async (_ctx, message: string) => {
          throw Object.assign(new Error(message), { code: message });
        }),
        stepOptions: engine.workflow('step-options', async (ctx) => ctx.step('s', () => 1, { retry: { maxAttempt: 3 } } as never)),
        longSleep: engine.workflow('long-sleep', async (ctx) => ctx.sleep(MAX_DURATION_MS + 1)),
      };
    }

    before(async () => {
      strata = new Strata({ database: await freshDatabaseUrl(kind), logger: quiet });
      Object.assign(workflows, register(strata));
      strata.queue('bad-input-queue');
      await strata.launch();
      db = strata.systemDatabase;
    });

    after(async () => {
      await strata?.shutdown();
    });

    test('NUL and lone surrogates round-trip through inputs, step outputs, events, streams, messages and outputs, and the views answer', async () => {
      const id = randomId('awkward');
      const handle = await workflows.everywhere.with({ workflowId: id }).start(AWKWARD);
      assert.equal(await strata.getEvent(id, 'value', { timeoutMs: WAIT_MS }), AWKWARD);
      await strata.send(id, AWKWARD, { topic: 'in' });
      assert.deepEqual(await handle.result({ timeoutMs: WAIT_MS }), { stepped: AWKWARD, received: AWKWARD });
      const streamed: unknown[] = [];
      for await (const value of strata.readStream(id, 'values')) streamed.push(value);
      assert.deepEqual(streamed, [AWKWARD]);
      assert.deepEqual((await strata.workflows.get(id)).inputs, [AWKWARD]);
      assert.equal((await strata.workflows.steps(id))[0]!.output, AWKWARD);
      await assertViewsAnswer(db);
      // The views show the value escaped, readable text: NUL as \0, a lone surrogate as \uD800.
      const { rows } = await db.query<{ inputs: unknown }>('select inputs from strata.workflow_status where workflow_id = $1', [id]);
      assert.deepEqual(rows[0]!.inputs, ['a\\0b \\uD800 c\\uDFFF \ud83d\ude00 \\\\0 \\\\uD800 \u0001\u001f']);
    });

    test("an error whose message and code hold NUL is stored, returned exactly, and the views answer", async () => {
      const handle = await workflows.fails.start(AWKWARD);
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(error.message, AWKWARD);
        assert.equal((error as { code?: unknown }).code, AWKWARD);
        return true;
      });
      await assertViewsAnswer(db);
    });

    test('a row stored before this version, holding \\u0000, yields NULL in the views instead of failing them', async () => {
      const id = randomId('legacy');
      await workflows.echo.with({ workflowId: id }).run('clean');
      await db.query(`update strata.workflows set inputs = $2, output = $3 where workflow_id = $1`, [id, '{"json":["a\\u0000b"]}', '{"json":"\\ud800"}']);
      await assertViewsAnswer(db);
      const { rows } = await db.query<{ inputs: unknown; output: unknown; name: string }>(
        'select inputs, output, name from strata.workflow_status where workflow_id = $1',
        [id],
      );
      assert.deepEqual(rows[0], { inputs: null, output: null, name: 'echo' });
      assert.deepEqual((await strata.workflows.get(id)).inputs, ['a\u0000b'], 'the API still reads it');
    });

    test('identifiers holding NUL, other control characters or lone surrogates are refused at every door, naming the argument and position', async () => {
      const doors: Array<[string, () => Promise<unknown>, RegExp]> = [
        ['a workflow ID (NUL)', () => workflows.echo.with({ workflowId: 'order\u000042' }).start(1), /workflowId contains the NUL character U\+0000 at position 5/],
        ['a workflow ID (newline)', () => workflows.echo.with({ workflowId: 'order\n42' }).start(1), /workflowId contains the control character U\+000A at position 5/],
        ['a workflow ID (lone surrogate)', () => workflows.echo.with({ workflowId: 'order\ud800' }).start(1), /workflowId contains the lone surrogate U\+D800 at position 5/],
        ['a workflow name', () => strata.startByName('ec\u0000ho', [1]), /workflow name contains the NUL character/],
        ['retrieve', async () => strata.retrieve('x\u0000'), /workflow ID contains/],
        ['a send destination', () => strata.send('x\u0000', 1), /destination workflow ID contains/],
        ['a send topic', () => strata.send('x', 1, { topic: 't\u0000' }), /topic contains the NUL character/],
        ['an idempotency key', () => strata.send('x', 1, { idempotencyKey: '\ud800' }), /idempotencyKey contains the lone surrogate/],
        ['an event key', () => strata.getEvent('x', 'k\u0000', { timeoutMs: 0 }), /event key contains/],
        ['a stream key', () => strata.readStream('x', 'k\u0000').next(), /stream key contains/],
        ['a queue name', () => strata.queues.create('q\u0000'), /queue name contains/],
        ['a deduplication key', () => workflows.echo.with({ queue: 'bad-input-queue', deduplicationKey: 'd\u0000' }).start(1), /deduplicationKey contains/],
        ['a partition key', () => workflows.echo.with({ queue: 'bad-input-queue', partitionKey: 'p\u0000' }).start(1), /partitionKey contains/],
        ['an attribute value', () => workflows.echo.with({ attributes: { customer: 'c\u0000' } }).start(1), /attribute "customer" contains/],
        ['a management filter', () => strata.workflows.list({ name: 'n\u0000' }), /name contains/],
        ['a workflow ID prefix', () => strata.workflows.list({ workflowIdPrefix: 'p\ud800' }), /workflowIdPrefix contains/],
        ['a schedule name', () => strata.schedules.create('s\u0000', { workflow: 'echo', cron: '0 3 * * *' }), /schedule name contains/],
      ];
      for (const [label, refused, message] of doors) {
        await refusedAndNothingWritten(db, refused, (error) => {
          assert.ok(error instanceof InvalidArgumentError, `${label}: expected InvalidArgumentError, got ${String(error)}`);
          assert.match(error.message, message, label);
          return true;
        });
      }
    });

    test('misspelled keys of nested options are refused with the closest key, and nothing is written', async () => {
      await refusedAndNothingWritten(db, () => workflows.echo.with({ workflowID: 'x' } as never).start(1), unknownOption('workflowID', 'workflowId'));
      await refusedAndNothingWritten(db, () => workflows.echo.with({ queue: 'bad-input-queue', delay: 5 } as never).start(1), unknownOption('delay', 'delayMs'));
      await refusedAndNothingWritten(db, () => strata.startByName('echo', [1], { priorty: 1 } as never), unknownOption('priorty', 'priority'));
      await refusedAndNothingWritten(db, () => strata.queues.create('q-typo', { concurency: 2 } as never), unknownOption('concurency', 'concurrency'));
      await refusedAndNothingWritten(db, () => strata.queues.create('q-typo', { rateLimit: { limit: 1, period: 1_000 } } as never), unknownOption('period', 'periodMs'));
      await refusedAndNothingWritten(db, () => strata.send('x', 1, { topc: 't' } as never), unknownOption('topc', 'topic'));
      await refusedAndNothingWritten(db, () => strata.getEvent('x', 'k', { timeout: 5 } as never), unknownOption('timeout', 'timeoutMs'));
      await refusedAndNothingWritten(db, () => strata.readStream('x', 'k', { offset: 1 } as never).next(), unknownOption('offset', 'fromOffset'));
      await refusedAndNothingWritten(db, () => strata.retrieve('x').result({ timeout: 5 } as never), unknownOption('timeout', 'timeoutMs'));
      await refusedAndNothingWritten(db, () => strata.workflows.list({ limt: 5 } as never), unknownOption('limt', 'limit'));
      await refusedAndNothingWritten(db, () => strata.workflows.deleteMany({ stauts: 'ERROR' } as never), unknownOption('stauts', 'status'));
      await refusedAndNothingWritten(db, () => strata.workflows.restart('x', { workflowID: 'y' } as never), unknownOption('workflowID', 'workflowId'));
      await refusedAndNothingWritten(
        db,
        () => strata.schedules.create('s-typo', { workflow: 'echo', cron: '0 3 * * *', timeZone: 'UTC' } as never),
        invalidArgument(/no option "timeZone".*did you mean "timezone"/),
      );
    });

    test('a misspelled retry option inside a workflow fails the workflow with UnknownOptionError, not silently', async () => {
      await assert.rejects(workflows.stepOptions.run(), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal((error as { code?: unknown }).code, 'STRATA_UNKNOWN_OPTION');
        assert.match(error.message, /retry policy of step "s" has no option "maxAttempt"; did you mean "maxAttempts"/);
        return true;
      });
    });

    test('delays, sleeps and times out of range are InvalidArgumentErrors, not raw database date errors', async () => {
      await refusedAndNothingWritten(db, () => workflows.echo.with({ queue: 'bad-input-queue', delayMs: 1e15 }).start(1), invalidArgument(/delayMs must be .* to 315360000000 \(10 years\)/));
      await refusedAndNothingWritten(db, () => workflows.echo.with({ timeoutMs: 1e15 }).start(1), invalidArgument(/timeoutMs/));
      await refusedAndNothingWritten(db, () => workflows.echo.with({ queue: 'bad-input-queue', notBefore: new Date(8.64e15) }).start(1), invalidArgument(/notBefore must be between the years 1 and 9999/));
      await refusedAndNothingWritten(db, () => workflows.echo.with({ queue: 'bad-input-queue', notBefore: new Date(Number.NaN) }).start(1), invalidArgument(/notBefore must be a valid Date/));
      await refusedAndNothingWritten(db, () => strata.workflows.list({ createdAfter: new Date(-8.64e15) }), invalidArgument(/createdAfter must be between the years 1 and 9999/));
      await assert.rejects(workflows.longSleep.run(), (error: unknown) => error instanceof Error && /sleep durationMs must be/.test(error.message));
      await assertViewsAnswer(db);
    });

    test('an invalid Date input and a __proto__ key are NotSerializableErrors, and nothing is written', async () => {
      await refusedAndNothingWritten(db, () => workflows.echo.start(new Date(Number.NaN)), notSerializable('(value)[0]'));
      await refusedAndNothingWritten(db, () => workflows.echo.start(JSON.parse('{"__proto__": {"admin": true}}')), notSerializable('(value)[0].__proto__'));
      await refusedAndNothingWritten(db, () => workflows.echo.start({ constructor: 'x' }), notSerializable('(value)[0].constructor'));
      await refusedAndNothingWritten(db, () => strata.send('x', { ['\u0000']: 1 }), notSerializable('(value)["\\u0000"]'));
    });

    test('deleteMany({}) and cancelMany({}) refuse an empty filter; { all: true } says it', async () => {
      const id = randomId('finished');
      await workflows.echo.with({ workflowId: id }).run(1);
      for (const bulk of [() => strata.workflows.deleteMany({}), () => strata.workflows.cancelMany({}), () => strata.workflows.resumeMany({ status: undefined })]) {
        await refusedAndNothingWritten(db, bulk, (error) => error instanceof InvalidArgumentError && error.code === 'STRATA_EMPTY_FILTER' && /\{ all: true \}/.test(error.message));
      }
      assert.ok((await strata.workflows.deleteMany({ all: true })) >= 1);
      await assert.rejects(strata.workflows.get(id), (error: unknown) => (error as { code?: unknown }).code === 'STRATA_WORKFLOW_NOT_FOUND');
      await assertViewsAnswer(db);
    });
  });
}
