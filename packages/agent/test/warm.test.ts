// Spare instances (src/warm/): a provision claims a started spare instead of copying and
// starting a cluster, and that stays correct — the tenant's settings apply, no spare is ever
// given twice, a provision re-run after a SIGKILL between the claim and the record adopts the
// same spare, and reconcile removes spares the pool no longer wants.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { ManagedCluster, scramVerifier } from '@strata/postgres';
import { openDatabase } from '@strata/store';
import { SeededRandom, engines, freshPostgresUrl, testSeed } from '@strata/testing';
import { StrataClient } from '@strata/transact';
import { NodeFiles, SparePool, agentQueue, agentVersion, getNodeInstance, startAgent, type ProvisionOutput, type RunningAgent } from '../src/index.js';
import { AGENT_JOBS, QUIET, asTenant, runJob, sharedTemplate, systemDatabase, tempRoot } from './helpers.js';

const PASSWORD = 'tenant-password-1';
/** What the spares start with: different from what the tenants ask for, so a claim must reload (work_mem) and restart (max_connections). */
const SPARE_SETTINGS = { work_mem: '1MB', max_connections: '30' };
const TENANT_SETTINGS = { work_mem: '8MB', max_connections: '25' };

function provisionInput(instanceId: string) {
  return {
    instanceId,
    settings: TENANT_SETTINGS,
    limits: { memoryMb: 128, cpuShares: 256 },
    databases: ['app'],
    users: [{ name: 'app_owner', verifier: scramVerifier(PASSWORD), grants: [{ database: 'app', privilege: 'all' as const }] }],
  };
}

/** Stops and removes every instance and spare under a root (both outlive their agent by design). */
async function removeEverything(rootDir: string, templateDir: string): Promise<void> {
  const files = new NodeFiles(rootDir, templateDir);
  for (const id of await files.instanceIdsOnDisk()) await ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(() => {});
  const pool = await SparePool.open({ rootDir, size: 0, template: () => files.template(), usedPorts: async () => new Set() });
  await pool.reconcile();
}

/** The spare directory an instance's directory links to (undefined when it is a plain copy). */
async function spareOf(rootDir: string, instanceId: string): Promise<string | undefined> {
  return readlink(join(rootDir, 'instances', instanceId)).catch(() => undefined);
}

