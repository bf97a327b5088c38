// Power control (scale to zero): instances suspended frozen or stopped and woken again with their
// data, holds that keep an instance awake, jobs that wake what they work on, the sampler that does
// not, the reconcile after a restart, a wake storm within its bound, compute time per minute, and
// a frozen server SIGKILLed and woken. Real PostgreSQL instances; the freezer where this runs as root.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ManagedCluster, freezerAvailable, isFrozen, scramVerifier, thawInstance } from '@strata/postgres';
import { MAX_CONCURRENT_STARTS, MetricsSampler, NodeFiles, startAgent, type ProvisionOutput, type RunningAgent } from '../src/index.js';
import { AGENT_JOBS, QUIET, hasPostmasterPid, runJob, sharedTemplate, systemDatabase, tempRoot } from './helpers.js';

const NODE = 'node-power';
const PASSWORD = 'tenant-password-1';
/** Enough for a statement to answer many times over on a running server; a frozen one never does. */
const FROZEN_OBSERVATION_MS = 300;
/** Instances woken at once in the storm: more than MAX_CONCURRENT_STARTS, so some must wait. */
const STORM_INSTANCES = 20;

const frozenTier = await freezerAvailable();

let system: Awaited<ReturnType<typeof systemDatabase>>;
let root: Awaited<ReturnType<typeof tempRoot>>;
let agent: RunningAgent | undefined;
let files: NodeFiles;
let templateDir: string;

function startNodeAgent(): Promise<RunningAgent> {
  // No timers of their own: the tests sample and flush when they check.
  return startAgent({ database: system.db, nodeId: NODE, rootDir: root.dir, templateDir, capacity: { memoryMb: 16_384, instances: 40 }, heartbeatIntervalMs: 200, metricsIntervalMs: 0, power: { computeFlushIntervalMs: 0 }, logger: QUIET });
}

function running(): RunningAgent {
  assert.ok(agent, 'the agent runs');
  return agent;
}

before(async () => {
  system = await systemDatabase();
  root = await tempRoot('power');
  templateDir = await sharedTemplate();
  files = new NodeFiles(root.dir, templateDir);
  agent = await startNodeAgent();
});

after(async () => {
  if (agent) await agent.close();
  // Instances outlive the agent by design; the test removes what it made (a destroy thaws a frozen one).
  await Promise.all((await files.instanceIdsOnDisk()).map((id) => ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(() => {})));
  await system.close();
  await root.remove();
});

function provisionInput(instanceId: string) {
  return {
    instanceId,
    settings: { shared_buffers: '16MB', max_connections: '10' },
    limits: { memoryMb: 128, cpuShares: 256 },
    databases: ['app'],
    users: [{ name: 'app_owner', verifier: scramVerifier(PASSWORD), grants: [{ database: 'app', privilege: 'all' as const }] }],
  };
}

async function provision(instanceId: string): Promise<number> {
  return (await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput(instanceId))).port;
}

