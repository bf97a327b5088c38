// Databases of an instance: create (only granted users may connect), drop (never a system database), list.
import type { ManagedCluster } from '@strata/postgres';
import type { AdminResults, DatabaseInfo } from './actions.js';
import { AdminError } from './errors.js';
import { SYSTEM_DATABASES, checkIdentifier } from './identifiers.js';

/** What the admin actions need of a cluster: statements as strata_admin over its private socket. */
export type AdminSql = Pick<ManagedCluster, 'query'>;

/**
 * Creates a database owned by the platform's superuser (like the databases of `agent.provision`)
 * that nobody but users granted on it may connect to. Idempotent: an existing database is kept.
 *
 * @example
 * await createDatabase(cluster, 'app'); // { database: 'app', created: true }
 */
export async function createDatabase(cluster: AdminSql, database: string): Promise<AdminResults['createDatabase']> {
  const quoted = checkIdentifier('database', database);
  const created = !(await databaseExists(cluster, database));
  // CREATE DATABASE cannot run in a transaction block, so the check and the create are two
  // statements; a concurrent create of the same name fails here with duplicate_database.
  if (created) await cluster.query(`create database ${quoted}`);
  // PUBLIC gets CONNECT and TEMP on every new database by default: take them back.
  await cluster.query(`revoke all on database ${quoted} from public`);
  return { database, created };
}

/**
 * Drops a database, cutting its connections first (`WITH (FORCE)`). Refuses the system databases.
 *
 * @throws {AdminError} `system_database` for postgres, template0, template1.
 *
 * @example
 * await dropDatabase(cluster, 'app'); // { database: 'app', dropped: true }
 */
export async function dropDatabase(cluster: AdminSql, database: string): Promise<AdminResults['dropDatabase']> {
  if (typeof database === 'string' && SYSTEM_DATABASES.has(database)) {
    throw new AdminError('system_database', `"${database}" is a system database of the instance and cannot be dropped`);
  }
  const quoted = checkIdentifier('database', database);
  const dropped = await databaseExists(cluster, database);
  if (dropped) await cluster.query(`drop database if exists ${quoted} with (force)`);
  return { database, dropped };
}

/**
 * The tenant's databases: every database but the templates and `postgres`, by name.
 *
 * @example
 * const { databases } = await listDatabases(cluster); // [{ name: 'app', owner: 'strata_admin', sizeBytes: 7577103 }]
 */
export async function listDatabases(cluster: AdminSql): Promise<AdminResults['listDatabases']> {
  const rows = await cluster.query<{ name: string; owner: string; size_bytes: string }>(
    `select d.datname as name, pg_get_userbyid(d.datdba) as owner, pg_database_size(d.oid)::text as size_bytes
       from pg_database d
      where not d.datistemplate and d.datname <> 'postgres'
      order by d.datname`,
  );
  const databases: DatabaseInfo[] = rows.map((row) => ({ name: row.name, owner: row.owner, sizeBytes: Number(row.size_bytes) }));
  return { databases };
}

/** Whether the database exists. */
export async function databaseExists(cluster: AdminSql, database: string): Promise<boolean> {
  const rows = await cluster.query<{ found: boolean }>('select exists (select 1 from pg_database where datname = $1) as found', [database]);
  return rows[0]?.found === true;
}

/**
 * Fails with `database_not_found` when the database does not exist (or is a system one, which
 * tenants cannot be granted).
 */
export async function requireDatabase(cluster: AdminSql, database: string): Promise<string> {
  const quoted = checkIdentifier('database', database);
  if (!(await databaseExists(cluster, database))) {
    throw new AdminError('database_not_found', `the instance has no database "${database}"; create it first (POST …/databases)`);
  }
  return quoted;
}
