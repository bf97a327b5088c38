// Copying a template data directory: the one slow step of a create, so the method is a choice
// (measured by bench/instance-create.ts; the README quotes the numbers).

import { cp } from 'node:fs/promises';
import { HELPER_COMMAND_TIMEOUT_MS, run } from '../commands.js';
import { giveTreeToServer, type ServerIdentity } from './server-identity.js';

/**
 * How a template is copied:
 * - `cp-reflink`: `cp -a --reflink=auto`: shares blocks copy-on-write where the filesystem can
 *   (btrfs, XFS), else a plain copy; keeps owner and mode.
 * - `cp`: `cp -a`: a plain copy keeping owner and mode.
 * - `node`: Node's `fs.cp`, then `chown -R` to the server user (it does not keep the owner).
 */
export type CopyMethod = 'cp-reflink' | 'cp' | 'node';

/** Every {@link CopyMethod}, for the benchmark. */
export const COPY_METHODS: readonly CopyMethod[] = ['cp-reflink', 'cp', 'node'];

/**
 * The default: `cp -a --reflink=auto` was the fastest correct method measured here (ext4, where
 * it is a plain `cp -a`), and it gets faster still on filesystems that share blocks.
 */
export const DEFAULT_COPY_METHOD: CopyMethod = 'cp-reflink';

/** Copies directory `from` to `to` (which must not exist), owned by the server user afterwards. */
export async function copyDataDir(from: string, to: string, method: CopyMethod, identity: ServerIdentity): Promise<void> {
  switch (method) {
    case 'cp-reflink':
      await run('cp', ['-a', '--reflink=auto', '--', from, to], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
      return;
    case 'cp':
      await run('cp', ['-a', '--', from, to], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
      return;
    case 'node':
      await cp(from, to, { recursive: true, preserveTimestamps: true, errorOnExist: true, force: false });
      await giveTreeToServer(to, identity);
      return;
  }
}
