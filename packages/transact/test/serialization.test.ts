// Serialization: what survives a trip through Strata's tables (inputs, outputs, recorded step
// values) and what is rejected before anything is written.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, NotSerializableError, PayloadTooLargeError, Serializer, Strata } from '@strata/transact';
import type { Queryable } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { launchWithin, quiet, randomId as uniqueId, WAIT_MS, waitFor } from './helpers.js';

/** Side effects, keyed by workflow ID: shared by every engine in this process. */
const runs = new Map<string, number>();
function bump(key: string): void {
  runs.set(key, (runs.get(key) ?? 0) + 1);
}

async function countWorkflows(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from strata.workflows');
  return rows[0]!.n;
}

/** Every kind of value Strata promises to keep, nested. */
function richValue() {
  return {
    at: new Date('2024-02-29T12:34:56.789Z'),
    big: 12_345_678_901_234_567_890n,
    negativeBig: -1n,
    map: new Map<unknown, unknown>([
      ['a', 1],
      [2, new Map([['inner', new Set(['x'])]])],
    ]),
    set: new Set<unknown>([1, 'two', 3n, new Date(0)]),
    bytes: new Uint8Array([0, 1, 127, 128, 254, 255]),
    missing: undefined,
    list: [1, undefined, null, 'x', undefined],
    deep: { a: [{ b: { c: [new Date(0), { d: undefined, e: new Uint8Array([7]) }] } }] },
    text: 'ünïcødé ✓',
    numbers: [0, -0.5, 1e300, Number.MAX_SAFE_INTEGER],
    regex: /ab+c/gi,
    url: new URL('https://example.com/a?b=c'),
  };
}

function customError(): Error {
  return Object.assign(new Error('the vault is locked'), { name: 'VaultError', code: 'E_VAULT_LOCKED' });
}

function assertSameError(actual: unknown, expected: Error & { code?: unknown }): void {
  assert.ok(actual instanceof Error, `expected an Error, got ${String(actual)}`);
  assert.equal(actual.name, expected.name);
  assert.equal(actual.message, expected.message);
  assert.equal((actual as { code?: unknown }).code, expected.code);
  assert.equal(typeof actual.stack, 'string');
  assert.ok(actual.stack!.length > 0);
}

class Money {
  constructor(readonly cents: number) {}
}

