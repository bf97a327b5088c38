// The tuple layer: byte-for-byte FoundationDB compatibility (the spec's vectors), order preserved
// by the encoding for random tuples, lossless round trips, and typed errors for what cannot be encoded.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  compareBytes,
  Float32,
  Float64,
  pack,
  packWithVersionstamp,
  range,
  strinc,
  TupleDecodingError,
  TupleEncodingError,
  unpack,
  UUID,
  Versionstamp,
  type Tuple,
  type TupleItem,
} from '../src/index.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));

describe('FoundationDB vectors (design/tuple.md and the bindings)', () => {
  const vectors: Array<[string, Tuple, string]> = [
    ['byte string with an escaped 0x00', [bytes('foo\x00bar')], '01666f6f00ff62617200'],
    ['unicode string, UTF-8, escaped 0x00', ['F\u00d4O\u0000bar'], '0246c3944f00ff62617200'],
    ['nested tuple with bytes, a null and an empty tuple', [[bytes('foo\x00bar'), null, []]], '05' + '01666f6f00ff62617200' + '00ff' + '0500' + '00'],
    ['negative integer, one\'s complement', [-5551212], '11ab4b93'],
    ['float -42', [new Float32(-42)], '203dd7ffff'],
    ['null', [null], '00'],
    ['zero', [0], '14'],
    ['one', [1], '1501'],
    ['minus one', [-1], '13fe'],
    ['255 and 256 change width', [255, 256], '15ff' + '160100'],
    ['-255 and -256 change width', [-255, -256], '1300' + '12feff'],
    ['2^64 - 1 is the widest fixed-size integer', [2n ** 64n - 1n], '1c' + 'ff'.repeat(8)],
    ['2^64 takes the arbitrary-precision code 0x1d', [2n ** 64n], '1d09' + '01' + '00'.repeat(8)],
    ['-(2^64 - 1)', [-(2n ** 64n - 1n)], '0c' + '00'.repeat(8)],
    ['-(2^64) takes 0x0b with a flipped length', [-(2n ** 64n)], '0bf6' + 'fe' + 'ff'.repeat(8)],
    ['double 1.0 (flip the sign bit)', [new Float64(1)], '21bff0000000000000'],
    ['double -1.5 (flip every bit)', [-1.5], '21' + '4007ffffffffffff'],
    ['false and true', [false, true], '2627'],
    ['UUID', [new UUID('7d444840-9dc0-11d1-b245-5ffdce74fad2')], '307d4448409dc011d1b2455ffdce74fad2'],
    ['complete versionstamp', [Versionstamp.complete(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 0, 2), 3)], '33' + '00000000000000010002' + '0003'],
    ['empty nested tuple', [[]], '0500'],
    ['nested tuple holding null', [[null]], '0500ff00'],
  ];
  for (const [name, tuple, expected] of vectors) {
    test(`${name}: ${expected}`, () => {
      assert.equal(hex(pack(tuple)), expected);
      assert.equal(hex(pack(unpack(pack(tuple)))), expected, 'unpack then pack gives the same bytes');
    });
  }

  test('the empty tuple packs to no bytes', () => {
    assert.equal(pack([]).length, 0);
    assert.deepEqual(unpack(new Uint8Array(0)), []);
  });
});

describe('what unpack returns', () => {
  test('safe integers come back as numbers, wider ones as bigints', () => {
    assert.deepEqual(unpack(pack([5n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 70n)])), [5, 2 ** 53 - 1, 2n ** 53n, -(2n ** 70n)]);
  });

  test('fractional doubles come back as numbers, integral ones as Float64, floats as Float32', () => {
    const [fraction, integral, negativeZero, single] = unpack(pack([0.25, new Float64(3), -0, new Float32(1.5)]));
    assert.equal(fraction, 0.25);
    assert.deepEqual(integral, new Float64(3));
    assert.ok(Object.is(negativeZero, -0));
    assert.deepEqual(single, new Float32(1.5));
  });

  test('an incomplete versionstamp reads back as incomplete, with its user version', () => {
    const { key } = packWithVersionstamp([Versionstamp.incomplete(7)]);
    const [stamp] = unpack(key);
    assert.ok(stamp instanceof Versionstamp);
    assert.equal(stamp.isComplete, false);
    assert.equal(stamp.userVersion, 7);
  });
});