async function postmasterPid(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('spares in one agent', () => {
  const NODE = 'node-warm';
  let system: Awaited<ReturnType<typeof systemDatabase>>;
  let root: Awaited<ReturnType<typeof tempRoot>>;
  let templateDir: string;
  let agent: RunningAgent | undefined;

  before(async () => {
    system = await systemDatabase();
    root = await tempRoot('warm');
    templateDir = await sharedTemplate();
    agent = await startAgent({ database: system.db, nodeId: NODE, rootDir: root.dir, templateDir, capacity: { memoryMb: 4096, instances: 10 }, heartbeatIntervalMs: 200, logger: QUIET, spares: 2 });
  });

  after(async () => {
    await agent?.close();
    await removeEverything(root.dir, templateDir);
    await system.close();
    await root.remove();
  });

  test('a provision from a spare is a working instance with the tenant settings in SHOW, whether they need a reload or a restart', async () => {
    assert.ok(agent);
    agent.spares.learn(SPARE_SETTINGS);
    await agent.spares.fill();
    const { port } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_warm1'));
    const spare = await spareOf(root.dir, 'ins_warm1');
    assert.ok(spare?.startsWith(join(root.dir, 'spares', 'live')), `the instance is a claimed spare (its directory links to ${spare})`);
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: '8MB' }] });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'show max_connections'), { rows: [{ max_connections: '25' }] });
    // The spare's empty database and role became the tenant's; nothing of the spare is left to see.
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', `select count(*)::int as n from pg_database where datname = 'strata_spare'`), { rows: [{ n: 0 }] });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', `select count(*)::int as n from pg_roles where rolname like 'strata_spare%'`), { rows: [{ n: 0 }] });
    // The spare role's grant in the database is now the owner's `all`: it can create tables in public.
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'create table kept (id int)'), { rows: [] });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'select count(*)::int as n from kept'), { rows: [{ n: 0 }] });
    // The node's row records the spare's port.
    assert.equal((await getNodeInstance(system.db, NODE, 'ins_warm1'))?.port, port);
    // The flavor's limits hold for the server, in the group of the spare's real directory.
    if (spare !== undefined && process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/cgroup.procs')) {
      const pid = await postmasterPid(join(spare, 'data'));
      const group = /memory:(\/strata\/[^\n]+)/.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
      assert.ok(group?.includes(spare.slice(spare.lastIndexOf('/') + 1)), `the server is in the spare's group (${group})`);
      assert.equal((await readFile(`/sys/fs/cgroup/memory${group}/memory.limit_in_bytes`, 'utf8')).trim(), String(128 * 1024 * 1024));
    }
  });

  test('a provision run again (as after a crash) changes nothing of a spare-made instance', async () => {
    const { port } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_warm1'), 'provision-ins_warm1-again');
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'select count(*)::int as n from kept'), { rows: [{ n: 0 }] });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', `select count(*)::int as n from pg_roles where rolname like 'strata_spare%'`), { rows: [{ n: 0 }] });
  });

  test('a spare whose role no user takes over (only a read grant, two databases) keeps no trace of it, and read stays read', async () => {
    assert.ok(agent);
    await agent.spares.fill();
    const input = {
      ...provisionInput('ins_warm_read'),
      databases: ['app', 'other'],
      users: [{ name: 'reporter', verifier: scramVerifier(PASSWORD), grants: [{ database: 'app', privilege: 'read' as const }] }],
    };
    const { port } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, input);
    assert.ok(await spareOf(root.dir, 'ins_warm_read'), 'it was served by a spare');
    assert.deepEqual(await asTenant(port, 'reporter', PASSWORD, 'app', `select count(*)::int as n from pg_roles where rolname like 'strata_spare%'`), { rows: [{ n: 0 }] });
    assert.deepEqual(await asTenant(port, 'reporter', PASSWORD, 'app', 'create table nope (id int)'), { error: '42501' }, 'read cannot create');
    assert.deepEqual(await asTenant(port, 'reporter', PASSWORD, 'other', 'select 1 as one'), { error: '42501' }, 'no grant on the second database: no connect');
  });

  test('concurrent claims never get the same spare', async () => {
    assert.ok(agent);
    await agent.spares.fill();
    const ready = await agent.spares.readyCount();
    assert.equal(ready, 2);
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => agent!.spares.claim(`ins_race${i}`)));
    const won = claims.filter((spare) => spare !== undefined);
    assert.equal(won.length, ready, 'as many claims win as there were spares');
    assert.equal(new Set(won.map((spare) => spare.spareId)).size, won.length, 'no spare is given twice');
    // Claiming again for the same instance returns its own spare, never another.
    for (let i = 0; i < claims.length; i++) assert.equal((await agent.spares.claim(`ins_race${i}`))?.spareId, claims[i]?.spareId);
    for (let i = 0; i < claims.length; i++) await agent.spares.release(`ins_race${i}`);
    assert.deepEqual(await readdir(join(root.dir, 'spares', 'claimed')), []);
  });

  test('two concurrent provisions get two different spares and both work', async () => {
    assert.ok(agent);
    await agent.spares.fill();
    const [a, b] = await Promise.all([
      runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_para')),
      runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_parb')),
    ]);
    assert.ok(a && b);
    assert.notEqual(a.port, b.port);
    const [spareA, spareB] = [await spareOf(root.dir, 'ins_para'), await spareOf(root.dir, 'ins_parb')];
    assert.ok(spareA && spareB, 'both were served by spares');
    assert.notEqual(spareA, spareB);
    for (const { port } of [a, b]) assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
  });

  test('each ready spare holds one warm admin session; its provision takes it (none is left open), and a claim hands the other one over alive', async () => {
    assert.ok(agent);
    // The spares start with the tenant's settings: no restart, so the session the spare made is the one used.
    agent.spares.learn(TENANT_SETTINGS, { memoryMb: 128, cpuShares: 256 });
    // Spares made before this learn have other settings: made again, they are all like the next create.
    for (const spareId of await readdir(join(root.dir, 'spares', 'ready'))) await agent.spares.claim(`ins_drop_${spareId}`);
    for (const spareId of await readdir(join(root.dir, 'spares', 'claimed'))) await agent.spares.release(spareId);
    await agent.spares.fill();
    const adminSessions = async (dir: string) => {
      const record = JSON.parse(await readFile(join(dir, 'data', 'strata-instance.json'), 'utf8')) as { port: number };
      const cluster = await ManagedCluster.open({ dataDir: join(dir, 'data'), socketDir: join(dir, 'socket'), port: record.port, settings: {} });
      // This query's own connection is on template1, so only other sessions count.
      return cluster.query<{ pid: number }>(`select pid from pg_stat_activity where usename = 'strata_admin' and datname = 'postgres'`, [], 'template1');
    };
    const ready = await Promise.all((await readdir(join(root.dir, 'spares', 'ready'))).map((spareId) => readlink(join(root.dir, 'spares', 'ready', spareId))));
    assert.equal(ready.length, 2);
    for (const dir of ready) assert.equal((await adminSessions(dir)).length, 1, `spare ${dir} holds one warm session on postgres`);
    const { port } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_warm_session'));
    const used = await spareOf(root.dir, 'ins_warm_session');
    assert.ok(used !== undefined && ready.includes(used), 'it was served by one of those spares');
    assert.equal(await agent.spares.takeSession('ins_warm_session'), undefined, 'the provision took the spare\'s session');
    // The session ends without waiting for its backend to exit: give that a moment (bounded).
    let left = await adminSessions(used);
    for (let tries = 0; left.length > 0 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = await adminSessions(used);
    }
    assert.deepEqual(left, [], 'and ended it: the tenant gets an instance with no admin session open');
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
    // The other spare's session is still there, and a claim hands it over alive.
    const other = ready.find((dir) => dir !== used)!;
    assert.equal((await adminSessions(other)).length, 1);
    assert.ok(await agent.spares.claim('ins_warm_take'));
    const session = await agent.spares.takeSession('ins_warm_take');
    assert.ok(session?.alive, 'a claimed spare\'s session is handed over');
    assert.deepEqual(await session.query('select current_database() as db, current_user as who'), [{ db: 'postgres', who: 'strata_admin' }]);
    session.close();
    await agent.spares.release('ins_warm_take');
  });

  test('destroying a spare-made instance removes the spare files too, and the spare is never handed out again', async () => {
    const spare = await spareOf(root.dir, 'ins_warm1');
    assert.ok(spare);
    const pid = await postmasterPid(join(spare, 'data'));
    await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_warm1' });
    assert.equal(existsSync(spare), false);
    assert.equal(existsSync(join(root.dir, 'instances', 'ins_warm1')), false);
    assert.equal(alive(pid), false);
    const ready = await readdir(join(root.dir, 'spares', 'ready'));
    assert.ok(!ready.includes(spare.slice(spare.lastIndexOf('/') + 1)));
  });
});

