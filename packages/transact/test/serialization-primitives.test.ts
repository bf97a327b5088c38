// Serialization of primitives: Serializer writes numbers, booleans, null, undefined and plain
// strings through a shortcut instead of superjson; the stored text must be byte for byte what
// superjson writes (older rows and other readers decode it with superjson), and read back the same.
// Replay a failure with STRATA_PROPERTY_SEED=<seed printed by fast-check>.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import SuperJSON from 'superjson';
import { PayloadTooLargeError, Serializer } from '@strata/transact';

const seed = process.env.STRATA_PROPERTY_SEED === undefined ? undefined : Number(process.env.STRATA_PROPERTY_SEED);
const runs = { numRuns: 2_000, ...(seed === undefined ? {} : { seed }) };

/** What superjson alone (as Strata used it for every value before the shortcut) stores. */
const superjsonText = (value: unknown) => JSON.stringify(SuperJSON.serialize(value));

const serializer = new Serializer();

/** The same value, telling -0 from 0 and NaN from itself. */
function assertSameValue(actual: unknown, expected: unknown): void {
  assert.ok(Object.is(actual, expected), `${String(actual)} is not ${String(expected)}`);
}

const edgeNumbers = [0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_SAFE_INTEGER + 2, 1e21, 1e-7, 0.1 + 0.2];

test('every number, including -0, NaN and ±Infinity, is stored exactly as superjson stores it and read back the same', () => {
  for (const value of edgeNumbers) {
    const text = serializer.serialize(value, 'edge number');
    assert.equal(text, superjsonText(value), `stored text of ${String(value)}`);
    assertSameValue(serializer.deserialize(text), value);
  }
  fc.assert(
    fc.property(fc.oneof(fc.double(), fc.integer(), fc.float(), fc.constantFrom(...edgeNumbers)), (value) => {
      const text = serializer.serialize(value, 'number');
      assert.equal(text, superjsonText(value));
      assertSameValue(serializer.deserialize(text), value);
    }),
    runs,
  );
});

test('booleans, null and undefined are stored exactly as superjson stores them and read back the same', () => {
  for (const value of [true, false, null, undefined]) {
    const text = serializer.serialize(value, 'primitive');
    assert.equal(text, superjsonText(value), `stored text of ${String(value)}`);
    assertSameValue(serializer.deserialize(text), value);
  }
});

test('a string jsonb can store is stored exactly as superjson stores it; one with NUL or a lone surrogate is still escaped', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), (value) => {
      const text = serializer.serialize(value, 'string');
      const unstorable = /[\0\p{Cs}]/u.test(value);
      if (!unstorable) assert.equal(text, superjsonText(value));
      else assert.doesNotMatch(text, /\\u0000|\\ud[89a-f]/i, 'an unstorable character is written escaped, not as a JSON escape jsonb refuses');
      assert.equal(serializer.deserialize(text), value);
    }),
    runs,
  );
  for (const value of ['', '"quoted"\\', '\u2028\u2029', 'line\nbreak\ttab', '😀', 'nul\0here', 'lone \ud800 surrogate']) {
    assert.equal(serializer.deserialize(serializer.serialize(value, 'string')), value);
  }
});

test('a primitive larger than the size limit is refused with PayloadTooLargeError', () => {
  const small = new Serializer(64);
  assert.equal(small.serialize('x'.repeat(10), 'short string'), superjsonText('x'.repeat(10)));
  assert.throws(() => small.serialize('x'.repeat(100), 'long string'), PayloadTooLargeError);
  // 20 characters of 3 UTF-8 bytes each: short in characters, over the limit in bytes.
  assert.throws(() => small.serialize('€'.repeat(20), 'wide string'), PayloadTooLargeError);
});
