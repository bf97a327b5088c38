// The tenant's databases, login roles and grants inside a new instance, created idempotently as strata_admin.
import type { ManagedCluster } from '@strata/postgres';
import type { InitialUser, UserGrant } from '../contract.js';

/**
 * First PostgreSQL major version whose CREATEROLE is safe to hand to a tenant: before 16, a role
 * with CREATEROLE may grant itself any non-superuser role, pg_execute_server_program included
 * (`COPY … PROGRAM`), so on 15 and older tenants get CREATEDB only and manage roles through the API.
 */
export const SAFE_CREATEROLE_MAJOR_VERSION = 16;

/** A SQL identifier, quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The server's major version (15 for 15.x). */
export async function serverMajorVersion(cluster: ManagedCluster): Promise<number> {
  const rows = await cluster.query<{ server_version_num: string }>('show server_version_num');
  return Math.floor(Number(rows[0]?.server_version_num ?? '0') / 10_000);
}

/**
 * Creates the instance's databases and users and grants what each user was given. Safe to run
 * again after a crash: existing databases are kept, existing users get their verifier again, and
 * grants are repeatable statements.
 *
 * @example
 * await createTenantObjects(cluster, ['app'], [{ name: 'app_owner', verifier, grants: [{ database: 'app', privilege: 'all' }] }]);
 */
export async function createTenantObjects(cluster: ManagedCluster, databases: readonly string[], users: readonly InitialUser[]): Promise<void> {
  const existing = new Set((await cluster.query<{ datname: string }>('select datname from pg_database')).map((row) => row.datname));
  for (const database of databases) {
    if (!existing.has(database)) await cluster.query(`create database ${quoteIdent(database)}`);
    // Only users granted a database may connect to it.
    await cluster.query(`revoke connect, temporary on database ${quoteIdent(database)} from public`);
  }
  const major = await serverMajorVersion(cluster);
  const roleOptions = major >= SAFE_CREATEROLE_MAJOR_VERSION ? 'login createdb createrole' : 'login createdb';
  const roles = new Set((await cluster.query<{ rolname: string }>('select rolname from pg_roles')).map((row) => row.rolname));
  for (const user of users) {
    const verb = roles.has(user.name) ? 'alter' : 'create';
    await cluster.query(`${verb} role ${quoteIdent(user.name)} with ${roleOptions} nosuperuser noreplication nobypassrls password ${quoteLiteral(user.verifier)}`);
  }
  for (const user of users) {
    for (const grant of user.grants) await applyGrant(cluster, user.name, grant, users);
  }
}

/** Grants one user `all` (connect, create, every table) or `read` (connect, select) on one database. */
async function applyGrant(cluster: ManagedCluster, user: string, grant: UserGrant, users: readonly InitialUser[]): Promise<void> {
  const role = quoteIdent(user);
  const database = quoteIdent(grant.database);
  if (grant.privilege === 'all') {
    await cluster.query(`grant all privileges on database ${database} to ${role}`);
    await cluster.query(`grant all on schema public to ${role}`, [], grant.database);
    return;
  }
  await cluster.query(`grant connect on database ${database} to ${role}`);
  await cluster.query(`grant usage on schema public to ${role}`, [], grant.database);
  await cluster.query(`grant select on all tables in schema public to ${role}`, [], grant.database);
  // Tables that the database's writers create later are readable too.
  const writers = users.filter((other) => other.grants.some((g) => g.database === grant.database && g.privilege === 'all'));
  for (const writer of writers) {
    await cluster.query(`alter default privileges for role ${quoteIdent(writer.name)} in schema public grant select on tables to ${role}`, [], grant.database);
  }
}
