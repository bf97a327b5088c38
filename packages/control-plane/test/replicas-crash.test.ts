// Crash safety of replicas: the node agent (a separate process) is SIGKILLed at seeded points
// during the replicate of a create with `replicas: 1`, during the replicate of a replica added
// later, and during a promote under synchronous commits with writers running, then started again.
// Afterwards each operation has finished or failed cleanly: a replica ACTIVE streams from its
// primary and has its rows, one in ERROR left no files on the node and no slot on the primary, and
// none showed ACTIVE before its replicate ended. The rows name exactly one primary at every moment,
// no moment has two servers accepting writes, and after the promote exactly one of {old primary,
// promoted replica} serves writes — the replica ACTIVE as the primary and the old one FENCED with
// its postmaster down, or the promote undone (the replica streaming, the primary ACTIVE) — with
// every commit acknowledged before the fence on it (the promoted replica first catches up with a
// sibling that was ahead of it, and a sibling that cannot follow is cloned again).
//
// The kill schedule comes from a seeded PRNG; the seed is printed, and so is what each kill
// interrupted (the agent job and the steps it had completed). Replay:
//   STRATA_TEST_SEED=<seed> node --conditions=development --import tsx --test packages/control-plane/test/replicas-crash.test.ts
// (Where a kill lands also depends on the machine's timing, so the same seed may interrupt another step.)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { NodeFiles, getNodeInstance } from '@strata/agent';
import { scramVerifier } from '@strata/postgres';
import { loadMigrations, migrate, openDatabase, type Database } from '@strata/store';
import { SeededRandom, engines, freshPostgresUrl, testSeed } from '@strata/testing';
import { Strata, StrataClient } from '@strata/transact';
import { createInstance, getInstance, registerInstanceOperations, type InstanceRow, type InstanceServiceDeps, type InstanceStatus } from '../src/instances/index.js';
import { addReplicas, promoteReplica, registerReplicaOperations, replicasOf } from '../src/replicas/index.js';
import { checkQuota } from '../src/tenancy/quotas.js';
import { insertTenant } from '../src/tenancy/sql/tenants.js';
import { Incarnation, killAllIncarnations } from './instances/incarnation.js';
import { CONTROL_PLANE_MIGRATIONS, QUIET, destroyAll, nodeRoot, sharedTemplate } from './instances/platform.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const AGENT_MAIN = join(HERE, '..', '..', 'agent', 'src', 'main.ts');
const NODE_ID = 'replica-crash-node';
const TENANT_ID = 'ten_replica_crash';
const PASSWORD = 'crash-password-1';
/** The superuser of every instance, trusted over its private socket (what the agent uses). */
const INSTANCE_SUPERUSER = 'strata_admin';
/**
 * A kill lands up to this long after the request: about as long as each takes here (a create and
 * its replica's clone ~3-5 s, a replica added later ~2-3 s, a promote with a sibling following
 * ~2-3 s), so most kills interrupt one of their steps.
 */
const KILL_WINDOW_MS = { create: 5_000, replicate: 3_000, promote: 3_000 } as const;
/** Longest an operation may take to end after the agent's last restart. */
const OPERATION_TIMEOUT_MS = 180_000;
/** Longest a streaming replica may take to show a row its primary just committed. */
const REPLAY_TIMEOUT_MS = 60_000;
/** The server log in an instance's data directory (@strata/postgres writes it there). */
const LOG_FILE = 'strata.log';
/** Connections that keep committing on the primary while it is fenced. */
const WRITERS = 3;
/** Commits the writers make at most: a fence that never comes must not load the machine for ever. */
const MAX_LOAD_COMMITS = 50_000;
/** A write probe that has not committed in this long waits for a standby that never answers: not serving. */
const WRITE_PROBE_TIMEOUT_MS = 20_000;
/** Row IDs of the write probes after the promote (below them: the rows before and the load). */
const PROBE_IDS = 2_000_000;
/** Row IDs of the markers written to see a replica replay (below them: the load and the probes). */
const MARKER_IDS = 3_000_000;
/** Between two looks of the watchers (rows, servers). */
const WATCH_INTERVAL_MS = 25;

