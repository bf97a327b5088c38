// Opens a KV database on a fresh database of one engine, for the layer tests (directory, records).

import { openDatabase, type Database } from '@strata/store';
import { freshDatabaseUrl, type EngineKind } from '@strata/testing';
import { openKv, type KvDatabase, type SnapshotIsolation } from '../src/index.js';

/** A KV database and the store database under it (for a Strata engine on the same database). */
export interface TestKv {
  readonly kv: KvDatabase;
  readonly database: Database;
  close(): Promise<void>;
}

/**
 * A KV database on a new, empty database of `kind`; `isolation` is the SQL isolation of its
 * snapshots (the KV is serializable either way; 'serializable' is what distributed engines require).
 *
 * @example
 * const { kv, close } = await openTestKv('pglite');
 * await kv.transact(async (tr) => tr.set(pack(['a']), pack([1])));
 * await close();
 */
export async function openTestKv(kind: EngineKind, options: { isolation?: SnapshotIsolation } = {}): Promise<TestKv> {
  const database = await openDatabase(await freshDatabaseUrl(kind));
  const kv = await openKv({ database, ...options });
  return {
    kv,
    database,
    async close() {
      await kv.close();
      await database.close();
    },
  };
}