/** A tenant session over TCP (SCRAM). */
async function tenant(port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app_owner', password: PASSWORD, database: 'app', connectionTimeoutMillis: 30_000 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Runs `sql` as the tenant on a fresh connection. */
async function asTenant<R>(port: number, sql: string): Promise<R[]> {
  const client = await tenant(port);
  try {
    return (await client.query(sql)).rows as R[];
  } finally {
    await client.end();
  }
}

async function powerRow(instanceId: string): Promise<{ state: string; wakes: number; last_wake_from: string | null; last_wake_ms: number | null } | undefined> {
  const { rows } = await system.db.query<{ state: string; wakes: string; last_wake_from: string | null; last_wake_ms: number | null }>(
    'select state, wakes, last_wake_from, last_wake_ms from strata_cloud.instance_power where node_id = $1 and instance_id = $2', [NODE, instanceId]);
  const row = rows[0];
  return row === undefined ? undefined : { ...row, wakes: Number(row.wakes) };
}

async function postmasterPid(instanceId: string): Promise<number> {
  return Number((await readFile(join(files.dataDir(instanceId), 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

describe('suspend and wake', () => {
  test('frozen: a statement waits until the wake, the server keeps its sessions, and the wake is recorded', { skip: !frozenTier && 'needs the cgroup freezer (root on Linux)' }, async () => {
    const power = running().power;
    const port = await provision('ins_frz');
    const session = await tenant(port);
    try {
      assert.equal(await power.suspend('ins_frz', 'frozen'), true);
      assert.equal(power.state('ins_frz'), 'frozen');
      assert.equal(await isFrozen(files.dataDir('ins_frz')), true);
      let woken = false;
      let answeredAfterWake: boolean | undefined;
      const pending = session.query('select 41 + 1 as answer').then((result) => {
        answeredAfterWake = woken;
        return result.rows;
      });
      await new Promise((resolve) => setTimeout(resolve, FROZEN_OBSERVATION_MS));
      assert.equal(answeredAfterWake, undefined, 'no answer while frozen');
      woken = true;
      await power.wake('ins_frz');
      assert.deepEqual(await pending, [{ answer: 42 }]);
      assert.equal(answeredAfterWake, true, 'answered after the wake');
      assert.equal(power.state('ins_frz'), 'running');
      assert.equal(power.lastWake('ins_frz')?.from, 'frozen');
      await power.flush();
      assert.deepEqual(await powerRow('ins_frz'), { state: 'running', wakes: 1, last_wake_from: 'frozen', last_wake_ms: power.lastWake('ins_frz')?.wakeMs ?? null });
    } finally {
      await session.end();
    }
  });

  test('stopped: the server is shut down, and a wake starts it with its data', async () => {
    const power = running().power;
    const port = await provision('ins_stp');
    await asTenant(port, 'create table kept (n int); insert into kept select generate_series(1, 100)');
    assert.equal(await power.suspend('ins_stp', 'stopped'), true);
    assert.equal(power.state('ins_stp'), 'stopped');
    assert.equal(hasPostmasterPid(files.dataDir('ins_stp')), false, 'no server runs');
    await power.flush();
    assert.equal((await powerRow('ins_stp'))?.state, 'stopped');
    await power.wake('ins_stp');
    assert.deepEqual(await asTenant(port, 'select count(*)::int as n, sum(n)::int as total from kept'), [{ n: 100, total: 5050 }]);
    assert.equal(power.lastWake('ins_stp')?.from, 'stopped');
    // Suspended as deep already, or not at all: a wake of a running instance does nothing.
    await power.wake('ins_stp');
    assert.equal(power.stats().starts >= 1, true);
  });

  test('concurrent wakes of one instance share one start', async () => {
    const power = running().power;
    const port = await provision('ins_share');
    assert.equal(await power.suspend('ins_share', 'stopped'), true);
    const startsBefore = power.stats().starts;
    await Promise.all([power.wake('ins_share'), power.wake('ins_share'), power.wake({ instanceId: 'ins_share', nodeId: NODE })]);
    assert.equal(power.stats().starts - startsBefore, 1);
    assert.deepEqual(await asTenant(port, 'select 1 as one'), [{ one: 1 }]);
    await assert.rejects(power.wake({ instanceId: 'ins_share', nodeId: 'node-elsewhere' }), (error: Error & { code?: string }) => error.code === 'STRATA_AGENT_UNKNOWN_INSTANCE');
  });

  test('a held instance is not suspended (either tier) until released', async () => {
    const power = running().power;
    await provision('ins_held');
    const release = power.hold('ins_held', 'a test job');
    assert.deepEqual(power.holders('ins_held'), ['a test job']);
    assert.equal(await power.suspend('ins_held', 'frozen'), false);
    assert.equal(await power.suspend('ins_held', 'stopped'), false);
    assert.equal(power.state('ins_held'), 'running');
    assert.equal(hasPostmasterPid(files.dataDir('ins_held')), true);
    release();
    release();
    assert.deepEqual(power.holders('ins_held'), []);
    assert.equal(await power.suspend('ins_held', 'stopped'), true);
    await power.wake('ins_held');
  });

  test('only primaries without standbys are suspended: not a replica, not its primary', async () => {
    const power = running().power;
    await provision('ins_prim');
    const { settings, limits } = provisionInput('ins_prim');
    const replica = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.replicate, { instanceId: 'ins_prim_r', primaryInstanceId: 'ins_prim', settings, limits });
    for (const tier of ['frozen', 'stopped'] as const) {
      assert.equal(await power.suspend('ins_prim', tier), false, `the primary is not ${tier}`);
      assert.equal(await power.suspend('ins_prim_r', tier), false, `the replica is not ${tier}`);
    }
    assert.equal(power.state('ins_prim'), 'running');
    assert.equal(power.state('ins_prim_r'), 'running');
    assert.ok(replica.port > 0);
    await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_prim_r' });
  });

  test('an instance its owner stopped is neither suspended nor started by a wake', async () => {
    const power = running().power;
    await provision('ins_owner');
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.stop, { instanceId: 'ins_owner' }), { running: false });
    assert.equal(await power.suspend('ins_owner', 'stopped'), false);
    await power.wake('ins_owner');
    assert.equal(hasPostmasterPid(files.dataDir('ins_owner')), false);
    await assert.rejects(power.suspend('ins_nowhere', 'frozen'), (error: Error & { code?: string }) => error.code === 'STRATA_AGENT_UNKNOWN_INSTANCE');
  });
});

describe('jobs, sampler and compute time', () => {
  test('a job on a suspended instance wakes it: the admin job on a frozen and on a stopped one, then an owner stop and start', async () => {
    const power = running().power;
    const port = await provision('ins_jobs');
    const listDatabases = () => runJob<{ databases: Array<{ name: string }> }>(system.client, NODE, AGENT_JOBS.admin, { kind: 'listDatabases', instanceId: 'ins_jobs' });
    for (const tier of frozenTier ? (['frozen', 'stopped'] as const) : (['stopped'] as const)) {
      assert.equal(await power.suspend('ins_jobs', tier), true);
      const { databases } = await listDatabases();
      assert.ok(databases.some((database) => database.name === 'app'), `the admin job answered on a ${tier} instance`);
      assert.equal(power.state('ins_jobs'), 'running');
    }
    // The owner's stop of a suspended instance ends its suspension; the start runs it again.
    assert.equal(await power.suspend('ins_jobs', frozenTier ? 'frozen' : 'stopped'), true);
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.stop, { instanceId: 'ins_jobs' }), { running: false });
    assert.equal(power.state('ins_jobs'), 'running', 'no longer suspended: stopped by its owner');
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.start, { instanceId: 'ins_jobs' }), { running: true });
    assert.deepEqual(await asTenant(port, 'select 1 as one'), [{ one: 1 }]);
  });

  test('the sampler does not wake a suspended instance: its row records the power state', async () => {
    const power = running().power;
    await provision('ins_sampled');
    const tier = frozenTier ? 'frozen' : 'stopped';
    assert.equal(await power.suspend('ins_sampled', tier), true);
    const sampler = new MetricsSampler({ db: system.db, nodeId: NODE, files, power }, { intervalMs: 60_000, retentionMs: 3_600_000, logger: QUIET });
    await sampler.sampleOnce();
    const { rows } = await system.db.query<{ power_state: string; connections: number | null }>(
      `select power_state, connections from strata_cloud.instance_metrics where instance_id = 'ins_sampled' order by at desc limit 1`);
    assert.deepEqual(rows, [{ power_state: tier, connections: null }]);
    assert.equal(power.state('ins_sampled'), tier, 'still suspended');
    await power.wake('ins_sampled');
    await sampler.sampleOnce();
    const { rows: after } = await system.db.query<{ power_state: string; connections: number | null }>(
      `select power_state, connections from strata_cloud.instance_metrics where instance_id = 'ins_sampled' order by at desc limit 1`);
    assert.equal(after[0]?.power_state, 'running');
    assert.equal(typeof after[0]?.connections, 'number');
  });

  test('compute time: running instances get running_ms per minute; a suspended one gets none while suspended', async () => {
    const power = running().power;
    await provision('ins_meter');
    const total = async () => {
      const { rows } = await system.db.query<{ ms: string | null; minutes: string }>(
        `select sum(running_ms)::text as ms, count(*)::text as minutes from strata_cloud.instance_compute where instance_id = 'ins_meter'`);
      return { ms: Number(rows[0]?.ms ?? 0), minutes: Number(rows[0]?.minutes ?? 0) };
    };
    await power.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok((await power.flush()) > 0, 'the flush wrote rows');
    const counted = await total();
    assert.ok(counted.ms > 0 && counted.minutes >= 1, `running time was counted: ${JSON.stringify(counted)}`);
    assert.equal(await power.suspend('ins_meter', 'stopped'), true);
    await power.flush();
    const atSuspend = await total();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await power.flush();
    assert.deepEqual(await total(), atSuspend, 'nothing counted while suspended');
    await power.wake('ins_meter');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await power.flush();
    assert.ok((await total()).ms > atSuspend.ms, 'counted again once woken');
  });

  test('a frozen server SIGKILLed, then woken, ends up running (started again)', { skip: !frozenTier && 'needs the cgroup freezer (root on Linux)' }, async () => {
    const power = running().power;
    const port = await provision('ins_killed');
    await asTenant(port, 'create table kept (n int); insert into kept values (7)');
    assert.equal(await power.suspend('ins_killed', 'frozen'), true);
    const pid = await postmasterPid('ins_killed');
    process.kill(pid, 'SIGKILL');
    await power.wake('ins_killed');
    assert.notEqual(await postmasterPid('ins_killed'), pid, 'a new postmaster');
    assert.deepEqual(await asTenant(port, 'select n from kept'), [{ n: 7 }]);
    assert.equal(power.state('ins_killed'), 'running');
    assert.equal(await isFrozen(files.dataDir('ins_killed')), false);
  });
});

