import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SeededRandom, testSeed } from '@strata/testing';
import { ManagedCluster, WarmPool, type InstanceTemplate } from '../src/index.js';
import { SHARED_TEMPLATE_DIR, exited, runFixture, sharedTemplate, specUnder, tempRoot } from './fixtures/instance-helpers.js';

let template: InstanceTemplate;
let root: { dir: string; remove: () => Promise<void> };

before(async () => {
  template = await sharedTemplate();
  root = await tempRoot('instance-crash');
});
after(async () => {
  await root.remove();
});

/** True while `pid` is a live process (a zombie counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every file path under `dir`, relative, sorted. */
async function fileList(dir: string, prefix = ''): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    paths.push(path);
    if (entry.isDirectory()) paths.push(...(await fileList(dir, path)));
  }
  return paths.sort();
}

describe('an instance outlives the process that started it', () => {
  test('after the starting process is SIGKILLed, the server still answers and open() takes it over', async () => {
    const spec = await specUnder(root.dir, 'orphan');
    const { child, line } = await runFixture('instance-starter.ts', [SHARED_TEMPLATE_DIR, JSON.stringify(spec)], (text) => text.startsWith('{'));
    const { postmasterPid } = JSON.parse(line) as { postmasterPid: number };
    child.kill('SIGKILL');
    await exited(child);

    assert.ok(isAlive(postmasterPid), 'the server survived its starter');
    const cluster = await ManagedCluster.open(spec);
    try {
      assert.equal(await cluster.isRunning(), true);
      assert.deepEqual(await cluster.query('select 1 as one'), [{ one: 1 }]);
    } finally {
      await cluster.destroy();
    }
    assert.equal(isAlive(postmasterPid), false, 'destroy stopped it');
  });
});

describe('the warm pool', () => {
  test('hands out ready copies by rename and refills itself', async () => {
    const pool = await WarmPool.open({ template, dir: join(root.dir, 'pool'), size: 2 });
    try {
      await pool.fill();
      assert.equal(await pool.readyCount(), 2);
      const spec = await specUnder(root.dir, 'from-pool');
      const cluster = await pool.take(spec);
      try {
        assert.deepEqual(pool.stats, { hits: 1, misses: 0 });
        await cluster.start();
        assert.deepEqual(await cluster.query('select 1 as one'), [{ one: 1 }]);
      } finally {
        await cluster.destroy();
      }
      await pool.fill();
      assert.equal(await pool.readyCount(), 2, 'refilled');
    } finally {
      await pool.close();
    }
  });

  test('a process killed mid-refill leaves no incomplete copy where take() looks', async () => {
    const seed = testSeed('warm pool kill mid-refill');
    const random = new SeededRandom(seed);
    const poolDir = join(root.dir, 'pool-killed');
    const templateFiles = (await fileList(template.dir)).filter((path) => path !== 'strata-template.json');

    const { child } = await runFixture('warm-pool-filler.ts', [SHARED_TEMPLATE_DIR, poolDir, '3'], (line) => line === 'filling');
    // Wait for a copy in progress, then kill at a seeded moment during the copies.
    while ((await readdir(join(poolDir, 'filling')).catch(() => [])).length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random.next() * 60)));
    child.kill('SIGKILL');
    await exited(child);

    const halfMade = await readdir(join(poolDir, 'filling'));
    assert.ok(halfMade.length > 0, `the kill landed during a copy (seed ${seed})`);
    for (const entry of await readdir(join(poolDir, 'ready'))) {
      assert.deepEqual(await fileList(join(poolDir, 'ready', entry)), templateFiles, `ready copy ${entry} is complete (seed ${seed})`);
    }
    const pool = await WarmPool.open({ template, dir: poolDir, size: 1 });
    try {
      assert.deepEqual(await readdir(join(poolDir, 'filling')), [], 'half-made copies are removed on open');
      const spec = await specUnder(root.dir, 'after-kill');
      const cluster = await pool.take(spec);
      try {
        await cluster.start();
        assert.deepEqual(await cluster.query('select 1 as one'), [{ one: 1 }]);
      } finally {
        await cluster.destroy();
      }
    } finally {
      await pool.close();
    }
  });
});
