// The instances whose backups a request reads or restores: live ones (by ID or name) and deleted
// ones (by ID only: names are reused), the tenant's list of them, and the refusal of what needs a live one.
import type { Queryable } from '@strata/store';
import { InstanceError } from '../instances/errors.js';
import { findInstance, getInstance, type InstanceRow } from '../instances/sql.js';
import { BackupError } from './errors.js';
import { findDeletedInstance, listBackupSources, type BackupSourceRow } from './sql.js';

/** Most instances one {@link backupSources} list returns: a page of a console, not an export. */
export const MAX_LISTED_SOURCES = 200;

/**
 * A tenant's instances that have completed backups, with their restore windows: the deleted ones
 * (`deleted` true: what can still be brought back, newest deletion first), the live ones (false),
 * or both.
 *
 * @example
 * const gone = await backupSources(deps, 'ten_1', true); // [{ instanceId: 'ins_…', name: 'orders-db', deletedAt, backups: 2, … }]
 */
export async function backupSources(deps: { readonly db: Queryable }, tenantId: string, deleted?: boolean): Promise<BackupSourceRow[]> {
  return listBackupSources(deps.db, tenantId, { ...(deleted === undefined ? {} : { deleted }), limit: MAX_LISTED_SOURCES });
}

/** A tenant's instance whose backups a request reads or restores from. */
export interface BackupSource {
  readonly instance: InstanceRow;
  /** When it was deleted; null for a live instance. */
  readonly deletedAt: Date | null;
}

/**
 * A tenant's instance whose backups can be read and restored: a live one by ID or name, or a
 * deleted one by its ID only (its name may belong to a new instance now).
 *
 * @throws {InstanceError} `404 not_found` (also for another tenant's, and for a deleted one's name).
 *
 * @example
 * const { instance, deletedAt } = await requireBackupSource(db, 'ten_1', 'ins_q2m7x3k9');
 */
export async function requireBackupSource(db: Queryable, tenantId: string, ref: string): Promise<BackupSource> {
  const live = await findInstance(db, tenantId, ref);
  if (live !== undefined) return { instance: live, deletedAt: null };
  const deleted = await findDeletedInstance(db, tenantId, ref);
  const instance = deleted === undefined ? undefined : await getInstance(db, deleted.instanceId);
  if (deleted === undefined || instance === undefined) {
    throw new InstanceError(404, 'not_found', `no instance "${ref}" in this tenant; list them with GET /v1/instances, and deleted ones whose backups remain (by ID) with GET /v1/backups?deleted=true`);
  }
  return { instance, deletedAt: deleted.deletedAt };
}

/**
 * Runs `run`, which looks `ref` up among the live instances; when it finds none and `ref` is the ID
 * of one of the tenant's deleted instances, the answer is `409 instance_deleted` saying what can
 * still be done with it, rather than a bare 404.
 *
 * @example
 * const instance = await liveOnly(db, 'ten_1', ref, 'a backup policy', () => requireInstance(db, 'ten_1', ref));
 */
export async function liveOnly<T>(db: Queryable, tenantId: string, ref: string, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InstanceError && error.code === 'not_found') {
      const deleted = await findDeletedInstance(db, tenantId, ref);
      if (deleted !== undefined) throw deletedRefused(deleted.instanceId, deleted.deletedAt, what);
    }
    throw error;
  }
}

/**
 * `409 instance_deleted`: `what` needs a live instance; the message says how to restore the deleted one.
 *
 * @example
 * if (kind === 'fork' && deletedAt !== null) throw deletedRefused(source.instanceId, deletedAt, 'a fork');
 */
export function deletedRefused(instanceId: string, deletedAt: Date, what: string): BackupError {
  return new BackupError(
    409,
    'instance_deleted',
    `instance ${instanceId} was deleted at ${deletedAt.toISOString()}; ${what} needs a live instance. Its backups remain: list them with GET /v1/instances/${instanceId}/backups and restore them into a new instance with POST /v1/instances/${instanceId}/restore`,
  );
}
