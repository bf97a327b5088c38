// --reset: the platform's instances are stopped and removed before its data directory is, so no
// PostgreSQL server keeps running on a deleted directory (instances outlive the platform by design).
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedCluster, MIN_INSTANCE_PORT } from '@strata/postgres';
import { platformLayout } from './layout.js';

/**
 * Stops every instance under the data directory's node root (immediate stop, then its files are
 * removed) and deletes the data directory. Nothing to do when it does not exist. Call it only when
 * no platform runs on `dataDir`.
 *
 * @returns how many instance directories it removed.
 *
 * @example
 * const removed = await resetPlatform('./.strata');
 * console.log(`reset: removed ${removed} instance(s)`);
 */
export async function resetPlatform(dataDir: string, rootDir?: string): Promise<number> {
  const layout = platformLayout(dataDir, rootDir);
  const instancesDir = join(layout.nodeRootDir, 'instances');
  let names: string[] = [];
  try {
    names = await readdir(instancesDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of names) {
    const dir = join(instancesDir, name);
    // destroyAt stops whatever server runs in the data directory; the port plays no part in it.
    await ManagedCluster.destroyAt({ dataDir: join(dir, 'data'), socketDir: join(dir, 'socket'), port: MIN_INSTANCE_PORT, settings: {} });
    await rm(dir, { recursive: true, force: true });
  }
  await rm(layout.nodeRootDir, { recursive: true, force: true });
  await rm(layout.dataDir, { recursive: true, force: true });
  return names.length;
}
