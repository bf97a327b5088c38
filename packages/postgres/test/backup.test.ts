import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BackupRepository, ManagedCluster, PgBackupError, restorableFrom, type InstanceTemplate, type RestoreTarget } from '../src/index.js';
import { SeededRandom } from '@strata/testing';
import { sharedTemplate, specUnder, tempRoot } from './fixtures/instance-helpers.js';

let template: InstanceTemplate;
let root: { dir: string; remove: () => Promise<void> };
let repository: BackupRepository;
let source: ManagedCluster;
const STANZA = 'ins_source';
const made: ManagedCluster[] = [];

before(async () => {
  template = await sharedTemplate();
  root = await tempRoot('backup');
  repository = await BackupRepository.open(join(root.dir, 'repo'));
  source = await ManagedCluster.create(template, await specUnder(root.dir, STANZA));
  made.push(source);
  await source.start();
  await source.query('create table items (id integer primary key, note text)');
});
after(async () => {
  for (const cluster of made) await cluster.destroy().catch(() => {});
  await root.remove();
});

function rejectsWith(code: string) {
  return (error: unknown) => error instanceof PgBackupError && error.code === code;
}

/** A new instance restored from `stanza` as of `target`, started and promoted. */
async function restoreCopy(name: string, target: RestoreTarget, stanza = STANZA): Promise<ManagedCluster> {
  const copy = await ManagedCluster.create(template, await specUnder(root.dir, name), {
    prepared: async (partial) => {
      await repository.restoreInto(stanza, target, partial);
      return true;
    },
  });
  made.push(copy);
  await copy.start();
  await repository.waitForPromotion(copy);
  return copy;
}

async function ids(cluster: ManagedCluster): Promise<number[]> {
  return (await cluster.query<{ id: number }>('select id from items order by id')).map((row) => row.id);
}

