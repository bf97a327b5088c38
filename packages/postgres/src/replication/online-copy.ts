// A consistent copy of a running instance by file copy: PostgreSQL's backup API brackets a copy of
// its files (blocks shared copy-on-write where the filesystem can: XFS with reflink, btrfs), a
// temporary replication slot keeps every WAL segment the copy needs, and the copy recovers to the
// moment the backup stopped when it is first started. What a fork of the present is made of.

import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { errorMessage } from '../commands.js';
import { removeAutoSettings } from '../backup/auto-conf.js';
import { LIMITS_FILE, LOG_FILE } from '../instance/config-file.js';
import type { ManagedCluster } from '../instance/managed-cluster.js';
import { giveTreeToServer, serverIdentity } from '../instance/server-identity.js';
import { INSTANCE_SUPERUSER } from '../instance/template.js';
import { PgReplicationError } from './errors.js';

/** Directories whose contents belong to the running server only (as pg_basebackup leaves them out); the directories themselves are kept. */
const RUNTIME_DIRS = new Set(['pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans', 'pg_wal']);
/** Files of the running server, or of an earlier backup or recovery, that a copy must not carry. */
const RUNTIME_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'standby.signal', 'recovery.signal', 'pg_internal.init', LIMITS_FILE, LOG_FILE]);
/** Settings of the source that must not act in the copy: archiving into its stanza, its standbys, an upstream. */
const SOURCE_ONLY_SETTINGS = ['archive_command', 'restore_command', 'synchronous_standby_names', 'primary_conninfo', 'primary_slot_name'];

/** What {@link copyRunningInstance} did: the WAL position the copy recovers to, and how its files were copied. */
export interface OnlineCopy {
  /** The copy holds every transaction committed before this WAL position (pg_backup_stop's). */
  readonly stopLsn: string;
  /** Files whose blocks are shared with the source (copy-on-write), and files copied byte by byte. */
  readonly clonedFiles: number;
  readonly copiedFiles: number;
}

/**
 * Copies the running instance `source` into `dir` (absent or empty) so that, started, the copy
 * holds everything committed before the copy ended and accepts writes: a primary of its own (same
 * timeline, none of the source's archiving, standbys or replication slots). Runs as root or as the
 * server user; the copy is the server user's. Give `dir` to {@link ManagedCluster.create}'s
 * `prepared`, then start it.
 *
 * On XFS (`reflink=1`) or btrfs each file is a copy-on-write clone: a 100 MB instance copies in
 * tens of milliseconds and shares its blocks until either side writes them. Elsewhere the files are
 * copied.
 *
 * @throws {PgReplicationError} `PG_REPLICATION_WRONG_ROLE` for a standby source; `PG_REPLICATION_FAILED`
 * when the backup API or the copy fails (the source's backup is stopped either way).
 *
 * @example
 * ```ts
 * const fork = await ManagedCluster.create(template, spec, { prepared: async (partial) => { await copyRunningInstance(source, partial); return true; } });
 * await fork.start();
 * ```
 */
