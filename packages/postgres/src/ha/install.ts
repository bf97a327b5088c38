// Finding Patroni and etcd, and installing Debian's `patroni` and `etcd-server` packages with
// apt-get when they are missing and we run as root (CI machines, fresh hosts).

import { existsSync } from 'node:fs';
import { aptGetInstall } from '../apt.js';
import { errorMessage, isRoot } from '../commands.js';
import { ensurePostgresInstalled } from '../install.js';
import { HaClusterError } from './errors.js';

/** Where Debian's packages put the two programs. */
export const PATRONI_BIN = '/usr/bin/patroni';
export const ETCD_BIN = '/usr/bin/etcd';

/** `python3-etcd` is one of the alternatives of patroni's dependency on a DCS client: name it so apt picks it. */
const HA_PACKAGES = ['patroni', 'python3-etcd', 'etcd-server'] as const;

let installPromise: Promise<HaTools> | undefined;

/** The programs an HA cluster runs. */
export interface HaTools {
  readonly patroniBin: string;
  readonly etcdBin: string;
  /** PostgreSQL's bin directory (Patroni's `bin_dir`). */
  readonly postgresBinDir: string;
}

/**
 * Returns where Patroni, etcd and PostgreSQL are, installing Debian's `patroni`, `python3-etcd`
 * and `etcd-server` with apt-get first when they are missing and we run as root. Concurrent
 * calls share one installation.
 *
 * @throws {HaClusterError} `HA_TOOLS_NOT_INSTALLED` when they are missing and cannot be installed.
 *
 * @example
 * ```ts
 * const tools = await ensureHaToolsInstalled();
 * console.log(tools.patroniBin, tools.etcdBin, tools.postgresBinDir);
 * ```
 */
export async function ensureHaToolsInstalled(): Promise<HaTools> {
  const postgresBinDir = await ensurePostgresInstalled();
  if (!existsSync(PATRONI_BIN) || !existsSync(ETCD_BIN)) {
    installPromise ??= installHaTools().finally(() => {
      installPromise = undefined;
    });
    await installPromise;
  }
  return { patroniBin: PATRONI_BIN, etcdBin: ETCD_BIN, postgresBinDir };
}

async function installHaTools(): Promise<HaTools> {
  const howToInstall = `Install Debian's packages (sudo apt-get install -y ${HA_PACKAGES.join(' ')}) so that ${PATRONI_BIN} and ${ETCD_BIN} exist, then run again.`;
  if (!isRoot()) {
    throw new HaClusterError('HA_TOOLS_NOT_INSTALLED', `Patroni or etcd not found (${PATRONI_BIN}, ${ETCD_BIN}). ${howToInstall}`);
  }
  const startedAtMs = Date.now();
  process.stderr.write(`Patroni or etcd not found; installing ${HA_PACKAGES.join(', ')} with apt-get...\n`);
  try {
    await aptGetInstall(HA_PACKAGES, { noRecommends: true });
  } catch (error) {
    throw new HaClusterError('HA_TOOLS_NOT_INSTALLED', `Installing Patroni and etcd with apt-get failed: ${errorMessage(error)}\n${howToInstall}`, { cause: error });
  }
  if (!existsSync(PATRONI_BIN) || !existsSync(ETCD_BIN)) {
    throw new HaClusterError('HA_TOOLS_NOT_INSTALLED', `apt-get ran but ${PATRONI_BIN} or ${ETCD_BIN} is still missing. ${howToInstall}`);
  }
  process.stderr.write(`Installed Patroni and etcd in ${Date.now() - startedAtMs}ms\n`);
  return { patroniBin: PATRONI_BIN, etcdBin: ETCD_BIN, postgresBinDir: '' };
}
