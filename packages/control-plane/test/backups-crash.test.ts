// Crash safety of backups and restores: the node agent is SIGKILLed at seeded points during an
// instance's first backup, during a point-in-time restore (files, start and promote), and during a
// fork, then started again. Afterwards each operation has finished or failed cleanly: a backup
// listed COMPLETED is in the repository under its own ID (and one cut short is never listed as
// good); a restored instance is ACTIVE with exactly the rows committed before its target, or in
// ERROR with no files left; none shows ACTIVE before its restore ended.
//
// The kill schedule comes from a seeded PRNG; the seed is printed. Replay or run more:
//   STRATA_TEST_SEED=<seed> node --conditions=development --import tsx --test packages/control-plane/test/backups-crash.test.ts
//   STRATA_BACKUP_CRASH_ROUNDS=3 …   (rounds per run; default 1)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { NodeFiles } from '@strata/agent';
import { BackupRepository, scramVerifier } from '@strata/postgres';
import { loadMigrations, migrate, openDatabase } from '@strata/store';
import { SeededRandom, engines, freshPostgresUrl, testSeed } from '@strata/testing';
import { Strata, StrataClient } from '@strata/transact';
import { getBackup, listBackups, registerBackupOperations, restoreInstance } from '../src/backups/index.js';
import { createInstance, registerInstanceOperations, type InstanceServiceDeps } from '../src/instances/index.js';
import { checkQuota } from '../src/tenancy/quotas.js';
import { insertTenant } from '../src/tenancy/sql/tenants.js';
import { Incarnation, killAllIncarnations } from './instances/incarnation.js';
import { CONTROL_PLANE_MIGRATIONS, destroyAll, nodeRoot, QUIET, sharedTemplate, waitForStatus } from './instances/platform.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const AGENT_MAIN = join(HERE, '..', '..', 'agent', 'src', 'main.ts');
const NODE_ID = 'backup-crash-node';
const PASSWORD = 'crash-password-1';
const ROUNDS = Number(process.env.STRATA_BACKUP_CRASH_ROUNDS ?? 1);
/** A kill lands up to this long after the request: about as long as each takes here, so most interrupt it. */
const KILL_WINDOW_MS = { backup: 3_000, restore: 5_000, fork: 5_000 } as const;
const OPERATION_TIMEOUT_MS = 180_000;

after(killAllIncarnations);

