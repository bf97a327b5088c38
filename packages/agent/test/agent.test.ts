// The node agent: registration and heartbeat, jobs that provision and run real PostgreSQL clusters
// for a tenant (who is not a superuser), and the reconcile that follows a restart.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { scramVerifier } from '@strata/postgres';
import { AgentError, NodeFiles, getNodeInstance, startAgent, type ProvisionOutput, type ReplicationOutput, type RunningAgent } from '../src/index.js';
import { AGENT_JOBS, QUIET, asTenant, hasPostmasterPid, runJob, sharedTemplate, systemDatabase, tempRoot } from './helpers.js';

const NODE = 'node-a';
const PASSWORD = 'tenant-password-1';

let system: Awaited<ReturnType<typeof systemDatabase>>;
let root: Awaited<ReturnType<typeof tempRoot>>;
let agent: RunningAgent | undefined;
let files: NodeFiles;
let templateDir: string;

before(async () => {
  system = await systemDatabase();
  root = await tempRoot('agent');
  templateDir = await sharedTemplate();
  files = new NodeFiles(root.dir, templateDir);
  agent = await startAgent({ database: system.db, nodeId: NODE, rootDir: root.dir, templateDir, capacity: { memoryMb: 2048, instances: 10 }, heartbeatIntervalMs: 100, logger: QUIET });
});

after(async () => {
  // Instances outlive the agent by design; the test removes what it made.
  if (agent) await agent.close();
  for (const id of await files.instanceIdsOnDisk()) {
    const { ManagedCluster } = await import('@strata/postgres');
    await ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(() => {});
  }
  await system.close();
  await root.remove();
});

function provisionInput(instanceId: string, user = 'app_owner') {
  return {
    instanceId,
    settings: { shared_buffers: '32MB', max_connections: '20', work_mem: '4MB' },
    limits: { memoryMb: 128, cpuShares: 256 },
    databases: ['app'],
    users: [{ name: user, verifier: scramVerifier(PASSWORD), grants: [{ database: 'app', privilege: 'all' as const }] }],
  };
}

describe('registration', () => {
  test('the node is registered with its capacity and heartbeats', async () => {
    const read = async () => {
      const { rows } = await system.db.query<{ capacity_memory_mb: number; capacity_instances: number; heartbeat_at: Date }>(
        'select capacity_memory_mb, capacity_instances, heartbeat_at from strata_cloud.nodes where node_id = $1', [NODE]);
      assert.ok(rows[0], 'the node is registered');
      return rows[0];
    };
    const first = await read();
    assert.equal(first.capacity_memory_mb, 2048);
    assert.equal(first.capacity_instances, 10);
    let later = first;
    for (let i = 0; i < 200 && later.heartbeat_at.getTime() === first.heartbeat_at.getTime(); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      later = await read();
    }
    assert.ok(later.heartbeat_at > first.heartbeat_at, 'the heartbeat moved forward');
  });

  test('a node ID that is not a lower-case name is refused before anything starts', async () => {
    await assert.rejects(startAgent({ database: system.db, nodeId: 'Node 1', rootDir: root.dir }), (error) => error instanceof AgentError && error.code === 'STRATA_AGENT_INVALID_CONFIG');
  });
});

