import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Queryable, Transaction } from './interfaces.js';
import { MigrationError } from './errors.js';

/** One numbered SQL migration of a component. */
export interface Migration {
  /** Position in the component's sequence, from 1 with no gaps. */
  readonly version: number;
  /** Short name, from the file name; an applied migration's name must never change. */
  readonly name: string;
  /** The script; it may contain several statements. */
  readonly sql: string;
}

/** What `migrate` did. */
export interface MigrationReport {
  /** Versions applied by this call, in order (empty when the schema was up to date). */
  readonly applied: number[];
}

/** Something that can run a transaction; a Database. */
interface Migratable {
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

const FILE_PATTERN = /^(\d{6})_([a-z0-9_]+)\.sql$/;
/** All migrations of every component take this one advisory lock, so concurrent starts apply each once. */
const MIGRATION_LOCK_KEY = 0x5354_5241; // "STRA"

/**
 * Reads a folder of migrations named `000001_name.sql`, `000002_name.sql`, … in version order.
 *
 * @example
 * const migrations = loadMigrations(new URL('../migrations/', import.meta.url));
 */
export function loadMigrations(folder: URL): Migration[] {
  const dir = fileURLToPath(folder);
  const files = readdirSync(dir).filter((file) => file.endsWith('.sql')).sort();
  const migrations = files.map((file) => {
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new MigrationError(`migration file ${file} is not named like 000001_some_name.sql`);
    return { version: Number(match[1]), name: match[2]!, sql: readFileSync(path.join(dir, file), 'utf8') };
  });
  checkSequence(migrations, dir);
  return migrations;
}

/**
 * Applies the migrations of `component` that the database has not seen yet, in one transaction
 * under an advisory lock, so several processes starting at once apply each migration exactly once.
 * Applied migrations are recorded in `strata.migrations`.
 *
 * @example
 * await migrate(db, 'store', loadMigrations(new URL('../migrations/', import.meta.url)));
 */
export async function migrate(db: Migratable, component: string, migrations: readonly Migration[]): Promise<MigrationReport> {
  checkSequence(migrations, component);
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`
      create schema if not exists strata;
      create table if not exists strata.migrations (
        component text not null,
        version integer not null,
        name text not null,
        applied_at timestamptz not null default now(),
        primary key (component, version)
      );`);
    const { rows } = await tx.query<{ version: number; name: string }>(
      'select version, name from strata.migrations where component = $1 order by version',
      [component],
    );
    const known = new Map(rows.map((row) => [Number(row.version), row.name]));
    const newest = Math.max(0, ...known.keys());
    if (newest > (migrations.at(-1)?.version ?? 0)) {
      throw new MigrationError(
        `the database has ${component} migration ${newest} but this code only knows up to ${migrations.at(-1)?.version ?? 0}; upgrade the code before connecting it to this database`,
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      const recorded = known.get(migration.version);
      if (recorded !== undefined) {
        if (recorded !== migration.name) {
          throw new MigrationError(
            `${component} migration ${migration.version} was applied as "${recorded}" but is now named "${migration.name}"; applied migrations must never change — add a new one instead`,
          );
        }
        continue;
      }
      await applyOne(tx, component, migration);
      applied.push(migration.version);
    }
    return { applied };
  });
}

async function applyOne(tx: Queryable, component: string, migration: Migration): Promise<void> {
  try {
    await tx.exec(migration.sql);
  } catch (error) {
    throw new MigrationError(
      `${component} migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
      error,
    );
  }
  await tx.query('insert into strata.migrations (component, version, name) values ($1, $2, $3)', [
    component,
    migration.version,
    migration.name,
  ]);
}

function checkSequence(migrations: readonly Migration[], where: string): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new MigrationError(`migrations of ${where} must be numbered 1, 2, 3, … without gaps; found ${migration.version} at position ${index + 1}`);
    }
  });
}

/** The store layer's own migrations (the polled-notifications table). */
export function storeMigrations(): Migration[] {
  return loadMigrations(new URL('../migrations/', import.meta.url));
}
