// Capability profiles: what the portable profile changes on each engine (notifications, isolation,
// the retry of lone statements, migrations without advisory locks or transactional DDL), and how
// a profile is chosen and refused.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  InvalidArgumentError,
  LeaseLostError,
  MigrationChangedError,
  MigrationError,
  NATIVE_PROFILE,
  PORTABLE_PROFILE,
  acquireLease,
  migrate,
  openDatabase,
  profileFor,
  type Database,
  type Migration,
} from '@strata/store';
import { engines, freshDatabaseUrl, freshPostgresUrl } from '@strata/testing';
import { collectOutput, exitCode, spawnFixture, waitFor } from './helpers.js';

describe('choosing a profile', () => {
  test("'auto' is portable for CockroachDB and YugabyteDB, native for PostgreSQL; a named profile wins", () => {
    assert.equal(profileFor('auto', 'CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15, go1.22.2)'), PORTABLE_PROFILE);
    assert.equal(profileFor('auto', 'PostgreSQL 11.2-YB-2.20.1.0-b0 on x86_64-pc-linux-gnu'), PORTABLE_PROFILE);
    assert.equal(profileFor('auto', 'PostgreSQL 15.10 (Debian 15.10-0+deb12u1) on x86_64-pc-linux-gnu'), NATIVE_PROFILE);
    assert.equal(profileFor('native', 'CockroachDB CCL v24.1.0'), NATIVE_PROFILE);
    assert.equal(profileFor('portable', 'PostgreSQL 15.10'), PORTABLE_PROFILE);
  });

  test('an unknown profile, from the options or from STRATA_DATABASE_PROFILE, is refused with what to use', async () => {
    await assert.rejects(openDatabase({ url: 'memory://', profile: 'fast' as never }), (error: Error) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /profile "fast" is not a database profile: use 'native', 'portable' or 'auto'/);
      return true;
    });
    const saved = process.env.STRATA_DATABASE_PROFILE;
    process.env.STRATA_DATABASE_PROFILE = 'portabel';
    try {
      await assert.rejects(openDatabase('memory://'), /STRATA_DATABASE_PROFILE="portabel" is not a database profile/);
    } finally {
      if (saved === undefined) delete process.env.STRATA_DATABASE_PROFILE;
      else process.env.STRATA_DATABASE_PROFILE = saved;
    }
  });

  test("notifications: 'listen' cannot be combined with the portable profile", async () => {
    await assert.rejects(openDatabase({ url: 'memory://', profile: 'portable', notifications: 'listen' }), (error: Error) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /'listen' needs LISTEN\/NOTIFY, which the portable profile does not have/);
      return true;
    });
  });
});

/** Three migrations; the second has three statements, none of which may run twice. */
function migrations(prefix: string, secondStatement = `insert into ${prefix}_items values (1)`): Migration[] {
  return [
    { version: 1, name: 'items', sql: `create table ${prefix}_items (id int primary key);` },
    {
      version: 2,
      name: 'more',
      sql: `create table ${prefix}_notes (id int primary key, body text default 'a;b');\n${secondStatement};\n-- a comment; with a semicolon\ncreate index ${prefix}_notes_body on ${prefix}_notes (body);`,
    },
    { version: 3, name: 'view', sql: `create view ${prefix}_v as select $$;$$ as semi;` },
  ];
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>('select to_regclass($1) is not null as found', [name]);
  return rows[0]!.found;
}