export async function copyRunningInstance(source: ManagedCluster, dir: string): Promise<OnlineCopy> {
  if (!dir.startsWith('/')) throw new PgReplicationError('PG_REPLICATION_INVALID_ARGUMENT', `the copy's directory must be absolute, got ${JSON.stringify(dir)}`);
  const identity = await serverIdentity();
  await rm(dir, { recursive: true, force: true });
  const client = new pg.Client({ host: source.spec.socketDir, port: source.spec.port, user: INSTANCE_SUPERUSER, database: 'postgres' });
  await client.connect();
  const counts = { cloned: 0, copied: 0 };
  try {
    const [{ recovering }] = (await client.query<{ recovering: boolean }>('select pg_is_in_recovery() as recovering')).rows as [{ recovering: boolean }];
    if (recovering) throw new PgReplicationError('PG_REPLICATION_WRONG_ROLE', `${source.spec.dataDir} is a standby; copy its primary instead`);
    // Held by this session: WAL from here on stays in pg_wal until the copy has it, whatever checkpoints run meanwhile.
    await client.query('select pg_create_physical_replication_slot($1, true, true)', [`strata_copy_${process.pid}_${Date.now()}`]);
    // PostgreSQL 15 renamed the non-exclusive backup functions.
    const modern = Number((await client.query<{ v: string }>("select current_setting('server_version_num') as v")).rows[0]?.v) >= 150000;
    await client.query(modern ? 'select pg_backup_start($1, true)' : 'select pg_start_backup($1, true, false)', [`strata online copy into ${dir}`]);
    let stop: { lsn: string; labelfile: string; spcmapfile: string; segment: string };
    try {
      await copyTree(source.spec.dataDir, dir, counts, true);
    } finally {
      stop = (await client.query<{ lsn: string; labelfile: string; spcmapfile: string; segment: string }>(`select lsn::text, labelfile, spcmapfile, pg_walfile_name(lsn) as segment from ${modern ? 'pg_backup_stop(false)' : 'pg_stop_backup(false, false)'}`)).rows[0]!;
    }
    // Every segment up to the backup's stop, written while the files were copied. Those before the
    // stop's segment are the source's finished history: marked archived (`.done`), the copy never
    // archives them. The stop's segment is the one the copy goes on writing (and later ones are
    // recycled files it will reuse): left unmarked, they are archived once the copy finishes them.
    await copyTree(join(source.spec.dataDir, 'pg_wal'), join(dir, 'pg_wal'), counts, false, new Set(['archive_status']));
    for (const name of await readdir(join(dir, 'pg_wal'))) {
      const finished = /^[0-9A-F]{24}$/.test(name) && name.slice(0, 8) === stop.segment.slice(0, 8) && name < stop.segment;
      if (finished || /^[0-9A-F]{8}\.history$/.test(name)) await writeFile(join(dir, 'pg_wal', 'archive_status', `${name}.done`), '', { mode: 0o600 });
    }
    await writeFile(join(dir, 'backup_label'), stop.labelfile, { mode: 0o600 });
    if (stop.spcmapfile.length > 0) await writeFile(join(dir, 'tablespace_map'), stop.spcmapfile, { mode: 0o600 });
    await writeFile(join(dir, LOG_FILE), '', { mode: 0o600 });
    await giveTreeToServer(dir, identity);
    await removeAutoSettings(dir, SOURCE_ONLY_SETTINGS, identity);
    return { stopLsn: stop.lsn, clonedFiles: counts.cloned, copiedFiles: counts.copied };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    if (error instanceof PgReplicationError) throw error;
    throw new PgReplicationError('PG_REPLICATION_FAILED', `an online copy of ${source.spec.dataDir} into ${dir} failed: ${errorMessage(error)}`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Copies `from` into `to`, each file cloned (FICLONE) where the filesystem shares blocks, else
 * copied; modes kept. The directories named in `emptyDirs` are made empty; with `skipRuntime`, the
 * running server's own files are left out. A file that vanishes while the tree is read (a temporary file) is skipped: the
 * backup's WAL replay recreates what matters.
 */
async function copyTree(from: string, to: string, counts: { cloned: number; copied: number }, skipRuntime: boolean, emptyDirs: ReadonlySet<string> = RUNTIME_DIRS): Promise<void> {
  await mkdir(to, { recursive: true, mode: (await stat(from)).mode & 0o777 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      if (emptyDirs.has(entry.name)) {
        await mkdir(target, { recursive: true, mode: 0o700 });
        if (entry.name === 'pg_wal') await mkdir(join(target, 'archive_status'), { recursive: true, mode: 0o700 });
        continue;
      }
      await copyTree(source, target, counts, skipRuntime, emptyDirs);
    } else if (entry.isFile()) {
      if (skipRuntime && RUNTIME_FILES.has(entry.name)) continue;
      try {
        await copyFile(source, target, constants.COPYFILE_FICLONE_FORCE);
        counts.cloned += 1;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'EINVAL' && code !== 'ENOSYS') throw error;
        try {
          await copyFile(source, target);
          counts.copied += 1;
        } catch (fallback) {
          if ((fallback as NodeJS.ErrnoException).code !== 'ENOENT') throw fallback;
        }
      }
    }
  }
}
