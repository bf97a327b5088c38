import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database, Queryable } from './interfaces.js';
import { MigrationChangedError, MigrationError } from './errors.js';
import { acquireLease, createConcurrently, type Lease } from './lease.js';
import { splitStatements } from './sql-split.js';

/** One numbered SQL migration of a component. */
export interface Migration {
  /** Position in the component's sequence, from 1 with no gaps. */
  readonly version: number;
  /** Short name, from the file name; an applied migration's name must never change. */
  readonly name: string;
  /** The script; it may contain several statements. */
  readonly sql: string;
}

/** What {@link migrate} needs of a database. */
export type Migratable = Pick<Database, 'transaction' | 'query' | 'exec' | 'profile'>;

/** What `migrate` did. */
export interface MigrationReport {
  /** Versions applied by this call, in order (empty when the schema was up to date). */
  readonly applied: number[];
}

const FILE_PATTERN = /^(\d{6})_([a-z0-9_]+)\.sql$/;
/** All migrations of every component take this one advisory lock, so concurrent starts apply each once. */
const MIGRATION_LOCK_KEY = 0x5354_5241; // "STRA"
/** The lease that stands in for the advisory lock where there are none (the portable profile). */
const MIGRATION_LEASE = 'strata.migrations';
/** A migrating process that stops renewing for this long (dead or paused) loses the lease to the next one. */
const MIGRATION_LEASE_TTL_MS = 30_000;

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
 * The checksum `migrate` records for a migration: the SHA-256 (hex) of its script, with CRLF line
 * ends read as LF so a Windows checkout (git `autocrlf`) of an unchanged file matches.
 *
 * @example
 * migrationChecksum({ version: 1, name: 'items', sql: 'create table items (id int);' }); // '3b4f…'
 */
export function migrationChecksum(migration: Pick<Migration, 'sql'>): string {
  return createHash('sha256').update(migration.sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/** A row of `strata.migrations`; `checksum` is null for rows written before checksums were recorded. */
type AppliedRow = {
  version: number;
  name: string;
  checksum: string | null;
};

/**
 * Applies the migrations of `component` that the database has not seen yet, in one transaction
 * under an advisory lock, so several processes starting at once apply each migration exactly once.
 * Applied migrations are recorded in `strata.migrations` with the SHA-256 of their script
 * ({@link migrationChecksum}). An applied migration whose name or script has changed since is
 * refused with {@link MigrationChangedError} before anything is applied; rows recorded before
 * checksums existed get their checksum now, from the current file.
 *
 * On a database without advisory locks or transactional DDL (the portable profile), the lock is
 * a lease row (`strata.leases`) and each statement of a migration runs in a transaction of its
 * own, fenced by the lease, with its completion recorded in `strata.migration_steps`: a process
 * that dies half-way leaves a migration that the next one resumes at the statement after the
 * last one committed.
 *
 * @example
 * await migrate(db, 'store', loadMigrations(new URL('../migrations/', import.meta.url)));
 */
export async function migrate(db: Migratable, component: string, migrations: readonly Migration[]): Promise<MigrationReport> {
  checkSequence(migrations, component);
  const { advisoryLocks, transactionalDdl } = db.profile.capabilities;
  if (!advisoryLocks || !transactionalDdl) return migrateStatementByStatement(db, component, migrations);
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await ensureMigrationsTable(tx);
    const pending = await unappliedMigrations(tx, component, migrations);
    for (const migration of pending) await applyOne(tx, component, migration);
    return { applied: pending.map((migration) => migration.version) };
  });
}

/** The portable path of {@link migrate}: a lease, and one statement per transaction, resumable. */
async function migrateStatementByStatement(db: Migratable, component: string, migrations: readonly Migration[]): Promise<MigrationReport> {
  for (const ddl of MIGRATIONS_TABLE_DDL) await createConcurrently(db, ddl);
  await createConcurrently(db, MIGRATION_STEPS_DDL);
  await ensureChecksumColumn(db);
  // Most starts find nothing to do: they need no lease (nor wait for one a dead process holds).
  if (await db.transaction((tx) => upToDate(tx, component, migrations))) return { applied: [] };
  const lease = await acquireLease(db, MIGRATION_LEASE, MIGRATION_LEASE_TTL_MS);
  try {
    const pending = await db.transaction(async (tx) => {
      await lease.check(tx);
      return unappliedMigrations(tx, component, migrations);
    });
    for (const migration of pending) await applyStatementByStatement(db, lease, component, migration);
    return { applied: pending.map((migration) => migration.version) };
  } finally {
    await lease.release();
  }
}

