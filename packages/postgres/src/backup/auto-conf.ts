// Offline edits of a data directory's postgresql.auto.conf (what ALTER SYSTEM writes): a restored
// copy carries its source's, and must lose the settings that would act for the source.

import { readFile } from 'node:fs/promises';
import { writeOwnedFile } from '../instance/config-file.js';
import type { ServerIdentity } from '../instance/server-identity.js';

/** ALTER SYSTEM's file, read after postgresql.conf (so its settings win). */
export const AUTO_CONF_FILE = 'postgresql.auto.conf';

/** Removes every line that sets one of `names` from the data directory's postgresql.auto.conf; false when none did. */
export async function removeAutoSettings(dataDir: string, names: readonly string[], identity: ServerIdentity): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(`${dataDir}/${AUTO_CONF_FILE}`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const lines = text.split('\n');
  const kept = lines.filter((line) => !names.includes(line.split('=')[0]?.trim().toLowerCase() ?? ''));
  if (kept.length === lines.length) return false;
  await writeOwnedFile(dataDir, AUTO_CONF_FILE, kept.join('\n'), identity);
  return true;
}
