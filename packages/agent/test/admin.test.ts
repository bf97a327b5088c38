// The agent.admin job on a real PostgreSQL instance provisioned by the agent: databases, users with
// SCRAM verifiers, 'read'/'all' grants seen from a tenant's own TCP connection, revoke, password
// reset, typed refusals that change nothing, the log tail, the catalogue, and a tenant role that
// cannot escape to the server's files or programs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManagedCluster, scramVerifier } from '@strata/postgres';
import { NodeFiles, startAgent, type AdminAction, type AdminResults, type ProvisionOutput, type RunningAgent } from '../src/index.js';
import { AGENT_JOBS, QUIET, asTenant, runJob, systemDatabase, tempRoot } from './helpers.js';

const NODE = 'node-admin';
const INSTANCE = 'ins_admintests00000';
const OWNER = 'app_owner';
const OWNER_PASSWORD = 'owner-password-1';
const READER_PASSWORD = 'reader-password-1';

let system: Awaited<ReturnType<typeof systemDatabase>>;
let root: Awaited<ReturnType<typeof tempRoot>>;
let agent: RunningAgent | undefined;
let port: number;

before(async () => {
  system = await systemDatabase();
  root = await tempRoot('admin');
  agent = await startAgent({ database: system.db, nodeId: NODE, rootDir: root.dir, capacity: { memoryMb: 1024, instances: 4 }, heartbeatIntervalMs: 500, logger: QUIET });
  const provisioned = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, {
    instanceId: INSTANCE,
    settings: { shared_buffers: '32MB', max_connections: '20' },
    limits: { memoryMb: 128, cpuShares: 256 },
    databases: ['app'],
    users: [{ name: OWNER, verifier: scramVerifier(OWNER_PASSWORD), grants: [{ database: 'app', privilege: 'all' }] }],
  });
  port = provisioned.port;
});

after(async () => {
  if (agent) await agent.close();
  const files = new NodeFiles(root.dir);
  for (const id of await files.instanceIdsOnDisk()) await ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(() => {});
  await system.close();
  await root.remove();
});

/** Runs one admin action through the agent's queue, as the control plane does. */
function admin<K extends AdminAction['kind']>(action: Extract<AdminAction, { kind: K }>): Promise<AdminResults[K]> {
  return runJob<AdminResults[K]>(system.client, NODE, AGENT_JOBS.admin, action);
}

/** The code of the error an admin action fails with. */
async function adminError(action: AdminAction): Promise<string> {
  try {
    await runJob(system.client, NODE, AGENT_JOBS.admin, action);
  } catch (error) {
    return String((error as { code?: unknown }).code);
  }
  assert.fail(`${action.kind} succeeded; it should have been refused`);
}

/** Runs statements as the instance's owner, one connection each, failing on any refusal. */
async function asOwner(database: string, ...statements: string[]): Promise<void> {
  for (const statement of statements) {
    const result = await asTenant(port, OWNER, OWNER_PASSWORD, database, statement);
    assert.ok('rows' in result, `${statement}: ${JSON.stringify(result)}`);
  }
}

const databaseNames = async () => (await admin({ kind: 'listDatabases', instanceId: INSTANCE })).databases.map((database) => database.name);

describe('databases', () => {
  test('a created database is listed, a second create of it changes nothing, templates and postgres are not listed', async () => {
    assert.deepEqual(await admin({ kind: 'createDatabase', instanceId: INSTANCE, database: 'reports' }), { database: 'reports', created: true });
    assert.deepEqual(await admin({ kind: 'createDatabase', instanceId: INSTANCE, database: 'reports' }), { database: 'reports', created: false });
    assert.deepEqual(await databaseNames(), ['app', 'reports']);
  });

  test('nobody connects to a new database before a grant: PUBLIC has no CONNECT on it', async () => {
    assert.deepEqual(await asTenant(port, OWNER, OWNER_PASSWORD, 'reports', 'select 1'), { error: '42501' });
  });

  test('a system database cannot be dropped; a dropped database is gone and dropping it again reports dropped: false', async () => {
    assert.equal(await adminError({ kind: 'dropDatabase', instanceId: INSTANCE, database: 'postgres' }), 'system_database');
    assert.equal(await adminError({ kind: 'dropDatabase', instanceId: INSTANCE, database: 'template1' }), 'system_database');
    await admin({ kind: 'createDatabase', instanceId: INSTANCE, database: 'scratch' });
    assert.deepEqual(await admin({ kind: 'dropDatabase', instanceId: INSTANCE, database: 'scratch' }), { database: 'scratch', dropped: true });
    assert.deepEqual(await admin({ kind: 'dropDatabase', instanceId: INSTANCE, database: 'scratch' }), { database: 'scratch', dropped: false });
    assert.deepEqual(await databaseNames(), ['app', 'reports']);
  });
});

