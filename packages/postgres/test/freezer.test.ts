// Freezing a managed instance with the cgroup v1 freezer: a frozen server runs nothing (a statement
// waits until the thaw, then completes), every process of it is frozen — also children forked
// before it was moved into its group — and stop, destroy and a start after a SIGKILL still work.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { INSTANCE_SUPERUSER, ManagedCluster, PgInstanceError, freezeInstance, freezerAvailable, isFrozen, thawInstance, type InstanceSpec, type InstanceTemplate } from '../src/index.js';
import { sharedTemplate, specUnder, tempRoot } from './fixtures/instance-helpers.js';

/** Long enough for a statement on a running server to finish many times over; a frozen one never does. */
const FROZEN_OBSERVATION_MS = 300;

const skip = (await freezerAvailable()) ? false : 'needs the cgroup v1 freezer, writable (root on Linux)';

let template: InstanceTemplate;
let root: { dir: string; remove: () => Promise<void> };

before(async () => {
  if (skip) return;
  template = await sharedTemplate();
  root = await tempRoot('freezer');
});
after(async () => {
  await root?.remove();
});

function postmasterPid(spec: InstanceSpec): Promise<number> {
  return readFile(join(spec.dataDir, 'postmaster.pid'), 'utf8').then((text) => Number(text.split('\n')[0]));
}

/** The pid and every process under it. */
async function tree(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...(await Promise.all(children.map(tree))).flat()];
}

/** The process's state letter in /proc (frozen tasks show as D) and its freezer group. */
async function processState(pid: number): Promise<{ state: string; freezer: string }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const freezer = /^\d+:freezer:(.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '';
  return { state: stat.slice(stat.lastIndexOf(')') + 2)[0] ?? '', freezer };
}

