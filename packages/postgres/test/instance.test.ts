import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IDLE_GROUP_AGE_MS, ManagedCluster, PgInstanceError, ensureTemplate, removeIdleGroups, settingsCatalogue, type InstanceTemplate } from '../src/index.js';
import { exited, runFixture, sharedTemplate, specUnder, tempRoot } from './fixtures/instance-helpers.js';

let template: InstanceTemplate;
let root: { dir: string; remove: () => Promise<void> };

before(async () => {
  template = await sharedTemplate();
  root = await tempRoot('instance');
});
after(async () => {
  await root.remove();
});

function rejectsWith(code: string) {
  return (error: unknown) => error instanceof PgInstanceError && error.code === code;
}

describe('the template', () => {
  test('is built once and then reused: a second ensureTemplate does not run initdb again', async () => {
    const dir = join(root.dir, 'template-reuse');
    const first = await ensureTemplate(dir);
    const controlBefore = await stat(join(dir, 'global', 'pg_control'));
    const second = await ensureTemplate(dir);
    assert.deepEqual(second, first);
    assert.equal((await stat(join(dir, 'global', 'pg_control'))).ino, controlBefore.ino, 'same files, not a rebuilt template');
    assert.ok(first.majorVersion >= 13);
  });

  test('allows SCRAM only over TCP and the superuser only over the private socket', async () => {
    const hba = (await readFile(join(template.dir, 'pg_hba.conf'), 'utf8')).split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    assert.deepEqual(hba.map((line) => line.split(/\s+/)), [
      ['local', 'all', 'strata_admin', 'trust'],
      ['host', 'all', 'strata_admin', '0.0.0.0/0', 'reject'],
      ['host', 'all', 'strata_admin', '::/0', 'reject'],
      ['host', 'all', 'all', '127.0.0.1/32', 'scram-sha-256'],
      ['host', 'all', 'all', '::1/128', 'scram-sha-256'],
    ]);
  });

  test('a half-made template directory (no completion marker) is rebuilt', async () => {
    const dir = join(root.dir, 'template-half');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'PG_VERSION'), 'garbage');
    const rebuilt = await ensureTemplate(dir);
    assert.equal((await readFile(join(dir, 'PG_VERSION'), 'utf8')).trim(), String(rebuilt.majorVersion));
    assert.ok(existsSync(join(dir, 'global', 'pg_control')));
  });

  test('two processes building the same template at once both get it, and no build directory is left', async () => {
    const dir = join(root.dir, 'template-race');
    const [a, b] = await Promise.all([0, 1].map(() => runFixture('template-builder.ts', [dir], (line) => line.startsWith('{'))));
    assert.ok(a !== undefined && b !== undefined);
    assert.deepEqual(JSON.parse(a.line), JSON.parse(b.line));
    await Promise.all([exited(a.child), exited(b.child)]);
    const leftovers = (await readdir(root.dir)).filter((name) => name.startsWith('template-race.'));
    assert.deepEqual(leftovers, []);
    assert.ok(existsSync(join(dir, 'strata-template.json')));
  });
});