/** True when every migration is recorded with its checksum (after the checks of {@link readApplied}); writes nothing. */
async function upToDate(tx: Queryable, component: string, migrations: readonly Migration[]): Promise<boolean> {
  const { pending, unrecorded } = await readApplied(tx, component, migrations);
  return pending.length === 0 && unrecorded.length === 0;
}

/**
 * Checks the recorded migrations of `component` against `migrations` (refusing a database newer
 * than the code, and any applied migration renamed or edited), fills in missing checksums, and
 * returns the migrations still to apply, in order.
 */
async function unappliedMigrations(tx: Queryable, component: string, migrations: readonly Migration[]): Promise<Migration[]> {
  const { pending, unrecorded } = await readApplied(tx, component, migrations);
  for (const { version, checksum } of unrecorded) {
    await tx.query('update strata.migrations set checksum = $3 where component = $1 and version = $2', [component, version, checksum]);
  }
  return pending;
}

/**
 * Reads what `component` has applied and checks it against `migrations`: refuses a database newer
 * than the code and any applied migration renamed or edited (every one is checked before any new
 * one runs, so a refusal applies nothing). Returns the migrations still to apply, in order, and
 * the applied ones recorded before checksums were.
 */
async function readApplied(
  tx: Queryable,
  component: string,
  migrations: readonly Migration[],
): Promise<{ pending: Migration[]; unrecorded: Array<{ version: number; checksum: string }> }> {
  const { rows } = await tx.query<AppliedRow>(
    'select version, name, checksum from strata.migrations where component = $1 order by version',
    [component],
  );
  const known = new Map(rows.map((row) => [Number(row.version), row]));
  const newest = Math.max(0, ...known.keys());
  if (newest > (migrations.at(-1)?.version ?? 0)) {
    throw new MigrationError(
      `the database has ${component} migration ${newest} but this code only knows up to ${migrations.at(-1)?.version ?? 0}; upgrade the code before connecting it to this database`,
    );
  }
  const unrecorded: Array<{ version: number; checksum: string }> = [];
  for (const migration of migrations) {
    const recorded = known.get(migration.version);
    if (recorded === undefined) continue;
    const checksum = migrationChecksum(migration);
    checkUnchanged(component, migration, recorded, checksum, migrations.length);
    if (recorded.checksum === null) unrecorded.push({ version: migration.version, checksum });
  }
  return { pending: migrations.filter((migration) => !known.has(migration.version)), unrecorded };
}

/** `strata.migrations`, as created today (one statement each: the portable path runs them alone). */
const MIGRATIONS_TABLE_DDL = [
  'create schema if not exists strata',
  `create table if not exists strata.migrations (
     component text not null,
     version integer not null,
     name text not null,
     applied_at timestamptz not null default now(),
     checksum text,
     primary key (component, version)
   )`,
];

/** The statements of a migration applied so far, while it is half-way on the portable path. */
const MIGRATION_STEPS_DDL = `create table if not exists strata.migration_steps (
  component text not null,
  version integer not null,
  statement integer not null,
  checksum text not null,
  primary key (component, version, statement)
)`;

/** Creates `strata.migrations` (or adds the `checksum` column to one made before checksums were recorded). */
async function ensureMigrationsTable(tx: Queryable): Promise<void> {
  await tx.exec(MIGRATIONS_TABLE_DDL.join(';\n'));
  await ensureChecksumColumn(tx);
}

