// An instance's own files in its data directory: `strata-instance.json` (what Strata wrote: the
// port, socket directory and settings; its presence marks a complete Strata instance) and
// `strata.conf` (the same rendered for PostgreSQL, included last by the template's postgresql.conf).

import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PgInstanceError } from './errors.js';
import { giveToServer, type ServerIdentity } from './server-identity.js';

/** Included by the template's postgresql.conf with `include_if_exists`, so it overrides the defaults. */
export const SETTINGS_FILE = 'strata.conf';
/** JSON record of the instance (marks a complete copy; read by {@link ManagedCluster.open}). */
export const INSTANCE_FILE = 'strata-instance.json';
/** The postmaster's stdout/stderr, appended (read by `logTail`). */
export const LOG_FILE = 'strata.log';
/** Limits last set with setLimits, re-applied to the postmaster at every start. */
export const LIMITS_FILE = 'strata-limits.json';

/** A GUC name: `work_mem`, or a custom `extension.name` (63 = NAMEDATALEN - 1, PostgreSQL's identifier limit). */
const SETTING_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/;

/** Longer values are not settings but mistakes (the longest real ones are paths and lists). */
const MAX_SETTING_VALUE_CHARS = 4096;

/**
 * Settings Strata manages itself and never takes from a spec or configure(): the instance's
 * identity (port, sockets, files), its authentication, and every setting that runs a program or
 * loads a library as the server user (a tenant who could set them would escape the database).
 */
export const RESERVED_SETTINGS: ReadonlySet<string> = new Set([
  'port', 'listen_addresses', 'unix_socket_directories', 'unix_socket_group', 'unix_socket_permissions',
  'data_directory', 'config_file', 'hba_file', 'ident_file', 'external_pid_file',
  'password_encryption', 'krb_server_keyfile', 'ssl_passphrase_command',
  'archive_command', 'archive_library', 'restore_command', 'archive_cleanup_command', 'recovery_end_command',
  'shared_preload_libraries', 'local_preload_libraries', 'session_preload_libraries', 'dynamic_library_path',
  'logging_collector', 'log_directory', 'log_filename',
]);

/** What Strata records about an instance in its data directory. */
export interface InstanceRecord {
  readonly port: number;
  readonly socketDir: string;
  readonly settings: Readonly<Record<string, string>>;
}

/**
 * Validates and normalizes settings: names lower-cased (GUC names are case-insensitive), values
 * single-line and bounded, reserved names refused.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_SETTING`
 */
export function normalizeSettings(settings: Readonly<Record<string, string>>): Record<string, string> {
  if (settings === null || typeof settings !== 'object') {
    throw new PgInstanceError('PG_INSTANCE_INVALID_SETTING', 'settings must be an object of name → value strings, e.g. { work_mem: "4MB" }');
  }
  const normalized: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(settings)) {
    const name = rawName.toLowerCase();
    if (!SETTING_NAME_PATTERN.test(name)) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_SETTING', `${JSON.stringify(rawName)} is not a PostgreSQL setting name: use a name from pg_settings such as "work_mem" (letters, digits, underscores, at most one dot)`);
    }
    if (RESERVED_SETTINGS.has(name)) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_SETTING', `${JSON.stringify(name)} is managed by Strata and cannot be set here (the port and socket come from the instance spec; settings that run programs or load libraries are refused)`);
    }
    if (Object.hasOwn(normalized, name)) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_SETTING', `setting ${JSON.stringify(name)} is given twice (names are case-insensitive)`);
    }
    if (typeof value !== 'string' || value.length > MAX_SETTING_VALUE_CHARS || /[\u0000-\u001f\u007f]/.test(value)) {
      throw new PgInstanceError('PG_INSTANCE_INVALID_SETTING', `the value of ${JSON.stringify(name)} must be a single-line string of at most ${MAX_SETTING_VALUE_CHARS} characters, e.g. "64MB"`);
    }
    normalized[name] = value;
  }
  return normalized;
}

/** The names whose values differ between two settings maps (added, removed or changed), sorted. */
export function changedSettings(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}

/** postgresql.conf text for the instance (every value quoted: `'` doubled, `\` escaped). */
export function renderSettingsFile(record: InstanceRecord): string {
  const quote = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  return [
    '# Written by Strata (ManagedCluster): this instance\'s port, socket and settings. configure() rewrites it.',
    `port = ${record.port}`,
    `unix_socket_directories = ${quote(record.socketDir)}`,
    ...Object.entries(record.settings).map(([name, value]) => `${name} = ${quote(value)}`),
    '',
  ].join('\n');
}

/** Writes `name` in `dir` atomically (temp file + rename), readable by the server user only. */
export async function writeOwnedFile(dir: string, name: string, text: string, identity: ServerIdentity): Promise<void> {
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o600 });
    await giveToServer(temp, identity);
    await rename(temp, join(dir, name));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Writes strata-instance.json and strata.conf for `record`. */
export async function writeInstanceFiles(dataDir: string, record: InstanceRecord, identity: ServerIdentity): Promise<void> {
  await writeOwnedFile(dataDir, SETTINGS_FILE, renderSettingsFile(record), identity);
  await writeOwnedFile(dataDir, INSTANCE_FILE, `${JSON.stringify(record, null, 2)}\n`, identity);
}

/** The instance record in `dataDir`, or undefined when there is none (not a complete Strata instance). */
export async function readInstanceRecord(dataDir: string): Promise<InstanceRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, INSTANCE_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<InstanceRecord>;
  if (typeof parsed.port !== 'number' || typeof parsed.socketDir !== 'string' || parsed.settings === null || typeof parsed.settings !== 'object') {
    throw new PgInstanceError('PG_INSTANCE_NOT_AN_INSTANCE', `${join(dataDir, INSTANCE_FILE)} is not a Strata instance record; remove the directory (destroy) and create the instance again`);
  }
  return { port: parsed.port, socketDir: parsed.socketDir, settings: parsed.settings };
}
