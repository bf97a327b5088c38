// Backups over real HTTP: a control plane with the instance and backup modules and a node agent
// with a pgBackRest repository, in one process on the embedded default. Every new instance takes
// its first backup on its own; point-in-time restores bring back exactly the rows committed before
// the moment; forks copy the present; restore points, manual backups, deletes, a schedule with a
// retention, verify with a test restore; bad input and other tenants get typed errors, nothing made.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { backupsModule, instancesModule, type ControlPlane } from '../src/index.js';
import { call, eventually, newKey, newTenant } from './harness.js';
import { asTenant, startHttpNode, type HttpNode } from './instances/platform.js';

const PASSWORD = 'ledger-password-1';
let cp: ControlPlane;
let node: HttpNode | undefined;
let adminKey: string;
let tenant: { tenantId: string; key: string };
let ledger: { id: string; port: number };
/** Server clock (µs) read after each row's commit: later than that commit, before the next one's. */
const afterCommitMicros: number[] = [];

before(async () => {
  node = await startHttpNode({ rootName: 'backups-node', nodeId: 'node-backups', modules: [instancesModule, backupsModule], backups: true });
  cp = node.cp;
  adminKey = cp.bootstrapKey!;
  tenant = await newTenant(cp, adminKey, 'ledgers');
});
after(() => node?.close());

/** Polls until `probe` answers (two minutes: a backup on a loaded machine). */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000) => eventually(what, probe, timeoutMs);

async function waitActive(ref: string, key = tenant.key): Promise<any> {
  const reply = await call(cp.url, 'GET', `/v1/instances/${ref}/wait?timeoutMs=60000`, { key });
  assert.equal(reply.status, 200, reply.text);
  if (reply.json.currentOperation !== null) return waitActive(ref, key);
  assert.equal(reply.json.status, 'ACTIVE', reply.json.error);
  return reply.json;
}

async function backups(ref: string, all = false): Promise<any[]> {
  const reply = await call(cp.url, 'GET', `/v1/instances/${ref}/backups${all ? '?all=true' : ''}`, { key: tenant.key });
  assert.equal(reply.status, 200, reply.text);
  return reply.json.backups;
}

async function backupDone(backupId: string): Promise<any> {
  return waitFor(`backup ${backupId}`, async () => {
    const reply = await call(cp.url, 'GET', `/v1/backups/${backupId}`, { key: tenant.key });
    return reply.json.status === 'RUNNING' || reply.json.status === 'DELETING' ? undefined : reply.json;
  });
}

async function query(port: number, sql: string, params: unknown[] = []): Promise<any[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app_owner', password: PASSWORD, database: 'app' });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function events(ref: string): Promise<string[]> {
  return (await call(cp.url, 'GET', `/v1/instances/${ref}/operations`, { key: tenant.key })).json.events.map((event: { kind: string }) => event.kind);
}

test('a new instance takes its first full backup on its own, and only a COMPLETED one opens the restore window', async () => {
  const created = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body: { name: 'ledger', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }] } });
  assert.equal(created.status, 202, created.text);
  const active = await waitActive('ledger');
  ledger = { id: active.id, port: active.port };
  const initial = await waitFor('the initial backup', async () => (await backups('ledger')).find((b) => b.trigger === 'initial'));
  const done = await backupDone(initial.id);
  assert.equal(done.status, 'COMPLETED', done.error);
  assert.equal(done.type, 'full');
  assert.match(done.label, /^\d{8}-\d{6}F$/);
  assert.ok(done.sizeBytes > 1_000_000 && done.storedBytes > 0 && done.storedBytes < done.sizeBytes);
  const listed = (await call(cp.url, 'GET', '/v1/instances/ledger/backups', { key: tenant.key })).json;
  assert.equal(listed.restorableFrom, done.restorableFrom);
  assert.ok((await events('ledger')).includes('backup_completed'));
});

