// The backups of a deleted instance, over real HTTP with a node agent and a pgBackRest repository:
// they stay listed and restorable by the instance's ID (never its name, which a new instance may
// take), the tenant finds them with GET /v1/backups?deleted=true, and a restore brings back exactly
// the rows of its target into a new instance (latest, a time between two writes, a restore point,
// a backup; also through the CLI). Whatever needs a live instance is refused with a typed error, a
// time after the deletion too, and another tenant sees nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { backupsModule, instancesModule, type ControlPlane } from '../src/index.js';
import { call, eventually, newKey, newTenant } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

const PASSWORD = 'archive-password-1';
const CLI = fileURLToPath(new URL('../../cli/bin/strata.js', import.meta.url));
/** One CLI run starts tsx (a second or more on a loaded machine); a `--wait` restore takes a restore's time on top. */
const CLI_TIMEOUT_MS = 180_000;

let cp: ControlPlane;
let node: HttpNode | undefined;
let tenant: { tenantId: string; key: string };
let other: { tenantId: string; key: string };
/** The instance that is deleted, as it was while it lived. */
let gone: { id: string; port: number };
/** The deleted instance's backups: its first (full) and an incremental taken after the second write. */
let initialBackupId: string;
let incrBackupId: string;
/** A moment between the two writes (server clock), and the deletion as the API reports it. */
let between: string;
let deletedAt: string;

before(async () => {
  node = await startHttpNode({ rootName: 'backups-deleted-node', nodeId: 'node-deleted', modules: [instancesModule, backupsModule], backups: true });
  cp = node.cp;
  tenant = await newTenant(cp, cp.bootstrapKey!, 'museum');
  other = await newTenant(cp, cp.bootstrapKey!, 'burglars');
});
after(() => node?.close());

/** Polls until `probe` answers (two minutes: a backup or restore on a loaded machine). */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000) => eventually(what, probe, timeoutMs);

const api = (method: string, path: string, body?: object, key = tenant.key) => call(cp.url, method, path, { key, ...(body === undefined ? {} : { body }) });

/** Waits (up to five minutes: restores queue behind each other on a loaded machine) until `ref`'s operation ends; it must end ACTIVE. */
async function waitActive(ref: string): Promise<any> {
  for (let round = 0; round < 5; round++) {
    const reply = await api('GET', `/v1/instances/${ref}/wait?timeoutMs=60000`);
    assert.equal(reply.status, 200, reply.text);
    if (reply.json.currentOperation !== null) continue;
    assert.equal(reply.json.status, 'ACTIVE', reply.json.error);
    return reply.json;
  }
  assert.fail(`instance ${ref} is still busy after five minutes`);
}

