// The template cluster every instance is copied from: initdb once, with Strata's authentication
// (SCRAM over TCP, the superuser only over the private socket) and durable defaults.

import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage, run } from '../commands.js';
import { ensurePostgresInstalled } from '../install.js';
import { PgInstanceError } from './errors.js';
import { giveToServer, serverIdentity, type ServerIdentity } from './server-identity.js';
import { assertReachableByServer } from './spec.js';

/**
 * A complete template data directory and the server binaries it was made with.
 *
 * @example
 * ```ts
 * const template = await ensureTemplate('/var/lib/strata/template');
 * console.log(template.majorVersion, template.binDir); // 15 /usr/lib/postgresql/15/bin
 * ```
 */
export interface InstanceTemplate {
  /** The template's data directory (never started; copied by every create). */
  readonly dir: string;
  /** Where `postgres`, `initdb` and `pg_ctl` live. */
  readonly binDir: string;
  /** PostgreSQL major version of the template (its PG_VERSION). */
  readonly majorVersion: number;
}

/** The superuser of every instance: trusted over the private socket only, refused over TCP. */
export const INSTANCE_SUPERUSER = 'strata_admin';

/** Written last into a template before it is renamed into place: its presence means "complete" (copies drop it). */
export const TEMPLATE_MARKER = 'strata-template.json';

/** Bump when the template's files change, so templates made by an older Strata are rebuilt. */
const TEMPLATE_FORMAT_VERSION = 3;

/**
 * WAL segment size of the template in MB: PostgreSQL's default. Every finished segment is archived
 * by one archive_command (a process each), so small segments make WAL archiving — and with it every
 * backup after a bulk write, and the replay of a restore — slow: with 1 MB segments a full backup
 * of a freshly loaded 1 GB database took 67 s here, waiting for ~1,000 segments to be archived;
 * with 16 MB, 7 s (npm run bench:backups). A copy of the template is ~15 MB larger for it, which
 * creates from started spares never pay.
 */
export const TEMPLATE_WAL_SEGMENT_MB = 16;

/** initdb of a fresh cluster with a synced data directory takes seconds on a loaded machine. */
const INITDB_TIMEOUT_MS = 5 * 60_000;

/** The server's own authentication: SCRAM over loopback TCP, the superuser only on the private socket. */
export const TEMPLATE_HBA = [
  '# Written by Strata: SCRAM only over TCP; the superuser only over the private socket directory (0700).',
  '# TYPE  DATABASE  USER          ADDRESS        METHOD',
  `local   all       ${INSTANCE_SUPERUSER}                 trust`,
  `host    all       ${INSTANCE_SUPERUSER}  0.0.0.0/0      reject`,
  `host    all       ${INSTANCE_SUPERUSER}  ::/0           reject`,
  'host    all       all           127.0.0.1/32   scram-sha-256',
  'host    all       all           ::1/128        scram-sha-256',
  '',
].join('\n');

/** Appended to the template's postgresql.conf; each instance's strata.conf (included last) overrides it. */
const TEMPLATE_SETTINGS = [
  '',
  '# Strata managed-instance defaults: loopback only, SCRAM, durable commits.',
  "listen_addresses = '127.0.0.1'",
  "password_encryption = 'scram-sha-256'",
  'unix_socket_permissions = 0700',
  'fsync = on',
  'synchronous_commit = on',
  'full_page_writes = on',
  '# Archiving is on from the first start, so enabling backups needs no restart: the backup',
  '# repository sets the instance\'s archive_command with ALTER SYSTEM. Until then WAL is let go',
  '# (nothing before the first backup can be restored anyway) rather than piling up in pg_wal.',
  'archive_mode = on',
  "archive_command = '/bin/true'",
  '# The instance\'s port, socket directory and settings (written by Strata).',
  "include_if_exists = 'strata.conf'",
  '',
].join('\n');

const inProcess = new Map<string, Promise<InstanceTemplate>>();

/**
 * Makes sure `dir` holds a complete template cluster and returns it: initdb runs once (as the
 * unprivileged server user when we are root); a complete template is reused, one of an older
 * format or PostgreSQL major version is rebuilt. Safe when several processes call it at once:
 * each builds in a temp directory beside `dir` and renames it into place; the first rename wins.
 *
 * The template has superuser `strata_admin`, `local all strata_admin trust` (its socket directory
 * is private), `host all strata_admin … reject`, SCRAM for everyone else over 127.0.0.1/::1,
 * `password_encryption = scram-sha-256`, `listen_addresses = '127.0.0.1'`, fsync and
 * synchronous_commit on, and includes each instance's `strata.conf` last.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` for a relative `dir`;
 * `PG_INSTANCE_TEMPLATE_FAILED` when initdb fails.
 * @throws {PostgresNotInstalledError} when PostgreSQL is missing and cannot be installed.
 *
 * @example
 * ```ts
 * const template = await ensureTemplate('/var/lib/strata/template'); // ~1 s the first time
 * await ensureTemplate('/var/lib/strata/template');                   // reused: a file read
 * ```
 */
