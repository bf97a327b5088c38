// Crash safety of instance operations: the control-plane process and the agent process are
// SIGKILLed at seeded points during create, resize and delete, and (on the first instance) during
// the changes inside it — a database, a user, a grant, attaching a configuration group — then
// started again. Afterwards every operation has finished or was cleanly undone: no instance row
// without its cluster, no orphan data directory, no cluster running for a deleted instance; each
// change inside the instance happened once and is recorded once.
//
// The kill schedule comes from a seeded PRNG; the seed is printed. Replay or run more:
//   STRATA_TEST_SEED=<seed> node --conditions=development --import tsx --test packages/control-plane/test/instances-crash.test.ts
//   STRATA_INSTANCE_CRASH_ROUNDS=5 …   (instances per run, each created, resized and deleted; default 2)
// (Where a kill lands also depends on the machine's timing, so a narrow window may need a few runs.)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NodeFiles, listNodeInstances } from '@strata/agent';
import { scramVerifier } from '@strata/postgres';
import { loadMigrations, migrate, openDatabase } from '@strata/store';
import { SeededRandom, engines, freshPostgresUrl, testSeed } from '@strata/testing';
import { StrataClient } from '@strata/transact';
import { ADMIN_WORKFLOWS, type AdminActionInput, type ConfigureInput } from '../src/instance-admin/index.js';
import { beginConfigureOperation, insertConfigGroup } from '../src/instance-admin/sql/config-groups.js';
import type { AgentOutcome } from '../src/instances/agent-call.js';
import { OPERATIONS_QUEUE, createInstance, startOperation, type InstanceRow, type InstanceServiceDeps, type InstanceStatus } from '../src/instances/index.js';
import { newOperationId } from '../src/instances/names.js';
import { checkQuota } from '../src/tenancy/quotas.js';
import { insertTenant } from '../src/tenancy/sql/tenants.js';
import { Incarnation, killAllIncarnations } from './instances/incarnation.js';
import { CONTROL_PLANE_MIGRATIONS, asTenant, destroyAll, nodeRoot, sharedTemplate, waitForStatus } from './instances/platform.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONTROL_PLANE_MAIN = join(HERE, 'instances', 'crash-control-plane.ts');
const AGENT_MAIN = join(HERE, '..', '..', 'agent', 'src', 'main.ts');
const NODE_ID = 'crash-node';
const PASSWORD = 'crash-password-1';
const READER_PASSWORD = 'crash-reader-1';
/** The configuration group the admin phase attaches: a reloadable parameter the tiny and small flavors set otherwise. */
const GROUP = { groupId: 'cfg_crash', parameters: { work_mem: '8MB' } } as const;

/** Instances per run; each goes through create, resize and delete with a kill in each. */
const ROUNDS = Number(process.env.STRATA_INSTANCE_CRASH_ROUNDS ?? 2);
/**
 * A kill lands up to this long after the operation was requested: about as long as the operation
 * takes here (a create or resize ~0.5-2 s, a delete ~0.2-0.5 s), so most kills interrupt it.
 */
const KILL_WINDOW_MS = { create: 1_500, resize: 1_500, delete: 400, admin: 600 } as const;
/** Longest an operation may take to finish after the last restart. */
const OPERATION_TIMEOUT_MS = 120_000;

after(killAllIncarnations);

type Target = 'control-plane' | 'agent' | 'both';

