// A copy-on-write filesystem in a file: an XFS image with reflink=1, loop-mounted. For hosts whose
// own filesystem cannot share blocks (ext4): the benchmarks and tests put instances on one to measure
// and check copy-on-write copies (forks). Needs root (mount) and xfsprogs (installed with apt-get).

import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { aptGetInstall } from '../apt.js';
import { HELPER_COMMAND_TIMEOUT_MS, errorMessage, isRoot, run } from '../commands.js';
import { PgInstanceError } from './errors.js';

/** A mounted copy-on-write volume; `unmount()` unmounts it and removes its image. */
export interface ReflinkVolume {
  readonly dir: string;
  unmount(): Promise<void>;
}

const MKFS_XFS = '/usr/sbin/mkfs.xfs';

/**
 * Mounts a new XFS filesystem with reflinks (`sizeMb`, sparse: it takes only what is written) at
 * `dir`, from the image file `<dir>.img`; installs xfsprogs first when it is missing.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` when not root (mount needs it);
 * `PG_INSTANCE_CREATE_FAILED` when mkfs or mount fails.
 *
 * @example
 * ```ts
 * const volume = await mountReflinkVolume('/tmp/strata-cow', 4096);
 * // … instances under volume.dir: cp --reflink and FICLONE share blocks …
 * await volume.unmount();
 * ```
 */
export async function mountReflinkVolume(dir: string, sizeMb: number): Promise<ReflinkVolume> {
  if (!isRoot()) throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', 'a reflink volume is loop-mounted, which needs root');
  if (!dir.startsWith('/') || !Number.isInteger(sizeMb) || sizeMb < 300) {
    throw new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', `a reflink volume needs an absolute directory and at least 300 MB (XFS's minimum), got ${JSON.stringify(dir)}, ${sizeMb}`);
  }
  const image = `${dir}.img`;
  try {
    if (!existsSync(MKFS_XFS)) await aptGetInstall(['xfsprogs'], { noRecommends: true });
    await rm(image, { force: true });
    await writeFile(image, '');
    await truncate(image, sizeMb * 1024 * 1024);
    await run(MKFS_XFS, ['-q', '-m', 'reflink=1', image], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    await mkdir(dir, { recursive: true });
    await run('mount', ['-o', 'loop', image, dir], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    await chmod(dir, 0o755);
  } catch (error) {
    await rm(image, { force: true });
    throw new PgInstanceError('PG_INSTANCE_CREATE_FAILED', `could not make a reflink volume at ${dir}: ${errorMessage(error)}`, { cause: error });
  }
  return {
    dir,
    unmount: async () => {
      await run('umount', [dir], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS }).catch(() => run('umount', ['-l', dir], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS }));
      await rm(image, { force: true });
    },
  };
}