describe('packWithVersionstamp', () => {
  test('says where the 10 placeholder bytes are, the prefix counted', () => {
    const prefix = Uint8Array.of(0xaa, 0xbb);
    const { key, offset } = packWithVersionstamp(['events', Versionstamp.incomplete(1)], prefix);
    assert.equal(offset, 2 + 'events'.length + 2 + 1); // prefix, 02 'events' 00, then the 0x33 type code
    assert.equal(hex(key.subarray(offset, offset + 10)), 'ff'.repeat(10));
    assert.equal(hex(key.subarray(offset + 10)), '0001');
  });

  test('finds a placeholder inside a nested tuple', () => {
    const { key, offset } = packWithVersionstamp([[1, Versionstamp.incomplete()]]);
    assert.equal(offset, 1 + 2 + 1); // 05, 15 01, 33
    assert.equal(key[offset - 1], 0x33);
  });

  test('refuses a tuple with no incomplete versionstamp, or two', () => {
    assert.throws(() => packWithVersionstamp(['a']), TupleEncodingError);
    assert.throws(() => packWithVersionstamp([Versionstamp.incomplete(0), Versionstamp.incomplete(1)]), TupleEncodingError);
  });

  test('pack refuses an incomplete versionstamp and names packWithVersionstamp', () => {
    assert.throws(() => pack([Versionstamp.incomplete()]), /packWithVersionstamp/);
  });
});

describe('values that cannot be encoded', () => {
  const bad: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['a plain object', { id: 1 }],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a Date', new Date(0)],
    ['a string with a lone surrogate', 'a\uD800b'],
    ['an integer wider than 255 bytes', 2n ** 2040n],
  ];
  for (const [name, value] of bad) {
    test(`${name} is a TupleEncodingError with code STRATA_KV_TUPLE_UNENCODABLE`, () => {
      assert.throws(() => pack(['ok', value as TupleItem]), (error: unknown) => {
        assert.ok(error instanceof TupleEncodingError);
        assert.equal(error.code, 'STRATA_KV_TUPLE_UNENCODABLE');
        assert.equal(error.kind, 'invalid-argument');
        assert.match(error.message, /element 1/);
        return true;
      });
    });
  }

  test('the widest integer that fits (255 bytes) round-trips', () => {
    const widest = 2n ** 2040n - 1n;
    assert.deepEqual(unpack(pack([widest, -widest])), [widest, -widest]);
  });

  test('a tuple must be an array', () => {
    assert.throws(() => pack('abc' as unknown as Tuple), TupleEncodingError);
  });

  test('a malformed UUID or versionstamp user version is refused when made', () => {
    assert.throws(() => new UUID('not-a-uuid'), TupleEncodingError);
    assert.throws(() => new UUID(new Uint8Array(15)), TupleEncodingError);
    assert.throws(() => Versionstamp.incomplete(65_536), TupleEncodingError);
  });
});

describe('bytes that are not a tuple', () => {
  const bad: Array<[string, number[], number]> = [
    ['an unknown type code', [0x15, 0x01, 0x99], 2],
    ['a truncated integer', [0x16, 0x01], 0],
    ['a byte string without its terminator', [0x01, 0x61, 0x62], 0],
    ['a nested tuple without its terminator', [0x05, 0x15, 0x01], 0],
    ['a truncated UUID', [0x30, 1, 2, 3], 0],
    ['invalid UTF-8 in a string', [0x02, 0xc3, 0x00], 0],
  ];
  for (const [name, input, offset] of bad) {
    test(`${name} is a TupleDecodingError at byte ${offset}`, () => {
      assert.throws(() => unpack(Uint8Array.from(input)), (error: unknown) => {
        assert.ok(error instanceof TupleDecodingError);
        assert.equal(error.code, 'STRATA_KV_TUPLE_MALFORMED');
        assert.equal(error.offset, offset);
        return true;
      });
    });
  }
});

