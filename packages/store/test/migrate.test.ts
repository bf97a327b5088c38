import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { MigrationChangedError, MigrationError, loadMigrations, migrate, migrationChecksum, openDatabase, type Database, type Migration } from '@strata/store';
import { engines, freshPostgresUrl } from '@strata/testing';
import { collectOutput, exitCode, openScratch, spawnFixture } from './helpers.js';

/** The versions and names recorded for `component`, in order. */
async function recorded(db: Database, component: string): Promise<Array<{ version: number; name: string }>> {
  const { rows } = await db.query<{ version: number; name: string }>(
    'select version, name from strata.migrations where component = $1 order by version',
    [component],
  );
  return rows;
}

/** The checksum recorded for each version of `component` (null where none was recorded). */
async function checksums(db: Database, component: string): Promise<Array<string | null>> {
  const { rows } = await db.query<{ checksum: string | null }>('select checksum from strata.migrations where component = $1 order by version', [component]);
  return rows.map((row) => row.checksum);
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

async function tableExists(db: Database, name: string): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>('select to_regclass($1) is not null as found', [name]);
  return rows[0]?.found === true;
}

/** Three migrations of `component` that only work in order (each needs the one before). */
function shopMigrations(component: string): Migration[] {
  return [
    { version: 1, name: 'items', sql: `create table ${component}_items (id int primary key);` },
    { version: 2, name: 'item_names', sql: `alter table ${component}_items add column name text; insert into ${component}_items values (1, 'first');` },
    { version: 3, name: 'item_index', sql: `create index ${component}_items_name on ${component}_items (name);` },
  ];
}