async function backupDone(backupId: string): Promise<any> {
  const done = await waitFor(`backup ${backupId}`, async () => {
    const reply = await api('GET', `/v1/backups/${backupId}`);
    assert.equal(reply.status, 200, reply.text);
    return reply.json.status === 'RUNNING' || reply.json.status === 'DELETING' ? undefined : reply.json;
  });
  return done;
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

const ids = async (port: number) => (await query(port, 'select id from exhibits order by id')).map((row) => row.id as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Inserts rows `from`..`to`, one commit each; returns the server's clock after the last commit. */
async function write(port: number, from: number, to: number): Promise<string> {
  for (const id of range(from, to)) await query(port, 'insert into exhibits values ($1)', [id]);
  const micros = Number((await query(port, 'select (extract(epoch from clock_timestamp()) * 1000000)::bigint::text as micros'))[0].micros);
  return new Date(Math.ceil(micros / 1000)).toISOString();
}

/** Runs the real `strata` binary against the control plane, as the tenant. */
function strata(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, STRATA_API_URL: cp.url, STRATA_API_KEY: tenant.key };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: CLI_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(new Error(`strata ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

test('a deleted instance keeps its backups and restore points: listed by its ID (not its name) and among the tenant\'s deleted instances', async () => {
  const created = await api('POST', '/v1/instances', { name: 'archive', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }] });
  assert.equal(created.status, 202, created.text);
  const active = await waitActive('archive');
  gone = { id: active.id, port: active.port };
  const initial = await waitFor('the initial backup', async () => ((await api('GET', '/v1/instances/archive/backups')).json.backups as any[]).find((b) => b.trigger === 'initial'));
  assert.equal((await backupDone(initial.id)).status, 'COMPLETED');
  initialBackupId = initial.id;

  // The restore window opens a second after the first backup's recorded end: the rows come after it.
  const opensAt = Date.parse((await api('GET', '/v1/instances/archive/backups')).json.restorableFrom);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, opensAt - Date.now() + 10)));
  await query(gone.port, 'create table exhibits (id integer primary key)');
  between = await write(gone.port, 1, 5);
  const point = await api('POST', '/v1/instances/archive/restore-points', { name: 'after-first' });
  assert.equal(point.status, 202, point.text);
  await waitFor('the restore point', async () => ((await api('GET', '/v1/instances/archive/restore-points')).json.restorePoints as any[]).find((p) => p.status === 'CREATED'));
  await write(gone.port, 6, 10);
  const incr = await api('POST', '/v1/instances/archive/backups', { type: 'incr' });
  assert.equal(incr.status, 202, incr.text);
  assert.equal((await backupDone(incr.json.id)).status, 'COMPLETED');
  incrBackupId = incr.json.id;

  assert.equal((await api('DELETE', '/v1/instances/archive')).status, 202);
  const listed = await waitFor('the deleted instance in GET /v1/backups?deleted=true', async () => {
    const reply = await api('GET', '/v1/backups?deleted=true');
    assert.equal(reply.status, 200, reply.text);
    return (reply.json.instances as any[]).find((entry) => entry.id === gone.id);
  });
  deletedAt = listed.deletedAt;
  const window = (await api('GET', `/v1/instances/${gone.id}/backups`)).json;
  assert.deepEqual(listed, {
    id: gone.id, name: 'archive', status: 'DELETED', flavor: 'tiny', deletedAt, backups: 2,
    lastBackupAt: (await backupDone(incrBackupId)).stoppedAt, restorableFrom: window.restorableFrom, restorableUntil: deletedAt,
  });
  assert.ok(Date.parse(deletedAt) > Date.parse(between), 'deleted after the writes');
  assert.deepEqual((await api('GET', '/v1/backups?deleted=false')).json.instances, [], 'no live instance has backups');
  assert.deepEqual((await api('GET', '/v1/backups')).json.instances.map((entry: any) => entry.id), [gone.id]);

  // By ID: its backups, window, restore points and each backup; by name: not found (names are reused).
  assert.deepEqual(window.backups.map((b: any) => [b.id, b.status]), [[incrBackupId, 'COMPLETED'], [initialBackupId, 'COMPLETED']]);
  assert.equal(window.restorableUntil, deletedAt);
  assert.deepEqual(((await api('GET', `/v1/instances/${gone.id}/restore-points`)).json.restorePoints as any[]).map((p) => [p.name, p.status]), [['after-first', 'CREATED']]);
  assert.equal((await api('GET', `/v1/backups/${incrBackupId}`)).json.instanceId, gone.id);
  const byName = await api('GET', '/v1/instances/archive/backups');
  assert.equal(byName.status, 404, byName.text);
  assert.equal(byName.json.error.code, 'not_found');
  assert.match(byName.json.error.message, /GET \/v1\/backups\?deleted=true/);
});

test('a deleted instance restores by its ID into new instances, ACTIVE with exactly the rows of the target: latest, a time between the writes, a restore point, a backup', async () => {
  const restores: Array<[string, object, number[]]> = [
    // Its old name is free: the latest state comes back under it.
    ['archive', {}, range(1, 10)],
    ['archive-between', { time: between }, range(1, 5)],
    ['archive-point', { restorePoint: 'after-first' }, range(1, 5)],
    ['archive-incr', { backup: incrBackupId }, range(1, 10)],
  ];
  for (const [name, target] of restores) {
    const started = await api('POST', `/v1/instances/${gone.id}/restore`, { name, ...target });
    assert.equal(started.status, 202, `${name}: ${started.text}`);
    assert.equal(started.json.currentOperation.kind, 'restore');
  }
  for (const [name, , expected] of restores) {
    const copy = await waitActive(name);
    assert.notEqual(copy.id, gone.id);
    assert.deepEqual(await ids(copy.port), expected, name);
  }
  const history = (await api('GET', '/v1/instances/archive/operations')).json.events as Array<{ kind: string; message: string }>;
  assert.match(history.find((event) => event.kind === 'restore_started')!.message, new RegExp(`of "archive" \\(${gone.id}, deleted at ${deletedAt.replace(/[.]/g, '\\.')}\\)`));
  // The name now belongs to the new instance; the deleted one is still there by its ID.
  assert.notEqual((await api('GET', '/v1/instances/archive/backups')).json.restorableUntil, deletedAt);
  assert.equal((await api('GET', `/v1/instances/${gone.id}/backups`)).json.restorableUntil, deletedAt);
});

test('the CLI lists deleted instances with backups, lists a deleted one\'s backups by ID, and restores it', async () => {
  const deleted = await strata(['backups', 'deleted', '--json']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual((JSON.parse(deleted.stdout) as any[]).map((entry) => [entry.id, entry.name, entry.deletedAt]), [[gone.id, 'archive', deletedAt]]);
  const table = await strata(['backups', 'deleted']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^${gone.id}\\s+archive\\s+\\S+\\s+2\\s`, 'm'));
  const list = await strata(['backups', 'list', gone.id]);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(list.stdout.includes(incrBackupId) && list.stdout.includes(initialBackupId), list.stdout);
  assert.match(list.stdout, new RegExp(`restorable until: ${deletedAt.replace(/[.]/g, '\\.')}`));
  const restored = await strata(['restore', gone.id, '--name', 'archive-cli', '--time', between, '--wait', '--json']);
  assert.equal(restored.code, 0, restored.stderr);
  const copy = JSON.parse(restored.stdout);
  assert.equal(copy.status, 'ACTIVE');
  assert.deepEqual(await ids(copy.port), range(1, 5));
  const refused = await strata(['fork', gone.id, '--name', 'archive-fork']);
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /instance_deleted/);
});