describe('range and strinc', () => {
  test('range(prefix) holds every longer tuple that starts with prefix, and nothing else', () => {
    const { begin, end } = range(['users', 7]);
    const inside = (t: Tuple) => compareBytes(pack(t), begin) >= 0 && compareBytes(pack(t), end) < 0;
    assert.ok(inside(['users', 7, null]));
    assert.ok(inside(['users', 7, 'email', true]));
    assert.ok(inside(['users', 7, bytes('\xff\xff')]));
    assert.ok(!inside(['users', 7]));
    assert.ok(!inside(['users', 8]));
    assert.ok(!inside(['users', 6, 'z']));
  });

  test('strinc drops trailing 0xff and increments the last byte; an all-0xff key has none', () => {
    assert.equal(hex(strinc(Uint8Array.of(1, 2, 0xff, 0xff))), '0103');
    assert.throws(() => strinc(Uint8Array.of(0xff)), RangeError);
  });
});

// ---- properties ----------------------------------------------------------------------------

/** Tuple items in the form unpack returns them, so unpack(pack(t)) deep-equals t. */
const canonicalInt = fc.oneof(
  fc.integer({ min: -1_000, max: 1_000 }),
  fc.bigInt({ min: -(2n ** 90n), max: 2n ** 90n }),
  fc.constantFrom(0, 255, 256, -255, -256, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n - 1n), -(2n ** 64n)),
).map((value) => {
  const big = BigInt(value);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
});
const canonicalDouble = fc.oneof(fc.double(), fc.constantFrom(-0, 0.5, -0.5, Infinity, -Infinity)).map((value) =>
  Number.isSafeInteger(value) && !Object.is(value, -0) ? new Float64(value) : value,
);
const edgyBytes = fc.array(fc.constantFrom(0x00, 0x01, 0x7f, 0xfe, 0xff), { maxLength: 5 }).map((list) => Uint8Array.from(list));
const leaf: fc.Arbitrary<TupleItem> = fc.oneof(
  fc.constant(null),
  fc.oneof(fc.uint8Array({ maxLength: 6 }), edgyBytes),
  fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('', 'a', 'a\u0000', 'a\u0000b', '\u00ff', '\u{10000}', '\uffff')),
  canonicalInt,
  canonicalDouble,
  fc.double({ noNaN: true }).map((value) => new Float32(value)),
  fc.boolean(),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((raw) => new UUID(raw)),
  fc.tuple(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.integer({ min: 0, max: 0xffff })).map(([raw, user]) =>
    raw.every((byte) => byte === 0xff) ? Versionstamp.complete(new Uint8Array(10), user) : Versionstamp.complete(raw, user),
  ),
);
const { item } = fc.letrec<{ item: TupleItem }>((tie) => ({
  item: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('item'), { maxLength: 3 })),
}));
const tuple = fc.array(item, { maxLength: 4 });

/** Tuple order as the spec defines it, written without the encoding: type first, then value. */
function rank(value: TupleItem): number {
  if (value === null) return 0x00;
  if (value instanceof Uint8Array) return 0x01;
  if (typeof value === 'string') return 0x02;
  if (Array.isArray(value)) return 0x05;
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0))) return 0x14;
  if (value instanceof Float32) return 0x20;
  if (typeof value === 'number' || value instanceof Float64) return 0x21;
  if (value === false) return 0x26;
  if (value === true) return 0x27;
  if (value instanceof UUID) return 0x30;
  return 0x33;
}

