// The KV core's contract, on every engine: reads and writes with read-your-writes, ranges and key
// selectors, atomic operations, versionstamps, watches, typed errors for bad input and limits.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ERROR_KINDS, StrataError } from '@strata/store';
import { declaredKind, engines, exportedErrorClasses } from '@strata/testing';
import * as kvErrors from '../src/errors.js';
import {
  AccessedUnreadableError,
  InvalidKeyError,
  KeyOutsideLegalRangeError,
  KeySelector,
  KeyTooLargeError,
  KvClosedError,
  MAX_KEY_BYTES,
  MAX_TRANSACTION_BYTES,
  MAX_VALUE_BYTES,
  NoCommitVersionError,
  TransactionFinishedError,
  TransactionTooLargeError,
  ValueTooLargeError,
  WatchCancelledError,
  openKv,
  type Transaction,
  type Watch,
} from '../src/index.js';
import { b, int64, openCoreKv, readInt64, text, type CoreKv } from './core-helpers.js';

test('every error class of the core extends StrataError and declares its kind (KvLimitError is their abstract base)', () => {
  const classes = exportedErrorClasses(kvErrors as Record<string, unknown>);
  assert.ok(classes.length >= 14, `found ${classes.length} error classes`);
  for (const [name, errorClass] of classes) {
    assert.ok(errorClass.prototype instanceof StrataError, `${name} does not extend StrataError`);
    if (errorClass === kvErrors.KvLimitError) continue;
    assert.ok((ERROR_KINDS as readonly unknown[]).includes(declaredKind(errorClass)), `${name} declares no kind`);
  }
});

const texts = (rows: Array<{ key: Uint8Array; value: Uint8Array }>) => rows.map((row) => `${text(row.key)}=${text(row.value)}`);