test('what needs a live instance is refused with instance_deleted, a time after the deletion with after_deletion, and another tenant sees none of it', async () => {
  const count = async () => (await api('GET', '/v1/instances')).json.instances.length;
  const before = await count();
  const refusals: Array<[string, string, object | undefined]> = [
    ['POST', 'fork', { name: 'x-fork' }],
    ['POST', 'restore-in-place', { backup: incrBackupId }],
    ['POST', 'backups', { type: 'full' }],
    ['GET', 'backup-policy', undefined],
    ['PUT', 'backup-policy', { schedule: { cron: '0 3 * * *' } }],
    ['POST', 'restore-points', { name: 'too-late' }],
    ['POST', 'backups/verify', {}],
  ];
  for (const [method, path, body] of refusals) {
    const reply = await api(method, `/v1/instances/${gone.id}/${path}`, body);
    assert.equal(reply.status, 409, `${method} ${path}: ${reply.text}`);
    assert.equal(reply.json.error.code, 'instance_deleted', `${method} ${path}`);
    assert.ok(reply.json.error.message.includes(`POST /v1/instances/${gone.id}/restore`), `${method} ${path} says what to do: ${reply.json.error.message}`);
  }
  const late = await api('POST', `/v1/instances/${gone.id}/restore`, { name: 'x-late', time: new Date(Date.parse(deletedAt) + 500).toISOString() });
  assert.equal(late.status, 400, late.text);
  assert.equal(late.json.error.code, 'after_deletion');
  assert.ok(late.json.error.message.includes(`ends at ${deletedAt}`), late.json.error.message);
  const early = await api('POST', `/v1/instances/${gone.id}/restore`, { name: 'x-early', time: '2001-01-01T00:00:00Z' });
  assert.equal(early.json.error.code, 'before_first_backup');
  assert.equal((await api('POST', `/v1/instances/${gone.id}/restore`, { name: 'x-point', restorePoint: 'never-made' })).json.error.code, 'restore_point_not_found');
  assert.equal(await count(), before, 'no instance was made');

  // Another tenant: not found, exactly as for an ID that never existed (nothing says it was deleted).
  const theirs = (method: string, path: string, body?: object) => api(method, path, body, other.key);
  assert.deepEqual((await theirs('GET', '/v1/backups?deleted=true')).json.instances, []);
  for (const [method, path, body] of [
    ['GET', `/v1/instances/${gone.id}/backups`, undefined],
    ['GET', `/v1/instances/${gone.id}/restore-points`, undefined],
    ['POST', `/v1/instances/${gone.id}/restore`, { name: 'stolen' }],
    ['POST', `/v1/instances/${gone.id}/fork`, { name: 'stolen' }],
    ['POST', `/v1/instances/${gone.id}/backups`, {}],
    ['GET', `/v1/backups/${incrBackupId}`, undefined],
    ['DELETE', `/v1/backups/${incrBackupId}`, undefined],
  ] as Array<[string, string, object | undefined]>) {
    const reply = await theirs(method, path, body);
    assert.equal(reply.status, 404, `${method} ${path}: ${reply.text}`);
    assert.ok(!reply.text.includes('deleted at'), `${method} ${path} leaks nothing`);
  }
  assert.deepEqual((await theirs('GET', '/v1/instances')).json.instances, []);
  const reader = await newKey(cp, tenant.key, 'read-only');
  assert.equal((await api('GET', `/v1/instances/${gone.id}/backups`, undefined, reader.key)).status, 200);
  assert.equal((await api('POST', `/v1/instances/${gone.id}/restore`, { name: 'x-reader' }, reader.key)).status, 403);
  assert.equal((await api('DELETE', `/v1/backups/${incrBackupId}`, undefined, reader.key)).status, 403);
});

