// Which instances may be suspended: only primaries with no standbys. A replica must keep replaying
// its primary's WAL (and answer reads), and a primary must keep serving its replicas' streams:
// freezing either would stall replication, and stopping a primary would cut its standbys off.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Why the instance in `dataDir` must not be suspended, or undefined when it may: a replica
 * (`standby.signal`), a primary with replication slots (its replicas' — attached now or not), or
 * a server with a WAL sender running (a standby or a base backup streaming from it). Read from
 * its files and /proc, without a connection to the server.
 *
 * @example
 * const reason = await suspendRefusal(files.dataDir('ins_abc')); // 'it is a replica', …, or undefined
 */
export async function suspendRefusal(dataDir: string): Promise<string | undefined> {
  if ((await entries(dataDir)).includes('standby.signal')) return 'it is a replica';
  if ((await entries(join(dataDir, 'pg_replslot'))).length > 0) return 'it has replication slots (its replicas)';
  if (await hasWalSender(dataDir)) return 'a standby or a backup streams from it';
  return undefined;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Whether a child of the instance's postmaster is a WAL sender (its process title says so). */
async function hasWalSender(dataDir: string): Promise<boolean> {
  const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter((part) => part !== '');
  for (const child of children) {
    const title = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
    // 'postgres: walsender …', or 'postgres: <cluster_name>: walsender …'.
    if (/^postgres: (?:[^:\0]*: )?walsender/.test(title)) return true;
  }
  return false;
}
