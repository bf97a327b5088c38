// Conflict retry. PostgreSQL only: PGlite has a single connection, so its transactions never
// run concurrently and cannot conflict.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DEFAULT_MAX_TRANSACTION_ATTEMPTS,
  InvalidArgumentError,
  StoreError,
  TransactionConflictError,
  isRetryableConflict,
  type Database,
} from '@strata/store';
import { engines } from '@strata/testing';
import { openScratch } from './helpers.js';

/** A promise every one of `parties` callers waits on until all of them have arrived. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const allArrived = new Promise<void>((resolve) => (release = resolve));
  return () => {
    arrived++;
    if (arrived >= parties) release();
    return allArrived;
  };
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function forcedConflict(code = '40001'): Error {
  return Object.assign(new Error(`forced conflict ${code}`), { code });
}

if (engines().includes('postgres')) {
  describe('conflict retry on PostgreSQL', () => {
    let db: Database;
    before(async () => {
      db = await openScratch('postgres', { poolSize: 12 });
    });
    after(async () => {
      await db?.close();
    });

    test('two serializable read-then-write transactions on one row: one gets 40001, is retried, and both increments land', async () => {
      await db.exec('create table pair_counter (id int primary key, n int not null); insert into pair_counter values (1, 0);');
      const bothRead = barrier(2);
      const errorCodes: string[] = [];
      const attempts: number[] = [];
      const increment = () =>
        db.transaction(
          async (tx) => {
            attempts.push(tx.attempt);
            const { rows } = await tx.query<{ n: number }>('select n from pair_counter where id = 1');
            if (tx.attempt === 1) await bothRead(); // both have read the old value before either writes
            try {
              await tx.query('update pair_counter set n = $1 where id = 1', [rows[0]!.n + 1]);
            } catch (error) {
              errorCodes.push(codeOf(error) ?? String(error));
              throw error;
            }
          },
          { isolation: 'serializable' },
        );
      await Promise.all([increment(), increment()]);

      assert.deepEqual(errorCodes, ['40001']);
      assert.deepEqual([...attempts].sort(), [1, 1, 2]);
      const { rows } = await db.query<{ n: number }>('select n from pair_counter where id = 1');
      assert.equal(rows[0]?.n, 2);
    });

    test('ten concurrent serializable increments all land, retried transparently', async () => {
      await db.exec('create table counter (id int primary key, n int not null); insert into counter values (1, 0);');
      const allRead = barrier(10);
      const attempts: number[] = [];
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          db.transaction(
            async (tx) => {
              attempts.push(tx.attempt);
              const { rows } = await tx.query<{ n: number }>('select n from counter where id = 1');
              if (tx.attempt === 1) await allRead();
              await tx.query('update counter set n = $1 where id = 1', [rows[0]!.n + 1]);
              return i;
            },
            { isolation: 'serializable' },
          ),
        ),
      );

      assert.deepEqual(results, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const { rows } = await db.query<{ n: number }>('select n from counter where id = 1');
      assert.equal(rows[0]?.n, 10);
      assert.ok(Math.max(...attempts) > 1, `expected a retried transaction, attempts were ${attempts.join(',')}`);
      assert.ok(Math.max(...attempts) <= DEFAULT_MAX_TRANSACTION_ATTEMPTS);
    });

    test('a deadlock (40P01) between two transactions locking two rows in opposite order is retried and both finish', async () => {
      await db.exec('create table locks (id int primary key, n int not null); insert into locks values (1, 0), (2, 0);');
      const bothLockedFirst = barrier(2);
      const errorCodes: string[] = [];
      const attempts: number[] = [];
      // Only one side looks for the deadlock soon (the test cluster's user is a superuser): if both
      // did, on a loaded machine both could be chosen as the victim, and the test is about one retry.
      // (PostgreSQL checks once per wait: if the 50 ms side checked before the other waited, the
      // 5 s side finds the cycle instead — still one victim.)
      const lockInOrder = (first: number, second: number, deadlockTimeout: string) =>
        db.transaction(async (tx) => {
          attempts.push(tx.attempt);
          await tx.exec(`set local deadlock_timeout = '${deadlockTimeout}'`);
          await tx.query('update locks set n = n + 1 where id = $1', [first]);
          if (tx.attempt === 1) await bothLockedFirst();
          try {
            await tx.query('update locks set n = n + 1 where id = $1', [second]);
          } catch (error) {
            errorCodes.push(codeOf(error) ?? String(error));
            throw error;
          }
        });
      await Promise.all([lockInOrder(1, 2, '50ms'), lockInOrder(2, 1, '5s')]);

      assert.deepEqual(errorCodes, ['40P01']);
      assert.deepEqual([...attempts].sort(), [1, 1, 2]);
      const { rows } = await db.query('select id, n from locks order by id');
      assert.deepEqual(rows, [
        { id: 1, n: 2 },
        { id: 2, n: 2 },
      ]);
    });

    test('a body that always conflicts runs exactly maxAttempts times, then fails with TransactionConflictError', async () => {
      await db.exec('create table always_conflicts (attempt int)');
      let runs = 0;
      const lastConflict = forcedConflict('40001');
      await assert.rejects(
        db.transaction(
          async (tx) => {
            runs++;
            await tx.query('insert into always_conflicts values ($1)', [tx.attempt]);
            throw lastConflict;
          },
          { maxAttempts: 3 },
        ),
        (error: unknown) => {
          assert.ok(error instanceof TransactionConflictError);
          assert.ok(error instanceof StoreError);
          assert.equal(error.code, 'STRATA_TRANSACTION_CONFLICT');
          assert.equal(error.attempts, 3);
          assert.equal(error.cause, lastConflict);
          assert.match(error.message, /3 times/);
          assert.match(error.message, /40001/);
          return true;
        },
      );
      assert.equal(runs, 3);
      // Every attempt was rolled back.
      assert.deepEqual((await db.query('select * from always_conflicts')).rows, []);
    });

    test('a body that always deadlocks is bounded by the default maxAttempts', async () => {
      let runs = 0;
      await assert.rejects(
        db.transaction(async () => {
          runs++;
          throw forcedConflict('40P01');
        }),
        { code: 'STRATA_TRANSACTION_CONFLICT', attempts: DEFAULT_MAX_TRANSACTION_ATTEMPTS },
      );
      assert.equal(runs, DEFAULT_MAX_TRANSACTION_ATTEMPTS);
    });

    test('a non-retryable error (unique violation 23505) is not retried and is rethrown as is', async () => {
      await db.exec('create table unique_ids (id int primary key); insert into unique_ids values (1);');
      let runs = 0;
      await assert.rejects(
        db.transaction(
          async (tx) => {
            runs++;
            await tx.query('insert into unique_ids values ($1)', [1]);
          },
          { isolation: 'serializable' },
        ),
        (error: unknown) => {
          assert.equal(codeOf(error), '23505');
          assert.ok(!(error instanceof StoreError));
          return true;
        },
      );
      assert.equal(runs, 1);
    });

    test('maxAttempts below 1 or not a whole number is rejected with InvalidArgumentError and the body never runs', async () => {
      let runs = 0;
      for (const maxAttempts of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(
          db.transaction(
            async () => {
              runs++;
            },
            { maxAttempts },
          ),
          InvalidArgumentError,
          `maxAttempts ${maxAttempts}`,
        );
      }
      assert.equal(runs, 0);
    });

    test('maxAttempts: 1 runs the body once and reports the first conflict', async () => {
      let runs = 0;
      await assert.rejects(
        db.transaction(
          async () => {
            runs++;
            throw forcedConflict();
          },
          { maxAttempts: 1 },
        ),
        { code: 'STRATA_TRANSACTION_CONFLICT', attempts: 1 },
      );
      assert.equal(runs, 1);
    });
  });
}

describe('isRetryableConflict', () => {
  test('is true for serialization failures (40001) and deadlocks (40P01)', () => {
    assert.equal(isRetryableConflict(forcedConflict('40001')), true);
    assert.equal(isRetryableConflict(forcedConflict('40P01')), true);
    assert.equal(isRetryableConflict({ code: '40001' }), true);
  });

  test('is false for other SQLSTATEs, non-string codes, store errors and non-errors', () => {
    assert.equal(isRetryableConflict(forcedConflict('23505')), false);
    assert.equal(isRetryableConflict(forcedConflict('40P02')), false);
    assert.equal(isRetryableConflict(forcedConflict('4000')), false);
    assert.equal(isRetryableConflict({ code: 40001 }), false);
    assert.equal(isRetryableConflict(new TransactionConflictError(3, forcedConflict())), false);
    assert.equal(isRetryableConflict(new Error('40001')), false);
    assert.equal(isRetryableConflict('40001'), false);
    assert.equal(isRetryableConflict(null), false);
    assert.equal(isRetryableConflict(undefined), false);
  });
});