async function rows(port: number): Promise<number[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'owner', password: PASSWORD, database: 'app' });
  await client.connect();
  try {
    return (await client.query<{ id: number }>('select id from entries order by id')).rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

test('backups, restores and forks survive SIGKILLs of the agent', { skip: !engines().includes('postgres') && 'needs PostgreSQL (the agent process shares the system database)', timeout: 900_000 }, async () => {
  const seed = testSeed('backup crash');
  const random = new SeededRandom(seed);
  const url = await freshPostgresUrl();
  const rootDir = await nodeRoot('backup-crash');
  const repositoryDir = join(rootDir, 'backups');
  const templateDir = await sharedTemplate();
  const db = await openDatabase({ url });
  await migrate(db, 'control-plane', loadMigrations(CONTROL_PLANE_MIGRATIONS));
  const startAgentProcess = () => new Incarnation(AGENT_MAIN, ['--database', url, '--node-id', NODE_ID, '--root', rootDir, '--template', templateDir, '--heartbeat-ms', '200', '--memory-mb', '8192', '--backup-repository', repositoryDir], 'AGENT READY');
  let agent = startAgentProcess();
  const client = await StrataClient.connect({ database: db });
  const strata = new Strata({ database: db, logger: QUIET });
  registerInstanceOperations(strata, { db, client });
  registerBackupOperations(strata, { db, client, strata });
  const log: string[] = [];
  try {
    await agent.ready;
    await strata.launch();
    await db.transaction((tx) => insertTenant(tx, { tenantId: 'ten_crash', name: 'crash', platform: false, quotas: { instances: 100, storageMb: 1_000_000, connections: 100_000 } }));
    const deps: InstanceServiceDeps = { db, client, checkQuota, scramVerifier };
    const repository = await BackupRepository.open(repositoryDir);

    const killAgent = async (kind: keyof typeof KILL_WINDOW_MS, label: string) => {
      const delayMs = random.int(0, KILL_WINDOW_MS[kind]);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      log.push(`${kind} ${label}: kill the agent at +${delayMs} ms`);
      await agent.kill();
      agent = startAgentProcess();
      await agent.ready;
    };
    const settledBackups = async (instanceId: string) => {
      const deadline = Date.now() + OPERATION_TIMEOUT_MS;
      for (;;) {
        const list = await listBackups(db, instanceId, { limit: 50 });
        if (list.length > 0 && list.every((backup) => backup.status !== 'RUNNING')) return list;
        assert.ok(Date.now() < deadline, `backups of ${instanceId} still running; ${log.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    /** Every COMPLETED backup is in the repository under its own ID; no other backup of ours is. */
    const assertBackupsHonest = async (instanceId: string) => {
      const listed = await settledBackups(instanceId);
      const sets = (await repository.info(instanceId))?.backups ?? [];
      for (const backup of listed) {
        const set = sets.find((candidate) => candidate.annotations['strata-backup-id'] === backup.backupId);
        if (backup.status === 'COMPLETED') assert.equal(set?.label, backup.label, `COMPLETED backup ${backup.backupId} is in the repository; ${log.join('\n')}`);
        log.push(`  → backup ${backup.backupId} ${backup.status}${backup.error ? ` (${backup.error})` : ''}`);
      }
      return listed;
    };
    /** Waits for a restore/fork; ACTIVE must come with the expected rows, ERROR with no files. */
    const assertRestored = async (instanceId: string, expected: number[]) => {
      const row = await waitForStatus(db, instanceId, ['ACTIVE', 'ERROR'], OPERATION_TIMEOUT_MS);
      log.push(`  → ${row.status}${row.error ? ` (${row.error})` : ''}`);
      if (row.status === 'ACTIVE') assert.deepEqual(await rows(row.port!), expected, log.join('\n'));
      else assert.ok(!existsSync(new NodeFiles(rootDir, templateDir).dataDir(instanceId)), `a failed restore leaves no data directory; ${log.join('\n')}`);
      return row;
    };

    for (let round = 0; round < ROUNDS; round++) {
      const source = await createInstance(deps, 'ten_crash', { name: `source-${round}`, flavor: 'tiny', databases: ['app'], users: [{ name: 'owner', password: PASSWORD }] });
      const active = await waitForStatus(db, source.instanceId, ['ACTIVE'], OPERATION_TIMEOUT_MS);
      // The first backup starts as the create ends: kill during it.
      await killAgent('backup', source.instanceId);
      const first = await assertBackupsHonest(source.instanceId);
      // The agent's job resumes after the kill (pgBackRest resumes or waits for the orphaned run): the backup completes.
      assert.ok(first.some((backup) => backup.status === 'COMPLETED'), `the first backup completed after the agent came back; ${log.join('\n')}`);
      // Rows are written once the restore window is open (it starts a second after the backup's recorded end).
      const opensAt = Math.max(...first.map((backup) => backup.restorableFrom?.getTime() ?? 0));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, opensAt - Date.now() + 10)));

      const tenantClient = new pg.Client({ host: '127.0.0.1', port: active.port!, user: 'owner', password: PASSWORD, database: 'app' });
      await tenantClient.connect();
      const afterCommit: number[] = [];
      try {
        await tenantClient.query('create table entries (id integer primary key)');
        for (let id = 0; id < 12; id++) {
          await tenantClient.query('insert into entries values ($1)', [id]);
          afterCommit.push(Number((await tenantClient.query<{ micros: string }>('select (extract(epoch from clock_timestamp()) * 1000000)::bigint::text as micros')).rows[0]!.micros));
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
      } finally {
        await tenantClient.end();
      }
      const cut = random.int(2, 9);
      const time = new Date(Math.ceil(afterCommit[cut]! / 1000)).toISOString();
      const restored = await restoreInstance({ db, client: deps.client, strata, checkQuota }, 'ten_crash', source.instanceId, { name: `restored-${round}`, time }, 'restore');
      await killAgent('restore', `${restored.instanceId} to row ${cut}`);
      const restoredRow = await assertRestored(restored.instanceId, Array.from({ length: cut + 1 }, (_, i) => i));
      if (restoredRow.status === 'ACTIVE') await assertBackupsHonest(restored.instanceId);

      const fork = await restoreInstance({ db, client: deps.client, strata, checkQuota }, 'ten_crash', source.instanceId, { name: `fork-${round}` }, 'fork');
      await killAgent('fork', fork.instanceId);
      await assertRestored(fork.instanceId, Array.from({ length: 12 }, (_, i) => i));
      assert.equal((await getBackup(db, `bak_${source.instanceId}_initial`))?.status, 'COMPLETED');
    }
    console.log(`backup crash (seed ${seed}):\n${log.join('\n')}`);
  } finally {
    await agent.kill();
    await strata.shutdown();
    await client.close();
    await db.close();
    await destroyAll(new NodeFiles(rootDir, templateDir));
    await rm(rootDir, { recursive: true, force: true });
  }
});