test('a point-in-time restore into a new instance brings back exactly the rows committed before the moment, as the same users', async () => {
  // The restore window opens a second after the first backup's recorded end: the rows come after it.
  const opensAt = Date.parse((await call(cp.url, 'GET', '/v1/instances/ledger/backups', { key: tenant.key })).json.restorableFrom);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, opensAt - Date.now() + 10)));
  await query(ledger.port, 'create table entries (id integer primary key, amount integer not null)');
  for (let row = 0; row < 20; row++) {
    await query(ledger.port, 'insert into entries values ($1, $2)', [row, row * 10]);
    afterCommitMicros.push(Number((await query(ledger.port, 'select (extract(epoch from clock_timestamp()) * 1000000)::bigint::text as micros'))[0].micros));
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  const cut = 11;
  const time = new Date(Math.ceil((afterCommitMicros[cut] as number) / 1000)).toISOString();
  const restore = await call(cp.url, 'POST', '/v1/instances/ledger/restore', { key: tenant.key, body: { name: 'ledger-pitr', time } });
  assert.equal(restore.status, 202, restore.text);
  assert.equal(restore.json.status, 'BUILD');
  assert.equal(restore.json.currentOperation.kind, 'restore');
  const copy = await waitActive('ledger-pitr');
  assert.notEqual(copy.port, ledger.port);
  assert.equal(copy.connectionString, `postgres://app_owner@127.0.0.1:${copy.port}/app`);
  assert.deepEqual((await query(copy.port, 'select id from entries order by id')).map((r) => r.id), Array.from({ length: cut + 1 }, (_, i) => i));
  await query(copy.port, 'insert into entries values (100, 1)');
  assert.equal((await query(ledger.port, 'select count(*)::int as n from entries'))[0].n, 20, 'the source is untouched');
  // The copy archives into its own stanza and takes its own first backup.
  const own = await waitFor('the copy\'s initial backup', async () => (await backups('ledger-pitr')).find((b) => b.trigger === 'initial'));
  assert.equal((await backupDone(own.id)).status, 'COMPLETED');
});

test('a fork copies the present in one call and lives apart from its parent', async () => {
  const fork = await call(cp.url, 'POST', '/v1/instances/ledger/fork', { key: tenant.key, body: { name: 'ledger-fork' } });
  assert.equal(fork.status, 202, fork.text);
  assert.equal(fork.json.currentOperation.kind, 'fork');
  const forked = await waitActive('ledger-fork');
  assert.equal((await query(forked.port, 'select count(*)::int as n from entries'))[0].n, 20, 'every row committed before the fork');
  await query(forked.port, 'delete from entries');
  assert.equal((await query(ledger.port, 'select count(*)::int as n from entries'))[0].n, 20);
  assert.deepEqual(await asTenant(forked.port, 'app_owner', 'wrong-password', 'app', 'select 1'), { error: '28P01' }, 'the same SCRAM verifiers, not open to anyone');
});

test('a restore point, an incremental backup, a restore to each, and deleting a backup', async () => {
  const point = await call(cp.url, 'POST', '/v1/instances/ledger/restore-points', { key: tenant.key, body: { name: 'before-drop' } });
  assert.equal(point.status, 202, point.text);
  assert.equal(point.json.status, 'PENDING');
  await waitFor('the restore point', async () => ((await call(cp.url, 'GET', '/v1/instances/ledger/restore-points', { key: tenant.key })).json.restorePoints as any[]).find((p) => p.name === 'before-drop' && p.status === 'CREATED'));
  const incr = await call(cp.url, 'POST', '/v1/instances/ledger/backups', { key: tenant.key, body: { type: 'incr' } });
  assert.equal(incr.status, 202, incr.text);
  const running = await call(cp.url, 'POST', '/v1/instances/ledger/backups', { key: tenant.key, body: {} });
  assert.equal(running.status, 409, 'one backup of an instance at a time');
  assert.equal(running.json.error.code, 'backup_running');
  const incrDone = await backupDone(incr.json.id);
  assert.equal(incrDone.status, 'COMPLETED', incrDone.error);
  assert.equal(incrDone.type, 'incr');
  assert.ok(incrDone.priorLabel);
  await query(ledger.port, 'drop table entries');

  const undrop = await call(cp.url, 'POST', '/v1/instances/ledger/restore', { key: tenant.key, body: { name: 'ledger-undrop', restorePoint: 'before-drop' } });
  assert.equal(undrop.status, 202, undrop.text);
  assert.equal((await query((await waitActive('ledger-undrop')).port, 'select count(*)::int as n from entries'))[0].n, 20);
  const atIncr = await call(cp.url, 'POST', '/v1/instances/ledger/restore', { key: tenant.key, body: { name: 'ledger-at-incr', backup: incr.json.id } });
  assert.equal(atIncr.status, 202, atIncr.text);
  assert.equal((await query((await waitActive('ledger-at-incr')).port, 'select count(*)::int as n from entries'))[0].n, 20, 'the table as the backup saw it, before the drop');

  const deleted = await call(cp.url, 'DELETE', `/v1/backups/${incr.json.id}`, { key: tenant.key });
  assert.equal(deleted.status, 202, deleted.text);
  assert.equal(deleted.json.status, 'DELETING');
  assert.equal((await backupDone(incr.json.id)).status, 'DELETED');
  assert.ok(!(await backups('ledger')).some((b) => b.id === incr.json.id), 'gone from the list');
  assert.ok((await backups('ledger', true)).some((b) => b.id === incr.json.id && b.status === 'DELETED'), 'kept in the history');
});