describe('spares across agent restarts', () => {
  let system: Awaited<ReturnType<typeof systemDatabase>>;
  let root: Awaited<ReturnType<typeof tempRoot>>;
  let templateDir: string;

  before(async () => {
    system = await systemDatabase();
    root = await tempRoot('warm-restart');
    templateDir = await sharedTemplate();
  });

  after(async () => {
    await removeEverything(root.dir, templateDir);
    await system.close();
    await root.remove();
  });

  test('reconcile stops and removes the spares a smaller pool no longer wants, and half-made ones', async () => {
    const NODE = 'node-shrink';
    const options = { database: system.db, nodeId: NODE, rootDir: root.dir, templateDir, capacity: { memoryMb: 4096, instances: 10 }, heartbeatIntervalMs: 200, logger: QUIET };
    const first = await startAgent({ ...options, spares: 2 });
    await first.spares.fill();
    await first.close();
    const liveDir = join(root.dir, 'spares', 'live');
    const before = await readdir(liveDir);
    assert.equal(before.length, 2);
    const pids = await Promise.all(before.map((id) => postmasterPid(join(liveDir, id, 'data'))));
    // A spare whose maker died mid-copy: files, no ready link.
    await mkdir(join(liveDir, 'halfmade', 'data'), { recursive: true });
    await writeFile(join(liveDir, 'halfmade', 'data', 'PG_VERSION'), '15\n');
    const second = await startAgent({ ...options, spares: 1 });
    try {
      assert.equal(second.sparesReconciled.removed.length, 2, `removed ${second.sparesReconciled.removed.join(', ')}`);
      assert.ok(second.sparesReconciled.removed.includes('halfmade'));
      const kept = await readdir(liveDir);
      assert.equal(kept.length, 1);
      assert.equal(await second.spares.readyCount(), 1);
      const gone = before.filter((id) => !kept.includes(id));
      assert.equal(gone.length, 1);
      assert.equal(alive(pids[before.indexOf(gone[0]!)]!), false, 'the removed spare\'s server is stopped');
      assert.equal(alive(pids[before.indexOf(kept[0]!)]!), true, 'the kept spare still runs');
      const { rows } = await system.db.query<{ capacity_instances: number }>('select capacity_instances from strata_cloud.nodes where node_id = $1', [NODE]);
      assert.equal(rows[0]?.capacity_instances, 9, 'the spare holds back one instance slot');
      // The kept spare's warm session ended with the first agent; the second opened it again.
      assert.ok(await second.spares.claim('ins_after_restart'));
      const session = await second.spares.takeSession('ins_after_restart');
      assert.ok(session?.alive, 'the kept spare has a warm session again');
      assert.deepEqual(await session.query('select current_user as who'), [{ who: 'strata_admin' }]);
      session.close();
      await second.spares.release('ins_after_restart');
    } finally {
      await second.close();
    }
  });

  test('a provision re-run after the agent was SIGKILLed between claiming a spare and recording it adopts the same spare', { skip: !engines().includes('postgres') && 'needs a PostgreSQL system database shared by two processes' }, async () => {
    const seed = testSeed('warm provision kill');
    const random = new SeededRandom(seed);
    const NODE = 'node-kill';
    const instanceId = `ins_kill${random.int(0, 9999)}`;
    // Its own PostgreSQL system database: the child process shares it.
    const url = await freshPostgresUrl();
    const db = await openDatabase({ url });
    const client = await StrataClient.connect({ database: db });
    const options = { database: db, nodeId: NODE, rootDir: root.dir, templateDir, capacity: { memoryMb: 4096, instances: 10 }, heartbeatIntervalMs: 200, logger: QUIET };
    const maker = await startAgent({ ...options, spares: 1 });
    await maker.spares.fill();
    await maker.close();
    const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', new URL('./warm-kill-child.ts', import.meta.url).pathname, url, NODE, root.dir, templateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const nextLine = (prefix: string) => new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => line.startsWith(prefix) && resolve(line));
      child.once('exit', (code) => reject(new Error(`the child exited (${code}) before printing ${prefix}`)));
    });
    await nextLine('CHILD READY');
    const handle = await client.enqueue<ProvisionOutput>({ workflow: AGENT_JOBS.provision, queue: agentQueue(NODE), appVersion: agentVersion(NODE), workflowId: `kill-${instanceId}` }, provisionInput(instanceId));
    const claimed = (await nextLine('CLAIMED')).split(' ')[1];
    assert.ok(claimed && claimed !== 'none', 'the child claimed the spare');
    await new Promise((resolve) => setTimeout(resolve, random.int(0, 50)));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.equal(await getNodeInstance(db, NODE, instanceId), undefined, 'the kill landed between the claim and the record');
    const restarted = await startAgent({ ...options, spares: 1 });
    try {
      assert.deepEqual(restarted.sparesReconciled.claimed, [instanceId], 'reconcile keeps the claimed spare for its job');
      const { port } = await handle.result({ timeoutMs: 120_000 });
      assert.equal(await spareOf(root.dir, instanceId), join(root.dir, 'spares', 'live', claimed), 'the re-run placed the spare the killed run had claimed');
      assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'show max_connections'), { rows: [{ max_connections: '25' }] });
    } finally {
      await restarted.close();
      await client.close();
      await db.close();
    }
  });
});
