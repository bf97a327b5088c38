// Database instances end to end, below HTTP: the API's transactions (service), the operation
// workflows on the control plane's engine, and two real node agents running real PostgreSQL
// clusters — create, connect as the tenant, isolation, stop/start/restart/resize, delete,
// placement across nodes, jobs pinned to their node, and node liveness.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  checkNodeLiveness,
  createInstance,
  InstanceError,
  listTenantInstances,
  renameInstanceTo,
  startOperation,
  toInstanceJson,
  type InstanceRow,
} from '../src/instances/index.js';
import { asTenant, startPlatform, type TestPlatform } from './instances/platform.js';

let platform: TestPlatform;

before(async () => {
  platform = await startPlatform(['node-1', 'node-2']);
});
after(async () => {
  await platform?.close();
});

const PASSWORD_A = 'alpha-password-1';
const PASSWORD_B = 'bravo-password-2';

function request(name: string, user: string, password: string) {
  return { name, flavor: 'tiny', databases: ['app'], users: [{ name: user, password }], parameters: { statement_timeout: '30s' } };
}

async function expectError(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InstanceError || (error as { status?: number }).status !== undefined, `a typed error, got ${String(error)}`);
    assert.equal((error as InstanceError).code, code, (error as Error).message);
    assert.equal((error as InstanceError).status, status);
    return true;
  });
}

let alpha: InstanceRow;
let bravo: InstanceRow;

describe('create', () => {
  test('returns at once in BUILD; the instance becomes ACTIVE and answers SELECT 1 as the tenant user', async () => {
    const created = await createInstance(platform.deps, 'ten_a', request('alpha', 'alpha_owner', PASSWORD_A));
    assert.equal(created.status, 'BUILD');
    assert.equal(toInstanceJson(created).currentOperation?.kind, 'create');
    assert.match(created.instanceId, /^ins_[a-z2-7]{16}$/);
    alpha = await platform.waitForStatus(created.instanceId, ['ACTIVE', 'ERROR']);
    assert.equal(alpha.status, 'ACTIVE', alpha.error ?? '');
    const json = toInstanceJson(alpha);
    assert.equal(json.connectionString, `postgres://alpha_owner@127.0.0.1:${alpha.port}/app`);
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'show statement_timeout'), { rows: [{ statement_timeout: '30s' }] });
    // The password was stored only as a verifier.
    const { rows } = await platform.db.query<{ verifier: string }>(`select verifier from strata_cloud.instance_users where instance_id = $1`, [alpha.instanceId]);
    assert.match(rows[0]!.verifier, /^SCRAM-SHA-256\$/);
    const inputs = await platform.db.query<{ inputs: string }>(`select inputs from strata.workflows where inputs like '%' || $1 || '%'`, [PASSWORD_A]);
    assert.equal(inputs.rows.length, 0, 'no workflow input holds the plaintext password');
  });

  test('placement spreads instances over the nodes, and each node ran only its own jobs', async () => {
    const created = await createInstance(platform.deps, 'ten_b', request('bravo', 'bravo_owner', PASSWORD_B));
    bravo = await platform.waitForStatus(created.instanceId, ['ACTIVE', 'ERROR']);
    assert.equal(bravo.status, 'ACTIVE', bravo.error ?? '');
    assert.notEqual(bravo.nodeId, alpha.nodeId, 'the second instance goes to the emptier node');
    const { rows } = await platform.db.query<{ queue_name: string; executor_id: string }>(`select queue_name, executor_id from strata.workflows where name like 'agent.%'`);
    assert.ok(rows.length >= 2);
    for (const row of rows) assert.equal(row.executor_id, `agent:${row.queue_name.slice('agent.'.length)}`, `job on ${row.queue_name} ran on ${row.executor_id}`);
  });

  test("tenant A's credentials cannot connect to tenant B's instance, nor B's to A's", async () => {
    assert.deepEqual(await asTenant(bravo.port!, 'alpha_owner', PASSWORD_A, 'app', 'select 1'), { error: '28P01' });
    assert.deepEqual(await asTenant(alpha.port!, 'bravo_owner', PASSWORD_B, 'app', 'select 1'), { error: '28P01' });
    assert.deepEqual(await asTenant(bravo.port!, 'bravo_owner', PASSWORD_A, 'app', 'select 1'), { error: '28P01' });
  });

  test('bad input is refused with a typed error and nothing is created', async () => {
    const before = (await platform.db.query<{ n: number }>('select count(*)::int as n from strata_cloud.instances')).rows[0]!.n;
    await expectError(createInstance(platform.deps, 'ten_a', { ...request('Not_A_Label', 'u1', PASSWORD_A) }), 400, 'invalid_name');
    await expectError(createInstance(platform.deps, 'ten_a', { ...request('gamma', 'u1', PASSWORD_A), flavor: 'huge' }), 400, 'unknown_flavor');
    await expectError(createInstance(platform.deps, 'ten_a', { ...request('gamma', 'u1', PASSWORD_A), parameters: { shared_buffers: '1GB' } }), 400, 'unknown_parameter');
    await expectError(createInstance(platform.deps, 'ten_a', { ...request('gamma', 'u1', PASSWORD_A), parameters: { work_mem: '99TB' } }), 400, 'invalid_parameter');
    await expectError(createInstance(platform.deps, 'ten_a', { ...request('gamma', 'pg_evil', PASSWORD_A) }), 400, 'invalid_name');
    await expectError(createInstance(platform.deps, 'ten_a', request('alpha', 'u1', PASSWORD_A)), 409, 'name_taken');
    const after = (await platform.db.query<{ n: number }>('select count(*)::int as n from strata_cloud.instances')).rows[0]!.n;
    assert.equal(after, before);
  });

  test("another tenant's instance is not found, by ID or by name", async () => {
    await expectError(startOperation(platform.deps, 'ten_b', alpha.instanceId, 'stop'), 404, 'not_found');
    await expectError(startOperation(platform.deps, 'ten_b', 'alpha', 'stop'), 404, 'not_found');
    assert.deepEqual((await listTenantInstances(platform.deps, 'ten_b')).map((row) => row.name), ['bravo']);
  });
});