describe('jobs', () => {
  test('provision makes a connectable instance whose tenant role is not a superuser and cannot escape', async () => {
    const { port, host } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_escape'));
    assert.equal(host, '127.0.0.1');
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
    const role = await asTenant(port, 'app_owner', PASSWORD, 'app', `select rolsuper, rolcreatedb from pg_roles where rolname = current_user`);
    assert.deepEqual(role, { rows: [{ rolsuper: false, rolcreatedb: true }] });
    // Reading server files and running programs need privileges the tenant does not have (42501).
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', `select pg_read_file('postgresql.conf')`), { error: '42501' });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', `create table t (x text); copy t from program 'id'`), { error: '42501' });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', `grant pg_execute_server_program to current_user`), { error: '42501' });
    // SCRAM only: a wrong password is refused (28P01), and strata_admin cannot log in over TCP at all.
    assert.deepEqual(await asTenant(port, 'app_owner', 'wrong-password', 'app', 'select 1'), { error: '28P01' });
    assert.ok('error' in (await asTenant(port, 'strata_admin', PASSWORD, 'postgres', 'select 1')));
    // The data directory is private to the server user.
    const { statSync } = await import('node:fs');
    assert.equal(statSync(files.dataDir('ins_escape')).mode & 0o777, 0o700);
  });

  test('a repeated provision adopts the instance: same port, nothing made twice', async () => {
    const first = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_twice'));
    const again = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_twice'));
    assert.equal(again.port, first.port);
    assert.deepEqual(await asTenant(first.port, 'app_owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
  });

  test('stop, start, restart and reconfigure act on the server and record what should run', async () => {
    const { port } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_power'));
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.stop, { instanceId: 'ins_power' }), { running: false });
    assert.equal(hasPostmasterPid(files.dataDir('ins_power')), false);
    assert.equal((await getNodeInstance(system.db, NODE, 'ins_power'))?.desired, 'stopped');
    assert.ok('error' in (await asTenant(port, 'app_owner', PASSWORD, 'app', 'select 1')), 'a stopped instance refuses connections');
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.start, { instanceId: 'ins_power' }), { running: true });
    assert.equal((await getNodeInstance(system.db, NODE, 'ins_power'))?.desired, 'running');
    const reconfigured = await runJob<{ restartRequired: string[] }>(system.client, NODE, AGENT_JOBS.reconfigure, { instanceId: 'ins_power', settings: { shared_buffers: '64MB', work_mem: '8MB' } });
    assert.deepEqual(reconfigured.restartRequired, ['shared_buffers']);
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: '8MB' }] }, 'reloaded at once');
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.restart, { instanceId: 'ins_power' }), { running: true });
    assert.deepEqual(await asTenant(port, 'app_owner', PASSWORD, 'app', 'show shared_buffers'), { rows: [{ shared_buffers: '64MB' }] }, 'applied by the restart');
  });

  test('destroy stops the server and removes the directory; a second destroy finds nothing', async () => {
    const { port } = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_gone'));
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_gone' }), { destroyed: true });
    assert.equal(existsSync(files.instanceDir('ins_gone')), false);
    assert.equal(await getNodeInstance(system.db, NODE, 'ins_gone'), undefined);
    assert.ok('error' in (await asTenant(port, 'app_owner', PASSWORD, 'app', 'select 1')), 'nothing listens any more');
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_gone' }), { destroyed: false });
  });

  test('replication applies that arrive out of order leave the newer: an older generation changes nothing, not even a newer replica\'s slot', async () => {
    const { ManagedCluster } = await import('@strata/postgres');
    const { settings, limits } = provisionInput('ins_gen_p');
    const primary = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_gen_p'));
    await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.replicate, { instanceId: 'ins_gen_r', primaryInstanceId: 'ins_gen_p', settings, limits });
    const cluster = await ManagedCluster.open(files.spec('ins_gen_p', primary.port, settings));
    const synchronous = async () => (await cluster.query<{ names: string }>("select current_setting('synchronous_standby_names') as names"))[0]!.names;
    const slots = async () => (await cluster.query<{ name: string }>('select slot_name as name from pg_replication_slots order by 1')).map((row) => row.name);
    const apply = (generation: number, standbys: string[], synchronousStandbys: string[]) =>
      runJob<ReplicationOutput>(system.client, NODE, AGENT_JOBS.replication, { instanceId: 'ins_gen_p', standbys, synchronousStandbys, generation });

    const newer = await apply(2, ['ins_gen_r'], ['ins_gen_r']);
    assert.deepEqual([newer.superseded, newer.droppedSlots], [false, []]);
    assert.match(await synchronous(), /"ins_gen_r"/);
    // An apply read before the replica existed, arriving late: it must neither unset nor drop.
    const older = await apply(1, [], []);
    assert.deepEqual([older.superseded, older.droppedSlots], [true, []]);
    assert.match(await synchronous(), /"ins_gen_r"/, 'the older apply left the synchronous standby');
    assert.deepEqual(await slots(), ['ins_gen_r'], "the older apply left the replica's slot");
    // The same generation again (a job resumed after a crash) applies again.
    assert.equal((await apply(2, ['ins_gen_r'], ['ins_gen_r'])).superseded, false);
    // The replica deleted (as the control plane does: destroyed first, then the apply).
    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_gen_r' }), { destroyed: true });
    const removal = await apply(3, [], []);
    assert.deepEqual([removal.superseded, removal.droppedSlots], [false, ['ins_gen_r']]);
    assert.equal(await synchronous(), '');
    assert.deepEqual(await slots(), []);
    await assert.rejects(apply(0, [], []), (error: Error & { code?: string }) => error.code === 'STRATA_AGENT_INVALID_INPUT' && /generation/.test(error.message));

    assert.deepEqual(await runJob(system.client, NODE, AGENT_JOBS.destroy, { instanceId: 'ins_gen_p' }), { destroyed: true });
  });

  test('a job for an instance the node does not have fails with a typed error', async () => {
    await assert.rejects(runJob(system.client, NODE, AGENT_JOBS.start, { instanceId: 'ins_nowhere' }), (error: Error & { code?: string }) => error.code === 'STRATA_AGENT_UNKNOWN_INSTANCE');
  });
});

describe('reconcile', () => {
  test('after a restart the agent starts what should run, stops what should not, and removes orphans', async () => {
    const keep = await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_keep'));
    await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_quiet'));
    await runJob<ProvisionOutput>(system.client, NODE, AGENT_JOBS.provision, provisionInput('ins_orphan'));
    await agent!.close();
    agent = undefined;
    // While the agent is down: one server dies, one should now be stopped, one instance no longer exists.
    const { ManagedCluster } = await import('@strata/postgres');
    const kept = await getNodeInstance(system.db, NODE, 'ins_keep');
    await (await ManagedCluster.open(files.spec('ins_keep', kept!.port, kept!.spec.settings))).stop('immediate');
    await system.db.query(`update strata_cloud.node_instances set desired = 'stopped' where node_id = $1 and instance_id = 'ins_quiet'`, [NODE]);
    await system.db.query(`delete from strata_cloud.node_instances where node_id = $1 and instance_id = 'ins_orphan'`, [NODE]);
    agent = await startAgent({ database: system.db, nodeId: NODE, rootDir: root.dir, templateDir, capacity: { memoryMb: 2048, instances: 10 }, heartbeatIntervalMs: 100, logger: QUIET });
    assert.ok(agent.reconciled.started.includes('ins_keep'), `started: ${agent.reconciled.started.join(', ')}`);
    assert.deepEqual(agent.reconciled.stopped, ['ins_quiet']);
    assert.deepEqual(agent.reconciled.removed, ['ins_orphan']);
    assert.equal(existsSync(files.instanceDir('ins_orphan')), false);
    assert.equal(hasPostmasterPid(files.dataDir('ins_quiet')), false);
    assert.deepEqual(await asTenant(keep.port, 'app_owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] });
  });
});
