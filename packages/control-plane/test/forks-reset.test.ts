// A fork reset to its parent's present, over real HTTP: a control plane with the instance and
// backup modules and a node agent with a pgBackRest repository, in one process on the embedded
// default. The fork keeps its ID and address; its data becomes the parent's present (its own writes
// gone); its old backups are retired and its history starts anew with a full backup, into which it
// archives again — twice in a row, so no WAL of its new life collides with what its stanza held;
// a parent, a stopped parent's fork and another tenant's fork are refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { backupsModule, instancesModule, type ControlPlane } from '../src/index.js';
import { call, eventually, newTenant } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

const PASSWORD = 'preview-password-1';
let cp: ControlPlane;
let node: HttpNode | undefined;
let tenant: { tenantId: string; key: string };
let other: { tenantId: string; key: string };

before(async () => {
  node = await startHttpNode({ rootName: 'forks-reset-node', nodeId: 'node-forks', modules: [instancesModule, backupsModule], backups: true });
  cp = node.cp;
  tenant = await newTenant(cp, cp.bootstrapKey!, 'previews');
  other = await newTenant(cp, cp.bootstrapKey!, 'strangers');
});
after(() => node?.close());

const api = (method: string, path: string, body?: object, key = tenant.key) => call(cp.url, method, path, { key, ...(body === undefined ? {} : { body }) });
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => eventually(what, probe, 180_000);

async function settled(ref: string): Promise<any> {
  for (let round = 0; round < 5; round++) {
    const reply = await api('GET', `/v1/instances/${ref}/wait?timeoutMs=60000`);
    assert.equal(reply.status, 200, reply.text);
    if (reply.json.currentOperation === null) return reply.json;
  }
  assert.fail(`instance ${ref} is still busy after five minutes`);
}

async function active(ref: string): Promise<any> {
  const row = await settled(ref);
  assert.equal(row.status, 'ACTIVE', row.error);
  return row;
}

async function query(port: number, sql: string): Promise<any[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app_owner', password: PASSWORD, database: 'app' });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function ids(port: number): Promise<number[]> {
  return (await query(port, 'select id from notes order by id')).map((row) => Number(row.id));
}

/** The instance's backups once none runs. */
async function settledBackups(ref: string): Promise<any[]> {
  return waitFor(`the backups of ${ref}`, async () => {
    const list = (await api('GET', `/v1/instances/${ref}/backups?all=true`)).json.backups as any[];
    return list.length > 0 && list.every((b) => b.status !== 'RUNNING' && b.status !== 'DELETING') ? list : undefined;
  });
}

/** A restore point made on `ref` reaches CREATED only if its WAL was archived into its stanza. */
async function restorePointArchived(ref: string, name: string): Promise<void> {
  assert.equal((await api('POST', `/v1/instances/${ref}/restore-points`, { name })).status, 202);
  const point = await waitFor(`restore point ${name}`, async () => ((await api('GET', `/v1/instances/${ref}/restore-points`)).json.restorePoints as any[]).find((p) => p.name === name && p.status !== 'PENDING'));
  assert.equal(point.status, 'CREATED', JSON.stringify(point));
}

test('a fork reset to its parent\'s present: same ID and address, the parent\'s rows, its own gone, its history anew — twice', async () => {
  assert.equal((await api('POST', '/v1/instances', { name: 'origin', flavor: 'tiny', databases: ['app'], users: [{ name: 'app_owner', password: PASSWORD }] })).status, 202);
  const origin = await active('origin');
  await settledBackups('origin');
  await query(origin.port, 'create table notes (id integer primary key)');
  await query(origin.port, 'insert into notes values (1), (2), (3)');

  const forked = await api('POST', '/v1/instances/origin/fork', { name: 'preview' });
  assert.equal(forked.status, 202, forked.text);
  const preview = await active('preview');
  assert.equal(preview.forkedFrom, origin.id);
  assert.deepEqual(await ids(preview.port), [1, 2, 3]);
  const firstLife = await settledBackups('preview');
  await query(preview.port, 'insert into notes values (100)');
  await restorePointArchived('preview', 'before-reset');
  await query(origin.port, 'insert into notes values (4), (5)');

  for (const [round, expected] of [[1, [1, 2, 3, 4, 5]], [2, [1, 2, 3, 4, 5, 6]]] as const) {
    if (round === 2) await query(origin.port, 'insert into notes values (6)');
    const resetting = await api('POST', '/v1/instances/preview/reset');
    assert.equal(resetting.status, 202, resetting.text);
    assert.equal(resetting.json.status, 'RESTORING');
    const back = await active('preview');
    assert.deepEqual([back.id, back.port], [preview.id, preview.port], 'the same instance at the same address');
    assert.deepEqual(await ids(preview.port), expected, `round ${round}: the parent's present, and none of the fork's own rows`);
    const backups = await settledBackups('preview');
    const completed = backups.filter((b) => b.status === 'COMPLETED');
    assert.deepEqual(completed.map((b) => b.trigger), ['restore'], `round ${round}: one full backup after the reset starts its history anew, every older one is retired; backups: ${JSON.stringify(backups.map((b) => [b.trigger, b.status, b.error]))}`);
    for (const old of firstLife) assert.equal(backups.find((b) => b.id === old.id)?.status, 'EXPIRED', 'the old history is retired');
    assert.deepEqual(((await api('GET', '/v1/instances/preview/restore-points')).json.restorePoints as any[]).map((p) => p.name).filter((n) => n === 'before-reset'), []);
    // It archives into its new stanza: nothing of its new life collides with what was archived before.
    await query(preview.port, `insert into notes values (${200 + round})`);
    await restorePointArchived('preview', `after-reset-${round}`);
  }
  assert.deepEqual(await ids(origin.port), [1, 2, 3, 4, 5, 6], 'the parent is untouched');
});

test('a reset of an instance that is not a fork, of a fork whose parent is stopped, or of another tenant\'s fork is refused, nothing changed', async () => {
  const notFork = await api('POST', '/v1/instances/origin/reset');
  assert.equal(notFork.status, 409, notFork.text);
  assert.equal(notFork.json.error.code, 'not_a_fork');
  const stranger = await api('POST', '/v1/instances/preview/reset', undefined, other.key);
  assert.equal(stranger.status, 404, stranger.text);
  assert.equal((await api('POST', '/v1/instances/origin/stop')).status, 202);
  assert.equal((await settled('origin')).status, 'STOPPED');
  const parentStopped = await api('POST', '/v1/instances/preview/reset');
  assert.equal(parentStopped.status, 409, parentStopped.text);
  assert.equal(parentStopped.json.error.code, 'invalid_state');
  assert.equal((await settled('preview')).status, 'ACTIVE');
});