describe('operations', () => {
  test('a second operation while one runs is refused with instance_busy', async () => {
    const stopping = await startOperation(platform.deps, 'ten_a', 'alpha', 'stop');
    assert.equal(stopping.operationKind, 'stop');
    await expectError(startOperation(platform.deps, 'ten_a', 'alpha', 'restart'), 409, 'instance_busy');
    const stopped = await platform.waitForStatus(alpha.instanceId, ['STOPPED', 'ERROR']);
    assert.equal(stopped.status, 'STOPPED', stopped.error ?? '');
    assert.ok('error' in (await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'select 1')), 'a stopped instance refuses connections');
    await expectError(startOperation(platform.deps, 'ten_a', 'alpha', 'stop'), 409, 'invalid_state');
  });

  test('start and restart bring it back', async () => {
    await startOperation(platform.deps, 'ten_a', 'alpha', 'start');
    assert.equal((await platform.waitForStatus(alpha.instanceId, ['ACTIVE', 'ERROR'])).status, 'ACTIVE');
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
    await startOperation(platform.deps, 'ten_a', alpha.instanceId, 'restart');
    assert.equal((await platform.waitForStatus(alpha.instanceId, ['ACTIVE', 'ERROR'])).status, 'ACTIVE');
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
  });

  test("resize changes the flavor and the server's memory and connection settings", async () => {
    const resizing = await startOperation(platform.deps, 'ten_a', 'alpha', 'resize', { flavor: 'small' });
    assert.equal(resizing.status, 'RESIZE');
    const resized = await platform.waitForStatus(alpha.instanceId, ['ACTIVE', 'ERROR']);
    assert.equal(resized.status, 'ACTIVE', resized.error ?? '');
    assert.equal(resized.flavor, 'small');
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'show shared_buffers'), { rows: [{ shared_buffers: '64MB' }] });
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'show max_connections'), { rows: [{ max_connections: '50' }] });
    assert.deepEqual(await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'show statement_timeout'), { rows: [{ statement_timeout: '30s' }] }, "the tenant's parameters stay");
    await expectError(startOperation(platform.deps, 'ten_a', 'alpha', 'resize', { flavor: 'small' }), 400, 'same_flavor');
  });

  test('rename is visible at once; names are unique per tenant, not across tenants', async () => {
    const renamed = await renameInstanceTo(platform.deps, 'ten_a', 'alpha', 'alpha-renamed');
    assert.equal(renamed.name, 'alpha-renamed');
    await expectError(renameInstanceTo(platform.deps, 'ten_a', 'alpha-renamed', '-bad-'), 400, 'invalid_name');
    assert.equal((await renameInstanceTo(platform.deps, 'ten_b', 'bravo', 'alpha-renamed')).name, 'alpha-renamed', 'another tenant may use the name');
    assert.equal((await renameInstanceTo(platform.deps, 'ten_b', 'alpha-renamed', 'bravo')).name, 'bravo');
  });
});