export function ensureTemplate(dir: string): Promise<InstanceTemplate> {
  if (typeof dir !== 'string' || !dir.startsWith('/')) {
    return Promise.reject(new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `ensureTemplate needs an absolute directory, got ${JSON.stringify(dir)}`));
  }
  const key = dir.replace(/\/+$/, '');
  let pending = inProcess.get(key);
  if (pending === undefined) {
    pending = buildOrReuse(key).finally(() => inProcess.delete(key));
    inProcess.set(key, pending);
  }
  return pending;
}

interface TemplateMarker {
  readonly format: number;
  readonly majorVersion: number;
  readonly binDir: string;
}

async function buildOrReuse(dir: string): Promise<InstanceTemplate> {
  const binDir = await ensurePostgresInstalled();
  const identity = await serverIdentity();
  const existing = await readMarker(dir);
  if (existing !== undefined && existing.format === TEMPLATE_FORMAT_VERSION && existing.binDir === binDir) {
    return { dir, binDir, majorVersion: existing.majorVersion };
  }
  await assertReachableByServer(dir, identity);
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  await removeAbandonedBuilds(dir);

  const buildDir = `${dir}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const majorVersion = await initTemplate(buildDir, binDir, identity);
    const marker: TemplateMarker = { format: TEMPLATE_FORMAT_VERSION, majorVersion, binDir };
    await writeFile(join(buildDir, TEMPLATE_MARKER), `${JSON.stringify(marker)}\n`, { mode: 0o600 });
    await giveToServer(join(buildDir, TEMPLATE_MARKER), identity);
    await moveIntoPlace(buildDir, dir);
    const winner = await readMarker(dir);
    return { dir, binDir, majorVersion: winner?.majorVersion ?? majorVersion };
  } finally {
    await rm(buildDir, { recursive: true, force: true });
  }
}

/** initdb into `buildDir` plus Strata's pg_hba.conf and defaults; returns the major version. */
async function initTemplate(buildDir: string, binDir: string, identity: ServerIdentity): Promise<number> {
  await mkdir(buildDir, { mode: 0o700 });
  await giveToServer(buildDir, identity);
  try {
    await run(join(binDir, 'initdb'), [
      '-D', buildDir,
      '-U', INSTANCE_SUPERUSER,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      // Independent of the host's LANG, and the collation PGlite uses.
      '--locale=C',
      `--wal-segsize=${TEMPLATE_WAL_SEGMENT_MB}`,
    ], { asUser: identity.user, cwd: buildDir, timeoutMs: INITDB_TIMEOUT_MS });
  } catch (error) {
    throw new PgInstanceError('PG_INSTANCE_TEMPLATE_FAILED', `initdb of the instance template in ${buildDir} failed: ${errorMessage(error)}`, { cause: error });
  }
  await writeFile(join(buildDir, 'pg_hba.conf'), TEMPLATE_HBA, { mode: 0o600 });
  await giveToServer(join(buildDir, 'pg_hba.conf'), identity);
  await appendFile(join(buildDir, 'postgresql.conf'), TEMPLATE_SETTINGS);
  const majorVersion = Number((await readFile(join(buildDir, 'PG_VERSION'), 'utf8')).trim());
  if (!Number.isInteger(majorVersion)) {
    throw new PgInstanceError('PG_INSTANCE_TEMPLATE_FAILED', `initdb left no readable PG_VERSION in ${buildDir}; check the PostgreSQL installation in ${binDir}`);
  }
  return majorVersion;
}

/** Renames a complete build to `dir`; a stale `dir` (no marker, older format) is moved aside first. */
async function moveIntoPlace(buildDir: string, dir: string): Promise<void> {
  try {
    await rename(buildDir, dir);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  const current = await readMarker(dir);
  // Another process won the race with a current template: use theirs.
  if (current !== undefined && current.format === TEMPLATE_FORMAT_VERSION) return;
  const stale = `${dir}.stale-${randomBytes(4).toString('hex')}`;
  await rename(dir, stale);
  try {
    await rename(buildDir, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  } finally {
    await rm(stale, { recursive: true, force: true });
  }
}

/** Build directories of processes that died mid-initdb (`<dir>.building-<pid>-<hex>`). */
async function removeAbandonedBuilds(dir: string): Promise<void> {
  const prefix = `${basename(dir)}.building-`;
  let siblings: string[];
  try {
    siblings = await readdir(dirname(dir));
  } catch {
    return;
  }
  for (const name of siblings) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !processExists(pid)) {
      await rm(join(dirname(dir), name), { recursive: true, force: true });
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readMarker(dir: string): Promise<TemplateMarker | undefined> {
  try {
    const marker = JSON.parse(await readFile(join(dir, TEMPLATE_MARKER), 'utf8')) as Partial<TemplateMarker>;
    if (typeof marker.format === 'number' && typeof marker.majorVersion === 'number' && typeof marker.binDir === 'string') {
      return { format: marker.format, majorVersion: marker.majorVersion, binDir: marker.binDir };
    }
    return undefined;
  } catch {
    return undefined;
  }
}