function compareNumbers(a: number, b: number): number {
  // IEEE total order as the encoding gives it: -0 before 0, (positive) NaN after +Infinity.
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) === Number.isNaN(b) ? 0 : Number.isNaN(a) ? 1 : -1;
  if (a === 0 && b === 0) return Object.is(a, b) ? 0 : Object.is(a, -0) ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareCodePoints(a: string, b: string): number {
  const left = Array.from(a, (c) => c.codePointAt(0) as number);
  const right = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    if (left[i] !== right[i]) return (left[i] as number) < (right[i] as number) ? -1 : 1;
  }
  return Math.sign(left.length - right.length);
}

function compareItems(a: TupleItem, b: TupleItem): number {
  const byType = Math.sign(rank(a) - rank(b));
  if (byType !== 0) return byType;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return compareTuples(a as Tuple, b as Tuple);
  if (rank(a) === 0x14) {
    const [x, y] = [BigInt(a as number | bigint), BigInt(b as number | bigint)];
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a instanceof Float32 && b instanceof Float32) return compareNumbers(a.value, b.value);
  if (rank(a) === 0x21) return compareNumbers(a instanceof Float64 ? a.value : (a as number), b instanceof Float64 ? b.value : (b as number));
  if (a instanceof UUID && b instanceof UUID) return compareBytes(a.bytes, b.bytes);
  if (a instanceof Versionstamp && b instanceof Versionstamp) return compareBytes(a.toBytes(), b.toBytes());
  return 0; // null, false, true: one value each
}

function compareTuples(a: Tuple, b: Tuple): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compareItems(a[i] as TupleItem, b[i] as TupleItem);
    if (order !== 0) return order;
  }
  return Math.sign(a.length - b.length);
}

describe('properties (fast-check)', () => {
  test('unpack(pack(t)) equals t for random tuples', () => {
    fc.assert(fc.property(tuple, (t) => assert.deepStrictEqual(unpack(pack(t)), t)), { numRuns: 500 });
  });

  test('bytewise order of encodings is tuple order, for random tuples', () => {
    fc.assert(
      fc.property(tuple, tuple, (a, b) => assert.equal(Math.sign(compareBytes(pack(a), pack(b))), compareTuples(a, b))),
      { numRuns: 1_000 },
    );
  });

  test('values of one type order by value (integers, doubles, floats, strings, bytes, nested tuples)', () => {
    const sameType = fc.oneof(
      fc.tuple(canonicalInt, canonicalInt),
      fc.tuple(canonicalDouble, canonicalDouble),
      fc.tuple(fc.double({ noNaN: true }), fc.double({ noNaN: true })).map(([a, b]) => [new Float32(a), new Float32(b)] as const),
      fc.tuple(fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 4 })),
      fc.tuple(edgyBytes, edgyBytes),
      fc.tuple(fc.array(item, { maxLength: 3 }), fc.array(item, { maxLength: 3 })),
    );
    fc.assert(
      fc.property(sameType, ([a, b]) => assert.equal(Math.sign(compareBytes(pack([a]), pack([b]))), compareItems(a, b))),
      { numRuns: 2_000 },
    );
  });

  test('order holds for tuples that share a prefix (where the next element decides)', () => {
    fc.assert(
      fc.property(tuple, tuple, tuple, (prefix, a, b) => {
        const [x, y] = [[...prefix, ...a], [...prefix, ...b]];
        assert.equal(Math.sign(compareBytes(pack(x), pack(y))), compareTuples(x, y));
      }),
      { numRuns: 500 },
    );
  });

  test('a sorted list of random tuples sorts the same by encoding', () => {
    fc.assert(
      fc.property(fc.array(tuple, { maxLength: 20 }), (tuples) => {
        const byValue = [...tuples].sort(compareTuples).map((t) => hex(pack(t)));
        const byBytes = tuples.map(pack).sort(compareBytes).map(hex);
        assert.deepEqual(byBytes, byValue);
      }),
      { numRuns: 200 },
    );
  });
});