for (const kind of engines()) {
  describe(`the portable profile on ${kind}`, () => {
    let url: string;
    let db: Database;
    before(async () => {
      url = await freshDatabaseUrl(kind);
      db = await openDatabase({ url, profile: 'portable' });
    });
    after(async () => {
      await db?.close();
    });

    test('notifications are polled, and still follow the commit', async () => {
      assert.equal(db.profile.name, 'portable');
      assert.equal(db.notificationMode, 'poll');
      const heard: string[] = [];
      const sub = await db.listen('portable_channel', (payload) => heard.push(payload));
      await db.transaction(async (tx) => {
        await tx.notify('portable_channel', 'after commit');
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(heard, [], 'nothing is delivered before the commit');
      });
      for (let i = 0; i < 200 && heard.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.deepEqual(heard, ['after commit']);
      await sub.close();
    });

    test('every transaction runs SERIALIZABLE, whatever it asked for', async () => {
      for (const isolation of ['read committed', 'repeatable read', 'serializable'] as const) {
        const seen = await db.transaction(
          async (tx) => {
            const { rows } = await tx.query<{ level: string }>(`select current_setting('transaction_isolation') as level`);
            return { reported: tx.isolation, level: rows[0]!.level };
          },
          { isolation },
        );
        assert.deepEqual(seen, { reported: 'serializable', level: 'serializable' }, `asked for ${isolation}`);
      }
    });

    test('migrations run a statement per transaction, record each, and leave no steps behind', async () => {
      const report = await migrate(db, 'portable_ok', migrations('pok'));
      assert.deepEqual(report.applied, [1, 2, 3]);
      assert.deepEqual((await migrate(db, 'portable_ok', migrations('pok'))).applied, []);
      const { rows } = await db.query<{ version: number }>(`select version from strata.migrations where component = 'portable_ok' order by version`);
      assert.deepEqual(rows.map((row) => row.version), [1, 2, 3]);
      const steps = await db.query(`select 1 from strata.migration_steps where component = 'portable_ok'`);
      assert.equal(steps.rows.length, 0);
      const { rows: semi } = await db.query<{ semi: string }>('select semi from pok_v');
      assert.deepEqual(semi, [{ semi: ';' }]);
      const { rows: body } = await db.query<{ d: string }>(
        `select column_default as d from information_schema.columns where table_name = 'pok_notes' and column_name = 'body'`,
      );
      assert.match(body[0]!.d, /'a;b'/);
    });

    test('a migration that fails half-way keeps what it applied and resumes at the failed statement once fixed', async () => {
      await assert.rejects(migrate(db, 'portable_fix', migrations('pfx', 'insert into pfx_missing values (1)')), (error: Error) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /portable_fix migration 2 \(more\) failed at statement 2 of 3: .*pfx_missing/);
        return true;
      });
      // Migration 1 is recorded, and the first statement of migration 2 stayed (it committed alone).
      assert.equal(await tableExists(db, 'pfx_items'), true);
      assert.equal(await tableExists(db, 'pfx_notes'), true);
      const { rows } = await db.query<{ statement: number }>(`select statement from strata.migration_steps where component = 'portable_fix' and version = 2`);
      assert.deepEqual(rows.map((row) => row.statement), [0]);
      // Fixed: statement 1 (`create table pfx_notes`, which would fail if run again) is skipped.
      assert.deepEqual((await migrate(db, 'portable_fix', migrations('pfx'))).applied, [2, 3]);
      const { rows: items } = await db.query('select id from pfx_items');
      assert.deepEqual(items, [{ id: 1 }]);
    });

    test('a half-applied migration whose applied statement was edited is refused, and nothing more runs', async () => {
      await assert.rejects(migrate(db, 'portable_edit', migrations('ped', 'insert into ped_missing values (1)')), MigrationError);
      const edited = migrations('ped');
      edited[1] = { ...edited[1]!, sql: edited[1]!.sql.replace("default 'a;b'", "default 'c'") };
      await assert.rejects(migrate(db, 'portable_edit', edited), (error: Error) => {
        assert.ok(error instanceof MigrationChangedError);
        assert.match(error.message, /was half applied .* its statement 1, already applied, has changed since/);
        return true;
      });
      assert.equal(await tableExists(db, 'ped_v'), false);
    });

    test('a lease taken over after it expired fences its old holder', async () => {
      const name = `lease_${kind}`;
      const first = await acquireLease(db, name, 60_000);
      assert.equal(first.fence, 1);
      // As seen by the others, the holder let its lease run out (see the paused-process test below).
      await db.query(`update strata.leases set expires_at = now() - interval '1 second' where name = $1`, [name]);
      const second = await acquireLease(db, name, 60_000);
      assert.equal(second.fence, 2);
      await assert.rejects(db.transaction((tx) => first.check(tx)), LeaseLostError);
      await db.transaction((tx) => second.check(tx));
      await first.release(); // does not free the lease its successor holds
      await db.transaction((tx) => second.check(tx));
      await second.release();
      const third = await acquireLease(db, name, 60_000);
      assert.equal(third.fence, 3, 'a released lease is taken at once, with a higher fence');
      await third.release();
    });
  });
}

