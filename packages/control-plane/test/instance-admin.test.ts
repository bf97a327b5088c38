// Inside an instance, over HTTP: databases, users with passwords, grants seen from the tenant's own
// TCP connections, revoke and password reset, typed refusals that change nothing, roles and tenant
// isolation, the log, and configuration groups checked against the real pg_settings — one that
// needs a restart leaves the instance RESTART_REQUIRED until a restart makes the value live.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { NodeFiles, startAgent, type RunningAgent } from '@strata/agent';
import { freshDatabaseUrl } from '@strata/testing';
import { createControlPlane, type ControlPlane } from '../src/index.js';
import { instanceAdminModule } from '../src/instance-admin/index.js';
import { instancesModule } from '../src/instances/index.js';
import { call, newKey, newTenant, quietLogger, type Reply } from './harness.js';
import { QUIET, asTenant, destroyAll, nodeRoot, sharedTemplate, systemEngine } from './instances/platform.js';

const OWNER_PASSWORD = 'owner-password-1';
const READER_PASSWORD = 'reader-password-1';

let cp: ControlPlane;
let agent: RunningAgent | undefined;
let rootDir: string;
let templateDir: string;
let alpha: { tenantId: string; key: string };
let bravo: { tenantId: string; key: string };
let readOnlyKey: string;
let port: number;
let instanceId: string;

/** A call as tenant alpha's admin key. */
const api = (method: string, path: string, body?: unknown, key = alpha.key): Promise<Reply> => call(cp.url, method, path, { key, ...(body === undefined ? {} : { body }) });

/** Polls the instance until it is in `status` with no operation running. */
async function waitFor(status: string, timeoutMs = 120_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  let reply = await api('GET', '/v1/instances/shop');
  while (Date.now() < deadline && !(reply.json?.status === status && reply.json?.currentOperation === null)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    reply = await api('GET', '/v1/instances/shop');
  }
  assert.equal(reply.json?.status, status, reply.text);
  return reply;
}

function expectError(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.json?.error?.code, code, reply.text);
}

before(async () => {
  rootDir = await nodeRoot('instance-admin');
  templateDir = await sharedTemplate();
  cp = await createControlPlane({ database: await freshDatabaseUrl(systemEngine()), modules: [instancesModule, instanceAdminModule], logger: quietLogger() });
  agent = await startAgent({ database: cp.db, nodeId: 'node-1', rootDir, templateDir, capacity: { memoryMb: 2048, instances: 4 }, heartbeatIntervalMs: 200, logger: QUIET });
  const adminKey = cp.bootstrapKey;
  assert.ok(adminKey !== undefined);
  alpha = await newTenant(cp, adminKey, 'alpha');
  bravo = await newTenant(cp, adminKey, 'bravo');
  readOnlyKey = (await newKey(cp, alpha.key, 'read-only')).key;
  const created = await api('POST', '/v1/instances', { name: 'shop', flavor: 'tiny', databases: ['app'], users: [{ name: 'owner', password: OWNER_PASSWORD }] });
  assert.equal(created.status, 202, created.text);
  const active = await waitFor('ACTIVE');
  port = active.json.port;
  instanceId = active.json.id;
});

after(async () => {
  await agent?.close();
  await cp?.close();
  await destroyAll(new NodeFiles(rootDir, templateDir));
  await rm(rootDir, { recursive: true, force: true });
});

describe('databases', () => {
  test('a member creates a database; it is listed; a second create of the name is 409 name_taken', async () => {
    const created = await api('POST', '/v1/instances/shop/databases', { name: 'reports' });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json, { database: 'reports', created: true });
    expectError(await api('POST', '/v1/instances/shop/databases', { name: 'reports' }), 409, 'name_taken');
    const listed = await api('GET', '/v1/instances/shop/databases');
    assert.deepEqual(listed.json.databases.map((database: { name: string }) => database.name), ['app', 'reports']);
    assert.deepEqual((await api('GET', '/v1/instances/shop')).json.databases, ['app', 'reports']);
  });

  test('invalid and reserved names are typed 400s and change nothing', async () => {
    expectError(await api('POST', '/v1/instances/shop/databases', { name: 'Bad-Name' }), 400, 'invalid_identifier');
    expectError(await api('POST', '/v1/instances/shop/databases', { name: 'x"; drop database app; --' }), 400, 'invalid_identifier');
    expectError(await api('POST', '/v1/instances/shop/databases', { name: 'strata_db' }), 400, 'reserved_identifier');
    expectError(await api('DELETE', '/v1/instances/shop/databases/postgres'), 400, 'system_database');
    const listed = await api('GET', '/v1/instances/shop/databases');
    assert.deepEqual(listed.json.databases.map((database: { name: string }) => database.name), ['app', 'reports']);
  });

  test('a read-only key lists but cannot create (403); another tenant sees 404, as for a missing instance', async () => {
    assert.equal((await api('GET', '/v1/instances/shop/databases', undefined, readOnlyKey)).status, 200);
    expectError(await api('POST', '/v1/instances/shop/databases', { name: 'nope' }, readOnlyKey), 403, 'forbidden');
    const missing = await api('GET', '/v1/instances/no-such/databases', undefined, bravo.key);
    const foreign = await api('GET', `/v1/instances/${instanceId}/databases`, undefined, bravo.key);
    expectError(foreign, 404, 'not_found');
    assert.equal(foreign.json.error.message.replace(instanceId, 'X'), missing.json.error.message.replace('no-such', 'X'));
    expectError(await api('POST', `/v1/instances/${instanceId}/databases`, { name: 'theirs' }, bravo.key), 404, 'not_found');
  });
});

