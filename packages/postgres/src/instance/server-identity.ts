// Who runs a managed instance's server: the unprivileged server user when we are root (never
// root: PostgreSQL refuses it, and a tenant's server must not hold root's rights), else ourselves.

import { chown } from 'node:fs/promises';
import { HELPER_COMMAND_TIMEOUT_MS, errorMessage, isRoot, run } from '../commands.js';
import { resolveServerUser } from '../server-user.js';
import { PgInstanceError } from './errors.js';

/** The OS identity the server runs as; `user` is undefined when it is this process's own. */
export interface ServerIdentity {
  readonly user: string | undefined;
  readonly uid: number;
  readonly gid: number;
}

let identityPromise: Promise<ServerIdentity> | undefined;

/** The server user's name, uid and gid (resolved once per process). */
export function serverIdentity(): Promise<ServerIdentity> {
  identityPromise ??= (async (): Promise<ServerIdentity> => {
    if (!isRoot()) {
      return { user: undefined, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    }
    const user = await resolveServerUser();
    try {
      const uid = Number((await run('id', ['-u', user], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS })).stdout.trim());
      const gid = Number((await run('id', ['-g', user], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS })).stdout.trim());
      if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
        throw new Error(`id reported uid ${uid}, gid ${gid}`);
      }
      return { user, uid, gid };
    } catch (error) {
      throw new PgInstanceError('PG_INSTANCE_CREATE_FAILED', `Could not read the uid/gid of the server user ${user} (it must exist and not be root): ${errorMessage(error)}`, { cause: error });
    }
  })();
  identityPromise.catch(() => {
    identityPromise = undefined;
  });
  return identityPromise;
}

/** Gives `path` (one file or directory, not recursive) to the server user; nothing to do when we are not root. */
export async function giveToServer(path: string, identity: ServerIdentity): Promise<void> {
  if (identity.user !== undefined) await chown(path, identity.uid, identity.gid);
}

/** `chown -R` of a whole tree to the server user; nothing to do when we are not root. */
export async function giveTreeToServer(path: string, identity: ServerIdentity): Promise<void> {
  if (identity.user !== undefined) await run('chown', ['-R', `${identity.uid}:${identity.gid}`, path], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
}