for (const kind of engines()) {
  describe(`migrate on ${kind}`, () => {
    let db: Database;
    before(async () => {
      db = await openScratch(kind);
    });
    after(async () => {
      await db?.close();
    });

    test('applies the migrations in order, once, and records them in strata.migrations', async () => {
      const report = await migrate(db, 'shop', shopMigrations('shop'));
      assert.deepEqual(report.applied, [1, 2, 3]);
      assert.deepEqual(await recorded(db, 'shop'), [
        { version: 1, name: 'items' },
        { version: 2, name: 'item_names' },
        { version: 3, name: 'item_index' },
      ]);
      assert.deepEqual((await db.query('select id, name from shop_items')).rows, [{ id: 1, name: 'first' }]);
    });

    test('a second call applies nothing; a later call applies only the new migrations', async () => {
      const first = shopMigrations('again').slice(0, 2);
      assert.deepEqual((await migrate(db, 'again', first)).applied, [1, 2]);
      assert.deepEqual((await migrate(db, 'again', first)).applied, []);
      // Migration 2's insert ran once, not twice.
      assert.deepEqual((await db.query('select id from again_items')).rows, [{ id: 1 }]);

      assert.deepEqual((await migrate(db, 'again', shopMigrations('again'))).applied, [3]);
      assert.equal((await recorded(db, 'again')).length, 3);
    });

    test('components are versioned independently', async () => {
      await migrate(db, 'comp_a', shopMigrations('comp_a'));
      const report = await migrate(db, 'comp_b', shopMigrations('comp_b').slice(0, 1));
      assert.deepEqual(report.applied, [1]);
      assert.equal((await recorded(db, 'comp_a')).length, 3);
      assert.equal((await recorded(db, 'comp_b')).length, 1);
    });

    test('a gap in the numbering is rejected with MigrationError and nothing is applied', async () => {
      const [one, , three] = shopMigrations('gap');
      await assert.rejects(migrate(db, 'gap', [one!, three!]), (error: Error) => {
        assert.ok(error instanceof MigrationError);
        assert.equal(error.code, 'STRATA_MIGRATION');
        assert.match(error.message, /without gaps/);
        return true;
      });
      assert.equal(await tableExists(db, 'gap_items'), false);
      await assert.rejects(migrate(db, 'gap_from_two', shopMigrations('gap_from_two').slice(1)), MigrationError);
    });

    test('an applied migration that was renamed is rejected with MigrationError naming both names', async () => {
      await migrate(db, 'renamed', shopMigrations('renamed'));
      const edited = shopMigrations('renamed').map((migration) =>
        migration.version === 2 ? { ...migration, name: 'item_titles' } : migration,
      );
      await assert.rejects(migrate(db, 'renamed', edited), (error: Error) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /"item_names"/);
        assert.match(error.message, /"item_titles"/);
        return true;
      });
      assert.equal((await recorded(db, 'renamed'))[1]?.name, 'item_names');
    });

    test('a failing migration rolls back entirely, is not recorded, and MigrationError names it', async () => {
      const migrations: Migration[] = [
        { version: 1, name: 'good_table', sql: 'create table failing_good (id int);' },
        // The first statement succeeds, the second fails: the whole script must roll back.
        { version: 2, name: 'bad_insert', sql: "create table failing_bad (id int); insert into failing_bad values ('not a number');" },
      ];
      await assert.rejects(migrate(db, 'failing', migrations), (error: Error) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /failing migration 2 \(bad_insert\) failed/);
        assert.ok(error.cause instanceof Error, 'the database error is kept as the cause');
        return true;
      });
      assert.equal(await tableExists(db, 'failing_bad'), false);
      assert.ok(!(await recorded(db, 'failing')).some((row) => row.version === 2));

      // Once fixed, it applies normally.
      const fixed = [migrations[0]!, { ...migrations[1]!, sql: 'create table failing_bad (id int); insert into failing_bad values (1);' }];
      await migrate(db, 'failing', fixed);
      assert.deepEqual((await recorded(db, 'failing')).map((row) => row.version), [1, 2]);
      assert.equal(await tableExists(db, 'failing_bad'), true);
    });

    test('records the SHA-256 of each applied migration\'s script in strata.migrations.checksum', async () => {
      const migrations = shopMigrations('summed');
      await migrate(db, 'summed', migrations);
      assert.deepEqual(await checksums(db, 'summed'), migrations.map((migration) => sha256(migration.sql)));
      assert.equal(migrationChecksum(migrations[0]!), sha256(migrations[0]!.sql));
    });

    test('an applied migration whose script was edited is refused with MigrationChangedError naming it, and nothing is applied', async () => {
      await migrate(db, 'edited', shopMigrations('edited').slice(0, 2));
      const edited = shopMigrations('edited').map((migration) =>
        migration.version === 2 ? { ...migration, sql: `${migration.sql} alter table edited_items add column price int;` } : migration,
      );
      await assert.rejects(migrate(db, 'edited', edited), (error: Error) => {
        assert.ok(error instanceof MigrationChangedError, `expected MigrationChangedError, got ${String(error)}`);
        assert.ok(error instanceof MigrationError, 'it is still a MigrationError');
        assert.equal(error.code, 'STRATA_MIGRATION_CHANGED');
        assert.equal(error.kind, 'failed-precondition');
        assert.equal(error.component, 'edited');
        assert.equal(error.version, 2);
        assert.match(error.message, /edited migration 2 \(item_names\) was edited after this database applied it/);
        assert.match(error.message, /restore the file as it was and put the change in a new migration \(000004_<name>\.sql\)/);
        return true;
      });
      // Migration 3 (new) was not applied, the edit did not run, and the record is unchanged.
      assert.equal(await tableExists(db, 'edited_items_name'), false);
      const columns = await db.query(`select 1 from information_schema.columns where table_name = 'edited_items' and column_name = 'price'`);
      assert.equal(columns.rows.length, 0);
      assert.deepEqual((await recorded(db, 'edited')).map((row) => row.version), [1, 2]);
      assert.deepEqual(await checksums(db, 'edited'), shopMigrations('edited').slice(0, 2).map((migration) => sha256(migration.sql)));

      // Restoring the file lets the same call go through.
      assert.deepEqual((await migrate(db, 'edited', shopMigrations('edited'))).applied, [3]);
    });

    test('a checkout with CRLF line ends has the same checksum as the LF file it came from', async () => {
      const lf: Migration[] = [{ version: 1, name: 'lines', sql: 'create table crlf_items (id int);\ninsert into crlf_items values (1);\n' }];
      await migrate(db, 'crlf', lf);
      const crlf = lf.map((migration) => ({ ...migration, sql: migration.sql.replace(/\n/g, '\r\n') }));
      assert.deepEqual((await migrate(db, 'crlf', crlf)).applied, []);
    });

    test('a database with newer migrations than the code is rejected with MigrationError', async () => {
      await migrate(db, 'ahead', shopMigrations('ahead'));
      await assert.rejects(migrate(db, 'ahead', shopMigrations('ahead').slice(0, 2)), (error: Error) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /migration 3/);
        assert.match(error.message, /only knows up to 2/);
        return true;
      });
      assert.equal((await recorded(db, 'ahead')).length, 3);
    });
  });
}

for (const kind of engines()) {
  describe(`a database migrated before checksums were recorded, on ${kind}`, () => {
    test('gets a checksum for every applied migration on its next migrate, without refusal; then edits are refused', async () => {
      const db = await openScratch(kind);
      try {
        // What older Strata versions left: a table without the checksum column, rows without one.
        await db.exec(`
          create schema if not exists strata;
          drop table if exists strata.migrations;
          create table strata.migrations (
            component text not null,
            version integer not null,
            name text not null,
            applied_at timestamptz not null default now(),
            primary key (component, version)
          );
          insert into strata.migrations (component, version, name) values ('other', 1, 'elsewhere');`);
        for (const migration of shopMigrations('legacy').slice(0, 2)) {
          await db.exec(migration.sql);
          await db.query('insert into strata.migrations (component, version, name) values ($1, $2, $3)', ['legacy', migration.version, migration.name]);
        }

        const report = await migrate(db, 'legacy', shopMigrations('legacy'));
        assert.deepEqual(report.applied, [3]);
        assert.deepEqual(await checksums(db, 'legacy'), shopMigrations('legacy').map((migration) => sha256(migration.sql)));
        assert.deepEqual((await recorded(db, 'legacy')).map((row) => row.version), [1, 2, 3]);
        // Another component's rows get theirs on its own next migrate (its files are not known here).
        assert.deepEqual(await checksums(db, 'other'), [null]);

        const edited = shopMigrations('legacy').map((migration) => (migration.version === 1 ? { ...migration, sql: `${migration.sql} -- edited` } : migration));
        await assert.rejects(migrate(db, 'legacy', edited), MigrationChangedError);
      } finally {
        await db.close();
      }
    });
  });
}

