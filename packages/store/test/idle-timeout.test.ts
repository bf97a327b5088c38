// Transactions' idleTimeoutMs: a PostgreSQL server ends a transaction that sits idle between two
// statements for longer (so a client cut off mid-transaction does not keep its locks), nothing
// of it commits, and the pool goes on; embedded PGlite ignores it; a bad value is refused.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, type Database } from '@strata/store';
import { engines } from '@strata/testing';
import { openScratch } from './helpers.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of engines()) {
  describe(`idleTimeoutMs on ${kind}`, () => {
    let db: Database;
    before(async () => {
      db = await openScratch(kind);
      await db.exec('create table idle_rows (id int primary key)');
    });
    after(async () => {
      await db?.close();
    });

    test('a value that is not a whole number of milliseconds of at least 1 is refused before anything runs', async () => {
      for (const bad of [0, -5, 1.5, Number.NaN]) {
        await assert.rejects(db.transaction(async () => 1, { idleTimeoutMs: bad }), InvalidArgumentError);
      }
    });

    test('a transaction that keeps within it commits as usual', async () => {
      await db.transaction(async (tx) => {
        await tx.query('insert into idle_rows values (1)');
        await pause(50);
        await tx.query('insert into idle_rows values (2)');
      }, { idleTimeoutMs: 5_000 });
      const { rows } = await db.query<{ id: number }>('select id from idle_rows order by id');
      assert.deepEqual(rows.map((row) => row.id), [1, 2]);
    });

    if (kind === 'postgres') {
      test('the server ends a transaction idle for longer: nothing of it commits, its lock is released, and the database goes on', async () => {
        const outcome = await db
          .transaction(async (tx) => {
            await tx.query('insert into idle_rows values (3)');
            await pause(1_500); // idle in transaction, holding the row's lock
            await tx.query('insert into idle_rows values (4)');
          }, { idleTimeoutMs: 200 })
          .then(
            () => 'committed',
            (error: Error & { code?: string }) => error.code ?? error.message,
          );
        assert.notEqual(outcome, 'committed');
        // Row 3's lock went with the session: inserting it again does not wait, and succeeds.
        await db.query('insert into idle_rows values (3)');
        const { rows } = await db.query<{ id: number }>('select id from idle_rows where id >= 3 order by id');
        assert.deepEqual(rows.map((row) => row.id), [3]);
      });
    } else {
      test('embedded PGlite ignores it (one process, no network to be cut off from)', async () => {
        await db.transaction(async (tx) => {
          await tx.query('insert into idle_rows values (3)');
          await pause(400);
          await tx.query('insert into idle_rows values (4)');
        }, { idleTimeoutMs: 100 });
        const { rows } = await db.query<{ id: number }>('select id from idle_rows where id >= 3 order by id');
        assert.deepEqual(rows.map((row) => row.id), [3, 4]);
      });
    }
  });
}