describe('a backup repository', () => {
  let full: Awaited<ReturnType<BackupRepository['backup']>>;

  test('archives an instance\'s WAL into its stanza once enabled, and takes full, differential and incremental backups', async () => {
    const { restartRequired } = await repository.enableArchiving(source, STANZA);
    assert.equal(restartRequired, false, 'the template already has archive_mode on');
    assert.equal((await source.query<{ command: string }>("select current_setting('archive_command') as command"))[0]?.command, repository.archiveCommand(STANZA));
    full = await repository.backup(source, STANZA, { type: 'full', backupId: 'bak_full' });
    await source.query("insert into items select g, 'base' from generate_series(1, 100) g");
    const diff = await repository.backup(source, STANZA, { type: 'diff', backupId: 'bak_diff' });
    const incr = await repository.backup(source, STANZA, { type: 'incr', backupId: 'bak_incr' });
    assert.deepEqual([full.type, diff.type, incr.type], ['full', 'diff', 'incr']);
    assert.equal(diff.prior, full.label);
    assert.equal(incr.prior, diff.label);
    assert.equal(full.annotations['strata-backup-id'], 'bak_full');
    assert.ok(full.sizeBytes > 1_000_000 && full.repositorySizeBytes > 0 && full.repositorySizeBytes < full.sizeBytes, 'compressed');
    assert.ok(incr.repositoryDeltaBytes < full.repositorySizeBytes / 2, 'an incremental stores only what changed');
    const info = await repository.info(STANZA);
    assert.deepEqual(info?.backups.map((set) => set.label), [full.label, diff.label, incr.label]);
    assert.ok(info?.walMax !== null && info!.walMax! >= incr.walStop, 'the archive holds the WAL of the last backup');
    assert.deepEqual(await repository.stanzas(), [STANZA]);
  });

  test('a backup repeated with the same ID returns the set already made instead of taking another', async () => {
    const again = await repository.backup(source, STANZA, { type: 'full', backupId: 'bak_full' });
    assert.equal(again.label, full.label);
    assert.equal((await repository.info(STANZA))?.backups.length, 3);
  });

  for (const seed of [1, 2, 3]) {
    test(`a point-in-time restore brings back exactly the rows committed before the target (seed ${seed}, rows a few ms apart)`, async () => {
      const random = new SeededRandom(seed);
      const base = seed * 1000;
      // Each row its own transaction; after its commit, the server's clock (µs) is read: later than
      // that commit, earlier than the next one (which starts ≥ 2 ms later).
      const afterCommitMicros: number[] = [];
      for (let row = 0; row < 30; row++) {
        await source.query('insert into items values ($1, $2)', [base + row, `seed ${seed}`]);
        const [clock] = await source.query<{ micros: string }>('select (extract(epoch from clock_timestamp()) * 1000000)::bigint::text as micros');
        afterCommitMicros.push(Number(clock?.micros));
        await new Promise((resolve) => setTimeout(resolve, random.int(2, 5)));
      }
      const cut = random.int(3, 26);
      // Rounded up to the millisecond (a Date's precision): still before the next row's commit.
      const target = new Date(Math.ceil((afterCommitMicros[cut] as number) / 1000));
      console.log(`seed ${seed}: restore to ${target.toISOString()}, after row ${cut} of 30`);
      await repository.seal(source, STANZA);
      const copy = await restoreCopy(`pitr-${seed}`, { kind: 'time', time: target });
      const restored = (await ids(copy)).filter((id) => id >= base);
      assert.deepEqual(restored, Array.from({ length: cut + 1 }, (_, i) => base + i), `seed ${seed}: rows 0..${cut} and none after`);
      await copy.query('insert into items values (-1, $1)', ['the copy accepts writes']);
      await copy.destroy();
    });
  }

  test('a restore point brings back exactly what was committed before it; a backup set brings back its own end', async () => {
    await source.query("insert into items values (900001, 'before the point')");
    await repository.createRestorePoint(source, STANZA, 'before-900002');
    await source.query("insert into items values (900002, 'after the point')");
    await repository.seal(source, STANZA);
    const atPoint = await restoreCopy('at-point', { kind: 'name', name: 'before-900002' });
    assert.deepEqual((await ids(atPoint)).filter((id) => id > 900000), [900001]);
    await atPoint.destroy();
    const atFull = await restoreCopy('at-full', { kind: 'backup', label: full.label });
    assert.deepEqual(await ids(atFull), [], 'the full backup was taken before any row');
    assert.equal((await atFull.query<{ command: string }>("select current_setting('archive_command') as command"))[0]?.command, '/bin/true', 'a copy never archives into its source\'s stanza');
    await atFull.destroy();
  });

  test('an instance restored in place gets the state of the target, keeps its port and limits, and archives its new timeline into its own stanza', async () => {
    const inPlace = await ManagedCluster.create(template, await specUnder(root.dir, 'ins_inplace'));
    made.push(inPlace);
    await inPlace.start();
    await inPlace.setLimits({ memoryMb: 256, cpuShares: 256 });
    await repository.enableArchiving(inPlace, 'ins_inplace');
    await repository.backup(inPlace, 'ins_inplace', { type: 'full', backupId: 'inplace_full' });
    await inPlace.query('create table t (id integer)');
    await inPlace.query('insert into t values (1)');
    await repository.createRestorePoint(inPlace, 'ins_inplace', 'one-row');
    await inPlace.query('insert into t values (2)');
    await repository.seal(inPlace, 'ins_inplace');
    const port = inPlace.spec.port;
    await inPlace.replaceData((dir) => repository.restoreInto('ins_inplace', { kind: 'name', name: 'one-row' }, dir, { keepArchiving: true }));
    assert.equal(await inPlace.isRunning(), false, 'stopped until started');
    await inPlace.start();
    await repository.waitForPromotion(inPlace);
    assert.equal(inPlace.spec.port, port);
    assert.deepEqual((await inPlace.query<{ id: number }>('select id from t order by id')).map((r) => r.id), [1]);
    assert.match(await readFile(join(inPlace.spec.dataDir, 'strata-limits.json'), 'utf8'), /"memoryMb":256/);
    // The new timeline's WAL reaches the stanza: a restore from it later sees what was written after.
    await inPlace.query('insert into t values (3)');
    await repository.seal(inPlace, 'ins_inplace');
    const later = await restoreCopy('after-inplace', { kind: 'latest' }, 'ins_inplace');
    assert.deepEqual((await later.query<{ id: number }>('select id from t order by id')).map((r) => r.id), [1, 3]);
    await later.destroy();
    await inPlace.destroy();
  });

  test('a target before the first backup ended is refused before anything is restored; one past the archived WAL fails recovery with a typed error', async () => {
    const first = (await repository.info(STANZA))?.backups[0];
    assert.ok(first);
    const tooEarly = new Date(restorableFrom(first).getTime() - 5_000);
    await assert.rejects(repository.restoreInto(STANZA, { kind: 'time', time: tooEarly }, join(root.dir, 'too-early')), rejectsWith('PG_BACKUP_TARGET_UNREACHABLE'));
    await assert.rejects(readdir(join(root.dir, 'too-early')), /ENOENT/, 'nothing was made');
    await assert.rejects(restoreCopy('too-late', { kind: 'time', time: new Date(Date.now() + 3_600_000) }), rejectsWith('PG_BACKUP_TARGET_UNREACHABLE'));
  });

  test('bad arguments get typed errors that say what to write', async () => {
    await assert.rejects(repository.info('../etc'), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
    await assert.rejects(repository.backup(source, STANZA, { type: 'weekly' as never, backupId: 'x' }), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
    await assert.rejects(repository.backup(source, STANZA, { type: 'full', backupId: 'a b' }), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
    await assert.rejects(repository.expire(STANZA, 'latest'), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
    await assert.rejects(repository.createRestorePoint(source, STANZA, "x'; drop table items; --"), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
    await assert.rejects(repository.restoreInto(STANZA, { kind: 'backup', label: '20200101-000000F' }, join(root.dir, 'nope')), rejectsWith('PG_BACKUP_NOT_FOUND'));
    await assert.rejects(repository.restoreInto('ins_never', { kind: 'latest' }, join(root.dir, 'nope')), rejectsWith('PG_BACKUP_NOT_FOUND'));
    await assert.rejects(repository.restoreInto(STANZA, { kind: 'time', time: new Date('nope') }, join(root.dir, 'nope')), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
    await assert.rejects(BackupRepository.open("/tmp/it's"), rejectsWith('PG_BACKUP_INVALID_ARGUMENT'));
  });

  test('verify passes on an intact repository and names a backup file that was corrupted', async () => {
    assert.match(await repository.verify(STANZA), /./);
    const info = await repository.info(STANZA);
    const label = info?.backups[0]?.label as string;
    const dir = join(repository.dir, 'backup', STANZA, label, 'pg_data', 'global');
    const victim = (await readdir(dir)).find((name) => name.startsWith('pg_control'));
    assert.ok(victim);
    const bytes = await readFile(join(dir, victim));
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await writeFile(join(dir, victim), bytes);
    await assert.rejects(repository.verify(STANZA), rejectsWith('PG_BACKUP_FAILED'));
  });

  test('expire removes one backup set and the sets built on it', async () => {
    const before = (await repository.info(STANZA))?.backups ?? [];
    const diff = before.find((set) => set.type === 'diff');
    assert.ok(diff);
    await repository.expire(STANZA, diff.label);
    const after = (await repository.info(STANZA))?.backups.map((set) => set.label) ?? [];
    assert.ok(!after.includes(diff.label));
    assert.ok(!after.some((label) => before.find((set) => set.label === label)?.prior === diff.label), 'its incremental went with it');
    await repository.expire(STANZA, diff.label); // gone already: nothing to do
  });
});
