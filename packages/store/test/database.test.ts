import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DatabaseClosedError,
  DatabaseLockedError,
  InvalidArgumentError,
  openDatabase,
  type Database,
  type IsolationLevel,
} from '@strata/store';
import { engines, freshPgliteDir } from '@strata/testing';
import { collectOutput, exitCode, openScratch, spawnFixture, waitFor } from './helpers.js';

class Boom extends Error {}

for (const kind of engines()) {
  describe(`Database on ${kind}`, () => {
    let db: Database;
    before(async () => {
      db = await openScratch(kind);
    });
    after(async () => {
      await db?.close();
    });

    test('query with params returns the rows and rowCount', async () => {
      await db.exec('create table q_items (id int primary key, name text not null)');
      const inserted = await db.query('insert into q_items (id, name) values ($1, $2), ($3, $4)', [1, 'one', 2, 'two']);
      assert.equal(inserted.rowCount, 2);
      assert.deepEqual(inserted.rows, []);

      const selected = await db.query<{ id: number; name: string }>('select id, name from q_items where id >= $1 order by id', [1]);
      assert.deepEqual(selected.rows, [
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ]);

      const updated = await db.query('update q_items set name = upper(name) where id = $1', [2]);
      assert.equal(updated.rowCount, 1);
      const returning = await db.query('delete from q_items where id = $1 returning name', [2]);
      assert.equal(returning.rowCount, 1);
      assert.deepEqual(returning.rows, [{ name: 'TWO' }]);
    });

    test('rowCount of a SELECT is the number of rows it returned', async () => {
      const { rows, rowCount } = await db.query('select n from generate_series(1, $1::int) as n', [3]);
      assert.equal(rows.length, 3);
      assert.equal(rowCount, 3);
    });

    test('exec runs every statement of a multi-statement script', async () => {
      await db.exec(`
        create table exec_a (id int);
        create table exec_b (id int);
        insert into exec_a values (1), (2);
        insert into exec_b values (3);`);
      const { rows } = await db.query<{ n: number }>('select (select count(*) from exec_a)::int + (select count(*) from exec_b)::int as n');
      assert.equal(rows[0]?.n, 3);
    });

    test('transaction commits the body and returns its result', async () => {
      await db.exec('create table tx_commit (id int primary key)');
      const result = await db.transaction(async (tx) => {
        await tx.query('insert into tx_commit values ($1)', [1]);
        await tx.query('insert into tx_commit values ($1)', [2]);
        return 'done';
      });
      assert.equal(result, 'done');
      const { rows } = await db.query('select id from tx_commit order by id');
      assert.deepEqual(rows, [{ id: 1 }, { id: 2 }]);
    });

    test('transaction rolls back when the body throws and rethrows the same error', async () => {
      await db.exec('create table tx_rollback (id int primary key)');
      const boom = new Boom('body failed');
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('insert into tx_rollback values ($1)', [1]);
          throw boom;
        }),
        (error) => error === boom,
      );
      const { rows } = await db.query('select id from tx_rollback');
      assert.deepEqual(rows, []);
      // The connection is usable afterwards (no transaction left open).
      await db.query('insert into tx_rollback values ($1)', [2]);
      assert.deepEqual((await db.query('select id from tx_rollback')).rows, [{ id: 2 }]);
    });

    for (const isolation of ['read committed', 'repeatable read', 'serializable'] as const satisfies readonly IsolationLevel[]) {
      test(`isolation '${isolation}' is the level the transaction runs at`, async () => {
        const seen = await db.transaction(
          async (tx) => {
            assert.equal(tx.isolation, isolation);
            const { rows } = await tx.query<{ transaction_isolation: string }>('show transaction_isolation');
            return rows[0]?.transaction_isolation;
          },
          { isolation },
        );
        assert.equal(seen, isolation);
      });
    }

    test('a readOnly transaction rejects writes with SQLSTATE 25006', async () => {
      await db.exec('create table tx_readonly (id int)');
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('insert into tx_readonly values (1)');
        }, { readOnly: true }),
        (error: { code?: string }) => error.code === '25006',
      );
      const readOnly = await db.transaction(async (tx) => (await tx.query<{ transaction_read_only: string }>('show transaction_read_only')).rows[0]?.transaction_read_only, { readOnly: true });
      assert.equal(readOnly, 'on');
      assert.deepEqual((await db.query('select * from tx_readonly')).rows, []);
    });

    test('an unknown isolation level is rejected with InvalidArgumentError before the body runs', async () => {
      let ran = false;
      await assert.rejects(
        db.transaction(async () => {
          ran = true;
        }, { isolation: 'snapshot' as IsolationLevel }),
        InvalidArgumentError,
      );
      await assert.rejects(
        db.transaction(async () => {
          ran = true;
        }, { isolation: 'serializable; drop table q_items' as IsolationLevel }),
        InvalidArgumentError,
      );
      assert.equal(ran, false);
    });

    if (kind === 'pglite') {
      test('db.query inside db.transaction fails fast with InvalidArgumentError instead of deadlocking', async () => {
        const timeout = new Promise<'deadlocked'>((resolve) => setTimeout(() => resolve('deadlocked'), 2_000).unref());
        const outcome = await Promise.race([
          db
            .transaction(async (tx) => {
              await tx.query('select 1');
              await db.query('select 2');
              return 'ran';
            })
            .catch((error: unknown) => error),
          timeout,
        ]);
        assert.ok(outcome instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(outcome)}`);
        assert.match(outcome.message, /tx\.query/);
        // The database is still usable afterwards.
        assert.deepEqual((await db.query<{ n: number }>('select 3 as n')).rows, [{ n: 3 }]);
      });
    }

    test('prepare: true statements can be run repeatedly with different params', async () => {
      const sql = 'select $1::int * 2 as doubled';
      for (let i = 0; i < 20; i++) {
        const { rows } = await db.query<{ doubled: number }>(sql, [i], { prepare: true });
        assert.equal(rows[0]?.doubled, i * 2);
      }
      const inTx = await db.transaction(async (tx) => {
        const first = await tx.query<{ doubled: number }>(sql, [100], { prepare: true });
        const second = await tx.query<{ doubled: number }>(sql, [200], { prepare: true });
        return [first.rows[0]?.doubled, second.rows[0]?.doubled];
      });
      assert.deepEqual(inTx, [200, 400]);
    });

    test('a transaction whose body swallowed a failed statement is not reported as committed', async () => {
      await db.exec('create table tx_swallowed (id int primary key)');
      // The body catches the error, so the server-side transaction is aborted and COMMIT rolls back.
      const outcome = await db
        .transaction(async (tx) => {
          await tx.query('insert into tx_swallowed values (1)');
          await tx.query('insert into tx_swallowed values (1)').catch(() => undefined);
          return 'looks committed';
        })
        .then(
          (value) => ({ resolved: value }),
          (error: unknown) => ({ rejected: error }),
        );
      assert.deepEqual((await db.query('select id from tx_swallowed')).rows, [], 'nothing was committed');
      assert.ok('rejected' in outcome, 'transaction() resolved although its COMMIT rolled back');
    });

    // Last in this block: it closes the shared database.
    test('using the database after close() fails with DatabaseClosedError', async () => {
      await db.close();
      await assert.rejects(db.query('select 1'), DatabaseClosedError);
      await assert.rejects(db.query('select 1', [], { prepare: true }), DatabaseClosedError);
      await assert.rejects(db.exec('select 1'), DatabaseClosedError);
      await assert.rejects(db.transaction(async () => 1), DatabaseClosedError);
      await assert.rejects(db.notify('closed_channel', 'x'), DatabaseClosedError);
      await assert.rejects(db.listen('closed_channel', () => {}), DatabaseClosedError);
      await assert.rejects(db.query('select 1'), (error: Error) => {
        assert.equal((error as DatabaseClosedError).code, 'STRATA_DATABASE_CLOSED');
        assert.ok(error.message.includes(db.description), error.message);
        return true;
      });
      await db.close(); // closing twice is harmless
    });
  });
}

if (engines().includes('postgres')) {
  describe('prepared statements on PostgreSQL', () => {
    let db: Database;
    before(async () => {
      db = await openScratch('postgres', { poolSize: 4 });
    });
    after(async () => {
      await db?.close();
    });

    test('the same statement text is reused across many concurrent calls on every pooled connection', async () => {
      const sql = 'select $1::int + $2::int as sum';
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => db.query<{ sum: number }>(sql, [i, 1000], { prepare: true })),
      );
      assert.deepEqual(
        results.map((result) => result.rows[0]?.sum),
        Array.from({ length: 60 }, (_, i) => i + 1000),
      );
    });

    test('a statement first prepared inside a rolled-back transaction still works afterwards', async () => {
      const sql = 'select $1::text as echoed';
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query(sql, ['inside'], { prepare: true });
          throw new Boom('roll back');
        }),
        Boom,
      );
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => db.query<{ echoed: string }>(sql, [`after ${i}`], { prepare: true })));
      assert.deepEqual(
        results.map((result) => result.rows[0]?.echoed),
        Array.from({ length: 8 }, (_, i) => `after ${i}`),
      );
    });
  });
}

if (engines().includes('pglite')) {
  describe('a PGlite directory', () => {
    let dir: string;
    let db: Database;
    before(async () => {
      dir = await freshPgliteDir();
      db = await openDatabase(dir);
      await db.exec("create table kept (note text); insert into kept values ('still here');");
    });
    after(async () => {
      await db?.close();
    });

    test('opening it a second time in the same process fails with DatabaseLockedError', async () => {
      await assert.rejects(openDatabase(dir), (error: Error) => {
        assert.ok(error instanceof DatabaseLockedError);
        assert.equal(error.code, 'STRATA_DATABASE_LOCKED');
        assert.match(error.message, /already open in this process/);
        return true;
      });
      // The failed second open did not disturb the first.
      assert.deepEqual((await db.query('select note from kept')).rows, [{ note: 'still here' }]);
    });

    test('its data persists across close and reopen', async () => {
      await db.close();
      db = await openDatabase(dir);
      assert.deepEqual((await db.query('select note from kept')).rows, [{ note: 'still here' }]);
    });
  });

  test("opening a directory that another process holds, with ifLocked: 'fail', fails with DatabaseLockedError naming that pid", async () => {
    const dir = await freshPgliteDir();
    const lockPath = join(dir, 'lock');
    const child = spawnFixture('hold-pglite.ts', [dir]);
    const output = collectOutput(child);
    try {
      // The child writes its pid to the lock file before it starts PGlite; no need to wait for the rest.
      const childHoldsLock = () => {
        try {
          return JSON.parse(readFileSync(lockPath, 'utf8')).pid === child.pid; // the lock is a JSON record naming its owner
        } catch {
          return false;
        }
      };
      await waitFor(() => childHoldsLock() || child.exitCode !== null, 'the child to lock the directory', 30_000);
      assert.ok(childHoldsLock(), `the child did not take the lock: ${output.text()}`);
      await assert.rejects(openDatabase({ url: dir, ifLocked: 'fail' }), (error: Error) => {
        assert.ok(error instanceof DatabaseLockedError);
        assert.match(error.message, new RegExp(`\\(pid ${child.pid}\\)`));
        assert.match(error.message, /another process/);
        return true;
      });
      assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, child.pid, 'the failed open left the lock alone');
    } finally {
      child.kill('SIGKILL');
      await exitCode(child);
    }
  });

  test('a stale lock file left by a dead process is taken over, and removed again on close', async () => {
    const dir = await freshPgliteDir();
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid;
    assert.equal(await exitCode(dead), 0);
    assert.ok(deadPid !== undefined);
    const lockPath = join(dir, 'lock');
    await writeFile(lockPath, String(deadPid));

    const db = await openDatabase(dir);
    try {
      assert.equal(JSON.parse(await readFile(lockPath, 'utf8')).pid, process.pid);
      assert.deepEqual((await db.query<{ n: number }>('select 1 as n')).rows, [{ n: 1 }]);
    } finally {
      await db.close();
    }
    await assert.rejects(readFile(lockPath), { code: 'ENOENT' });
  });
}