describe('a wake storm', () => {
  test(`${STORM_INSTANCES} instances woken at once all answer, no more than MAX_CONCURRENT_STARTS start at a time, and a thaw does not wait behind them`, async () => {
    const power = running().power;
    const ids = Array.from({ length: STORM_INSTANCES }, (_, i) => `ins_storm_${String(i).padStart(2, '0')}`);
    const ports = await Promise.all([...ids, 'ins_storm_thaw'].map((id) => provision(id)));
    const suspended = await Promise.all(ids.map((id) => power.suspend(id, 'stopped')));
    assert.deepEqual(suspended, ids.map(() => true));
    if (frozenTier) assert.equal(await power.suspend('ins_storm_thaw', 'frozen'), true);
    const before = power.stats();
    const storm = Promise.all(ids.map((id) => power.wake(id)));
    if (frozenTier) {
      // Asked for after the storm's starts, done while some of them are still running or waiting.
      await power.wake('ins_storm_thaw');
      const during = power.stats();
      assert.ok(during.startsInFlight + during.startsQueued > 0, 'the thaw finished before the storm did');
    }
    await storm;
    const after = power.stats();
    assert.equal(after.starts - before.starts, STORM_INSTANCES);
    assert.ok(after.peakStartsInFlight <= MAX_CONCURRENT_STARTS, `at most ${MAX_CONCURRENT_STARTS} at once, saw ${after.peakStartsInFlight}`);
    assert.ok(after.peakStartsQueued > 0, 'the rest waited their turn');
    assert.equal(after.startsInFlight, 0);
    assert.equal(after.startsQueued, 0);
    const answers = await Promise.all(ports.map((port) => asTenant<{ one: number }>(port, 'select 1 as one')));
    assert.deepEqual(answers, ports.map(() => [{ one: 1 }]));
    for (const id of [...ids, 'ins_storm_thaw']) assert.equal(power.state(id), 'running');
    await Promise.all([...ids, 'ins_storm_thaw'].map((instanceId) => runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId })));
  });
});