/** Adds `checksum` to a table made before it existed; looked up first, since `alter table` would lock the table on every start. */
async function ensureChecksumColumn(q: Pick<Queryable, 'query' | 'exec'>): Promise<void> {
  const { rows } = await q.query(
    `select 1 from information_schema.columns where table_schema = 'strata' and table_name = 'migrations' and column_name = 'checksum'`,
  );
  if (rows.length === 0) await q.exec('alter table strata.migrations add column if not exists checksum text');
}

/** Refuses an applied migration whose file no longer matches what was applied. */
function checkUnchanged(component: string, migration: Migration, recorded: AppliedRow, checksum: string, count: number): void {
  const next = `${String(count + 1).padStart(6, '0')}_<name>.sql`;
  if (recorded.name !== migration.name) {
    throw new MigrationChangedError(
      component,
      migration.version,
      `${component} migration ${migration.version} was applied as "${recorded.name}" but is now named "${migration.name}"; applied migrations must never change — rename the file back and add a new migration (${next}) instead`,
    );
  }
  if (recorded.checksum !== null && recorded.checksum !== checksum) {
    throw new MigrationChangedError(
      component,
      migration.version,
      `${component} migration ${migration.version} (${migration.name}) was edited after this database applied it ` +
        `(SHA-256 now ${checksum.slice(0, 12)}…, applied ${recorded.checksum.slice(0, 12)}…); nothing was migrated. ` +
        `Applied migrations must never change: restore the file as it was and put the change in a new migration (${next})`,
    );
  }
}

async function applyOne(tx: Queryable, component: string, migration: Migration): Promise<void> {
  try {
    await tx.exec(migration.sql);
  } catch (error) {
    throw failed(component, migration, error);
  }
  await recordApplied(tx, component, migration);
}

/**
 * Applies one migration a statement per transaction, each fenced by `lease` and recorded in
 * `strata.migration_steps` with its SHA-256, skipping the statements an earlier, interrupted run
 * committed (refused with {@link MigrationChangedError} if one of those was edited since: a fix
 * may change the statement that failed, not the ones applied); then records the migration and
 * forgets its steps, in one transaction.
 */
async function applyStatementByStatement(db: Migratable, lease: Lease, component: string, migration: Migration): Promise<void> {
  const statements = splitStatements(migration.sql);
  const { rows } = await db.query<{ statement: number; checksum: string }>(
    'select statement, checksum from strata.migration_steps where component = $1 and version = $2',
    [component, migration.version],
  );
  const done = new Map(rows.map((row) => [Number(row.statement), row.checksum]));
  for (const [index, statement] of statements.entries()) {
    const checksum = migrationChecksum({ sql: statement });
    const applied = done.get(index);
    if (applied !== undefined && applied !== checksum) {
      throw new MigrationChangedError(
        component,
        migration.version,
        `${component} migration ${migration.version} (${migration.name}) was half applied (statements run one at a time on this database), and its statement ${index + 1}, already applied, has changed since; ` +
          'restore the statements that were applied and change only the one that failed, or undo the applied ones by hand and delete its rows from strata.migration_steps',
      );
    }
    if (applied !== undefined) continue;
    await db.transaction(async (tx) => {
      await lease.check(tx);
      try {
        await tx.exec(statement);
      } catch (error) {
        throw failed(component, migration, error, `statement ${index + 1} of ${statements.length}`);
      }
      await tx.query('insert into strata.migration_steps (component, version, statement, checksum) values ($1, $2, $3, $4)', [
        component,
        migration.version,
        index,
        checksum,
      ]);
    });
  }
  await db.transaction(async (tx) => {
    await lease.check(tx);
    await recordApplied(tx, component, migration);
    await tx.query('delete from strata.migration_steps where component = $1 and version = $2', [component, migration.version]);
  });
}

async function recordApplied(tx: Queryable, component: string, migration: Migration): Promise<void> {
  await tx.query('insert into strata.migrations (component, version, name, checksum) values ($1, $2, $3, $4)', [
    component,
    migration.version,
    migration.name,
    migrationChecksum(migration),
  ]);
}

function failed(component: string, migration: Migration, error: unknown, where = ''): MigrationError {
  return new MigrationError(`${component} migration ${migration.version} (${migration.name}) failed${where ? ` at ${where}` : ''}: ${(error as Error).message}`, error);
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
