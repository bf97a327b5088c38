// Replacing a stopped instance's data directory with a new one (a restore of its own backup, in
// place), crash-safely: the new data is completed beside the old one and swapped in by two renames;
// a repeat after a crash between them finishes the swap.

import { copyFile, readFile, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LIMITS_FILE, readInstanceRecord, writeInstanceFiles } from './config-file.js';
import { thawInstance } from './freezer.js';
import { stopPostmaster } from './postmaster.js';
import { recordOf } from './provision.js';
import { giveToServer, type ServerIdentity } from './server-identity.js';
import type { InstanceSpec } from './spec.js';

/**
 * Stops the server, has `fill` put the new data into `<dataDir>.replacing` (an empty path), writes
 * the instance's own files into it (its record last: it marks the new data complete) and the
 * limits the old data had, then swaps it in. A data directory reached through a link (a placed
 * spare) is swapped where it really is.
 */
export async function replaceDataDir(spec: InstanceSpec, identity: ServerIdentity, fill: (dir: string) => Promise<void>): Promise<void> {
  const real = join(await realpath(dirname(spec.dataDir)), basename(spec.dataDir));
  const incoming = `${real}.replacing`;
  const outgoing = `${real}.replaced`;
  if ((await readInstanceRecord(real).catch(() => undefined)) === undefined && (await readInstanceRecord(incoming).catch(() => undefined)) !== undefined) {
    // A crash between the two renames: the new data is complete, the old one moved away.
    await rename(incoming, real);
    await rm(outgoing, { recursive: true, force: true });
    return;
  }
  // A frozen server would not see the stop signal.
  await thawInstance(real);
  await stopPostmaster(real, 'fast');
  await rm(incoming, { recursive: true, force: true });
  await fill(incoming);
  const limits = await readFile(join(real, LIMITS_FILE), 'utf8').catch(() => undefined);
  if (limits !== undefined) {
    await copyFile(join(real, LIMITS_FILE), join(incoming, LIMITS_FILE));
    await giveToServer(join(incoming, LIMITS_FILE), identity);
  }
  await writeInstanceFiles(incoming, recordOf(spec), identity);
  await rm(outgoing, { recursive: true, force: true });
  await rename(real, outgoing);
  await rename(incoming, real);
  await rm(outgoing, { recursive: true, force: true });
}
