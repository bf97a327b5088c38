// Finding pgBackRest, and installing Debian's `pgbackrest` package with apt-get when it is missing and we run as root.

import { existsSync } from 'node:fs';
import { aptGetInstall } from '../apt.js';
import { errorMessage, isRoot } from '../commands.js';
import { PgBackupError } from './errors.js';

/** Where Debian's package puts the program. */
export const PGBACKREST_BIN = '/usr/bin/pgbackrest';

let installPromise: Promise<string> | undefined;

/**
 * Returns pgBackRest's path, installing Debian's `pgbackrest` with apt-get first when it is
 * missing and we run as root. Concurrent calls share one installation.
 *
 * @throws {PgBackupError} `PG_BACKUP_TOOL_NOT_INSTALLED` when it is missing and cannot be installed.
 *
 * @example
 * ```ts
 * const bin = await ensurePgBackRestInstalled(); // '/usr/bin/pgbackrest'
 * ```
 */
export function ensurePgBackRestInstalled(): Promise<string> {
  if (existsSync(PGBACKREST_BIN)) return Promise.resolve(PGBACKREST_BIN);
  installPromise ??= install().finally(() => {
    installPromise = undefined;
  });
  return installPromise;
}

async function install(): Promise<string> {
  const howToInstall = `Install Debian's package (sudo apt-get install -y pgbackrest) so that ${PGBACKREST_BIN} exists, then run again.`;
  if (!isRoot()) throw new PgBackupError('PG_BACKUP_TOOL_NOT_INSTALLED', `pgBackRest not found at ${PGBACKREST_BIN}. ${howToInstall}`);
  process.stderr.write('pgBackRest not found; installing the Debian package "pgbackrest" with apt-get...\n');
  try {
    await aptGetInstall(['pgbackrest'], { noRecommends: true });
  } catch (error) {
    throw new PgBackupError('PG_BACKUP_TOOL_NOT_INSTALLED', `Installing pgBackRest with apt-get failed: ${errorMessage(error)}\n${howToInstall}`, { cause: error });
  }
  if (!existsSync(PGBACKREST_BIN)) throw new PgBackupError('PG_BACKUP_TOOL_NOT_INSTALLED', `apt-get ran but ${PGBACKREST_BIN} is still missing. ${howToInstall}`);
  return PGBACKREST_BIN;
}
