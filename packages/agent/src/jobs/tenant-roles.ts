// The tenant's databases, login roles and grants inside a new instance, created idempotently as strata_admin.
import type { ManagedCluster } from '@strata/postgres';
import type { InitialUser, UserGrant } from '../contract.js';
import { SPARE_DATABASE, SPARE_ROLE } from '../warm/spare-pool.js';
import { fileCopyClause } from './server-version.js';
import { AdminSession } from './admin-session.js';

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

/**
 * Creates the instance's databases and users and grants what each user was given. Safe to run
 * again after a crash: existing databases are kept, existing users get their verifier again, and
 * grants are repeatable statements. On a spare, the first database is the spare's empty
 * {@link SPARE_DATABASE} renamed (CREATE DATABASE copies a template and syncs; a rename is
 * instant); one that is not needed is dropped. The spare's {@link SPARE_ROLE} becomes the first
 * user granted `all` on that database (its grant there is already made, so no connection to the
 * database is needed), or is dropped. `onPendingRestart` hears the settings the server has read
 * and applies only at a restart (a reload whose restart a crash cut short). Statements go over
 * one session on `postgres` (mostly one batch: one implicit transaction) and one per granted
 * database, since every connection to a new server costs a backend start. `session` is one
 * already open on `postgres` (a spare's warm session, see {@link openWarmSession}): used when it
 * is still alive and answers, and closed at the end either way.
 *
 * @example
 * await createTenantObjects(cluster, ['app'], [{ name: 'app_owner', verifier, grants: [{ database: 'app', privilege: 'all' }] }]);
 */
export async function createTenantObjects(
  cluster: ManagedCluster,
  databases: readonly string[],
  users: readonly InitialUser[],
  options: { readonly onPendingRestart?: (settings: string[]) => Promise<void>; readonly session?: AdminSession } = {},
): Promise<void> {
  let { session, state } = await firstState(cluster, options.session);
  let inDatabase: Map<string, string[]>;
  try {
    if (state.pending.length > 0 && options.onPendingRestart) {
      // A restart ends the session: connect again after it.
      session.close();
      await options.onPendingRestart(state.pending);
      ({ session, state } = await openWithState(cluster));
    }
    inDatabase = await setUp(session, state, databases, users);
  } finally {
    session.close();
  }
  for (const [database, batch] of inDatabase) {
    const inDatabase = await AdminSession.open(cluster, database);
    try {
      await inDatabase.query(batch.join(';\n'));
    } finally {
      inDatabase.close();
    }
  }
}

/**
 * A session on `postgres` of a new server that has already read what a create reads first: the
 * backend start and its first catalog reads (the slowest part of a create's statements, ~25 ms
 * on a busy host) are paid before the create, when a spare is made, not during it.
 *
 * @example
 * const session = await openWarmSession(cluster);
 * await createTenantObjects(cluster, ['app'], users, { session });
 */
export async function openWarmSession(cluster: ManagedCluster): Promise<AdminSession> {
  return (await openWithState(cluster)).session;
}

/** The instance's state over `given` when it is alive and answers (else closed), or over a new session. */
async function firstState(cluster: ManagedCluster, given: AdminSession | undefined): Promise<{ session: AdminSession; state: InstanceState }> {
  if (given?.alive) {
    try {
      return { session: given, state: await readState(given) };
    } catch {
      // Ended under us (a restart of the server): a new session below.
    }
  }
  given?.close();
  return openWithState(cluster);
}

/** A new session on `postgres` and the instance's state read over it (the session is closed when that read fails). */
async function openWithState(cluster: ManagedCluster): Promise<{ session: AdminSession; state: InstanceState }> {
  const session = await AdminSession.open(cluster, 'postgres');
  try {
    return { session, state: await readState(session) };
  } catch (error) {
    session.close();
    throw error;
  }
}

interface InstanceState {
  readonly databases: string[];
  readonly roles: string[];
  readonly version: string;
  readonly pending: string[];
}

async function readState(session: AdminSession): Promise<InstanceState> {
  const [state] = await session.query<{ databases: string[]; roles: string[]; version: string; pending: string[] }>(
    `select array(select datname::text from pg_database) as databases, array(select rolname::text from pg_roles) as roles,
            current_setting('server_version_num') as version, array(select name::text from pg_settings where pending_restart) as pending`);
  if (state === undefined) throw new Error('the instance answered its state query with no row');
  return state;
}

