// Finding the PostgreSQL server binaries, and installing the Debian package with apt-get when
// they are missing and we run as root (CI machines, fresh hosts).

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { aptGetInstall } from './apt.js';
import { errorMessage, isRoot } from './commands.js';
import { PostgresNotInstalledError } from './errors.js';

/** Where the Debian/Ubuntu `postgresql` packages put one `bin` directory per major version. */
export const POSTGRES_ROOT_DIR = '/usr/lib/postgresql';

let installPromise: Promise<string> | undefined;

/**
 * Finds the newest `/usr/lib/postgresql/<N>/bin` that contains `initdb` and `pg_ctl`.
 *
 * @returns the bin directory, or `undefined` when no PostgreSQL server is installed there.
 *
 * @example
 * ```ts
 * const binDir = findPostgresBinDir(); // '/usr/lib/postgresql/16/bin' or undefined
 * ```
 */
export function findPostgresBinDir(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(POSTGRES_ROOT_DIR);
  } catch {
    return undefined;
  }
  const candidates = versions
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(POSTGRES_ROOT_DIR, version, 'bin'));
  return candidates.find(
    (binDir) => existsSync(join(binDir, 'initdb')) && existsSync(join(binDir, 'pg_ctl')),
  );
}

/**
 * Returns the PostgreSQL bin directory, installing the Debian `postgresql` package with apt-get
 * first when it is missing and we run as root. Concurrent calls share one installation.
 *
 * @throws {PostgresNotInstalledError} when the binaries are missing and cannot be installed.
 *
 * @example
 * ```ts
 * const binDir = await ensurePostgresInstalled();
 * console.log(`using ${binDir}`);
 * ```
 */
export function ensurePostgresInstalled(): Promise<string> {
  const found = findPostgresBinDir();
  if (found !== undefined) return Promise.resolve(found);
  installPromise ??= installPostgres().finally(() => {
    installPromise = undefined;
  });
  return installPromise;
}

async function installPostgres(): Promise<string> {
  const howToInstall =
    `Install the PostgreSQL server (Debian/Ubuntu package "postgresql": ` +
    `sudo apt-get install -y postgresql), so that ${POSTGRES_ROOT_DIR}/<version>/bin ` +
    `contains initdb and pg_ctl, then run again.`;
  if (!isRoot()) {
    throw new PostgresNotInstalledError(
      `PostgreSQL server binaries not found under ${POSTGRES_ROOT_DIR}. ${howToInstall}`,
    );
  }
  const startedAtMs = Date.now();
  process.stderr.write(
    `PostgreSQL not found under ${POSTGRES_ROOT_DIR}; installing the Debian package "postgresql" with apt-get...\n`,
  );
  try {
    await aptGetInstall(['postgresql']);
  } catch (error) {
    throw new PostgresNotInstalledError(
      `Installing PostgreSQL with apt-get failed: ${errorMessage(error)}\n${howToInstall}`,
      { cause: error },
    );
  }
  const installed = findPostgresBinDir();
  if (installed === undefined) {
    throw new PostgresNotInstalledError(
      `apt-get installed "postgresql" but no initdb/pg_ctl appeared under ${POSTGRES_ROOT_DIR}. ${howToInstall}`,
    );
  }
  process.stderr.write(`Installed PostgreSQL (${installed}) in ${Date.now() - startedAtMs}ms\n`);
  return installed;
}