describe('users and grants', () => {
  test("a user created with a password and 'read' connects over TCP: reads work, writes fail", async () => {
    assert.equal((await api('POST', '/v1/instances/shop/users/owner/grants', { database: 'reports', privilege: 'all' })).status, 200);
    assert.ok('rows' in (await asTenant(port, 'owner', OWNER_PASSWORD, 'reports', 'create table sales (id int, amount int)')));
    assert.ok('rows' in (await asTenant(port, 'owner', OWNER_PASSWORD, 'reports', 'insert into sales values (1, 100)')));
    const created = await api('POST', '/v1/instances/shop/users', { name: 'reader', password: READER_PASSWORD, grants: [{ database: 'reports', privilege: 'read' }] });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'select id, amount from sales'), { rows: [{ id: 1, amount: 100 }] });
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'insert into sales values (2, 1)'), { error: '42501' });
    const users = await api('GET', '/v1/instances/shop/users');
    assert.deepEqual(users.json.users.find((user: { name: string }) => user.name === 'reader'), { name: 'reader', grants: [{ database: 'reports', privilege: 'read' }] });
  });

  test('the password is kept only as a SCRAM verifier: not in the users table, not in the audit log', async () => {
    const { rows } = await cp.db.query<{ verifier: string }>(`select verifier from strata_cloud.instance_users where instance_id = $1 and name = 'reader'`, [instanceId]);
    assert.match(rows[0]?.verifier ?? '', /^SCRAM-SHA-256\$4096:/);
    const dump = await cp.db.query<{ text: string }>(`select string_agg(t::text, ' ') as text from (select * from strata_cloud.audit_log) t`);
    assert.ok(!(dump.rows[0]?.text ?? '').includes(READER_PASSWORD));
    const audit = await cp.db.query<{ action: string; result: string }>(`select action, result from strata_cloud.audit_log where tenant_id = $1 and action like 'users.%' order by id`, [alpha.tenantId]);
    assert.deepEqual(audit.rows.map((row) => `${row.action}:${row.result}`), ['users.grant:ok', 'users.create:ok', 'users.grant:ok']);
  });

  test('a second user of the same name is 409 name_taken; a grant on a missing database is 404 and creates no user', async () => {
    expectError(await api('POST', '/v1/instances/shop/users', { name: 'reader', password: 'another-pass-1' }), 409, 'name_taken');
    expectError(await api('POST', '/v1/instances/shop/users', { name: 'ghost', password: 'another-pass-1', grants: [{ database: 'nowhere', privilege: 'read' }] }), 404, 'database_not_found');
    expectError(await api('POST', '/v1/instances/shop/users', { name: 'pg_ghost', password: 'another-pass-1' }), 400, 'reserved_identifier');
    const names = (await api('GET', '/v1/instances/shop/users')).json.users.map((user: { name: string }) => user.name);
    assert.deepEqual(names, ['owner', 'reader']);
  });

  test('a password reset: the old password fails, the new one works', async () => {
    const reset = await api('POST', '/v1/instances/shop/users/reader/password', { password: 'reader-password-2' });
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual(await asTenant(port, 'reader', READER_PASSWORD, 'reports', 'select 1 as one'), { error: '28P01' });
    assert.deepEqual(await asTenant(port, 'reader', 'reader-password-2', 'reports', 'select 1 as one'), { rows: [{ one: 1 }] });
    expectError(await api('POST', '/v1/instances/shop/users/nobody/password', { password: 'reader-password-3' }), 404, 'user_not_found');
    expectError(await api('POST', '/v1/instances/shop/users/reader/password', { password: 'short' }), 400, 'invalid_request');
  });

  test('after a revoke the user cannot connect to the database', async () => {
    expectError(await api('DELETE', '/v1/instances/shop/users/reader/grants?database=reports', undefined, readOnlyKey), 403, 'forbidden');
    const revoked = await api('DELETE', '/v1/instances/shop/users/reader/grants?database=reports');
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual(await asTenant(port, 'reader', 'reader-password-2', 'reports', 'select 1'), { error: '42501' });
    const { rows } = await cp.db.query<{ grants: unknown }>(`select grants from strata_cloud.instance_users where instance_id = $1 and name = 'reader'`, [instanceId]);
    assert.deepEqual(rows[0]?.grants, []);
  });

  test('a dropped user cannot log in; dropping it again is 404', async () => {
    assert.equal((await api('DELETE', '/v1/instances/shop/users/reader')).status, 200);
    assert.deepEqual(await asTenant(port, 'reader', 'reader-password-2', 'reports', 'select 1'), { error: '28P01' });
    expectError(await api('DELETE', '/v1/instances/shop/users/reader'), 404, 'user_not_found');
  });
});