test('instance operations survive SIGKILLs of the control plane and the agent', { skip: !engines().includes('postgres') && 'needs PostgreSQL (several processes share the system database)', timeout: 600_000 }, async () => {
  const seed = testSeed('instance operations crash');
  const random = new SeededRandom(seed);
  const url = await freshPostgresUrl();
  const rootDir = await nodeRoot('crash-node');
  const templateDir = await sharedTemplate();
  const files = new NodeFiles(rootDir, templateDir);
  const db = await openDatabase({ url });
  let client: StrataClient | undefined;
  const startControlPlane = () => new Incarnation(CONTROL_PLANE_MAIN, [url], 'CP READY');
  const startAgentProcess = () => new Incarnation(AGENT_MAIN, ['--database', url, '--node-id', NODE_ID, '--root', rootDir, '--template', templateDir, '--heartbeat-ms', '200', '--memory-mb', '8192'], 'AGENT READY');
  let controlPlane = startControlPlane();
  let agent = startAgentProcess();
  try {
    await controlPlane.ready;
    await agent.ready;
    await migrate(db, 'control-plane', loadMigrations(CONTROL_PLANE_MIGRATIONS));
    await db.transaction((tx) => insertTenant(tx, { tenantId: 'ten_crash', name: 'crash', platform: false, quotas: { instances: 100, storageMb: 1_000_000, connections: 100_000 } }));
    client = await StrataClient.connect({ database: db });
    const deps: InstanceServiceDeps = { db, client, checkQuota, scramVerifier };
    const log: string[] = [];

    /** Kills a seeded target after a seeded delay and starts it again; `what` says what it interrupted. */
    const killSomething = async (kind: keyof typeof KILL_WINDOW_MS, label: string, what: () => Promise<string>) => {
      const delayMs = random.int(0, KILL_WINDOW_MS[kind]);
      const target: Target = (['control-plane', 'agent', 'both'] as const)[random.int(0, 2)]!;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      log.push(`${kind} ${label}: kill ${target} at +${delayMs} ms (${await what()})`);
      if (target !== 'agent') await controlPlane.kill();
      if (target !== 'control-plane') await agent.kill();
      if (target !== 'agent') controlPlane = startControlPlane();
      if (target !== 'control-plane') agent = startAgentProcess();
      await controlPlane.ready;
      await agent.ready;
    };

    /** Requests an operation, kills a seeded target after a seeded delay, restarts it, waits for the outcome. */
    const withKill = async (kind: 'create' | 'resize' | 'delete', label: string, request: () => Promise<string>, settled: readonly InstanceStatus[]) => {
      const instanceId = await request();
      await killSomething(kind, `${label} ${instanceId}`, async () => {
        const running = (await db.query<{ operation_id: string | null }>(`select operation_id from strata_cloud.instances where instance_id = $1`, [instanceId])).rows[0]?.operation_id;
        return running ? 'interrupting it' : 'after it finished';
      });
      const row = await waitForStatus(db, instanceId, settled, OPERATION_TIMEOUT_MS);
      log.push(`  → ${row.status} ${row.flavor}${row.error ? ` (${row.error})` : ''}`);
      return row;
    };

    /** Enqueues a control-plane workflow as the API would, kills a seeded target meanwhile, and returns the workflow's outcome. */
    const adminWithKill = async <T>(label: string, workflow: string, workflowId: string, input: unknown): Promise<AgentOutcome<T>> => {
      await client!.enqueue({ workflow, queue: OPERATIONS_QUEUE, workflowId }, input);
      await killSomething('admin', label, async () => {
        const status = (await db.query<{ status: string }>(`select status from strata.workflows where workflow_id = $1`, [workflowId])).rows[0]?.status;
        return status === 'SUCCESS' ? 'after it finished' : 'interrupting it';
      });
      const outcome = await client!.retrieve<AgentOutcome<T>>(workflowId).result({ timeoutMs: OPERATION_TIMEOUT_MS });
      log.push(`  → ${outcome.ok ? 'ok' : `failed: ${outcome.error.message}`}`);
      return outcome;
    };

    /** A database, a user, a grant and a configuration group, each with a kill: each happens once and is recorded once. */
    const adminPhase = async (instance: InstanceRow) => {
      const { instanceId, nodeId } = instance;
      const actions: AdminActionInput['action'][] = [
        { kind: 'createDatabase', instanceId, database: 'extra' },
        { kind: 'createUser', instanceId, user: 'reader', verifier: scramVerifier(READER_PASSWORD) },
        { kind: 'grant', instanceId, user: 'reader', database: 'extra', privilege: 'read' },
      ];
      for (const action of actions) {
        const outcome = await adminWithKill(action.kind, ADMIN_WORKFLOWS.action, `crash-admin-${instanceId}-${action.kind}`, { nodeId, action } satisfies AdminActionInput);
        assert.ok(outcome.ok, `${action.kind} failed; ${log.join('\n')}`);
      }
      const version = await asTenant(instance.port!, 'owner', PASSWORD, 'app', `select current_setting('server_version_num')::int / 10000 as major`);
      assert.ok('rows' in version, JSON.stringify(version));
      await insertConfigGroup(db, { ...GROUP, tenantId: 'ten_crash', name: 'crash', description: '', majorVersion: Number(version.rows[0]!.major), restartRequired: [] });
      const operationId = newOperationId(instanceId, 'configure');
      assert.ok(await db.transaction((tx) => beginConfigureOperation(tx, instanceId, operationId)));
      const input: ConfigureInput = { instanceId, nodeId, groupId: GROUP.groupId, settings: GROUP.parameters, priorStatus: 'ACTIVE' };
      const configured = await adminWithKill<{ status: InstanceStatus }>('attach group', ADMIN_WORKFLOWS.configure, operationId, input);
      assert.ok(configured.ok && configured.output.status === 'ACTIVE', `attach failed; ${log.join('\n')}`);

      const message = log.join('\n');
      const recorded = (await db.query<{ databases: string[]; config_group_id: string | null; parameter_overrides: unknown; operation_id: string | null; status: string }>(
        `select databases, config_group_id, parameter_overrides, operation_id, status from strata_cloud.instances where instance_id = $1`,
        [instanceId],
      )).rows[0]!;
      assert.deepEqual([...recorded.databases].sort(), ['app', 'extra'], `the control plane records the new database once; ${message}`);
      assert.equal(recorded.config_group_id, GROUP.groupId, message);
      assert.deepEqual(typeof recorded.parameter_overrides === 'string' ? JSON.parse(recorded.parameter_overrides) : recorded.parameter_overrides, GROUP.parameters, message);
      assert.deepEqual([recorded.status, recorded.operation_id], ['ACTIVE', null], message);
      const users = await db.query<{ name: string; grants: unknown }>(`select name, grants from strata_cloud.instance_users where instance_id = $1 order by name`, [instanceId]);
      const reader = users.rows.find((row) => row.name === 'reader');
      assert.deepEqual(typeof reader?.grants === 'string' ? JSON.parse(reader.grants) : reader?.grants, [{ database: 'extra', privilege: 'read' }], `reader is recorded once, with one grant; ${message}`);
      assert.deepEqual(
        await asTenant(instance.port!, 'reader', READER_PASSWORD, 'extra', `select count(*)::int as n from pg_database where datname = 'extra'`),
        { rows: [{ n: 1 }] },
        `the reader logs in to the one new database; ${message}`,
      );
      assert.deepEqual(await asTenant(instance.port!, 'owner', PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: GROUP.parameters.work_mem }] }, message);
    };

    for (let round = 0; round < ROUNDS; round++) {
      const name = `crash-${round}`;
      const created = await withKill(
        'create',
        name,
        async () => (await createInstance(deps, 'ten_crash', { name, flavor: 'tiny', databases: ['app'], users: [{ name: 'owner', password: PASSWORD }] })).instanceId,
        ['ACTIVE', 'ERROR'],
      );
      if (created.status === 'ACTIVE') {
        assert.deepEqual(await asTenant(created.port!, 'owner', PASSWORD, 'app', 'select 1 as one'), { rows: [{ one: 1 }] }, log.join('\n'));
        const withAdmin = round === 0;
        if (withAdmin) await adminPhase(created);
        const resized = await withKill('resize', name, async () => (await startOperation(deps, 'ten_crash', name, 'resize', { flavor: 'small' })).instanceId, ['ACTIVE', 'ERROR']);
        if (resized.status === 'ACTIVE') {
          // Resized, or undone back to tiny: either way the settings match the recorded flavor, and the group's stay.
          const expected = resized.flavor === 'small' ? '64MB' : '32MB';
          assert.deepEqual(await asTenant(resized.port!, 'owner', PASSWORD, 'app', 'show shared_buffers'), { rows: [{ shared_buffers: expected }] }, log.join('\n'));
          if (withAdmin) assert.deepEqual(await asTenant(resized.port!, 'owner', PASSWORD, 'app', 'show work_mem'), { rows: [{ work_mem: GROUP.parameters.work_mem }] }, log.join('\n'));
        }
      }
      await withKill('delete', name, async () => (await startOperation(deps, 'ten_crash', name, 'delete')).instanceId, ['DELETED', 'ERROR']);
    }

    // The invariants, over everything the run made.
    const message = `seed ${seed}:\n${log.join('\n')}`;
    const instances = await db.query<{ instance_id: string; status: string; port: number | null; operation_id: string | null }>(`select instance_id, status, port, operation_id from strata_cloud.instances`);
    const recorded = new Map((await listNodeInstances(db, NODE_ID)).map((row) => [row.instanceId, row]));
    const onDisk = new Set(await files.instanceIdsOnDisk());
    for (const row of instances.rows) {
      assert.equal(row.operation_id, null, `${row.instance_id} still runs an operation; ${message}`);
      if (row.status === 'DELETED' || row.status === 'ERROR') {
        // A failed create is undone like a delete: nothing of it stays on the node.
        assert.equal(onDisk.has(row.instance_id), false, `${row.status} ${row.instance_id} left its directory; ${message}`);
        assert.equal(recorded.has(row.instance_id), false, `${row.status} ${row.instance_id} is still recorded on the node; ${message}`);
        if (row.port !== null) assert.ok('error' in (await asTenant(row.port, 'owner', PASSWORD, 'app', 'select 1')), `a server still answers for ${row.status} ${row.instance_id}; ${message}`);
      } else {
        assert.ok(onDisk.has(row.instance_id) && recorded.has(row.instance_id), `${row.status} ${row.instance_id} has no cluster; ${message}`);
      }
    }
    const known = new Set(instances.rows.filter((row) => row.status !== 'DELETED' && row.status !== 'ERROR').map((row) => row.instance_id));
    for (const id of onDisk) assert.ok(known.has(id), `orphan data directory ${id}; ${message}`);
    const operations = await db.query<{ workflow_id: string; status: string }>(`select workflow_id, status from strata.workflows where name like 'cloud.instance.%'`);
    for (const op of operations.rows) assert.equal(op.status, 'SUCCESS', `operation ${op.workflow_id} ended ${op.status}; ${message}`);
    process.stderr.write(`instance crash run (${message})\n`);
  } finally {
    await controlPlane.kill();
    await agent.kill();
    await client?.close();
    await db.close();
    await destroyAll(files);
    if (!existsSync(rootDir)) return;
    await rm(rootDir, { recursive: true, force: true });
  }
});