describe('loadMigrations', () => {
  const dirs: string[] = [];
  /** A temp folder holding `files` (name -> contents). */
  async function folder(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'strata-migrations-'));
    dirs.push(dir);
    for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
    return dir;
  }
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test('reads 000001_name.sql files in version order and ignores other files', async () => {
    const dir = await folder({
      '000002_second.sql': 'select 2;',
      '000001_first.sql': 'select 1;',
      'README.md': 'not a migration',
    });
    assert.deepEqual(loadMigrations(pathToFileURL(`${dir}/`)), [
      { version: 1, name: 'first', sql: 'select 1;' },
      { version: 2, name: 'second', sql: 'select 2;' },
    ]);
  });

  for (const badName of ['1_init.sql', 'init.sql', '000001_Init.sql', '000001-init.sql', '0000001_init.sql']) {
    test(`a file named ${badName} is rejected with MigrationError naming it`, async () => {
      const dir = await folder({ [badName]: 'select 1;' });
      assert.throws(() => loadMigrations(pathToFileURL(`${dir}/`)), (error: Error) => {
        assert.ok(error instanceof MigrationError);
        assert.ok(error.message.includes(badName), error.message);
        return true;
      });
    });
  }

  test('a folder with a gap or a duplicate version is rejected with MigrationError', async () => {
    const gap = await folder({ '000001_a.sql': 'select 1;', '000003_c.sql': 'select 3;' });
    assert.throws(() => loadMigrations(pathToFileURL(`${gap}/`)), MigrationError);
    const duplicate = await folder({ '000001_a.sql': 'select 1;', '000001_b.sql': 'select 1;' });
    assert.throws(() => loadMigrations(pathToFileURL(`${duplicate}/`)), MigrationError);
  });

  test('a folder URL without a trailing slash reads the files of that folder', async () => {
    const dir = await folder({ '000001_only.sql': 'select 1;' });
    // pathToFileURL(dir) has no trailing slash: the usual way to turn a path into a URL.
    assert.deepEqual(loadMigrations(pathToFileURL(dir)), [{ version: 1, name: 'only', sql: 'select 1;' }]);
  });
});

if (engines().includes('postgres')) {
  describe('concurrent migrate on PostgreSQL', () => {
    /** Creates a table without IF NOT EXISTS, so a second application would fail. */
    const raceMigrations = (component: string): Migration[] => [
      { version: 1, name: 'items', sql: `create table ${component}_items (id int primary key); select pg_sleep(0.2);` },
      { version: 2, name: 'item_names', sql: `alter table ${component}_items add column name text not null default '';` },
    ];

    test('five Database objects migrating one fresh database at once all succeed and apply each migration once', async () => {
      const url = await freshPostgresUrl();
      const dbs = await Promise.all(Array.from({ length: 5 }, () => openDatabase({ url, poolSize: 2 })));
      try {
        const reports = await Promise.all(dbs.map((db) => migrate(db, 'race', raceMigrations('race'))));
        const applied = reports.map((report) => report.applied).sort((a, b) => b.length - a.length);
        assert.deepEqual(applied, [[1, 2], [], [], [], []]);
        assert.deepEqual(await recorded(dbs[0]!, 'race'), [
          { version: 1, name: 'items' },
          { version: 2, name: 'item_names' },
        ]);
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
      }
    });

    test('three processes migrating one fresh database at once all exit 0 and apply each migration once', async () => {
      const url = await freshPostgresUrl();
      const children = Array.from({ length: 3 }, () => spawnFixture('migrate-child.ts', [url, 'procs']));
      const outputs = children.map((child) => collectOutput(child));
      const codes = await Promise.all(children.map((child) => exitCode(child)));
      const texts = outputs.map((output) => output.text());
      assert.deepEqual(codes, [0, 0, 0], texts.join('\n---\n'));
      const applied = texts.map((text) => JSON.parse(text.trim()) as number[]).sort((a, b) => b.length - a.length);
      assert.deepEqual(applied, [[1, 2], [], []]);

      const db = await openDatabase(url);
      try {
        assert.equal((await recorded(db, 'procs')).length, 2);
        assert.equal(await tableExists(db, 'procs_items'), true);
      } finally {
        await db.close();
      }
    });
  });
}