after(killAllIncarnations);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A tenant connection over TCP, as an application would open one (to an instance that has a port: it ran once). */
function tenantClient(port: number | null, options: { readonly queryTimeoutMs?: number } = {}): pg.Client {
  assert.ok(port !== null, 'the instance has a port');
  const client = new pg.Client({
    host: '127.0.0.1', port, user: 'owner', password: PASSWORD, database: 'app', connectionTimeoutMillis: 10_000,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  });
  client.on('error', () => {});
  return client;
}

async function tenantIds(port: number | null): Promise<Set<number>> {
  const client = tenantClient(port);
  await client.connect();
  try {
    return new Set((await client.query<{ id: number }>('select id from entries')).rows.map((row) => row.id));
  } finally {
    await client.end().catch(() => {});
  }
}

/** The node's files and a superuser session over an instance's private socket. */
class Node {
  readonly files: NodeFiles;
  constructor(rootDir: string, templateDir: string) {
    this.files = new NodeFiles(rootDir, templateDir);
  }

  async adminQuery<R extends pg.QueryResultRow>(instance: InstanceRow, sql: string, params: unknown[] = []): Promise<R[]> {
    assert.ok(instance.port !== null, `instance ${instance.instanceId} has a port`);
    const client = new pg.Client({ host: this.files.socketDir(instance.instanceId), port: instance.port, user: INSTANCE_SUPERUSER, database: 'postgres', connectionTimeoutMillis: 2_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** True when the instance's server answers and is a primary (not replaying WAL); false when it is a standby; undefined when it does not answer. */
  async isPrimary(instance: InstanceRow): Promise<boolean | undefined> {
    try {
      const [row] = await this.adminQuery<{ recovering: boolean }>(instance, 'select pg_is_in_recovery() as recovering');
      return row?.recovering === false;
    } catch {
      return undefined;
    }
  }

  /** Whether the instance's postmaster process is alive (by its postmaster.pid). */
  postmasterRunning(instanceId: string): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.files.dataDir(instanceId), 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return false;
    }
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** The lines of an instance's server log (none when it has no log). */
  logLines(instanceId: string): string[] {
    const logFile = join(this.files.dataDir(instanceId), LOG_FILE);
    return existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n') : [];
  }

  /** What each of the tenant's instances is, as rows and as servers, with its log's tail: printed when the test fails. */
  async describe(db: Database): Promise<string> {
    const { rows } = await db.query<{ instance_id: string }>(`select instance_id from strata_cloud.instances where tenant_id = $1 and status <> 'DELETED' order by created_at`, [TENANT_ID]);
    const lines: string[] = [];
    for (const { instance_id: instanceId } of rows) {
      const instance = await getInstance(db, instanceId);
      if (instance === undefined) continue;
      lines.push(`${instanceId} ${instance.status} replica of ${instance.replicaOf} port ${instance.port} operation ${instance.operationId} postmaster ${this.postmasterRunning(instanceId) ? 'running' : 'down'}`);
      const server = await this.adminQuery<Record<string, unknown>>(instance, `select pg_is_in_recovery() as recovering, current_setting('synchronous_standby_names') as synchronous_standby_names,
          (select json_agg(json_build_object('name', application_name, 'state', state, 'sync', sync_state)) from pg_stat_replication) as walsenders,
          (select json_agg(json_build_object('slot', slot_name, 'active', active)) from pg_replication_slots) as slots,
          (select json_build_object('status', status, 'slot', slot_name, 'timeline', received_tli) from pg_stat_wal_receiver) as receiver`).catch((error: unknown) => [{ error: (error as Error).message }]);
      lines.push(`  server: ${JSON.stringify(server[0])}`);
      lines.push(...this.logLines(instanceId).slice(-12).map((line) => `  | ${line}`));
    }
    return lines.join('\n');
  }

  async slotNames(primary: InstanceRow): Promise<string[]> {
    return (await this.adminQuery<{ name: string }>(primary, "select slot_name as name from pg_replication_slots where slot_type = 'physical' order by 1")).map((row) => row.name);
  }
}

/**
 * Reads the tenant's instance rows every few milliseconds: keeps each instance's statuses in the
 * order seen, and notes any snapshot whose rows do not name exactly one primary (a row with no
 * `replica_of` that is not FENCED).
 */
class RowWatch {
  readonly statuses = new Map<string, InstanceStatus[]>();
  readonly violations: string[] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(db: Database) {
    this.#done = this.#run(db);
    // A failed read surfaces at stop(), not as an unhandled rejection before it.
    this.#done.catch(() => {});
  }

  async #run(db: Database): Promise<void> {
    while (!this.#stopped) {
      const { rows } = await db.query<{ instance_id: string; status: InstanceStatus; replica_of: string | null }>(
        `select instance_id, status, replica_of from strata_cloud.instances where tenant_id = $1 and status <> 'DELETED'`, [TENANT_ID]);
      for (const row of rows) {
        const seen = this.statuses.get(row.instance_id) ?? [];
        if (seen.at(-1) !== row.status) seen.push(row.status);
        this.statuses.set(row.instance_id, seen);
      }
      const primaries = rows.filter((row) => row.replica_of === null && row.status !== 'FENCED').map((row) => `${row.instance_id} ${row.status}`);
      if (rows.length > 0 && primaries.length !== 1 && this.violations.length < 10) this.violations.push(`rows name ${primaries.length} primaries: ${primaries.join(', ')}`);
      await sleep(WATCH_INTERVAL_MS);
    }
  }

  seen(instanceId: string): InstanceStatus[] {
    return this.statuses.get(instanceId) ?? [];
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

/**
 * Asks the replica, then the old primary, whether each is a primary, over and over: a replica once
 * promoted stays a primary, so an old primary that still answers as one after that is a moment
 * with two servers taking writes.
 */
class SplitBrainWatch {
  readonly moments: string[] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(node: Node, oldPrimary: InstanceRow, replica: InstanceRow) {
    this.#done = (async () => {
      while (!this.#stopped) {
        if ((await node.isPrimary(replica)) === true && (await node.isPrimary(oldPrimary)) === true && this.moments.length < 10) {
          this.moments.push(new Date().toISOString());
        }
        await sleep(WATCH_INTERVAL_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

/** Tries one commit: 'wrote', 'refused' (no connection, or read-only), or 'hung' (waiting for a standby that never answers). */
async function probeWrite(port: number | null, id: number): Promise<'wrote' | 'refused' | 'hung'> {
  if (port === null) return 'refused';
  const client = tenantClient(port, { queryTimeoutMs: WRITE_PROBE_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query("insert into entries values ($1, 'probe')", [id]);
    return 'wrote';
  } catch (error) {
    return /timeout/i.test((error as Error).message) ? 'hung' : 'refused';
  } finally {
    await client.end().catch(() => {});
  }
}

test('replicates and a promote survive SIGKILLs of the agent', { skip: !engines().includes('postgres') && 'needs PostgreSQL (the agent process shares the system database)', timeout: 900_000 }, async (t) => {
  const seed = testSeed('replica crash');
  const random = new SeededRandom(seed);
  const url = await freshPostgresUrl();
  const rootDir = await nodeRoot('replica-crash');
  const templateDir = await sharedTemplate();
  const node = new Node(rootDir, templateDir);
  const db = await openDatabase({ url });
  await migrate(db, 'control-plane', loadMigrations(CONTROL_PLANE_MIGRATIONS));
  const startAgentProcess = () => new Incarnation(AGENT_MAIN, ['--database', url, '--node-id', NODE_ID, '--root', rootDir, '--template', templateDir, '--heartbeat-ms', '200', '--memory-mb', '8192', '--metrics-ms', '0'], 'AGENT READY');
  let agent = startAgentProcess();
  const client = await StrataClient.connect({ database: db });
  const strata = new Strata({ database: db, logger: QUIET });
  registerInstanceOperations(strata, { db, client });
  registerReplicaOperations(strata, { db, client });
  const log: string[] = [];
  const context = () => `seed ${seed}:\n${log.join('\n')}`;
  let rowWatch: RowWatch | undefined;
  let promote: { readonly replicaId: string; readonly siblingIds: readonly string[] } | undefined;
  try {
    await agent.ready;
    await strata.launch();
    await db.transaction((tx) => insertTenant(tx, { tenantId: TENANT_ID, name: 'replica crash', platform: false, quotas: { instances: 100, storageMb: 1_000_000, connections: 100_000 } }));
    const deps: InstanceServiceDeps = { db, client, checkQuota, scramVerifier };
    rowWatch = new RowWatch(db);
    const watch = rowWatch;

    /** The agent jobs of these operations at this moment: each one's status and the steps it completed. */
    const progress = async (operationIds: readonly string[]) => {
      const { rows } = await db.query<{ workflow_id: string; status: string; steps: string | null }>(
        `select w.workflow_id, w.status, string_agg(s.name, ', ' order by s.step_id) as steps
           from strata.workflows w left join strata.steps s on s.workflow_id = w.workflow_id
          where split_part(w.workflow_id, '/', 1) = any($1::text[]) and w.workflow_id like '%/%'
          group by w.workflow_id, w.status, w.created_at order by w.created_at`,
        [operationIds]);
      return rows.map((row) => `${row.workflow_id.slice(row.workflow_id.indexOf('/') + 1)} ${row.status}${row.status === 'PENDING' ? ` after [${row.steps ?? ''}]` : ''}`).join('; ') || 'no agent job yet';
    };
    const killAgent = async (kind: keyof typeof KILL_WINDOW_MS, label: string, operationIds: readonly string[]) => {
      const delayMs = random.int(0, KILL_WINDOW_MS[kind]);
      await sleep(delayMs);
      await agent.kill();
      log.push(`${kind} ${label}: agent killed at +${delayMs} ms: ${await progress(operationIds)}`);
      agent = startAgentProcess();
      await agent.ready;
    };
    /** The operation an instance row is busy with (a request just began it). */
    const operationOf = (busy: InstanceRow) => {
      assert.ok(busy.operationId !== null, `instance ${busy.instanceId} is busy with the operation just requested`);
      return busy.operationId;
    };
    const ended = async (operationId: string) => {
      await client.retrieve(operationId).result({ timeoutMs: OPERATION_TIMEOUT_MS });
    };
    const row = async (instanceId: string) => {
      const found = await getInstance(db, instanceId);
      assert.ok(found, `instance ${instanceId} has a row`);
      return found;
    };

    /**
     * After a replicate's workflow ended: ACTIVE and streaming with the primary's rows, or ERROR
     * with nothing left on the node nor on the primary; never ACTIVE before that.
     */
    let markers = 0;
    const assertReplicaSettled = async (replicaId: string, primaryId: string) => {
      const replica = await row(replicaId);
      const primary = await row(primaryId);
      log.push(`  → replica ${replicaId} ${replica.status}${replica.error ? ` (${replica.error})` : ''}; seen ${watch.seen(replicaId).join(' → ')}`);
      assert.ok(replica.status === 'ACTIVE' || replica.status === 'ERROR', `a replicate ends ACTIVE or ERROR; ${context()}`);
      assert.equal(replica.operationId, null, context());
      const seen = watch.seen(replicaId);
      assert.ok(seen.every((status, i) => status === 'BUILD' || (status === replica.status && i === seen.length - 1)), `a replica shows BUILD until its replicate ends, then its outcome only (seen ${seen.join(' → ')}); ${context()}`);
      if (replica.status === 'ACTIVE') {
        assert.equal(replica.replicaOf, primaryId, context());
        const marker = MARKER_IDS + markers++;
        const writer = tenantClient(primary.port);
        await writer.connect();
        await writer.query("insert into entries values ($1, 'marker')", [marker]).finally(() => writer.end());
        const deadline = Date.now() + REPLAY_TIMEOUT_MS;
        while (!(await tenantIds(replica.port).catch(() => new Set<number>())).has(marker)) {
          assert.ok(Date.now() < deadline, `ACTIVE replica ${replicaId} replays its primary's commits; ${context()}`);
          await sleep(100);
        }
        const [streaming] = await node.adminQuery<{ state: string }>(primary, 'select state from pg_stat_replication where application_name = $1', [replicaId]);
        assert.equal(streaming?.state, 'streaming', `ACTIVE replica ${replicaId} streams from its primary; ${context()}`);
        assert.ok((await node.slotNames(primary)).includes(replicaId), `the primary keeps a slot for ACTIVE replica ${replicaId}; ${context()}`);
        assert.equal(await node.isPrimary(replica), false, `ACTIVE replica ${replicaId} is a standby; ${context()}`);
      } else {
        assert.ok(!existsSync(node.files.instanceDir(replicaId)), `a failed replicate leaves no files on the node; ${context()}`);
        assert.equal(await getNodeInstance(db, NODE_ID, replicaId), undefined, `a failed replicate leaves no node row; ${context()}`);
        assert.ok(!(await node.slotNames(primary)).includes(replicaId), `a failed replicate leaves no slot on the primary; ${context()}`);
      }
      return replica;
    };

    // 1. A create with one replica: the kill lands in the primary's provision or its replica's clone.
    const created = await createInstance(deps, TENANT_ID, { name: 'main', flavor: 'tiny', databases: ['app'], users: [{ name: 'owner', password: PASSWORD }], replicas: 1, synchronous: true });
    const primaryId = created.instanceId;
    const [firstReplica] = (await replicasOf(deps, TENANT_ID, primaryId)).replicas;
    assert.ok(firstReplica?.operationId, 'the replica asked for at create is there at once, with its replicate');
    await killAgent('create', `${primaryId} with replica ${firstReplica.instanceId}`, [operationOf(created), firstReplica.operationId]);
    await ended(operationOf(created));
    await ended(firstReplica.operationId);
    const primary = await row(primaryId);
    log.push(`  → primary ${primaryId} ${primary.status}${primary.error ? ` (${primary.error})` : ''}`);
    assert.equal(primary.status, 'ACTIVE', `the primary's create resumes after the agent came back; ${context()}`);
    {
      const setup = tenantClient(primary.port);
      await setup.connect();
      try {
        await setup.query('create table entries (id integer primary key, note text not null)');
        await setup.query("insert into entries select g, 'before' from generate_series(1, 100) g");
      } finally {
        await setup.end();
      }
    }
    const replicas = [await assertReplicaSettled(firstReplica.instanceId, primaryId)];

    // 2. A replica added later: the kill lands in its allocate, clone or start.
    const [added] = await addReplicas(deps, TENANT_ID, primaryId, { count: 1 });
    assert.ok(added?.operationId, 'addReplicas returns the new replica with its replicate');
    await killAgent('replicate', added.instanceId, [added.operationId]);
    await ended(added.operationId);
    replicas.push(await assertReplicaSettled(added.instanceId, primaryId));

    // 3. A promote while writers commit on the synchronous primary: the kill lands in the fence, the promote or the follow.
    let candidate = replicas.find((replica) => replica.status === 'ACTIVE');
    if (candidate === undefined) {
      // Both replicates failed cleanly: one more, without a kill, to have something to promote.
      const [spare] = await addReplicas(deps, TENANT_ID, primaryId, { count: 1 });
      assert.ok(spare, 'addReplicas returns the new replica');
      await ended(operationOf(spare));
      candidate = await assertReplicaSettled(spare.instanceId, primaryId);
      assert.equal(candidate.status, 'ACTIVE', `a replicate without a kill succeeds; ${context()}`);
      replicas.push(candidate);
    }
    const siblings = replicas.filter((replica) => replica.status === 'ACTIVE' && replica.instanceId !== candidate.instanceId);
    const acknowledged: number[] = [];
    let nextId = 1_000_000;
    let loadOver = false;
    const writers = Array.from({ length: WRITERS }, async () => {
      const writer = tenantClient(primary.port);
      await writer.connect();
      try {
        while (!loadOver && nextId < 1_000_000 + MAX_LOAD_COMMITS) {
          const id = nextId++;
          try {
            await writer.query("insert into entries values ($1, 'under load')", [id]);
          } catch {
            return;
          }
          acknowledged.push(id);
        }
      } finally {
        await writer.end().catch(() => {});
      }
    });
    const loadBeforePromote = random.int(20, 200);
    for (let waited = 0; acknowledged.length < loadBeforePromote; waited++) {
      assert.ok(waited < OPERATION_TIMEOUT_MS / 10, `the writers commit on the synchronous primary; ${context()}`);
      await sleep(10);
    }
    const splitBrain = new SplitBrainWatch(node, primary, candidate);
    const promoting = await promoteReplica(deps, TENANT_ID, candidate.instanceId);
    promote = { replicaId: candidate.instanceId, siblingIds: siblings.map((sibling) => sibling.instanceId) };
    log.push(`promote ${candidate.instanceId} after ${acknowledged.length} acknowledged commits (siblings: ${siblings.map((s) => s.instanceId).join(', ') || 'none'})`);
    await killAgent('promote', candidate.instanceId, [operationOf(promoting)]);
    await ended(operationOf(promoting));
    loadOver = true;
    await Promise.all(writers);
    await splitBrain.stop();
    await rowWatch.stop();
    rowWatch = undefined;
    assert.deepEqual(watch.violations, [], `the rows name exactly one primary at every moment; ${context()}`);
    assert.deepEqual(splitBrain.moments, [], `no moment has the old primary and the promoted replica both taking writes; ${context()}`);

    const oldPrimary = await row(primaryId);
    const promoted = await row(candidate.instanceId);
    log.push(`  → replica ${promoted.instanceId} ${promoted.status} ${promoted.replicaOf === null ? 'primary' : 'replica'}${promoted.error ? ` (${promoted.error})` : ''}; old primary ${oldPrimary.status}${oldPrimary.error ? ` (${oldPrimary.error})` : ''}; ${acknowledged.length} commits acknowledged`);
    assert.deepEqual([oldPrimary.operationId, promoted.operationId], [null, null], `both are free once the promote ended; ${context()}`);
    let serving: InstanceRow;
    if (oldPrimary.status === 'FENCED') {
      assert.deepEqual([promoted.status, promoted.replicaOf, promoted.error], ['ACTIVE', null, null], `the promoted replica is the ACTIVE primary; ${context()}`);
      assert.equal(await node.isPrimary(promoted), true, `the promoted replica's server is a primary; ${context()}`);
      assert.equal(node.postmasterRunning(primaryId), false, `the fenced primary's postmaster is not running; ${context()}`);
      assert.equal((await getNodeInstance(db, NODE_ID, primaryId))?.desired, 'stopped', `the fenced primary stays stopped through agent restarts; ${context()}`);
      serving = promoted;
    } else {
      // The promote was undone: the replica is still a replica streaming from the primary, which serves again.
      assert.deepEqual([oldPrimary.status, promoted.status, promoted.replicaOf], ['ACTIVE', 'ACTIVE', primaryId], `an undone promote leaves the primary ACTIVE and the replica its replica; ${context()}`);
      assert.equal(await node.isPrimary(oldPrimary), true, `the primary of an undone promote runs as a primary; ${context()}`);
      assert.equal(await node.isPrimary(promoted), false, `the replica of an undone promote is still a standby; ${context()}`);
      serving = oldPrimary;
    }

    const present = await tenantIds(serving.port);
    assert.deepEqual(acknowledged.filter((id) => !present.has(id)), [], `every commit acknowledged before the fence is on the primary that serves; ${context()}`);
    // A commit that waits for no standby, so a sibling that does not stream shows as itself and not as a hung commit.
    const followId = MARKER_IDS + markers++;
    const local = tenantClient(serving.port);
    await local.connect();
    try {
      await local.query('set synchronous_commit = local');
      await local.query("insert into entries values ($1, 'after the promote')", [followId]);
    } finally {
      await local.end().catch(() => {});
    }
    for (const sibling of siblings) {
      const now = await row(sibling.instanceId);
      log.push(`  → sibling ${now.instanceId} ${now.status}, replica of ${now.replicaOf}${now.error ? ` (${now.error})` : ''}`);
      if (now.status !== 'ACTIVE') continue;
      assert.equal(now.replicaOf, serving.instanceId, `an ACTIVE sibling is a replica of the primary that serves; ${context()}`);
      const deadline = Date.now() + REPLAY_TIMEOUT_MS;
      while (!(await tenantIds(now.port).catch(() => new Set<number>())).has(followId)) {
        assert.ok(Date.now() < deadline, `ACTIVE sibling ${now.instanceId} replays the serving primary's commits; ${context()}`);
        await sleep(100);
      }
    }
    const probes = { oldPrimary: await probeWrite(oldPrimary.port, PROBE_IDS), promoted: await probeWrite(promoted.port, PROBE_IDS + 1) };
    log.push(`  → write probes: old primary ${probes.oldPrimary}, promoted replica ${probes.promoted}`);
    assert.ok(!Object.values(probes).includes('hung'), `no commit waits for ever; ${context()}`);
    assert.equal(Object.values(probes).filter((probe) => probe === 'wrote').length, 1, `exactly one of them serves writes; ${context()}`);
    assert.equal(serving === promoted ? probes.promoted : probes.oldPrimary, 'wrote', `the one the rows name serves writes; ${context()}`);
    console.log(`replica crash (seed ${seed}):\n${log.join('\n')}`);
  } catch (error) {
    console.error(`replica crash (seed ${seed}) failed; the instances now:\n${await node.describe(db).catch((cause: unknown) => String(cause))}`);
    throw error;
  } finally {
    await rowWatch?.stop();
    await agent.kill();
    await strata.shutdown();
    await client.close();
    await db.close();
    await destroyAll(node.files);
    await rm(rootDir, { recursive: true, force: true });
  }
});
