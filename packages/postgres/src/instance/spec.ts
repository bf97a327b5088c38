// What an instance is made of (its spec) and the checks every spec passes before anything on
// disk is touched.

import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, isAbsolute, normalize, sep } from 'node:path';
import { normalizeSettings } from './config-file.js';
import { PgInstanceError } from './errors.js';
import type { ServerIdentity } from './server-identity.js';

/**
 * Where an instance lives and how it is set up.
 *
 * @example
 * ```ts
 * const spec: InstanceSpec = {
 *   dataDir: '/var/lib/strata/instances/ins_abc/data',
 *   socketDir: '/var/lib/strata/instances/ins_abc/socket',
 *   port: await freePort(),
 *   settings: { shared_buffers: '32MB', max_connections: '20' },
 * };
 * ```
 */
export interface InstanceSpec {
  /** Absolute; created 0700 and owned by the unprivileged server user (never root). */
  readonly dataDir: string;
  /** Absolute; the instance's private unix-socket directory (0700, server user). */
  readonly socketDir: string;
  /** TCP port on 127.0.0.1, in [{@link MIN_INSTANCE_PORT}, 65535]. */
  readonly port: number;
  /** PostgreSQL settings written to the instance's strata.conf, e.g. shared_buffers, max_connections, work_mem. */
  readonly settings: Readonly<Record<string, string>>;
}

/** The server runs unprivileged, and ports below 1024 need root to bind. */
export const MIN_INSTANCE_PORT = 1024;
const MAX_PORT = 65535;

/**
 * sockaddr_un.sun_path is 108 bytes on Linux (with its NUL): the socket file
 * `<socketDir>/.s.PGSQL.<port>` must fit, or PostgreSQL refuses to start.
 */
const MAX_SOCKET_PATH_BYTES = 107;
const SOCKET_FILE_SUFFIX_MAX = '/.s.PGSQL.65535';

/**
 * Checks a spec's shape and normalizes its settings; throws before anything is touched.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` or `PG_INSTANCE_INVALID_SETTING`
 */
export function validateSpec(spec: InstanceSpec): InstanceSpec {
  if (spec === null || typeof spec !== 'object') {
    throw invalid('an instance spec is an object { dataDir, socketDir, port, settings }');
  }
  const dataDir = absoluteDir('dataDir', spec.dataDir);
  const socketDir = absoluteDir('socketDir', spec.socketDir);
  if (dataDir === socketDir || socketDir.startsWith(dataDir + sep) || dataDir.startsWith(socketDir + sep)) {
    throw invalid(`dataDir (${dataDir}) and socketDir (${socketDir}) must be separate directories, neither inside the other`);
  }
  if (!Number.isInteger(spec.port) || spec.port < MIN_INSTANCE_PORT || spec.port > MAX_PORT) {
    throw invalid(`port must be a whole number from ${MIN_INSTANCE_PORT} to ${MAX_PORT} (the server is unprivileged), got ${String(spec.port)}; freePort() finds one`);
  }
  if (Buffer.byteLength(socketDir + SOCKET_FILE_SUFFIX_MAX) > MAX_SOCKET_PATH_BYTES) {
    throw invalid(`socketDir ${socketDir} is too long for a unix socket (${MAX_SOCKET_PATH_BYTES - SOCKET_FILE_SUFFIX_MAX.length} bytes at most): choose a shorter path`);
  }
  return { dataDir, socketDir, port: spec.port, settings: normalizeSettings(spec.settings ?? {}) };
}

function absoluteDir(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || !isAbsolute(value) || value.includes('\0')) {
    throw invalid(`${field} must be an absolute path, got ${JSON.stringify(value)}`);
  }
  const normalized = normalize(value).replace(/\/+$/, '');
  if (normalized === '' || dirname(normalized) === normalized) {
    throw invalid(`${field} must not be the filesystem root`);
  }
  return normalized;
}

/**
 * The server user must be able to reach `dir`'s parent (PostgreSQL chdirs into its data
 * directory); a private ancestor (a 0700 temp directory of root) makes the start fail later with
 * a less clear message, so it is refused here.
 *
 * @throws {PgInstanceError} `PG_INSTANCE_INVALID_ARGUMENT` naming the directory to open up.
 */
export async function assertReachableByServer(dir: string, identity: ServerIdentity): Promise<void> {
  if (identity.user === undefined) return;
  for (let ancestor = dirname(dir); ; ancestor = dirname(ancestor)) {
    let info: Stats | undefined;
    try {
      info = await stat(ancestor);
    } catch {
      info = undefined; // created later by us with mode 0755
    }
    if (info !== undefined) {
      const searchable = info.uid === identity.uid ? (info.mode & 0o100) !== 0
        : info.gid === identity.gid ? (info.mode & 0o010) !== 0
        : (info.mode & 0o001) !== 0;
      if (!searchable) {
        throw invalid(`the server user ${identity.user} cannot reach ${dir}: ${ancestor} is not searchable by it (mode ${(info.mode & 0o777).toString(8)}); chmod o+x ${ancestor} or place instances elsewhere`);
      }
    }
    if (dirname(ancestor) === ancestor) return;
  }
}

function invalid(message: string): PgInstanceError {
  return new PgInstanceError('PG_INSTANCE_INVALID_ARGUMENT', message);
}
