// Installing Debian packages with apt-get (as root, on CI machines and fresh hosts): the one way
// this package installs PostgreSQL, pgBackRest, Patroni and etcd when they are missing.

import { run } from './commands.js';

/** apt-get update + install on a slow mirror can take minutes. */
const APT_TIMEOUT_MS = 15 * 60_000;

/**
 * Runs `apt-get update` and `apt-get install -y <packages>` (non-interactive, waiting up to two
 * minutes for another apt's lock). The caller checks that we are root and that the programs it
 * needs appeared; a failure is the command's own error (its output's tail in the message).
 */
export async function aptGetInstall(packages: readonly string[], options: { readonly noRecommends?: boolean } = {}): Promise<void> {
  await run('apt-get', ['update'], { timeoutMs: APT_TIMEOUT_MS });
  await run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', ...(options.noRecommends ? ['--no-install-recommends'] : []), ...packages], {
    timeoutMs: APT_TIMEOUT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