describe('node liveness', () => {
  test("a node that stops heartbeating turns its instances UNKNOWN with an event; its return restores them", async () => {
    const node = platform.nodes.find((n) => n.nodeId === bravo.nodeId)!;
    await node.agent!.close();
    node.agent = undefined;
    // Stale after 1.5 s (the live node beats every 200 ms), measured on the database's clock: wait until the stopped node is that silent.
    const STALE_MS = 1_500;
    const deadline = Date.now() + 30_000;
    let change = await checkNodeLiveness(platform.db, STALE_MS);
    while (!change.lost.some((lost) => lost.instanceId === bravo.instanceId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      change = await checkNodeLiveness(platform.db, STALE_MS);
    }
    assert.deepEqual(change.lost, [{ instanceId: bravo.instanceId, nodeId: bravo.nodeId }], 'only the silent node\'s instance');
    assert.equal((await platform.waitForStatus(bravo.instanceId, ['UNKNOWN'], 1_000)).status, 'UNKNOWN');
    const events = await platform.db.query<{ kind: string }>(`select kind from strata_cloud.instance_events where instance_id = $1 order by event_id`, [bravo.instanceId]);
    assert.ok(events.rows.some((event) => event.kind === 'node_lost'));
    // Instances keep running while their agent is away.
    assert.deepEqual(await asTenant(bravo.port!, 'bravo_owner', PASSWORD_B, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
    await platform.startNode(node);
    assert.deepEqual(node.agent!.reconciled.removed, [], 'a restart removes nothing that exists');
    change = await checkNodeLiveness(platform.db, STALE_MS);
    assert.deepEqual(change.restored, [{ instanceId: bravo.instanceId, nodeId: bravo.nodeId, status: 'ACTIVE' }]);
  });
});

describe('delete', () => {
  test('removes the data directory and the server; the name is free again', async () => {
    const node = platform.nodes.find((n) => n.nodeId === alpha.nodeId)!;
    assert.ok(existsSync(node.files.dataDir(alpha.instanceId)));
    await startOperation(platform.deps, 'ten_a', 'alpha-renamed', 'delete');
    const deleted = await platform.waitForStatus(alpha.instanceId, ['DELETED', 'ERROR']);
    assert.equal(deleted.status, 'DELETED', deleted.error ?? '');
    assert.equal(existsSync(node.files.instanceDir(alpha.instanceId)), false);
    assert.ok('error' in (await asTenant(alpha.port!, 'alpha_owner', PASSWORD_A, 'app', 'select 1')), 'nothing listens on its port');
    await expectError(startOperation(platform.deps, 'ten_a', alpha.instanceId, 'start'), 404, 'not_found');
    assert.deepEqual((await listTenantInstances(platform.deps, 'ten_a')).map((row) => row.name), []);
  });
});