describe('Serializer', () => {
  const serializer = new Serializer();

  test('round-trips Date, BigInt, Map, Set, Uint8Array, undefined, RegExp, URL and nested structures', () => {
    const value = richValue();
    const back = serializer.deserialize<ReturnType<typeof richValue>>(serializer.serialize(value, 'test value'));
    assert.deepStrictEqual(back, value);
    assert.ok('missing' in back, 'an undefined object value keeps its key');
    assert.equal(back.list.length, 5);
    assert.ok(back.bytes instanceof Uint8Array);
  });

  test('round-trips a Uint8Array that is a view into a larger buffer', () => {
    const view = new Uint8Array(new Uint8Array([9, 8, 7, 6, 5]).buffer, 1, 3);
    assert.deepStrictEqual(serializer.deserialize(serializer.serialize(view, 'view')), new Uint8Array([8, 7, 6]));
  });

  test('round-trips an Error with its name, message, stack and code', () => {
    const error = customError();
    const back = serializer.deserialize<Error>(serializer.serialize(error, 'error'));
    assertSameError(back, error as Error & { code?: unknown });
    assert.equal(back.stack, error.stack);
  });

  test('round-trips strings holding NUL, lone surrogates and escape-like backslashes exactly', () => {
    for (const text of ['\u0000', 'a\u0000b', '\ud800', '\udfff', '\ud83d\ude00', '\ud83d', '\\0', '\\uD800', '\\\u0000', '']) {
      assert.equal(serializer.deserialize(serializer.serialize(text, 'text')), text);
      assert.deepStrictEqual(serializer.deserialize(serializer.serialize({ list: [text], map: new Map([[text, text]]) }, 'nested')), { list: [text], map: new Map([[text, text]]) });
    }
  });

  test('round-trips top-level undefined, null and primitives', () => {
    for (const value of [undefined, null, 0, '', 'text', true, false, 42n]) {
      assert.deepStrictEqual(serializer.deserialize(serializer.serialize(value, 'primitive')), value);
    }
  });

  const rejected: Array<[string, unknown, string]> = [
    ['a function', { a: { callback: () => 1 } }, '(value).a.callback'],
    ['a symbol', [1, Symbol('s')], '(value)[1]'],
    ['a class instance', { price: new Money(5) }, '(value).price'],
    ['a Map value that is a function', new Map([['k', () => 1]]), '(value).get(k)'],
    ['an invalid Date (stored as null, it would come back changed)', { at: new Date(Number.NaN) }, '(value).at'],
    ['a __proto__ key (superjson refuses it with a plain Error)', JSON.parse('{"a": {"__proto__": 1}}'), '(value).a.__proto__'],
    ['a constructor key', { constructor: 1 }, '(value).constructor'],
  ];
  for (const [label, value, path] of rejected) {
    test(`rejects ${label} with NotSerializableError naming its path`, () => {
      assert.throws(
        () => serializer.serialize(value, 'the test value'),
        (error: unknown) => {
          assert.ok(error instanceof NotSerializableError);
          assert.equal(error.code, 'STRATA_NOT_SERIALIZABLE');
          assert.equal(error.path, path);
          assert.ok(error.message.includes(path), error.message);
          assert.ok(error.message.startsWith('the test value cannot be stored'), error.message);
          return true;
        },
      );
    });
  }

  test('rejects a cycle with NotSerializableError', () => {
    const node: { name: string; self?: unknown } = { name: 'loop' };
    node.self = { back: node };
    assert.throws(() => serializer.serialize(node, 'graph'), (error: unknown) => {
      assert.ok(error instanceof NotSerializableError);
      assert.equal(error.path, '(value).self.back');
      assert.match(error.message, /cycle/);
      return true;
    });
  });

  test('accepts the same object twice when it is not a cycle', () => {
    const shared = { n: 1 };
    assert.deepStrictEqual(serializer.deserialize(serializer.serialize([shared, shared], 'shared')), [{ n: 1 }, { n: 1 }]);
  });

  test('rejects a value over maxValueBytes with PayloadTooLargeError', () => {
    assert.throws(() => new Serializer(100).serialize('x'.repeat(200), 'big value'), (error: unknown) => {
      assert.ok(error instanceof PayloadTooLargeError);
      assert.equal(error.code, 'STRATA_PAYLOAD_TOO_LARGE');
      assert.equal(error.limitBytes, 100);
      assert.ok(error.bytes > 200);
      return true;
    });
  });
});

/** Every workflow the per-engine blocks need, registered on a new (unlaunched) engine. */
function createApp(database: string) {
  const strata = new Strata({ database, logger: quiet });
  const echo = strata.workflow('echo-args', async (_ctx, ...args: unknown[]) => args);
  const recorded = strata.workflow('recorded-step', async (ctx) => {
    const value = await ctx.step('make', () => {
      bump(ctx.workflowId);
      return { rich: richValue(), error: customError() };
    });
    await ctx.recv('go', { timeoutMs: Infinity });
    return value;
  });
  const badOutput = strata.workflow('bad-output', async () => ({ nested: { callback: () => 1 } }));
  return { strata, echo, recorded, badOutput };
}

type App = ReturnType<typeof createApp>;