/**
 * Makes the databases, roles and grants from the `postgres` database, in one batch where a
 * transaction allows it, and returns the statements still to run inside each database.
 */
async function setUp(session: AdminSession, state: InstanceState, databases: readonly string[], users: readonly InitialUser[]): Promise<Map<string, string[]>> {
  const existing = new Set(state.databases);
  const roles = new Set(state.roles);
  const major = Math.floor(Number(state.version) / 10_000);
  const statements: string[] = [];
  let spareRenamedTo: string | undefined;
  for (const database of databases) {
    if (existing.has(database)) continue;
    if (existing.has(SPARE_DATABASE) && spareRenamedTo === undefined) {
      statements.push(`alter database ${SPARE_DATABASE} rename to ${quoteIdent(database)}`);
      spareRenamedTo = database;
    } else {
      // Not in the batch: CREATE DATABASE refuses to run inside a transaction block.
      await session.query(`create database ${quoteIdent(database)}${fileCopyClause(major)}`);
    }
  }
  // Dropping the unused spare database also drops what the spare role was granted in it.
  const spareDropped = existing.has(SPARE_DATABASE) && spareRenamedTo === undefined;
  if (spareDropped) await session.query(`drop database ${SPARE_DATABASE}`);
  const inDatabase = new Map<string, string[]>();
  const runIn = (database: string, more: readonly string[]) => inDatabase.set(database, [...(inDatabase.get(database) ?? []), ...more]);
  // The spare role's grant in the renamed database is what `all` there means: its first such user takes it over.
  const heir =
    roles.has(SPARE_ROLE) && spareRenamedTo !== undefined
      ? users.find((user) => !roles.has(user.name) && user.grants.some((grant) => grant.database === spareRenamedTo && grant.privilege === 'all'))
      : undefined;
  if (heir) {
    statements.push(`alter role ${SPARE_ROLE} rename to ${quoteIdent(heir.name)}`);
  } else if (roles.has(SPARE_ROLE)) {
    // Unused: dropped, once its grant is revoked where it still has one (the spare database, renamed
    // now or by an earlier run of this create, which renamed it to the first database).
    const holder = spareDropped ? undefined : (spareRenamedTo ?? databases[0]);
    if (holder === undefined) statements.push(`drop role ${SPARE_ROLE}`);
    else runIn(holder, [`revoke all on schema public from ${SPARE_ROLE}`, `drop role ${SPARE_ROLE}`]);
  }
  const roleOptions = major >= SAFE_CREATEROLE_MAJOR_VERSION ? 'login createdb createrole' : 'login createdb';
  // Only users granted a database may connect to it.
  for (const database of databases) statements.push(`revoke connect, temporary on database ${quoteIdent(database)} from public`);
  for (const user of users) {
    const verb = roles.has(user.name) || user === heir ? 'alter' : 'create';
    statements.push(`${verb} role ${quoteIdent(user.name)} with ${roleOptions} nosuperuser noreplication nobypassrls password ${quoteLiteral(user.verifier)}`);
  }
  for (const user of users) {
    for (const grant of user.grants) {
      const { server, inDatabase: there } = grantStatements(user.name, grant, users);
      statements.push(...server);
      const alreadyMade = user === heir && grant.database === spareRenamedTo && grant.privilege === 'all';
      if (!alreadyMade) runIn(grant.database, there);
    }
  }
  if (statements.length > 0) await session.query(statements.join(';\n'));
  return inDatabase;
}

/**
 * The statements that grant one user `all` (connect, create, every table) or `read` (connect,
 * select) on one database: those run in `postgres` and those run in the database itself.
 */
function grantStatements(user: string, grant: UserGrant, users: readonly InitialUser[]): { server: string[]; inDatabase: string[] } {
  const role = quoteIdent(user);
  const database = quoteIdent(grant.database);
  if (grant.privilege === 'all') {
    return { server: [`grant all privileges on database ${database} to ${role}`], inDatabase: [`grant all on schema public to ${role}`] };
  }
  const inDatabase = [`grant usage on schema public to ${role}`, `grant select on all tables in schema public to ${role}`];
  // Tables that the database's writers create later are readable too.
  const writers = users.filter((other) => other.grants.some((g) => g.database === grant.database && g.privilege === 'all'));
  for (const writer of writers) inDatabase.push(`alter default privileges for role ${quoteIdent(writer.name)} in schema public grant select on tables to ${role}`);
  return { server: [`grant connect on database ${database} to ${role}`], inDatabase };
}