describe('a managed instance', () => {
  test('is created 0700 and owned by the unprivileged server user, and its socket directory is private', async () => {
    const spec = await specUnder(root.dir, 'perms');
    const cluster = await ManagedCluster.create(template, spec);
    try {
      const data = await stat(spec.dataDir);
      const socket = await stat(spec.socketDir);
      assert.equal(data.mode & 0o777, 0o700);
      assert.equal(socket.mode & 0o777, 0o700);
      if (process.getuid?.() === 0) {
        assert.notEqual(data.uid, 0, 'the data directory is not root\'s');
        assert.equal(socket.uid, data.uid);
      }
      await cluster.start();
      const [row] = await cluster.query<{ user: string }>('select current_user as user');
      assert.equal(row?.user, 'strata_admin');
      // The postmaster's, not a backend's: query() closes its connection, so its backend may be gone already.
      const postmasterPid = Number((await readFile(join(spec.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const status = await readFile(`/proc/${postmasterPid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      assert.equal(uid, data.uid, 'the server runs as the data directory\'s owner');
      if (process.getuid?.() === 0) assert.notEqual(uid, 0, 'never as root');
    } finally {
      await cluster.destroy();
    }
  });

  test('keeps its data across stop and start, in both stop modes', async () => {
    const spec = await specUnder(root.dir, 'stopstart');
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      await cluster.query('create table kept (value text)');
      await cluster.query("insert into kept values ('before fast stop')");
      await cluster.stop();
      assert.equal(await cluster.isRunning(), false);
      await cluster.stop(); // nothing to do
      await cluster.start();
      await cluster.query("insert into kept values ('before immediate stop')");
      await cluster.stop('immediate');
      await cluster.start(); // crash recovery
      await cluster.start(); // nothing to do
      assert.equal(await cluster.isRunning(), true);
      const rows = await cluster.query<{ value: string }>('select value from kept order by value');
      assert.deepEqual(rows.map((row) => row.value), ['before fast stop', 'before immediate stop']);
    } finally {
      await cluster.destroy();
    }
  });

  test('applies its spec: port, settings, durable defaults', async () => {
    const spec = await specUnder(root.dir, 'settings', { work_mem: '7MB', max_connections: '23' });
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      const rows = await cluster.query<{ name: string; setting: string }>(
        "select name, current_setting(name) as setting from unnest(array['port','work_mem','max_connections','fsync','synchronous_commit','listen_addresses','password_encryption']) as name");
      assert.deepEqual(Object.fromEntries(rows.map((row) => [row.name, row.setting])), {
        port: String(spec.port), work_mem: '7MB', max_connections: '23', fsync: 'on', synchronous_commit: 'on',
        listen_addresses: '127.0.0.1', password_encryption: 'scram-sha-256',
      });
    } finally {
      await cluster.destroy();
    }
  });

  test('configure reloads, reports the settings that need a restart, and refuses unknown names and bad values unchanged', async () => {
    const spec = await specUnder(root.dir, 'configure', { work_mem: '4MB' });
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      const result = await cluster.configure({ work_mem: '9MB', shared_buffers: '48MB' });
      assert.deepEqual(result, { restartRequired: ['shared_buffers'] });
      // A fresh connection sees the reloaded value; shared_buffers waits for the restart.
      const [reloaded] = await cluster.query<{ work_mem: string; pending: boolean }>(
        "select current_setting('work_mem') as work_mem, (select pending_restart from pg_settings where name = 'shared_buffers') as pending");
      assert.deepEqual(reloaded, { work_mem: '9MB', pending: true });
      await cluster.restart();
      const [restarted] = await cluster.query<{ shared_buffers: string }>("select current_setting('shared_buffers') as shared_buffers");
      assert.equal(restarted?.shared_buffers, '48MB');

      await assert.rejects(cluster.configure({ no_such_setting: '1' }), rejectsWith('PG_INSTANCE_INVALID_SETTING'));
      await assert.rejects(cluster.configure({ work_mem: 'lots' }), rejectsWith('PG_INSTANCE_INVALID_SETTING'));
      await assert.rejects(cluster.configure({ 'work mem': '1MB' }), rejectsWith('PG_INSTANCE_INVALID_SETTING'));
      await assert.rejects(cluster.configure({ port: '1' }), rejectsWith('PG_INSTANCE_INVALID_SETTING'));
      await assert.rejects(cluster.configure({ archive_command: 'sh -c id' }), rejectsWith('PG_INSTANCE_INVALID_SETTING'));
      assert.deepEqual(cluster.spec.settings, { work_mem: '9MB', shared_buffers: '48MB' });
      await cluster.restart();
      const [unchanged] = await cluster.query<{ work_mem: string }>("select current_setting('work_mem') as work_mem");
      assert.equal(unchanged?.work_mem, '9MB', 'the refused values were never applied');
    } finally {
      await cluster.destroy();
    }
  });

  test('the settings catalogue describes types, units, bounds, enum values and restart requirements', async () => {
    const spec = await specUnder(root.dir, 'catalogue');
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      const catalogue = new Map((await settingsCatalogue(cluster)).map((setting) => [setting.name, setting]));
      assert.deepEqual(catalogue.get('shared_buffers'), { name: 'shared_buffers', vartype: 'integer', unit: '8kB', min: 16, max: 1073741823, enumValues: null, restartRequired: true });
      assert.equal(catalogue.get('work_mem')?.restartRequired, false);
      assert.equal(catalogue.get('work_mem')?.unit, 'kB');
      assert.ok(catalogue.get('wal_level')?.enumValues?.includes('logical'));
      assert.equal(catalogue.get('fsync')?.vartype, 'bool');
    } finally {
      await cluster.destroy();
    }
  });

  test('logTail returns the last lines of the server log, bounded', async () => {
    const spec = await specUnder(root.dir, 'log');
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      await cluster.query("do $$ begin raise log 'strata-log-marker'; end $$");
      const lines = await cluster.logTail(5);
      assert.ok(lines.length <= 5 && lines.length > 0);
      assert.ok((await cluster.logTail(1000)).some((line) => line.includes('database system is ready to accept connections')));
      await assert.rejects(cluster.logTail(0), rejectsWith('PG_INSTANCE_INVALID_ARGUMENT'));
      await assert.rejects(cluster.logTail(1_000_000), rejectsWith('PG_INSTANCE_INVALID_ARGUMENT'));
    } finally {
      await cluster.destroy();
    }
  });

  test('setLimits puts the server in its cgroup where cgroup v1 is writable, and says false elsewhere', async () => {
    const spec = await specUnder(root.dir, 'limits');
    const cluster = await ManagedCluster.create(template, spec);
    try {
      await cluster.start();
      const applied = await cluster.setLimits({ memoryMb: 256, cpuShares: 512 });
      const writable = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/cgroup.procs');
      assert.equal(applied, writable);
      if (applied) {
        const pid = Number((await readFile(join(spec.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
        const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
        assert.match(cgroups, /memory:\/strata\/[^\n]+/);
        const group = /memory:(\/strata\/[^\n]+)/.exec(cgroups)?.[1] ?? '';
        assert.equal((await readFile(`/sys/fs/cgroup/memory${group}/memory.limit_in_bytes`, 'utf8')).trim(), String(256 * 1024 * 1024));
        assert.equal((await readFile(`/sys/fs/cgroup/cpu${group}/cpu.shares`, 'utf8')).trim(), '512');
        // A restart puts the new postmaster in the same group.
        await cluster.restart();
        const newPid = Number((await readFile(join(spec.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
        assert.match(await readFile(`/proc/${newPid}/cgroup`, 'utf8'), new RegExp(`memory:${group}`));
      }
      await assert.rejects(cluster.setLimits({ memoryMb: 0, cpuShares: 512 }), rejectsWith('PG_INSTANCE_INVALID_ARGUMENT'));
      await assert.rejects(cluster.setLimits({ memoryMb: 256, cpuShares: 1 }), rejectsWith('PG_INSTANCE_INVALID_ARGUMENT'));
    } finally {
      await cluster.destroy();
    }
  });

  test('removeIdleGroups removes empty instance groups older than the idle age, and keeps a running server\'s group and young empty ones', { skip: !(process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/cgroup.procs')) && 'needs writable cgroup v1 (root)' }, async () => {
    const spec = await specUnder(root.dir, 'sweep');
    const cluster = await ManagedCluster.create(template, spec);
    const groupsOf = (name: string) => ['memory', 'cpu'].map((controller) => `/sys/fs/cgroup/${controller}/strata/${name}`);
    const stamp = `${process.pid}-${Date.now()}`;
    const [idle, young] = [`sweep-test-idle-${stamp}`, `sweep-test-young-${stamp}`];
    const long = (Date.now() - 2 * IDLE_GROUP_AGE_MS) / 1000;
    try {
      await cluster.start();
      assert.equal(await cluster.setLimits({ memoryMb: 256, cpuShares: 512 }), true);
      const pid = Number((await readFile(join(spec.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const busy = /memory:\/strata\/([^\n]+)/.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '';
      for (const dir of [...groupsOf(idle), ...groupsOf(young)]) await mkdir(dir);
      // The idle group and the running server's are made to look old; the young one is new.
      for (const dir of [...groupsOf(idle), ...groupsOf(busy)]) await utimes(dir, long, long);
      // Every agent that starts sweeps too (the suite runs files side by side): whoever's sweep removes
      // the idle group, the outcome is what this checks, not this call's count.
      await removeIdleGroups(IDLE_GROUP_AGE_MS);
      for (const dir of groupsOf(idle)) assert.equal(existsSync(dir), false, `${dir} (empty, old) is removed`);
      for (const dir of groupsOf(young)) assert.equal(existsSync(dir), true, `${dir} (empty, young) is kept`);
      for (const dir of groupsOf(busy)) assert.equal(existsSync(dir), true, `${dir} (holds the server) is kept`);
      assert.match(await readFile(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`memory:/strata/${busy}`), 'the server is still in its group');
    } finally {
      for (const dir of groupsOf(young)) await rmdir(dir).catch(() => {});
      await cluster.destroy();
    }
  });

  test('destroy stops the server and removes everything; again is a no-op; start afterwards says why it cannot', async () => {
    const spec = await specUnder(root.dir, 'destroy');
    const cluster = await ManagedCluster.create(template, spec);
    await cluster.start();
    await cluster.destroy();
    assert.equal(existsSync(spec.dataDir), false);
    assert.equal(existsSync(spec.socketDir), false);
    assert.equal(existsSync(`${spec.dataDir}.partial`), false);
    await assert.rejects(cluster.query('select 1'), rejectsWith('PG_INSTANCE_UNAVAILABLE'));
    await cluster.destroy();
    await ManagedCluster.destroyAt(spec);
    await assert.rejects(cluster.start(), rejectsWith('PG_INSTANCE_NOT_AN_INSTANCE'));
  });

  test('create adopts a complete instance already in place, and open takes over a running one', async () => {
    const spec = await specUnder(root.dir, 'adopt');
    const first = await ManagedCluster.create(template, spec);
    try {
      await first.start();
      await first.query('create table marker (id int)');
      const again = await ManagedCluster.create(template, spec);
      assert.equal(await again.isRunning(), true);
      const opened = await ManagedCluster.open(spec);
      assert.deepEqual(await opened.query('select count(*)::int as n from marker'), [{ n: 0 }]);
    } finally {
      await first.destroy();
    }
  });
});

describe('bad input is refused before anything is touched', () => {
  test('relative paths, ports out of range, long socket paths, bad setting names', async () => {
    const good = await specUnder(root.dir, 'bad-input');
    const cases: [string, object, string][] = [
      ['relative dataDir', { ...good, dataDir: 'relative/data' }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['relative socketDir', { ...good, socketDir: 'socket' }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['privileged port', { ...good, port: 80 }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['port above 65535', { ...good, port: 70_000 }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['fractional port', { ...good, port: 5432.5 }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['socket inside data', { ...good, socketDir: join(good.dataDir, 'sock') }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['socket path too long', { ...good, socketDir: join(root.dir, 'x'.repeat(100)) }, 'PG_INSTANCE_INVALID_ARGUMENT'],
      ['setting name with a space', { ...good, settings: { 'work mem': '4MB' } }, 'PG_INSTANCE_INVALID_SETTING'],
      ['setting with a newline', { ...good, settings: { work_mem: "4MB'\nshared_preload_libraries = 'evil" } }, 'PG_INSTANCE_INVALID_SETTING'],
      ['reserved setting', { ...good, settings: { unix_socket_directories: '/tmp' } }, 'PG_INSTANCE_INVALID_SETTING'],
    ];
    for (const [what, spec, code] of cases) {
      await assert.rejects(ManagedCluster.create(template, spec as never), rejectsWith(code), what);
    }
    assert.equal(existsSync(join(root.dir, 'bad-input')), false, 'nothing was created');
  });

  test('a dataDir that exists and is not an instance is refused and left as it was', async () => {
    const spec = await specUnder(root.dir, 'occupied');
    await mkdir(spec.dataDir, { recursive: true });
    await writeFile(join(spec.dataDir, 'precious.txt'), 'keep me');
    await assert.rejects(ManagedCluster.create(template, spec), rejectsWith('PG_INSTANCE_NOT_AN_INSTANCE'));
    await assert.rejects(ManagedCluster.open(spec), rejectsWith('PG_INSTANCE_NOT_AN_INSTANCE'));
    await assert.rejects(ManagedCluster.destroyAt(spec), rejectsWith('PG_INSTANCE_NOT_AN_INSTANCE'));
    assert.deepEqual(await readdir(spec.dataDir), ['precious.txt']);
  });
});