for (const kind of engines()) {
  describe(`serialization through workflows (${kind})`, () => {
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

    test('workflow inputs and outputs round-trip rich values', async () => {
      const [back] = (await app.echo.run(richValue())) as [ReturnType<typeof richValue>];
      assert.deepStrictEqual(back, richValue());
      assert.ok('missing' in back);
    });

    test('workflow inputs round-trip undefined arguments and values', async () => {
      const back = await app.echo.run(undefined, [undefined], { key: undefined }, 1n);
      assert.deepStrictEqual(back, [undefined, [undefined], { key: undefined }, 1n]);
      assert.ok('key' in (back[2] as object));
    });

    test('an Error passed in and returned keeps its name, message, stack and code', async () => {
      const error = customError();
      const [back] = await app.echo.run(error);
      assertSameError(back, error as Error & { code?: unknown });
    });

    test('a non-serializable input to start() throws NotSerializableError naming the path and creates no workflow', async () => {
      const node: { self?: unknown } = {};
      node.self = node;
      const cases: Array<[unknown, string]> = [
        [{ callback: () => 1 }, '(value)[0].callback'],
        [new Money(5), '(value)[0]'],
        [Symbol('s'), '(value)[0]'],
        [node, '(value)[0].self'],
      ];
      const before = await countWorkflows(app.strata.systemDatabase);
      for (const [input, path] of cases) {
        const id = uniqueId('not-serializable');
        await assert.rejects(app.echo.with({ workflowId: id }).start(input), (error: unknown) => {
          assert.ok(error instanceof NotSerializableError);
          assert.equal(error.path, path);
          assert.ok(error.message.includes(path), error.message);
          assert.ok(error.message.includes('echo-args'), error.message);
          return true;
        });
      }
      assert.equal(await countWorkflows(app.strata.systemDatabase), before);
    });

    test('an input over maxValueBytes throws PayloadTooLargeError and creates no workflow', async () => {
      // Shares the block's database object, so this small-limit engine opens nothing new.
      const small = new Strata({ database: app.strata.systemDatabase, executorId: 'small-limit', maxValueBytes: 1_000, logger: quiet });
      const echo = small.workflow('echo-args', async (_ctx, ...args: unknown[]) => args);
      await small.launch();
      try {
        const before = await countWorkflows(app.strata.systemDatabase);
        await assert.rejects(echo.start('x'.repeat(2_000)), (error: unknown) => {
          assert.ok(error instanceof PayloadTooLargeError);
          assert.equal(error.limitBytes, 1_000);
          return true;
        });
        assert.equal(await countWorkflows(app.strata.systemDatabase), before);
        assert.deepEqual(await echo.run('x'.repeat(100)), ['x'.repeat(100)]);
      } finally {
        await small.shutdown();
      }
    });

    test("a non-serializable workflow output ends the workflow in ERROR with NotSerializableError's message", async () => {
      const handle = await app.badOutput.start();
      await assert.rejects(handle.result({ timeoutMs: WAIT_MS }), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(error.name, 'NotSerializableError');
        assert.equal((error as { code?: unknown }).code, 'STRATA_NOT_SERIALIZABLE');
        assert.ok(error.message.includes('output of workflow "bad-output"'), error.message);
        assert.ok(error.message.includes('(value).nested.callback'), error.message);
        return true;
      });
      assert.equal((await handle.status()).status, 'ERROR');
    });

    test('startByName with arguments that are not an array throws InvalidArgumentError', async () => {
      const before = await countWorkflows(app.strata.systemDatabase);
      await assert.rejects(app.strata.startByName('echo-args', 'not an array' as unknown as unknown[]), InvalidArgumentError);
      await assert.rejects(app.strata.startByName('echo-args', { 0: 'x', length: 1 } as unknown as unknown[]), InvalidArgumentError);
      assert.equal(await countWorkflows(app.strata.systemDatabase), before);
    });

    // Restarts last: it replaces the block's engine.

    test("a step's recorded rich value is replayed deep-equal after a restart, without running the step", async () => {
      const id = uniqueId('recorded');
      await app.recorded.with({ workflowId: id }).start();
      await waitFor('the step to be recorded', async () => {
        const { rows } = await app.strata.systemDatabase.query('select 1 from strata.steps where workflow_id = $1', [id]);
        return rows.length > 0;
      });

      await app.strata.shutdown();
      app = createApp(database);
      await launchWithin(app.strata);
      await app.strata.send(id, 'x', { topic: 'go' });

      const value = (await app.strata.retrieve(id).result({ timeoutMs: WAIT_MS })) as { rich: unknown; error: unknown };
      assert.deepStrictEqual(value.rich, richValue());
      assertSameError(value.error, customError() as Error & { code?: unknown });
      assert.equal(runs.get(id), 1);
    });
  });
}
