// The unprivileged OS user the server runs as when we are root (PostgreSQL refuses to run as root).

import { HELPER_COMMAND_TIMEOUT_MS, errorMessage, run } from './commands.js';
import { PgClusterError } from './errors.js';

/** OS user to run the server as when we are root and the Debian `postgres` user does not exist. */
const FALLBACK_SERVER_USER = 'strata-pg';

let serverUserPromise: Promise<string> | undefined;

/** The OS user that runs the server when we are root: `postgres`, else a system user we create. */
export function resolveServerUser(): Promise<string> {
  serverUserPromise ??= (async () => {
    if (await userExists('postgres')) return 'postgres';
    if (await userExists(FALLBACK_SERVER_USER)) return FALLBACK_SERVER_USER;
    try {
      await run('useradd', ['--system', '--no-create-home', FALLBACK_SERVER_USER], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    } catch (error) {
      // Another process may have created it concurrently.
      if (!(await userExists(FALLBACK_SERVER_USER))) {
        throw new PgClusterError('PG_CLUSTER_SETUP_FAILED', `Could not create OS user ${FALLBACK_SERVER_USER} to run PostgreSQL as (it refuses to run as root): ${errorMessage(error)}`, { cause: error });
      }
    }
    return FALLBACK_SERVER_USER;
  })();
  return serverUserPromise;
}

async function userExists(name: string): Promise<boolean> {
  try {
    await run('id', ['-u', name], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}