test('an instance restored in place is RESTORING, then ACTIVE at the same address with the state of the target, and takes a new base backup', async () => {
  const none = await call(cp.url, 'POST', '/v1/instances/ledger/restore-in-place', { key: tenant.key, body: {} });
  assert.equal(none.status, 400);
  assert.equal(none.json.error.code, 'invalid_request');
  const started = await call(cp.url, 'POST', '/v1/instances/ledger/restore-in-place', { key: tenant.key, body: { restorePoint: 'before-drop' } });
  assert.equal(started.status, 202, started.text);
  assert.equal(started.json.status, 'RESTORING');
  assert.equal(started.json.currentOperation.kind, 'restore');
  const busy = await call(cp.url, 'POST', '/v1/instances/ledger/restart', { key: tenant.key });
  assert.equal(busy.json.error.code, 'instance_busy');
  const back = await waitActive('ledger');
  assert.equal(back.port, ledger.port, 'the same address');
  assert.equal((await query(ledger.port, 'select count(*)::int as n from entries'))[0].n, 20, 'the dropped table is back');
  const base = await waitFor('the base backup of the new timeline', async () => (await backups('ledger')).find((b) => b.trigger === 'restore'));
  assert.equal((await backupDone(base.id)).status, 'COMPLETED');
});

test('a schedule takes backups on its cron, the retention expires older ones, verify checks them, and a periodic restore test restores the latest state', async () => {
  const set = await call(cp.url, 'PUT', '/v1/instances/ledger/backup-policy', { key: tenant.key, body: { schedule: { cron: '*/2 * * * * *', type: 'full' }, retention: { fullBackups: 1 } } });
  assert.equal(set.status, 200, set.text);
  assert.deepEqual(set.json, { schedule: { cron: '*/2 * * * * *', timezone: 'UTC', type: 'full' }, retention: { fullBackups: 1 }, verify: null });
  const scheduled = await waitFor('a scheduled backup', async () => (await backups('ledger')).find((b) => b.trigger === 'scheduled' && b.status === 'COMPLETED'));
  assert.equal((await call(cp.url, 'PUT', '/v1/instances/ledger/backup-policy', { key: tenant.key, body: { schedule: null } })).json.schedule, null);
  // The retention kept one full backup: the earlier full (the initial one) expired with it.
  const all = await waitFor('the initial backup to expire', async () => {
    const list = await backups('ledger', true);
    return list.find((b) => b.trigger === 'initial')?.status === 'EXPIRED' ? list : undefined;
  });
  assert.ok(all.some((b) => b.id === scheduled.id && b.status === 'COMPLETED'));
  const verify = await call(cp.url, 'POST', '/v1/instances/ledger/backups/verify', { key: tenant.key, body: {} });
  assert.equal(verify.status, 202, verify.text);
  const verified = (history: Array<{ kind: string; message: string; workflowId: string | null }>, scheduled: boolean) => {
    const failed = history.find((event) => event.kind === 'backups_verify_failed');
    if (failed) assert.fail(failed.message);
    return history.some((event) => event.kind === 'backups_verified' && (event.workflowId?.startsWith('sched:verify.') ?? false) === scheduled) ? true : undefined;
  };
  const history = async () => (await call(cp.url, 'GET', '/v1/instances/ledger/operations', { key: tenant.key })).json.events;
  await waitFor('the verification', async () => verified(await history(), false));
  // The periodic restore test: a schedule of its own, restoring the latest state into a scratch instance that must answer.
  const tests = await call(cp.url, 'PUT', '/v1/instances/ledger/backup-policy', { key: tenant.key, body: { verify: { cron: '*/2 * * * * *' } } });
  assert.deepEqual(tests.json.verify, { cron: '*/2 * * * * *', timezone: 'UTC' });
  assert.equal(tests.json.schedule, null, 'a field left out keeps its value');
  await waitFor('a scheduled restore test', async () => verified(await history(), true));
  assert.match((await history()).find((event: { kind: string; workflowId: string | null }) => event.kind === 'backups_verified' && event.workflowId?.startsWith('sched:verify.')).message, /restore of the latest state started and listed databases .*app/);
  assert.equal((await call(cp.url, 'PUT', '/v1/instances/ledger/backup-policy', { key: tenant.key, body: { verify: null } })).json.verify, null);
});