describe('users and grants', () => {
  test("a user granted 'read' connects over TCP with its password, reads the tables of the database's writers (also later ones) and cannot write", async () => {
    await admin({ kind: 'grant', instanceId: INSTANCE, user: OWNER, database: 'reports', privilege: 'all' });
    await asOwner('reports', 'create table sales (id int primary key, amount int)', 'insert into sales values (1, 100)');
    assert.deepEqual(await admin({ kind: 'createUser', instanceId: INSTANCE, user: 'reader', verifier: scramVerifier(READER_PASSWORD) }), { user: 'reader', created: true });
    await admin({ kind: 'grant', instanceId: INSTANCE, user: 'reader', database: 'reports', privilege: 'read' });
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'select id, amount from sales'), { rows: [{ id: 1, amount: 100 }] });
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'insert into sales values (2, 5)'), { error: '42501' });
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'create table mine (x int)'), { error: '42501' });
    // A table the writer makes after the grant is readable too (default privileges).
    await asOwner('reports', 'create table refunds (id int)', 'insert into refunds values (7)');
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'select id from refunds'), { rows: [{ id: 7 }] });
    // 'read' on reports is not 'read' on app.
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'app', 'select 1'), { error: '42501' });
  });

  test('listUsers shows the tenant users with their grants, and no platform role', async () => {
    const { users } = await admin({ kind: 'listUsers', instanceId: INSTANCE });
    assert.deepEqual(users, [
      { name: OWNER, grants: [{ database: 'app', privilege: 'all' }, { database: 'reports', privilege: 'all' }] },
      { name: 'reader', grants: [{ database: 'reports', privilege: 'read' }] },
    ]);
  });

  test('a password reset makes the old password fail and the new one work', async () => {
    const newPassword = 'reader-password-2';
    await admin({ kind: 'setPassword', instanceId: INSTANCE, user: 'reader', verifier: scramVerifier(newPassword) });
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'select 1 as one'), { error: '28P01' });
    assert.deepEqual(await asTenant(port, 'reader', newPassword, 'reports', 'select 1 as one'), { rows: [{ one: 1 }] });
    await admin({ kind: 'setPassword', instanceId: INSTANCE, user: 'reader', verifier: scramVerifier(READER_PASSWORD) });
  });

  test('after a revoke the user can no longer connect to the database', async () => {
    await admin({ kind: 'revoke', instanceId: INSTANCE, user: 'reader', database: 'reports' });
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'select 1'), { error: '42501' });
    const { users } = await admin({ kind: 'listUsers', instanceId: INSTANCE });
    assert.deepEqual(users.find((user) => user.name === 'reader')?.grants, []);
  });

  test("'read' after 'all' takes the write rights back", async () => {
    await admin({ kind: 'createUser', instanceId: INSTANCE, user: 'analyst', verifier: scramVerifier(READER_PASSWORD) });
    await admin({ kind: 'grant', instanceId: INSTANCE, user: 'analyst', database: 'reports', privilege: 'all' });
    assert.deepEqual(await asTenant(port, 'analyst', READER_PASSWORD, 'reports', 'insert into sales values (3, 30)'), { rows: [] });
    await admin({ kind: 'grant', instanceId: INSTANCE, user: 'analyst', database: 'reports', privilege: 'read' });
    assert.deepEqual(await asTenant(port, 'analyst', READER_PASSWORD, 'reports', 'insert into sales values (4, 40)'), { error: '42501' });
    assert.deepEqual(await asTenant(port, 'analyst', READER_PASSWORD, 'reports', 'select count(*)::int as n from sales'), { rows: [{ n: 2 }] });
  });

  test('a dropped user cannot log in, and the tables it owned stay', async () => {
    await admin({ kind: 'createUser', instanceId: INSTANCE, user: 'temp_writer', verifier: scramVerifier(READER_PASSWORD) });
    await admin({ kind: 'grant', instanceId: INSTANCE, user: 'temp_writer', database: 'reports', privilege: 'all' });
    assert.deepEqual(await asTenant(port, 'temp_writer', READER_PASSWORD, 'reports', 'create table drafts (x int)'), { rows: [] });
    assert.deepEqual(await asTenant(port, 'temp_writer', READER_PASSWORD, 'reports', 'insert into drafts values (1)'), { rows: [] });
    assert.deepEqual(await admin({ kind: 'dropUser', instanceId: INSTANCE, user: 'temp_writer' }), { user: 'temp_writer', dropped: true });
    assert.deepEqual(await admin({ kind: 'dropUser', instanceId: INSTANCE, user: 'temp_writer' }), { user: 'temp_writer', dropped: false });
    assert.deepEqual(await asTenant(port, 'temp_writer', READER_PASSWORD, 'reports', 'select 1'), { error: '28P01' });
    assert.deepEqual(await asTenant(port, OWNER, OWNER_PASSWORD, 'reports', 'select x from drafts'), { rows: [{ x: 1 }] });
  });
});