test("a deleted instance's backup can be deleted: it leaves the list, and the instance's count drops", async () => {
  const deleting = await api('DELETE', `/v1/backups/${incrBackupId}`);
  assert.equal(deleting.status, 202, deleting.text);
  assert.equal(deleting.json.status, 'DELETING');
  assert.equal((await backupDone(incrBackupId)).status, 'DELETED');
  assert.deepEqual(((await api('GET', `/v1/instances/${gone.id}/backups`)).json.backups as any[]).map((b) => b.id), [initialBackupId]);
  const entry = ((await api('GET', '/v1/backups?deleted=true')).json.instances as any[]).find((e) => e.id === gone.id);
  assert.equal(entry.backups, 1);
  const gonePoint = await api('POST', `/v1/instances/${gone.id}/restore`, { name: 'x-gone', backup: incrBackupId });
  assert.equal(gonePoint.status, 409, gonePoint.text);
  assert.equal(gonePoint.json.error.code, 'invalid_state');

  // Its last full backup too (pgBackRest keeps one per stanza): the rest of its history goes with it.
  const lastFull = await api('DELETE', `/v1/backups/${initialBackupId}`);
  assert.equal(lastFull.status, 202, lastFull.text);
  assert.equal((await backupDone(initialBackupId)).status, 'DELETED');
  assert.deepEqual((await api('GET', `/v1/instances/${gone.id}/backups`)).json.backups, [], 'no backup is left');
  assert.deepEqual((await api('GET', `/v1/instances/${gone.id}/restore-points`)).json.restorePoints, [], 'nor a restore point to restore to');
  assert.equal(((await api('GET', '/v1/backups?deleted=true')).json.instances as any[]).find((e) => e.id === gone.id), undefined, 'it leaves the deleted instances with backups');
  const nothingLeft = await api('POST', `/v1/instances/${gone.id}/restore`, { name: 'x-nothing' });
  assert.equal(nothingLeft.status, 409, nothingLeft.text);
  assert.equal(nothingLeft.json.error.code, 'no_backup');
});

test(
  'rows committed after the last backup come back too: the window of a deleted instance reaches its deletion',
  async () => {
    const created = await api('POST', '/v1/instances', { name: 'unsealed', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }] });
    assert.equal(created.status, 202, created.text);
    const active = await waitActive('unsealed');
    const initial = await waitFor('the initial backup', async () => ((await api('GET', '/v1/instances/unsealed/backups')).json.backups as any[]).find((b) => b.trigger === 'initial'));
    assert.equal((await backupDone(initial.id)).status, 'COMPLETED');
    const opensAt = Date.parse((await api('GET', '/v1/instances/unsealed/backups')).json.restorableFrom);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, opensAt - Date.now() + 10)));
    await query(active.port, 'create table exhibits (id integer primary key)');
    const moment = await write(active.port, 1, 3);
    await write(active.port, 4, 6);
    assert.equal((await api('DELETE', '/v1/instances/unsealed')).status, 202);
    await waitFor('the deleted instance', async () => ((await api('GET', '/v1/backups?deleted=true')).json.instances as any[]).find((entry) => entry.id === active.id));
    assert.equal((await api('POST', `/v1/instances/${active.id}/restore`, { name: 'unsealed-latest' })).status, 202);
    assert.equal((await api('POST', `/v1/instances/${active.id}/restore`, { name: 'unsealed-between', time: moment })).status, 202);
    assert.deepEqual(await ids((await waitActive('unsealed-latest')).port), range(1, 6));
    assert.deepEqual(await ids((await waitActive('unsealed-between')).port), range(1, 3));
  },
);

test('a stopped instance archived its last commits as it stopped: its latest state restores with them', async () => {
  const created = await api('POST', '/v1/instances', { name: 'resting', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }] });
  assert.equal(created.status, 202, created.text);
  const active = await waitActive('resting');
  const initial = await waitFor('the initial backup', async () => ((await api('GET', '/v1/instances/resting/backups')).json.backups as any[]).find((b) => b.trigger === 'initial'));
  assert.equal((await backupDone(initial.id)).status, 'COMPLETED');
  await query(active.port, 'create table exhibits (id integer primary key)');
  await write(active.port, 1, 4);
  assert.equal((await api('POST', '/v1/instances/resting/stop')).status, 202);
  await waitFor('the stop', async () => ((await api('GET', '/v1/instances/resting')).json.status === 'STOPPED' ? true : undefined));
  assert.equal((await api('POST', '/v1/instances/resting/restore', { name: 'resting-copy' })).status, 202);
  assert.deepEqual(await ids((await waitActive('resting-copy')).port), range(1, 4));
});