for (const kind of engines()) {
  describe(`the KV core on ${kind}`, () => {
    let t: CoreKv;
    before(async () => {
      t = await openCoreKv(kind);
    });
    after(async () => {
      await t.close();
    });

    test('a committed set is read back by a later transaction, and clear removes it', async () => {
      await t.kv.transact(async (tr) => tr.set(b('basic/a'), b('1')));
      assert.equal(text(await t.kv.transact((tr) => tr.get(b('basic/a')))), '1');
      await t.kv.transact(async (tr) => tr.clear(b('basic/a')));
      assert.equal(await t.kv.transact((tr) => tr.get(b('basic/a'))), undefined);
    });

    test('a transaction reads its own writes, clears and range clears before it commits', async () => {
      await t.kv.transact(async (tr) => {
        for (const k of ['a', 'b', 'c', 'd']) tr.set(b(`ryw/${k}`), b(k));
      });
      const seen = await t.kv.transact(async (tr) => {
        tr.set(b('ryw/b'), b('B'));
        tr.clearRange(b('ryw/c'), b('ryw/d'));
        tr.set(b('ryw/e'), b('e'));
        return { one: text(await tr.get(b('ryw/b'))), cleared: await tr.get(b('ryw/c')), all: texts(await tr.getRange(b('ryw/'), b('ryw0'))) };
      });
      assert.deepEqual(seen, { one: 'B', cleared: undefined, all: ['ryw/a=a', 'ryw/b=B', 'ryw/d=d', 'ryw/e=e'] });
      assert.deepEqual(texts(await t.kv.transact((tr) => tr.getRange(b('ryw/'), b('ryw0')))), ['ryw/a=a', 'ryw/b=B', 'ryw/d=d', 'ryw/e=e']);
    });

    test('a body that throws commits nothing and its error reaches the caller', async () => {
      await assert.rejects(
        t.kv.transact(async (tr) => {
          tr.set(b('throw/x'), b('1'));
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal(await t.kv.transact((tr) => tr.get(b('throw/x'))), undefined);
    });

    test('getRange returns keys in bytewise order, reversed, limited, and through key selectors', async () => {
      await t.kv.transact(async (tr) => {
        for (const k of ['a', 'b', 'c', 'd', 'e']) tr.set(b(`sel/${k}`), b(k));
      });
      const result = await t.kv.transact(async (tr) => ({
        limited: texts(await tr.getRange(b('sel/'), b('sel0'), { limit: 2 })),
        reversed: texts(await tr.getRange(b('sel/'), b('sel0'), { limit: 2, reverse: true })),
        afterB: texts(await tr.getRange(KeySelector.firstGreaterThan(b('sel/b')), b('sel0'))),
        fromBb: texts(await tr.getRange(KeySelector.firstGreaterOrEqual(b('sel/bb')), KeySelector.firstGreaterOrEqual(b('sel/e')))),
        lastLess: texts(await tr.getRange(KeySelector.lastLessThan(b('sel/c')), KeySelector.firstGreaterThan(b('sel/c')))),
        lastLessOrEqual: texts(await tr.getRange(KeySelector.lastLessOrEqual(b('sel/c')), KeySelector.firstGreaterThan(b('sel/c')))),
        plusTwo: texts(await tr.getRange(KeySelector.firstGreaterOrEqual(b('sel/a')).add(2), b('sel0'), { limit: 1 })),
        empty: texts(await tr.getRange(b('sel/d'), b('sel/b'))),
      }));
      assert.deepEqual(result, {
        limited: ['sel/a=a', 'sel/b=b'],
        reversed: ['sel/e=e', 'sel/d=d'],
        afterB: ['sel/c=c', 'sel/d=d', 'sel/e=e'],
        fromBb: ['sel/c=c', 'sel/d=d'],
        lastLess: ['sel/b=b', 'sel/c=c'],
        lastLessOrEqual: ['sel/c=c'],
        plusTwo: ['sel/c=c'],
        empty: [],
      });
    });

    test('range reads page through more keys than one database batch, in both directions', async () => {
      const keys = Array.from({ length: 1_200 }, (_, i) => `page/${String(i).padStart(5, '0')}`);
      await t.kv.transact(async (tr) => {
        for (const k of keys) tr.set(b(k), b('v'));
      });
      const [forward, backward] = await t.kv.transact(async (tr) => [
        await tr.getRange(b('page/'), b('page0')),
        await tr.getRange(b('page/'), b('page0'), { reverse: true }),
      ]);
      assert.deepEqual(forward?.map((r) => text(r.key)), keys);
      assert.deepEqual(backward?.map((r) => text(r.key)), [...keys].reverse());
    });

    test('keys of 10,000 bytes sharing a long prefix keep their bytewise order', async () => {
      const prefix = new Uint8Array(MAX_KEY_BYTES - 1).fill(7);
      const keyOf = (last: number) => Uint8Array.from([...prefix, last]);
      await t.kv.transact(async (tr) => {
        for (const last of [3, 1, 2]) tr.set(keyOf(last), Uint8Array.of(last));
      });
      const rows = await t.kv.transact((tr) => tr.getRange(prefix, keyOf(255)));
      assert.deepEqual(rows.map((r) => r.value[0]), [1, 2, 3]);
      assert.deepEqual(await t.kv.transact((tr) => tr.get(keyOf(2))), Uint8Array.of(2));
    });

    test('atomic operations follow FoundationDB: little-endian add, min, max, bitwise, append, compare-and-clear', async () => {
      const k = (name: string) => b(`atomic/${name}`);
      await t.kv.transact(async (tr) => {
        tr.set(k('add'), Uint8Array.of(0xff, 0x00));
        tr.set(k('min'), int64(5));
        tr.set(k('max'), int64(5));
        tr.set(k('and'), Uint8Array.of(0b1100));
        tr.set(k('or'), Uint8Array.of(0b1100));
        tr.set(k('xor'), Uint8Array.of(0b1100));
        tr.set(k('append'), b('ab'));
        tr.set(k('cac-equal'), b('x'));
        tr.set(k('cac-other'), b('y'));
      });
      await t.kv.transact(async (tr) => {
        tr.add(k('add'), Uint8Array.of(0x01, 0x00));
        tr.add(k('add-missing'), int64(7));
        tr.min(k('min'), int64(3));
        tr.max(k('max'), int64(3));
        tr.min(k('min-missing'), int64(9));
        tr.bitAnd(k('and'), Uint8Array.of(0b1010));
        tr.bitOr(k('or'), Uint8Array.of(0b1010));
        tr.bitXor(k('xor'), Uint8Array.of(0b1010));
        tr.appendIfFits(k('append'), b('cd'));
        tr.compareAndClear(k('cac-equal'), b('x'));
        tr.compareAndClear(k('cac-other'), b('x'));
      });
      const got = await t.kv.transact(async (tr) => ({
        add: await tr.get(k('add')),
        addMissing: readInt64(await tr.get(k('add-missing'))),
        min: readInt64(await tr.get(k('min'))),
        max: readInt64(await tr.get(k('max'))),
        minMissing: readInt64(await tr.get(k('min-missing'))),
        and: await tr.get(k('and')),
        or: await tr.get(k('or')),
        xor: await tr.get(k('xor')),
        append: text(await tr.get(k('append'))),
        cacEqual: await tr.get(k('cac-equal')),
        cacOther: text(await tr.get(k('cac-other'))),
      }));
      assert.deepEqual(got, {
        add: Uint8Array.of(0x00, 0x01),
        addMissing: 7,
        min: 3,
        max: 5,
        minMissing: 9,
        and: Uint8Array.of(0b1000),
        or: Uint8Array.of(0b1110),
        xor: Uint8Array.of(0b0110),
        append: 'abcd',
        cacEqual: undefined,
        cacOther: 'y',
      });
    });

    test('an atomic add is visible to a read in the same transaction, applied to the stored value', async () => {
      await t.kv.transact(async (tr) => tr.set(b('atomic-ryw'), int64(40)));
      const inside = await t.kv.transact(async (tr) => {
        tr.add(b('atomic-ryw'), int64(2));
        return readInt64(await tr.get(b('atomic-ryw')));
      });
      assert.equal(inside, 42);
      assert.equal(readInt64(await t.kv.transact((tr) => tr.get(b('atomic-ryw')))), 42);
    });

    test('versionstamps are unique and increase in commit order, in keys, values and getVersionstamp', async () => {
      const stamps: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        let stamp: Promise<Uint8Array> | undefined;
        await t.kv.transact(async (tr) => {
          const key = Uint8Array.from([...b('vs/'), ...new Uint8Array(10)]);
          tr.setVersionstampedKey(key, 3, b(`event ${i}`));
          tr.setVersionstampedValue(b('vs-last'), Uint8Array.from([...new Uint8Array(10), i]), 0);
          stamp = tr.getVersionstamp();
        });
        assert.ok(stamp);
        stamps.push(await stamp);
      }
      for (let i = 1; i < stamps.length; i++) assert.equal(Buffer.compare(Buffer.from(stamps[i - 1] ?? []), Buffer.from(stamps[i] ?? [])), -1);
      const { events, last } = await t.kv.transact(async (tr) => ({
        events: await tr.getRange(b('vs/'), b('vs0')),
        last: await tr.get(b('vs-last')),
      }));
      assert.deepEqual(events.map((row) => text(row.value)), ['event 0', 'event 1', 'event 2']);
      assert.deepEqual(events.map((row) => row.key.subarray(3)), stamps);
      assert.deepEqual(last, Uint8Array.from([...(stamps[2] ?? []), 2]));
    });

    test('a read-only transaction has no versionstamp, and reading a pending versionstamped value is refused', async () => {
      let stamp: Promise<Uint8Array> | undefined;
      await t.kv.transact(async (tr) => {
        await tr.get(b('nothing'));
        stamp = tr.getVersionstamp();
      });
      await assert.rejects(stamp ?? Promise.resolve(), NoCommitVersionError);
      await assert.rejects(
        t.kv.transact(async (tr) => {
          tr.setVersionstampedValue(b('vs-pending'), new Uint8Array(10), 0);
          await tr.get(b('vs-pending'));
        }),
        AccessedUnreadableError,
      );
    });

    test('a watch resolves after another transaction changes the key, not when it writes the same value', async () => {
      await t.kv.transact(async (tr) => tr.set(b('watch/a'), b('1')));
      const watch = await t.kv.transact(async (tr) => tr.watch(b('watch/a')));
      let fired = false;
      void watch.promise.then(() => (fired = true));
      await t.kv.transact(async (tr) => tr.set(b('watch/a'), b('1'))); // same value: no change
      await t.kv.transact(async (tr) => tr.set(b('watch/other'), b('x')));
      await t.kv.transact(async (tr) => tr.get(b('watch/a'))); // a round trip for any stray notification
      assert.equal(fired, false);
      await t.kv.transact(async (tr) => tr.add(b('watch/a'), Uint8Array.of(1)));
      await watch.promise;
      assert.equal(fired, true);
    });

    test('a watch on a missing key resolves when the key is created by a range of writes', async () => {
      const watch = await t.kv.transact(async (tr) => tr.watch(b('watch/new')));
      await t.kv.transact(async (tr) => {
        for (let i = 0; i < 300; i++) tr.set(b(`watch/many/${i}`), b('x')); // past the notified-key bound
        tr.set(b('watch/new'), b('here'));
      });
      await watch.promise;
    });

    test('a cancelled watch rejects with WatchCancelledError', async () => {
      const watch = await t.kv.transact(async (tr) => tr.watch(b('watch/cancel')));
      watch.cancel();
      await assert.rejects(watch.promise, WatchCancelledError);
    });

    test('bad input gets typed errors that say what to do', async () => {
      await t.kv.transact(async (tr) => {
        assert.throws(() => tr.set('text' as unknown as Uint8Array, b('v')), InvalidKeyError);
        assert.throws(() => tr.set(b('k'), 42 as unknown as Uint8Array), InvalidKeyError);
        assert.throws(() => tr.set(Uint8Array.of(0xff, 0), b('v')), KeyOutsideLegalRangeError);
        await assert.rejects(tr.get(Uint8Array.of(0xff)), KeyOutsideLegalRangeError);
        await assert.rejects(tr.getRange(b('a'), b('b'), { limit: 0 }), InvalidKeyError);
        assert.throws(() => tr.setVersionstampedKey(b('short'), 0, b('v')), InvalidKeyError);
        // A range may end at the system range's first key.
        await tr.getRange(b(''), Uint8Array.of(0xff), { limit: 1 });
      });
      await assert.rejects(t.kv.transact('nope' as never), /needs a function/);
    });

    test('keys, values and transactions are refused one byte past their limits, and accepted at them', async () => {
      await t.kv.transact(async (tr) => {
        tr.set(new Uint8Array(MAX_KEY_BYTES).fill(1), new Uint8Array(MAX_VALUE_BYTES));
        assert.throws(() => tr.set(new Uint8Array(MAX_KEY_BYTES + 1).fill(1), b('v')), (error: unknown) => {
          assert.ok(error instanceof KeyTooLargeError);
          assert.equal(error.limit, 'key size');
          assert.equal(error.maximum, MAX_KEY_BYTES);
          return true;
        });
        assert.throws(() => tr.set(b('k'), new Uint8Array(MAX_VALUE_BYTES + 1)), ValueTooLargeError);
      });
      // 100 writes of 4-byte keys and 99,996-byte values are exactly the transaction size limit.
      const valueBytes = MAX_TRANSACTION_BYTES / 100 - 4;
      await assert.rejects(
        t.kv.transact(async (tr) => {
          for (let i = 0; i < 100; i++) tr.set(Uint8Array.from([...b('tx'), 0, i]), new Uint8Array(valueBytes));
          assert.throws(
            () => tr.clear(Uint8Array.of(1)),
            (error: unknown) => error instanceof TransactionTooLargeError && error.limit === 'transaction size' && error.actual === MAX_TRANSACTION_BYTES + 1,
          );
          throw new Error('roll back');
        }),
        /roll back/,
      );
      const committed = await t.kv.transact(async (tr) => {
        for (let i = 0; i < 100; i++) tr.set(Uint8Array.from([...b('tx'), 0, i]), new Uint8Array(valueBytes));
        return 'at the limit';
      });
      assert.equal(committed, 'at the limit');
      assert.equal((await t.kv.transact((tr) => tr.getRange(b('tx\u0000'), b('tx\u0001')))).length, 100);
      await t.kv.transact(async (tr) => tr.clearRange(b('tx\u0000'), b('tx\u0001')));
    });

    test('a transaction used after it committed, or from an earlier run of the body, is refused', async () => {
      const kept: { tr?: Transaction } = {};
      await t.kv.transact(async (tr) => {
        kept.tr = tr;
      });
      const stale = kept.tr;
      assert.ok(stale);
      assert.throws(() => stale.set(b('late'), b('x')), TransactionFinishedError);
      await assert.rejects(stale.get(b('late')), TransactionFinishedError);
    });

    test('a watch on a closed database, and a transaction on one, get KvClosedError', async () => {
      const own = await openKv({ database: t.db });
      const watch: Watch = await own.transact(async (tr) => tr.watch(b('closing')));
      await own.close();
      await assert.rejects(watch.promise, KvClosedError);
      await assert.rejects(own.transact(async (tr) => tr.get(b('closing'))), KvClosedError);
    });
  });
}
