// Per-database grants: 'all' (connect, create, every object of schema public) and 'read' (connect, select), now and for tables made later.
import { quoteIdent } from '../jobs/tenant-roles.js';
import type { AdminResults, DatabasePrivilege } from './actions.js';
import { requireDatabase, type AdminSql } from './databases.js';
import { requireUser } from './users.js';

/** A role with an explicit grant on a database, and whether it may create there. */
interface Member {
  readonly name: string;
  readonly canCreate: boolean;
}

/**
 * Grants a user a privilege on one database, replacing what it held there before (so `read`
 * after `all` takes the write rights back). Idempotent.
 *
 * - `all`: CONNECT, CREATE, TEMP on the database; USAGE and CREATE on schema `public`; every
 *   privilege on its tables, sequences and functions; the same on what the database's other
 *   creators make later (default privileges), and its own new tables readable or writable by the
 *   database's other members.
 * - `read`: CONNECT; USAGE on schema `public`; SELECT on its tables, now and on those the
 *   database's creators make later.
 *
 * @throws {AdminError} `user_not_found`, `database_not_found`, or a name error.
 *
 * @example
 * await grant(cluster, 'reporter', 'app', 'read');
 */
export async function grant(cluster: AdminSql, user: string, database: string, privilege: DatabasePrivilege): Promise<AdminResults['grant']> {
  const role = await requireUser(cluster, user);
  const db = await requireDatabase(cluster, database);
  await cluster.query(`revoke all on database ${db} from public`);
  await revokePrivileges(cluster, user, database);
  const others = (await members(cluster, database)).filter((member) => member.name !== user);
  const creators = [await currentUser(cluster), ...others.filter((member) => member.canCreate).map((member) => member.name)];
  const inDatabase = (sql: string) => cluster.query(sql, [], database);
  if (privilege === 'all') {
    await cluster.query(`grant connect, create, temporary on database ${db} to ${role}`);
    await inDatabase(`grant usage, create on schema public to ${role}`);
    await inDatabase(`grant all on all tables in schema public to ${role}`);
    await inDatabase(`grant all on all sequences in schema public to ${role}`);
    await inDatabase(`grant execute on all functions in schema public to ${role}`);
    for (const creator of creators) {
      await inDatabase(`alter default privileges for role ${quoteIdent(creator)} in schema public grant all on tables to ${role}`);
      await inDatabase(`alter default privileges for role ${quoteIdent(creator)} in schema public grant all on sequences to ${role}`);
    }
    // What this user creates from now on is open to the database's other members, as theirs is to it.
    for (const member of others) {
      const other = quoteIdent(member.name);
      await inDatabase(`alter default privileges for role ${role} in schema public grant ${member.canCreate ? 'all' : 'select'} on tables to ${other}`);
      if (member.canCreate) await inDatabase(`alter default privileges for role ${role} in schema public grant all on sequences to ${other}`);
    }
  } else {
    await cluster.query(`grant connect on database ${db} to ${role}`);
    await inDatabase(`grant usage on schema public to ${role}`);
    await inDatabase(`grant select on all tables in schema public to ${role}`);
    for (const creator of creators) {
      await inDatabase(`alter default privileges for role ${quoteIdent(creator)} in schema public grant select on tables to ${role}`);
    }
  }
  return { user, database, privilege };
}

/**
 * Takes every privilege a user holds on one database away and ends its sessions there: it can
 * no longer connect to it. Idempotent.
 *
 * @throws {AdminError} `user_not_found`, `database_not_found`, or a name error.
 *
 * @example
 * await revoke(cluster, 'reporter', 'app');
 */
export async function revoke(cluster: AdminSql, user: string, database: string): Promise<AdminResults['revoke']> {
  await requireUser(cluster, user);
  await requireDatabase(cluster, database);
  await revokePrivileges(cluster, user, database);
  await cluster.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1 and datname = $2', [user, database]);
  return { user, database };
}

/** Revokes the user's privileges on the database, in it, and in the default privileges of its creators. */
async function revokePrivileges(cluster: AdminSql, user: string, database: string): Promise<void> {
  const role = quoteIdent(user);
  const inDatabase = (sql: string) => cluster.query(sql, [], database);
  await cluster.query(`revoke all on database ${quoteIdent(database)} from ${role}`);
  await inDatabase(`revoke all on all tables in schema public from ${role}`);
  await inDatabase(`revoke all on all sequences in schema public from ${role}`);
  await inDatabase(`revoke all on all functions in schema public from ${role}`);
  await inDatabase(`revoke all on schema public from ${role}`);
  const creators = (await members(cluster, database)).filter((member) => member.canCreate && member.name !== user).map((member) => member.name);
  for (const creator of [await currentUser(cluster), ...creators]) {
    await inDatabase(`alter default privileges for role ${quoteIdent(creator)} in schema public revoke all on tables from ${role}`);
    await inDatabase(`alter default privileges for role ${quoteIdent(creator)} in schema public revoke all on sequences from ${role}`);
  }
}

/** The tenant roles granted explicitly on the database (from its ACL), with whether each may create there. */
async function members(cluster: AdminSql, database: string): Promise<Member[]> {
  const rows = await cluster.query<{ name: string; can_create: boolean }>(
    `select r.rolname as name, bool_or(a.privilege_type = 'CREATE') as can_create
       from pg_database d, aclexplode(d.datacl) a, pg_roles r
      where d.datname = $1 and a.grantee = r.oid and not r.rolsuper and r.rolname !~ '^(pg_|strata_)'
      group by r.rolname
      order by r.rolname`,
    [database],
  );
  return rows.map((row) => ({ name: row.name, canCreate: row.can_create }));
}

/** The platform's superuser (the owner of every database the platform creates). */
async function currentUser(cluster: AdminSql): Promise<string> {
  const rows = await cluster.query<{ name: string }>('select current_user as name');
  const name = rows[0]?.name;
  if (name === undefined) throw new Error('select current_user returned no row');
  return name;
}
