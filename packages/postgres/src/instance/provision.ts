// Turning a copy of the template into an instance, crash-safely: the copy is made (or moved) to
// `<dataDir>.partial`, completed there, and renamed to dataDir last, so a data directory that
// exists is always complete, and a leftover `.partial` is garbage that the next attempt removes.

import { chmod, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage } from '../commands.js';
import { readInstanceRecord, writeInstanceFiles, type InstanceRecord } from './config-file.js';
import { PgInstanceError } from './errors.js';
import { giveToServer, type ServerIdentity } from './server-identity.js';
import type { InstanceSpec } from './spec.js';
import { TEMPLATE_MARKER } from './template.js';

/** Where a copy is completed before it becomes the data directory. */
export function partialDir(dataDir: string): string {
  return `${dataDir}.partial`;
}

/**
 * What is at `spec.dataDir` now: a complete instance to adopt, or nothing (an empty directory
 * counts as nothing and is removed).
 *
 * @throws {PgInstanceError} `PG_INSTANCE_NOT_AN_INSTANCE` when something else is there: it is never touched.
 */
export async function inspectTarget(dataDir: string): Promise<'instance' | 'free'> {
  let entries: string[];
  try {
    entries = await readdir(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'free';
    if (code === 'ENOTDIR') throw notAnInstance(dataDir, 'it is a file');
    throw error;
  }
  if ((await readInstanceRecord(dataDir)) !== undefined) return 'instance';
  if (entries.length === 0) {
    await rmdir(dataDir);
    return 'free';
  }
  throw notAnInstance(dataDir, 'it holds files but no strata-instance.json');
}

/** Writes the spec's files into an instance being adopted when they differ (applied at its next start). */
export async function adopt(spec: InstanceSpec, identity: ServerIdentity): Promise<void> {
  const record = await readInstanceRecord(spec.dataDir);
  const wanted = recordOf(spec);
  if (JSON.stringify(record) !== JSON.stringify(wanted)) await writeInstanceFiles(spec.dataDir, wanted, identity);
  await ensureSocketDir(spec.socketDir, identity);
}

/** Completes the copy at `<dataDir>.partial` and renames it to dataDir; then makes the socket directory. */
export async function completeCopy(spec: InstanceSpec, identity: ServerIdentity): Promise<void> {
  const partial = partialDir(spec.dataDir);
  try {
    await chmod(partial, 0o700);
    await giveToServer(partial, identity);
    await rm(join(partial, TEMPLATE_MARKER), { force: true });
    await writeInstanceFiles(partial, recordOf(spec), identity);
    await rename(partial, spec.dataDir);
  } catch (error) {
    throw new PgInstanceError('PG_INSTANCE_CREATE_FAILED', `could not complete the instance copy in ${partial}: ${errorMessage(error)}`, { cause: error });
  }
  await ensureSocketDir(spec.socketDir, identity);
}

/** Makes sure dataDir's parent exists (0755, so the server user can pass through) and no old partial copy is left. */
export async function prepareParent(dataDir: string): Promise<void> {
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o755 });
  await rm(partialDir(dataDir), { recursive: true, force: true });
}

/** The private socket directory: 0700, owned by the server user (its `trust` line relies on that). */
export async function ensureSocketDir(socketDir: string, identity: ServerIdentity): Promise<void> {
  await mkdir(dirname(socketDir), { recursive: true, mode: 0o755 });
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  await chmod(socketDir, 0o700);
  await giveToServer(socketDir, identity);
}

export function recordOf(spec: InstanceSpec): InstanceRecord {
  return { port: spec.port, socketDir: spec.socketDir, settings: spec.settings };
}

function notAnInstance(dataDir: string, why: string): PgInstanceError {
  return new PgInstanceError('PG_INSTANCE_NOT_AN_INSTANCE', `${dataDir} exists and is not a Strata instance (${why}); it was not touched: choose another dataDir or remove it yourself`);
}
