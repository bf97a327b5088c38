// Login roles of an instance: create with a SCRAM verifier, set the password, drop (keeping their data), list with grants.
import type { UserGrant } from '../contract.js';
import type { AdminResults, UserInfo } from './actions.js';
import type { AdminSql } from './databases.js';
import { AdminError } from './errors.js';
import { checkIdentifier, checkVerifier } from './identifiers.js';

/**
 * What a user made through the API may do: log in, nothing more until granted. Tenant users never
 * get SUPERUSER, REPLICATION or BYPASSRLS; CREATEDB/CREATEROLE belong to the instance's initial
 * users only (see agent.provision).
 */
const USER_ATTRIBUTES = 'login inherit nosuperuser nocreatedb nocreaterole noreplication nobypassrls';

/**
 * Creates a login role whose password is the SCRAM verifier. Idempotent: an existing role gets
 * the verifier as its password again and `created: false`.
 *
 * @example
 * await createUser(cluster, 'reporter', scramVerifier('s3cret')); // { user: 'reporter', created: true }
 */
export async function createUser(cluster: AdminSql, user: string, verifier: string): Promise<AdminResults['createUser']> {
  const role = checkIdentifier('user', user);
  const password = checkVerifier(verifier);
  if (await roleExists(cluster, user)) {
    await cluster.query(`alter role ${role} with login password ${password}`);
    return { user, created: false };
  }
  await cluster.query(`create role ${role} with ${USER_ATTRIBUTES} password ${password}`);
  return { user, created: true };
}

/**
 * Replaces a user's password with a new SCRAM verifier; the old password stops working at once
 * for new connections.
 *
 * @throws {AdminError} `user_not_found` when there is no such user.
 *
 * @example
 * await setPassword(cluster, 'reporter', scramVerifier('n3w')); // { user: 'reporter' }
 */
export async function setPassword(cluster: AdminSql, user: string, verifier: string): Promise<AdminResults['setPassword']> {
  const role = await requireUser(cluster, user);
  const password = checkVerifier(verifier);
  await cluster.query(`alter role ${role} with password ${password}`);
  return { user };
}

/**
 * Drops a user: its sessions end, what it owns passes to the platform (the data stays), its
 * privileges and default privileges go, then the role. Idempotent: a missing user gives
 * `dropped: false`.
 *
 * @example
 * await dropUser(cluster, 'reporter'); // { user: 'reporter', dropped: true }
 */
export async function dropUser(cluster: AdminSql, user: string): Promise<AdminResults['dropUser']> {
  const role = checkIdentifier('user', user);
  if (!(await roleExists(cluster, user))) return { user, dropped: false };
  // Owned objects and privileges are per database: REASSIGN/DROP OWNED run in each one.
  const databases = await cluster.query<{ datname: string }>(`select datname from pg_database where datallowconn order by datname`);
  for (const { datname } of databases) {
    await cluster.query(`reassign owned by ${role} to current_user`, [], datname);
    await cluster.query(`drop owned by ${role}`, [], datname);
  }
  await cluster.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [user]);
  await cluster.query(`drop role if exists ${role}`);
  return { user, dropped: true };
}

/**
 * The tenant's login roles (not superusers, not `strata_*` or `pg_*`) with the databases each
 * was granted explicitly: `all` when it may create in the database, `read` when it may connect.
 *
 * @example
 * const { users } = await listUsers(cluster); // [{ name: 'reporter', grants: [{ database: 'app', privilege: 'read' }] }]
 */
export async function listUsers(cluster: AdminSql): Promise<AdminResults['listUsers']> {
  const rows = await cluster.query<{ name: string; database: string | null; can_create: boolean | null }>(
    `select r.rolname as name, g.datname as database, g.can_create
       from pg_roles r
       left join lateral (
         select d.datname, bool_or(a.privilege_type = 'CREATE') as can_create
           from pg_database d, aclexplode(d.datacl) a
          where a.grantee = r.oid and not d.datistemplate and d.datname <> 'postgres'
          group by d.datname
       ) g on true
      where r.rolcanlogin and not r.rolsuper and r.rolname !~ '^(pg_|strata_)'
      order by r.rolname, g.datname`,
  );
  const users = new Map<string, UserGrant[]>();
  for (const row of rows) {
    const grants = users.get(row.name) ?? [];
    users.set(row.name, grants);
    if (row.database !== null) grants.push({ database: row.database, privilege: row.can_create === true ? 'all' : 'read' });
  }
  const list: UserInfo[] = [...users].map(([name, grants]) => ({ name, grants }));
  return { users: list };
}

/** Whether a role of that name exists. */
export async function roleExists(cluster: AdminSql, user: string): Promise<boolean> {
  const rows = await cluster.query<{ found: boolean }>('select exists (select 1 from pg_roles where rolname = $1) as found', [user]);
  return rows[0]?.found === true;
}

/** Checks the name and fails with `user_not_found` when there is no such role; returns it quoted. */
export async function requireUser(cluster: AdminSql, user: string): Promise<string> {
  const role = checkIdentifier('user', user);
  if (!(await roleExists(cluster, user))) {
    throw new AdminError('user_not_found', `the instance has no user "${user}"; create it first (POST …/users)`);
  }
  return role;
}
