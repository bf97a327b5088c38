// A stanza's pgBackRest configuration file (one per instance, so no command ever sees another
// instance's settings) and the shell commands PostgreSQL runs to archive and fetch its WAL.

import { PgBackupError } from './errors.js';

/** Stanza names: instance IDs (they name directories of the repository and a config file). */
const STANZA_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** Most full backups (or days) a retention can keep; a bound, not a target. */
export const MAX_RETENTION = 9_999;

/**
 * How long a stanza's backups are kept: the newest `fullBackups` full backups (with their
 * differentials, incrementals and WAL), or every backup needed to restore to any moment of the
 * last `days` days. pgBackRest applies it after each backup.
 */
export type BackupRetention = { readonly fullBackups: number } | { readonly days: number };

/** Where the server of a stanza is (pgBackRest connects to it over the private socket). */
export interface StanzaServer {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
}

/** Parallel processes of one backup or restore: two on a small host keeps one core for the server. */
export const BACKUP_PROCESS_MAX = 2;

/** Throws unless `stanza` can name a stanza. */
export function assertStanza(stanza: unknown): asserts stanza is string {
  if (typeof stanza !== 'string' || !STANZA_PATTERN.test(stanza)) {
    throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `a stanza is 1-63 letters, digits, '_' or '-' starting with a letter or digit (an instance ID), got ${JSON.stringify(stanza)}`);
  }
}

/** Throws unless `retention` keeps at least one full backup or day, within {@link MAX_RETENTION}. */
export function assertRetention(retention: BackupRetention): void {
  const value = 'fullBackups' in retention ? retention.fullBackups : 'days' in retention ? retention.days : undefined;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_RETENTION) {
    throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `a retention keeps { fullBackups: N } or { days: D }, a whole number from 1 to ${MAX_RETENTION}; got ${JSON.stringify(retention)}`);
  }
}

/** Paths end up in a config file and a shell command: no quotes games, no `%` (PostgreSQL expands it in archive_command). */
export function assertPlainPath(path: string, what: string): void {
  if (!path.startsWith('/') || /[\n\r'"%\\]/.test(path)) {
    throw new PgBackupError('PG_BACKUP_INVALID_ARGUMENT', `${what} must be an absolute path without quotes, backslashes, % or line breaks, got ${JSON.stringify(path)}`);
  }
}

/** The text of a stanza's config file. */
export function renderStanzaConfig(input: { readonly repositoryDir: string; readonly lockDir: string; readonly stanza: string; readonly server: StanzaServer; readonly retention?: BackupRetention | undefined }): string {
  const retention = input.retention ?? { fullBackups: MAX_RETENTION };
  return [
    '# Written by Strata (BackupRepository): one instance\'s backups. Rewritten before each backup.',
    '[global]',
    `repo1-path=${input.repositoryDir}`,
    `lock-path=${input.lockDir}`,
    'log-level-file=off',
    'log-level-console=warn',
    'log-level-stderr=off',
    'compress-type=lz4',
    'start-fast=y',
    `process-max=${BACKUP_PROCESS_MAX}`,
    ...('days' in retention ? ['repo1-retention-full-type=time', `repo1-retention-full=${retention.days}`] : ['repo1-retention-full-type=count', `repo1-retention-full=${retention.fullBackups}`]),
    '',
    `[${input.stanza}]`,
    `pg1-path=${input.server.dataDir}`,
    `pg1-socket-path=${input.server.socketDir}`,
    `pg1-port=${input.server.port}`,
    'pg1-user=strata_admin',
    '',
  ].join('\n');
}

/**
 * The archive_command of a stanza's server: pgBackRest pushes each finished WAL segment to the
 * repository. pgBackRest wants pg1-path to be the server's working directory as the kernel names
 * it (a copy restored elsewhere, an instance reached through a link), so it is asked of the shell.
 */
export function archiveCommand(bin: string, configFile: string, stanza: string): string {
  return `"${bin}" --config="${configFile}" --stanza=${stanza} --pg1-path="$(pwd -P)" archive-push "%p"`;
}

/**
 * The restore_command of a server restored from a stanza: pgBackRest fetches the WAL it replays.
 * Paths are double-quoted (they hold no quotes: assertPlainPath), since pgBackRest writes this
 * into postgresql.auto.conf without escaping single quotes.
 */
export function restoreCommand(bin: string, configFile: string, stanza: string): string {
  return `"${bin}" --config="${configFile}" --stanza=${stanza} --pg1-path="$(pwd -P)" archive-get %f "%p"`;
}