describe('log', () => {
  test('the log tail is bounded by the lines asked for; an out-of-range count is 400', async () => {
    const log = await api('GET', '/v1/instances/shop/log?lines=3', undefined, readOnlyKey);
    assert.equal(log.status, 200, log.text);
    assert.ok(log.json.lines.length > 0 && log.json.lines.length <= 3);
    expectError(await api('GET', '/v1/instances/shop/log?lines=0'), 400, 'invalid_request');
  });
});

describe('configuration groups', () => {
  test("unknown parameters and values outside pg_settings' range are typed 400s naming the parameter; nothing is created", async () => {
    const unknown = await api('POST', '/v1/config-groups', { name: 'bad', parameters: { no_such_parameter: '1' } });
    expectError(unknown, 400, 'unknown_parameter');
    assert.match(unknown.json.error.message, /no_such_parameter/);
    const range = await api('POST', '/v1/config-groups', { name: 'bad', parameters: { work_mem: '4TB' } });
    expectError(range, 400, 'invalid_parameter_value');
    assert.match(range.json.error.message, /work_mem.*64kB to 2147483647kB/);
    expectError(await api('POST', '/v1/config-groups', { name: 'bad', parameters: { log_statement: 'loud' } }), 400, 'invalid_parameter_value');
    expectError(await api('POST', '/v1/config-groups', { name: 'bad', parameters: { archive_command: 'id' } }), 400, 'parameter_not_allowed');
    assert.deepEqual((await api('GET', '/v1/config-groups')).json.configGroups, []);
  });

  test('a group needing a restart makes the instance RESTART_REQUIRED; a restart makes it ACTIVE with the new value in SHOW', async () => {
    const created = await api('POST', '/v1/config-groups', { name: 'prepared', parameters: { max_prepared_transactions: 10, work_mem: '8MB' } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json.restartRequired, ['max_prepared_transactions']);
    expectError(await api('PUT', '/v1/instances/shop/config-group', { group: 'prepared' }, readOnlyKey), 403, 'forbidden');
    const attached = await api('PUT', '/v1/instances/shop/config-group', { group: 'prepared' });
    assert.equal(attached.status, 200, attached.text);
    assert.deepEqual(attached.json, { instanceId, configGroup: created.json.id, status: 'RESTART_REQUIRED', restartRequired: ['max_prepared_transactions'] });
    await waitFor('RESTART_REQUIRED');
    // A reloadable parameter is live at once; the restart-only one waits.
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: '8MB' }] });
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show max_prepared_transactions'), { rows: [{ max_prepared_transactions: '0' }] });
    expectError(await api('DELETE', '/v1/config-groups/prepared'), 409, 'config_group_in_use');
    assert.equal((await api('POST', '/v1/instances/shop/restart')).status, 202);
    await waitFor('ACTIVE');
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show max_prepared_transactions'), { rows: [{ max_prepared_transactions: '10' }] });
    assert.deepEqual((await api('GET', '/v1/config-groups/prepared')).json.instances, [instanceId]);
  });

  test("a resize applies the new flavor's settings and keeps the attached group's over them", async () => {
    const resizing = await api('POST', '/v1/instances/shop/resize', { flavor: 'small' });
    assert.equal(resizing.status, 202, resizing.text);
    await waitFor('ACTIVE');
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show shared_buffers'), { rows: [{ shared_buffers: '64MB' }] }, "the small flavor's memory");
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: '8MB' }] }, "the group's work_mem, not the flavor's 4MB");
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show max_prepared_transactions'), { rows: [{ max_prepared_transactions: '10' }] });
  });

  test('detaching puts the values back (the restart-only one at the next restart); then the group can be deleted', async () => {
    const detached = await api('DELETE', '/v1/instances/shop/config-group');
    assert.equal(detached.status, 200, detached.text);
    assert.equal(detached.json.status, 'RESTART_REQUIRED');
    assert.deepEqual(await asTenant(port, 'owner', OWNER_PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: '4MB' }] });
    assert.equal((await api('DELETE', '/v1/config-groups/prepared')).status, 200);
    expectError(await api('GET', '/v1/config-groups/prepared'), 404, 'not_found');
    expectError(await api('DELETE', '/v1/instances/shop/config-group'), 404, 'no_config_group');
  });

  test("another tenant cannot see or attach a tenant's group", async () => {
    const created = await api('POST', '/v1/config-groups', { name: 'private', parameters: { work_mem: '2MB' } });
    assert.equal(created.status, 201, created.text);
    expectError(await api('GET', `/v1/config-groups/${created.json.id}`, undefined, bravo.key), 404, 'not_found');
    assert.deepEqual((await api('GET', '/v1/config-groups', undefined, bravo.key)).json.configGroups, []);
  });
});