describe('reconcile after a restart', () => {
  test('a suspended-stopped instance stays stopped; a frozen one whose processes are gone is recorded stopped; both wake', async () => {
    const power = running().power;
    const stoppedPort = await provision('ins_rs_stopped');
    const frozenPort = await provision('ins_rs_frozen');
    await asTenant(frozenPort, 'create table kept (n int); insert into kept values (1)');
    assert.equal(await power.suspend('ins_rs_stopped', 'stopped'), true);
    const tier = frozenTier ? 'frozen' : 'stopped';
    assert.equal(await power.suspend('ins_rs_frozen', tier), true);
    await running().close();
    agent = undefined;
    assert.equal((await powerRow('ins_rs_frozen'))?.state, tier);
    if (frozenTier) {
      // A reboot, as far as this instance is concerned: its processes are gone, the record still says frozen.
      process.kill(await postmasterPid('ins_rs_frozen'), 'SIGKILL');
      assert.equal(await thawInstance(files.dataDir('ins_rs_frozen')), false);
    }
    agent = await startNodeAgent();
    const report = agent.reconciled;
    assert.ok(report.suspended.includes('ins_rs_stopped') && report.suspended.includes('ins_rs_frozen'), `left suspended: ${report.suspended.join(', ')}`);
    assert.ok(!report.started.includes('ins_rs_stopped') && !report.started.includes('ins_rs_frozen'));
    if (frozenTier) assert.deepEqual(report.powerCorrected.filter((change) => change.instanceId === 'ins_rs_frozen'), [{ instanceId: 'ins_rs_frozen', from: 'frozen', to: 'stopped' }]);
    assert.equal(hasPostmasterPid(files.dataDir('ins_rs_stopped')), false);
    assert.equal(agent.power.state('ins_rs_stopped'), 'stopped');
    assert.equal(agent.power.state('ins_rs_frozen'), 'stopped');
    assert.equal((await powerRow('ins_rs_frozen'))?.state, 'stopped');
    await agent.power.wake('ins_rs_stopped');
    await agent.power.wake('ins_rs_frozen');
    assert.deepEqual(await asTenant(stoppedPort, 'select 1 as one'), [{ one: 1 }]);
    assert.deepEqual(await asTenant(frozenPort, 'select n from kept'), [{ n: 1 }]);
  });

  test('a destroyed instance leaves no power record', async () => {
    const power = running().power;
    await provision('ins_gone');
    assert.equal(await power.suspend('ins_gone', 'stopped'), true);
    await power.flush();
    assert.equal((await powerRow('ins_gone'))?.state, 'stopped');
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_gone' }), { destroyed: true });
    assert.equal(await powerRow('ins_gone'), undefined);
    assert.equal(power.state('ins_gone'), 'running');
  });
});
