// The PostgreSQL parameter catalogue (pg_settings) the control plane validates configuration groups against, cached per major version.
import type { AdminResults, CatalogueSetting } from '@strata/agent';
import type { Queryable } from '@strata/store';
import type { StrataClient } from '@strata/transact';
import { ApiError } from '../http/errors.js';
import { getInstance, type InstanceRow } from '../instances/sql.js';
import { readFromAgent } from './agent-admin.js';

/** One server's catalogue. */
export type Catalogue = AdminResults['settingsCatalogue'];

/**
 * Catalogues by PostgreSQL major version, read once from a running instance of that version (the
 * catalogue of a major version does not change between its minor releases in ways a group can
 * use), and the major version of each instance read so far.
 *
 * @example
 * const catalogues = new CatalogueCache();
 * const { majorVersion, settings } = await catalogues.forInstance(client, instance);
 */
export class CatalogueCache {
  readonly #byMajor = new Map<number, readonly CatalogueSetting[]>();
  readonly #majorOfInstance = new Map<string, number>();

  /** The catalogue of the server running `instance` (read from its agent the first time per major version). */
  async forInstance(client: StrataClient, instance: InstanceRow): Promise<Catalogue> {
    const major = this.#majorOfInstance.get(instance.instanceId);
    const cached = major === undefined ? undefined : this.#byMajor.get(major);
    if (major !== undefined && cached !== undefined) return { majorVersion: major, settings: cached };
    const catalogue = await readFromAgent(client, instance, { kind: 'settingsCatalogue', instanceId: instance.instanceId });
    this.#byMajor.set(catalogue.majorVersion, catalogue.settings);
    this.#majorOfInstance.set(instance.instanceId, catalogue.majorVersion);
    return catalogue;
  }

  /**
   * The catalogue to check a new group against: of `majorVersion` when given, else of the newest
   * version known. With nothing cached, it is read from a running instance (any tenant's: the
   * catalogue is the server's, not the tenant's data).
   *
   * @throws {ApiError} `409 catalogue_unavailable` when no running instance (of that version) can be asked.
   */
  async forMajor(db: Queryable, client: StrataClient, majorVersion: number | undefined): Promise<Catalogue> {
    const known = majorVersion ?? Math.max(-1, ...this.#byMajor.keys());
    const cached = this.#byMajor.get(known);
    if (cached !== undefined) return { majorVersion: known, settings: cached };
    for (const instance of await runningInstances(db)) {
      const catalogue = await this.forInstance(client, instance);
      if (majorVersion === undefined || catalogue.majorVersion === majorVersion) return catalogue;
    }
    throw new ApiError(
      409,
      'catalogue_unavailable',
      majorVersion === undefined
        ? 'no running instance to read PostgreSQL\'s parameter catalogue (pg_settings) from; create an instance first, then the group'
        : `no running instance of PostgreSQL ${majorVersion} to read its parameter catalogue from; leave majorVersion out, or create an instance of that version first`,
    );
  }
}

/** Most instances asked for a catalogue before giving up: one answers unless their nodes are down. */
const CATALOGUE_SOURCES_MAX = 3;

/** A few running instances, newest first (their nodes most likely alive). */
async function runningInstances(db: Queryable): Promise<InstanceRow[]> {
  const { rows } = await db.query<{ instance_id: string }>(
    `select instance_id from strata_cloud.instances where status in ('ACTIVE', 'RESTART_REQUIRED') order by updated_at desc limit ${CATALOGUE_SOURCES_MAX}`,
  );
  const found: InstanceRow[] = [];
  for (const row of rows) {
    const instance = await getInstance(db, row.instance_id);
    if (instance !== undefined) found.push(instance);
  }
  return found;
}
