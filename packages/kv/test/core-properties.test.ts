// Properties of the KV core checked with fast-check on every engine and snapshot isolation:
// serializable read-modify-write (bank transfers, counters), atomic adds that never conflict,
// snapshot reads that add no conflict, and limits enforced at exactly their bounds.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { engines } from '@strata/testing';
import {
  KeyTooLargeError,
  MAX_KEY_BYTES,
  MAX_TRANSACTION_DURATION_MS,
  MAX_VALUE_BYTES,
  TransactionTooOldError,
  ValueTooLargeError,
  openKv,
  type KvDatabase,
  type SnapshotIsolation,
} from '../src/index.js';
import { b, int64, openCoreKv, readInt64, type CoreKv } from './core-helpers.js';

const ISOLATIONS: readonly SnapshotIsolation[] = ['repeatable read', 'serializable'];
const ACCOUNTS = 5;
const OPENING_BALANCE = 100;

for (const kind of engines()) {
  for (const isolation of ISOLATIONS) {
    describe(`KV properties on ${kind} (snapshots at ${isolation})`, () => {
      let t: CoreKv;
      let run = 0;
      before(async () => {
        t = await openCoreKv(kind, { isolation });
      });
      after(async () => {
        await t.close();
      });

      test('concurrent transfers keep the total and never overdraw (serializable read-modify-write)', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.record({ from: fc.nat(ACCOUNTS - 1), to: fc.nat(ACCOUNTS - 1), amount: fc.integer({ min: 1, max: 80 }) }), { minLength: 1, maxLength: 24 }),
            async (transfers) => {
              const prefix = `bank${run++}/`;
              const key = (i: number) => b(`${prefix}${i}`);
              await t.kv.transact(async (tr) => {
                for (let i = 0; i < ACCOUNTS; i++) tr.set(key(i), int64(OPENING_BALANCE));
              });
              const applied = await Promise.all(
                transfers.map(({ from, to, amount }) =>
                  t.kv.transact(async (tr) => {
                    const fromBalance = readInt64(await tr.get(key(from)));
                    if (from === to || fromBalance < amount) return false;
                    const toBalance = readInt64(await tr.get(key(to)));
                    tr.set(key(from), int64(fromBalance - amount));
                    tr.set(key(to), int64(toBalance + amount));
                    return true;
                  }),
                ),
              );
              const balances = await t.kv.transact(async (tr) => (await tr.getRange(b(prefix), b(`${prefix}\u00ff`))).map((row) => readInt64(row.value)));
              assert.equal(balances.reduce((sum, x) => sum + x, 0), ACCOUNTS * OPENING_BALANCE);
              assert.ok(balances.every((x) => x >= 0), `a balance went negative: ${balances.join(', ')}`);
              // Each balance moved by exactly the transfers that said they applied, once each.
              const net: number[] = Array.from({ length: ACCOUNTS }, () => 0);
              transfers.forEach((tr, i) => {
                if (applied[i]) {
                  net[tr.from] = (net[tr.from] ?? 0) - tr.amount;
                  net[tr.to] = (net[tr.to] ?? 0) + tr.amount;
                }
              });
              assert.deepEqual(balances, net.map((delta) => OPENING_BALANCE + delta));
            },
          ),
          { numRuns: 6 },
        );
      });

      test('a counter is exact under concurrent atomic adds, and no add ever runs twice', async () => {
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 1, max: 4 }), async (clients, addsEach) => {
            const counter = b(`atomic-counter/${run++}`);
            let runs = 0;
            await Promise.all(
              Array.from({ length: clients }, async () => {
                for (let i = 0; i < addsEach; i++) {
                  await t.kv.transact(async (tr) => {
                    runs++;
                    tr.add(counter, int64(1));
                  });
                }
              }),
            );
            assert.equal(readInt64(await t.kv.transact((tr) => tr.get(counter))), clients * addsEach);
            assert.equal(runs, clients * addsEach, 'an atomic add conflicted and ran again');
          }),
          { numRuns: 4 },
        );
      });

      test('a counter is exact under concurrent read-then-write increments (conflicts retried)', async () => {
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 3 }), async (clients, incrementsEach) => {
            const counter = b(`rw-counter/${run++}`);
            let runs = 0;
            await Promise.all(
              Array.from({ length: clients }, async () => {
                for (let i = 0; i < incrementsEach; i++) {
                  await t.kv.transact(async (tr) => {
                    runs++;
                    tr.set(counter, int64(readInt64(await tr.get(counter)) + 1));
                  });
                }
              }),
            );
            assert.equal(readInt64(await t.kv.transact((tr) => tr.get(counter))), clients * incrementsEach);
            assert.ok(runs >= clients * incrementsEach);
          }),
          { numRuns: 4 },
        );
      });

      test('a read conflicts with a write committed between it and the commit unless it was a snapshot read', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.uniqueArray(fc.nat(7), { minLength: 1, maxLength: 4 }),
            fc.uniqueArray(fc.nat(7), { minLength: 1, maxLength: 4 }),
            fc.boolean(),
            async (readKeys, writtenKeys, snapshot) => {
              const prefix = `snap${run++}/`;
              const key = (i: number) => b(`${prefix}${i}`);
              const other: KvDatabase = await openKv({ database: t.db });
              let interleaved = false;
              const kv = await openKv({
                database: t.db,
                isolation,
                // Exactly between the first run's body and its commit, another client writes.
                beforeCommit: async () => {
                  if (interleaved) return;
                  interleaved = true;
                  await other.transact(async (tr) => {
                    for (const i of writtenKeys) tr.set(key(i), b('theirs'));
                  });
                },
              });
              let runs = 0;
              await kv.transact(async (tr) => {
                runs++;
                for (const i of readKeys) await (snapshot ? tr.snapshot : tr).get(key(i));
                tr.set(b(`${prefix}mine`), b('x'));
              });
              await kv.close();
              await other.close();
              const overlaps = readKeys.some((i) => writtenKeys.includes(i));
              assert.equal(runs, !snapshot && overlaps ? 2 : 1);
            },
          ),
          { numRuns: 12 },
        );
      });
    });
  }

  describe(`KV limits on ${kind}`, () => {
    let t: CoreKv;
    let nowMs = 0;
    before(async () => {
      t = await openCoreKv(kind, { now: () => nowMs });
    });
    after(async () => {
      await t.close();
    });

    test('keys and values are refused exactly past their limits', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 }), async (keyDelta, valueDelta) => {
          await assert.rejects(
            t.kv.transact(async (tr) => {
              const keyBytes = MAX_KEY_BYTES + keyDelta;
              const valueBytes = MAX_VALUE_BYTES + valueDelta;
              if (keyDelta > 0) assert.throws(() => tr.set(new Uint8Array(keyBytes).fill(1), b('v')), KeyTooLargeError);
              else tr.set(new Uint8Array(keyBytes).fill(1), b('v'));
              if (valueDelta > 0) assert.throws(() => tr.set(b('v'), new Uint8Array(valueBytes)), ValueTooLargeError);
              else tr.set(b('v'), new Uint8Array(valueBytes));
              throw new Error('roll back');
            }),
            /roll back/,
          );
        }),
        { numRuns: 20 },
      );
    });

    test('an attempt is refused exactly past 5,000 ms', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: -3, max: 3 }), async (deltaMs) => {
          const body = t.kv.transact(async (tr) => {
            nowMs += MAX_TRANSACTION_DURATION_MS + deltaMs;
            return tr.get(b('slow'));
          });
          if (deltaMs > 0) await assert.rejects(body, (error: unknown) => error instanceof TransactionTooOldError && error.limit === 'transaction duration');
          else await body;
        }),
        { numRuns: 10 },
      );
    });
  });
}