describe('bad input', () => {
  test('names that are not plain identifiers, reserved names, plaintext passwords and unknown targets are refused with typed codes and change nothing', async () => {
    const before = { databases: await databaseNames(), users: (await admin({ kind: 'listUsers', instanceId: INSTANCE })).users };
    const cases: Array<[AdminAction, string]> = [
      [{ kind: 'createDatabase', instanceId: INSTANCE, database: 'Bad-Name' }, 'invalid_identifier'],
      [{ kind: 'createDatabase', instanceId: INSTANCE, database: 'x"; drop database app; --' }, 'invalid_identifier'],
      [{ kind: 'createDatabase', instanceId: INSTANCE, database: 'a'.repeat(64) }, 'invalid_identifier'],
      [{ kind: 'createDatabase', instanceId: INSTANCE, database: 'pg_catalog2' }, 'reserved_identifier'],
      [{ kind: 'createUser', instanceId: INSTANCE, user: 'strata_admin', verifier: scramVerifier('x-password-1') }, 'reserved_identifier'],
      [{ kind: 'createUser', instanceId: INSTANCE, user: 'public', verifier: scramVerifier('x-password-1') }, 'reserved_identifier'],
      [{ kind: 'createUser', instanceId: INSTANCE, user: 'plain', verifier: 'hunter22' }, 'invalid_verifier'],
      [{ kind: 'createUser', instanceId: INSTANCE, user: 'plain', verifier: "SCRAM-SHA-256$4096:abc$def:gh'; alter role app_owner superuser; --" }, 'invalid_verifier'],
      [{ kind: 'setPassword', instanceId: INSTANCE, user: 'nobody', verifier: scramVerifier('x-password-1') }, 'user_not_found'],
      [{ kind: 'grant', instanceId: INSTANCE, user: 'reader', database: 'missing', privilege: 'read' }, 'database_not_found'],
      [{ kind: 'grant', instanceId: INSTANCE, user: 'reader', database: 'reports', privilege: 'owner' as 'all' }, 'invalid_privilege'],
      [{ kind: 'logTail', instanceId: INSTANCE, lines: 0 }, 'invalid_log_lines'],
      [{ kind: 'listDatabases', instanceId: 'ins_notonthisnode00' }, 'instance_not_on_node'],
    ];
    for (const [action, code] of cases) assert.equal(await adminError(action), code, JSON.stringify(action));
    assert.deepEqual({ databases: await databaseNames(), users: (await admin({ kind: 'listUsers', instanceId: INSTANCE })).users }, before);
  });
});