if (engines().includes('postgres')) {
  describe('the portable profile on PostgreSQL, concurrently', () => {
    let url: string;
    const opened: Database[] = [];
    before(async () => {
      url = await freshPostgresUrl();
    });
    after(async () => {
      await Promise.all(opened.map((db) => db.close()));
    });
    const open = async () => {
      const db = await openDatabase({ url, profile: 'portable' });
      opened.push(db);
      return db;
    };

    test('a lone statement runs SERIALIZABLE and is retried when the engine aborts it with 40001', async () => {
      const db = await open();
      const { rows } = await db.query<{ level: string }>(`select current_setting('transaction_isolation') as level`);
      assert.equal(rows[0]!.level, 'serializable');
      await db.exec('create table counters (id int primary key, n int not null); insert into counters values (1, 0)');
      // The interleaving: another transaction updates the row; the statement waits on its lock;
      // the other commits, so a SERIALIZABLE statement cannot see the new version and fails with 40001.
      const interleave = async (statement: (client: pg.Client | null) => Promise<unknown>, rawClient: pg.Client | null) => {
        const other = new pg.Client({ connectionString: url });
        await other.connect();
        try {
          await other.query('begin isolation level serializable');
          await other.query('update counters set n = n + 1 where id = 1');
          const waiting = statement(rawClient).then(
            () => 'ok',
            (error: { code?: string }) => error.code ?? String(error),
          );
          // Commit only once the statement waits on the row lock (not before it got there).
          for (;;) {
            const { rows } = await other.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
            );
            if (rows[0]!.n > 0) break;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          await other.query('commit');
          return await waiting;
        } finally {
          await other.end();
        }
      };
      // The same statement on a raw connection at the same isolation fails: the interleaving is real.
      const raw = new pg.Client({ connectionString: url, options: '-c default_transaction_isolation=serializable' });
      await raw.connect();
      try {
        assert.equal(await interleave((client) => client!.query('update counters set n = n + 10 where id = 1'), raw), '40001');
      } finally {
        await raw.end();
      }
      // Through the portable database it is retried and applies once.
      assert.equal(await interleave(() => db.query('update counters set n = n + 100 where id = 1'), null), 'ok');
      const { rows: counter } = await db.query<{ n: number }>('select n from counters where id = 1');
      assert.equal(counter[0]!.n, 1 + 1 + 100);
    });

    test('a process paused past its lease loses it to the next one, and learns so as soon as it resumes', async () => {
      await open();
      const child = spawnFixture('lease-holder.ts', [url, 'paused_lease', '1500']);
      const output = collectOutput(child);
      try {
        await waitFor(() => /HELD 1\n(OK\n)+/.test(output.text()), 'the child to hold the lease', 30_000);
        const db = await open();
        // Paused between two checks: one paused inside a check's transaction would hold the row
        // lock, and the takeover would (rightly) wait for it to resume.
        for (;;) {
          child.kill('SIGSTOP');
          const { rows } = await db.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'`,
          );
          if (rows[0]!.n === 0) break;
          child.kill('SIGCONT');
          await new Promise((resolve) => setTimeout(resolve, 7));
        }
        const lease = await acquireLease(db, 'paused_lease', 60_000); // waits for the paused holder's lease to run out
        assert.equal(lease.fence, 2);
        const before = output.text();
        child.kill('SIGCONT');
        await waitFor(() => output.text().includes('LOST'), 'the resumed child to see its lease lost', 30_000);
        assert.match(output.text().slice(before.length), /^(OK\n)?LOST STRATA_LEASE_LOST\n/, 'at most the check in flight at the pause passes, then it is lost');
        await db.transaction((tx) => lease.check(tx));
        await lease.release();
      } finally {
        child.kill('SIGKILL');
        await exitCode(child);
      }
    });

    test('a lease whose holder on this machine was SIGKILLed is taken at once, not after its expiry', async () => {
      const child = spawnFixture('lease-holder.ts', [url, 'killed_lease', String(10 * 60_000)]);
      const output = collectOutput(child);
      await waitFor(() => output.text().includes('HELD 1'), 'the child to hold the lease', 30_000);
      child.kill('SIGKILL');
      await exitCode(child);
      const db = await open();
      // Its ten minutes have not run out: only knowing that its holder is dead lets this through.
      const lease = await acquireLease(db, 'killed_lease', 60_000);
      assert.equal(lease.fence, 2);
      const { rows } = await db.query<{ left: boolean }>(`select expires_at > now() + interval '30 seconds' as left from strata.leases where name = 'killed_lease'`);
      assert.equal(rows[0]!.left, true);
      await lease.release();
    });

    test('processes migrating at once apply each statement exactly once, under the lease', async () => {
      const dbs = await Promise.all([open(), open(), open(), open()]);
      const reports = await Promise.all(dbs.map((db) => migrate(db, 'portable_race', migrations('prc'))));
      const applied = reports.flatMap((report) => report.applied).sort();
      assert.deepEqual(applied, [1, 2, 3], 'each migration applied by exactly one of them');
      const { rows } = await dbs[0]!.query('select id from prc_items');
      assert.deepEqual(rows, [{ id: 1 }]);
    });
  });
}