test('bad restores, policies and backups get typed errors and make nothing; other tenants and read-only keys are refused', async () => {
  const before = (await call(cp.url, 'GET', '/v1/instances', { key: tenant.key })).json.instances.length;
  const restore = (body: object) => call(cp.url, 'POST', '/v1/instances/ledger/restore', { key: tenant.key, body });
  const cases: Array<[object, number, string]> = [
    [{ name: 'x1', time: '2001-01-01T00:00:00Z' }, 400, 'before_first_backup'],
    [{ name: 'x2', time: new Date(Date.now() + 3_600_000).toISOString() }, 400, 'invalid_time'],
    [{ name: 'x3', time: 'yesterday' }, 400, 'invalid_time'],
    [{ name: 'x4', backup: 'bak_nope' }, 404, 'backup_not_found'],
    [{ name: 'x5', restorePoint: 'never-made' }, 404, 'restore_point_not_found'],
    [{ name: 'x6', restorePoint: 'before-drop', time: new Date().toISOString() }, 400, 'invalid_request'],
    [{ name: 'ledger-fork' }, 409, 'name_taken'],
    [{ name: 'Bad Name' }, 400, 'invalid_request'],
    [{ name: 'x7', flavor: 'huge' }, 400, 'invalid_request'],
    [{ name: 'x8', unknownField: 1 }, 400, 'invalid_request'],
  ];
  for (const [body, status, code] of cases) {
    const reply = await restore(body);
    assert.equal(reply.status, status, `${JSON.stringify(body)}: ${reply.text}`);
    assert.equal(reply.json.error.code, code, JSON.stringify(body));
  }
  const badCron = await call(cp.url, 'PUT', '/v1/instances/ledger/backup-policy', { key: tenant.key, body: { schedule: { cron: '61 * * * *' } } });
  assert.equal(badCron.status, 400);
  assert.equal(badCron.json.error.code, 'invalid_schedule');
  assert.equal((await call(cp.url, 'GET', '/v1/instances/ledger/backup-policy', { key: tenant.key })).json.schedule, null, 'the policy did not change');
  const badPoint = await call(cp.url, 'POST', '/v1/instances/ledger/restore-points', { key: tenant.key, body: { name: "x'; --" } });
  assert.equal(badPoint.json.error.code, 'invalid_request');
  const takenPoint = await call(cp.url, 'POST', '/v1/instances/ledger/restore-points', { key: tenant.key, body: { name: 'before-drop' } });
  assert.equal(takenPoint.json.error.code, 'restore_point_taken');
  assert.equal((await call(cp.url, 'POST', '/v1/instances/ledger/backups', { key: tenant.key, body: { type: 'weekly' } })).json.error.code, 'invalid_request');
  assert.equal((await call(cp.url, 'GET', '/v1/instances', { key: tenant.key })).json.instances.length, before, 'no instance was made');

  // A live instance's last full backup stays: its other backups and its restore window build on it.
  const forkFirst = await eventually("the fork's first backup", async () => (await backups('ledger-fork')).find((b) => b.type === 'full'), 120_000);
  assert.equal((await backupDone(forkFirst.id)).status, 'COMPLETED');
  const lastFull = await call(cp.url, 'DELETE', `/v1/backups/${forkFirst.id}`, { key: tenant.key });
  assert.equal(lastFull.status, 409, lastFull.text);
  assert.equal(lastFull.json.error.code, 'last_full_backup');
  assert.match(lastFull.json.error.message, /another full backup first/);
  assert.equal((await call(cp.url, 'GET', `/v1/backups/${forkFirst.id}`, { key: tenant.key })).json.status, 'COMPLETED', 'the refused delete changed nothing');

  const other = await newTenant(cp, adminKey, 'intruders');
  const mine = (await backups('ledger'))[0];
  assert.equal((await call(cp.url, 'GET', '/v1/instances/ledger/backups', { key: other.key })).status, 404);
  assert.equal((await call(cp.url, 'GET', `/v1/backups/${mine.id}`, { key: other.key })).status, 404);
  assert.equal((await call(cp.url, 'DELETE', `/v1/backups/${mine.id}`, { key: other.key })).status, 404);
  assert.equal((await call(cp.url, 'POST', `/v1/instances/${ledger.id}/restore`, { key: other.key, body: { name: 'stolen' } })).status, 404);
  assert.equal((await call(cp.url, 'POST', `/v1/instances/${ledger.id}/fork`, { key: other.key, body: { name: 'stolen' } })).status, 404);
  assert.deepEqual((await call(cp.url, 'GET', '/v1/instances', { key: other.key })).json.instances, []);
  const reader = await newKey(cp, tenant.key, 'read-only');
  assert.equal((await call(cp.url, 'GET', '/v1/instances/ledger/backups', { key: reader.key })).status, 200);
  assert.equal((await call(cp.url, 'POST', '/v1/instances/ledger/backups', { key: reader.key, body: {} })).status, 403);
  assert.equal((await call(cp.url, 'POST', '/v1/instances/ledger/fork', { key: reader.key, body: { name: 'nope' } })).status, 403);
});