describe('log and catalogue', () => {
  test('the log tail returns at most the lines asked for, oldest first', async () => {
    const { lines } = await admin({ kind: 'logTail', instanceId: INSTANCE, lines: 5 });
    assert.ok(lines.length > 0 && lines.length <= 5, `got ${lines.length} lines`);
  });

  test("the catalogue is the server's pg_settings: types, units, bounds, enum values, restart and defaults", async () => {
    const { majorVersion, settings } = await admin({ kind: 'settingsCatalogue', instanceId: INSTANCE });
    assert.ok(majorVersion >= 13, `major version ${majorVersion}`);
    const byName = new Map(settings.map((setting) => [setting.name, setting]));
    assert.deepEqual(
      { ...byName.get('work_mem'), defaultValue: undefined },
      { name: 'work_mem', vartype: 'integer', unit: 'kB', min: 64, max: 2147483647, enumValues: null, restartRequired: false, context: 'user', defaultValue: undefined },
    );
    assert.equal(byName.get('work_mem')?.defaultValue, '4096');
    assert.equal(byName.get('max_prepared_transactions')?.restartRequired, true);
    assert.ok(byName.get('log_statement')?.enumValues?.includes('ddl'));
  });
});

describe('the tenant role cannot escape', () => {
  // The most privileged tenant role: an initial user of the instance (LOGIN, CREATEDB).
  const escapes: Array<[string, string]> = [
    ['read a server file', `select pg_read_file('/etc/passwd')`],
    ['read a file in the data directory', `select pg_read_file('postgresql.conf')`],
    ['list a server directory', `select pg_ls_dir('.')`],
    ['import a server file as a large object', `select lo_import('/etc/passwd')`],
    ['run a program with COPY … TO PROGRAM', `copy (select 1) to program 'id'`],
    ['run a program with COPY … FROM PROGRAM', `create temporary table t (x text); copy t from program 'id'`],
    ['write a server file with COPY … TO', `copy (select 1) to '/tmp/strata-escape'`],
    ['change the server configuration with ALTER SYSTEM', `alter system set archive_command = 'id'`],
    ['create an untrusted extension (adminpack: server file writes)', 'create extension adminpack'],
    ['create an untrusted extension (file_fdw: server file reads)', 'create extension file_fdw'],
    ['create an untrusted extension (dblink)', 'create extension dblink'],
    ['make itself a superuser', 'alter role current_user superuser'],
    ['create a superuser', 'create role sneaky superuser login'],
    ['join pg_read_server_files', 'grant pg_read_server_files to current_user'],
    ['join pg_write_server_files', 'grant pg_write_server_files to current_user'],
    ['join pg_execute_server_program', 'grant pg_execute_server_program to current_user'],
    ['take over the platform role', `alter role strata_admin password 'x'`],
  ];
  for (const [what, sql] of escapes) {
    test(`it cannot ${what}`, async () => {
      assert.deepEqual(await asTenant(port, OWNER, OWNER_PASSWORD, 'app', sql), { error: '42501' });
    });
  }

  test('it is no superuser and a member of none of the server-file roles', async () => {
    const rows = await asTenant(
      port,
      OWNER,
      OWNER_PASSWORD,
      'app',
      `select r.rolsuper, r.rolreplication, r.rolbypassrls,
              pg_has_role(current_user, 'pg_read_server_files', 'member') as read_files,
              pg_has_role(current_user, 'pg_write_server_files', 'member') as write_files,
              pg_has_role(current_user, 'pg_execute_server_program', 'member') as run_programs
         from pg_roles r where r.rolname = current_user`,
    );
    assert.deepEqual(rows, { rows: [{ rolsuper: false, rolreplication: false, rolbypassrls: false, read_files: false, write_files: false, run_programs: false }] });
  });

  test('a user made through the API cannot create roles or databases', async () => {
    assert.deepEqual(await asTenant(port, 'analyst', READER_PASSWORD, 'reports', 'create role other login'), { error: '42501' });
    assert.deepEqual(await asTenant(port, 'analyst', READER_PASSWORD, 'reports', 'create database other'), { error: '42501' });
  });
});