/** A session as the instance's superuser over its private socket. */
async function session(spec: InstanceSpec): Promise<pg.Client> {
  const client = new pg.Client({ host: spec.socketDir, port: spec.port, user: INSTANCE_SUPERUSER, database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Sends `select 1` and says, once it answers, whether the thaw had begun by then. */
function pendingQuery(client: pg.Client, thawBegun: () => boolean): { settled: () => boolean; afterThaw: Promise<boolean> } {
  let settled = false;
  const afterThaw = client.query('select 1 as one').then((result) => {
    settled = true;
    assert.deepEqual(result.rows, [{ one: 1 }]);
    return thawBegun();
  });
  return { settled: () => settled, afterThaw };
}

async function withCluster(name: string, body: (cluster: ManagedCluster, spec: InstanceSpec) => Promise<void>): Promise<void> {
  const spec = await specUnder(root.dir, name, { max_connections: '20' });
  const cluster = await ManagedCluster.create(template, spec);
  try {
    await cluster.start();
    await body(cluster, spec);
  } finally {
    await cluster.destroy();
  }
}

describe('freezing an instance', { skip }, () => {
  test('a statement sent to a frozen server completes only after the thaw; every process of it is frozen', async () => {
    await withCluster('freeze', async (cluster, spec) => {
      const client = await session(spec);
      try {
        const pid = await postmasterPid(spec);
        const group = (await processState(pid)).freezer;
        assert.match(group, /^\/strata\//, 'a started postmaster is in its freezer group');
        await freezeInstance(spec.dataDir);
        assert.equal(await isFrozen(spec.dataDir), true);
        for (const member of await tree(pid)) assert.deepEqual(await processState(member), { state: 'D', freezer: group }, `process ${member} is frozen in ${group}`);
        let thawing = false;
        const query = pendingQuery(client, () => thawing);
        await new Promise((resolve) => setTimeout(resolve, FROZEN_OBSERVATION_MS));
        assert.equal(query.settled(), false, 'nothing answers while frozen');
        // Freezing again changes nothing.
        await freezeInstance(spec.dataDir);
        thawing = true;
        assert.equal(await thawInstance(spec.dataDir), true, 'the server runs after the thaw');
        assert.equal(await query.afterThaw, true, 'the statement completed after the thaw began');
        assert.equal(await isFrozen(spec.dataDir), false);
        assert.notEqual((await processState(pid)).state, 'D');
        assert.deepEqual(await cluster.query('select 2 as two'), [{ two: 2 }]);
        assert.equal(await thawInstance(spec.dataDir), true, 'thawing a running server does nothing');
      } finally {
        await client.end();
      }
    });
  });

  test('children forked before the postmaster joined its group are found and frozen too', async () => {
    await withCluster('chase', async (cluster, spec) => {
      const pid = await postmasterPid(spec);
      // Out of the group, as a server started before the freezer was in use would be; a backend forked now is outside too.
      for (const member of await tree(pid)) await writeFile('/sys/fs/cgroup/freezer/cgroup.procs', String(member));
      const client = await session(spec);
      try {
        const [{ backend }] = (await client.query<{ backend: number }>('select pg_backend_pid() as backend')).rows as [{ backend: number }];
        assert.equal((await processState(backend)).freezer, '/', 'the backend was forked outside the group');
        await freezeInstance(spec.dataDir);
        const group = (await processState(pid)).freezer;
        assert.match(group, /^\/strata\//);
        assert.deepEqual(await processState(backend), { state: 'D', freezer: group }, 'the backend was moved in and frozen');
        let thawing = false;
        const query = pendingQuery(client, () => thawing);
        await new Promise((resolve) => setTimeout(resolve, FROZEN_OBSERVATION_MS));
        assert.equal(query.settled(), false, "the backend's statement waits while frozen");
        thawing = true;
        await thawInstance(spec.dataDir);
        assert.equal(await query.afterThaw, true);
        assert.deepEqual(await cluster.query('select 1 as one'), [{ one: 1 }]);
      } finally {
        await client.end();
      }
    });
  });

  test('a server SIGKILLed while frozen dies at the thaw, which says so, and a start runs it again', async () => {
    await withCluster('killed', async (cluster, spec) => {
      const client = await session(spec);
      await freezeInstance(spec.dataDir);
      const pid = await postmasterPid(spec);
      process.kill(pid, 'SIGKILL');
      assert.equal(await cluster.isRunning(), true, 'a frozen process keeps its SIGKILL pending');
      assert.equal(await thawInstance(spec.dataDir), false, 'the thaw reports the server gone');
      assert.equal(await cluster.isRunning(), false);
      await client.end().catch(() => {});
      await cluster.start();
      assert.deepEqual(await cluster.query('select 1 as one'), [{ one: 1 }]);
      assert.notEqual(await postmasterPid(spec), pid);
    });
  });

  test('a start also brings back a server SIGKILLed while frozen without a thaw first', async () => {
    await withCluster('killed-start', async (cluster, spec) => {
      await freezeInstance(spec.dataDir);
      process.kill(await postmasterPid(spec), 'SIGKILL');
      await cluster.start();
      assert.equal(await isFrozen(spec.dataDir), false);
      assert.deepEqual(await cluster.query('select 1 as one'), [{ one: 1 }]);
    });
  });

  test('stop and destroy work on a frozen server, and destroy removes its freezer group', async () => {
    const spec = await specUnder(root.dir, 'stop-frozen', { max_connections: '20' });
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      const group = (await processState(await postmasterPid(spec))).freezer;
      await freezeInstance(spec.dataDir);
      await cluster.stop('fast');
      assert.equal(await cluster.isRunning(), false);
      await cluster.start();
      await freezeInstance(spec.dataDir);
      await cluster.destroy();
      assert.equal(await cluster.isRunning(), false);
      assert.equal(existsSync(join('/sys/fs/cgroup/freezer', group)), false, 'the group is removed with the instance');
    } finally {
      await cluster.destroy();
    }
  });

  test('freezing a stopped instance is refused with PG_INSTANCE_UNAVAILABLE, and thawing it says no server runs', async () => {
    const spec = await specUnder(root.dir, 'stopped', { max_connections: '20' });
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await assert.rejects(freezeInstance(spec.dataDir), (error) => error instanceof PgInstanceError && error.code === 'PG_INSTANCE_UNAVAILABLE' && /start it first/.test(error.message));
      assert.equal(await thawInstance(spec.dataDir), false);
      assert.equal(await isFrozen(spec.dataDir), false);
    } finally {
      await cluster.destroy();
    }
  });
});
