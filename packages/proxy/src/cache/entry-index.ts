// Which cached entries depend on which instance, table and tag, so that an invalidation removes
// exactly those entries without scanning the cache.

/**
 * What the index needs to know of an entry.
 *
 * @example
 * ```ts
 * const entry: IndexedEntry = { instanceId: 'ins_1', readTables: ['public.products'], tags: ['catalog'] };
 * ```
 */
export interface IndexedEntry {
  readonly instanceId: string;
  readonly readTables: readonly string[];
  readonly tags: readonly string[];
}

interface InstanceIndex {
  readonly digests: Set<string>;
  readonly byTable: Map<string, Set<string>>;
  readonly byTag: Map<string, Set<string>>;
}

function addTo(map: Map<string, Set<string>>, name: string, digest: string): void {
  let digests = map.get(name);
  if (digests === undefined) map.set(name, (digests = new Set()));
  digests.add(digest);
}

function removeFrom(map: Map<string, Set<string>>, name: string, digest: string): void {
  const digests = map.get(name);
  if (digests === undefined) return;
  digests.delete(digest);
  if (digests.size === 0) map.delete(name);
}

/**
 * Entry digests by instance, and within an instance by table read and by tag. Every stored entry
 * is added once and removed once (on eviction, expiry, replacement or invalidation).
 *
 * @example
 * ```ts
 * const index = new EntryIndex();
 * index.add('d1', { instanceId: 'ins_1', readTables: ['public.products'], tags: [] });
 * index.byTables('ins_1', ['public.products']); // ['d1']
 * ```
 */
export class EntryIndex {
  readonly #instances = new Map<string, InstanceIndex>();

  add(digest: string, entry: IndexedEntry): void {
    let index = this.#instances.get(entry.instanceId);
    if (index === undefined) this.#instances.set(entry.instanceId, (index = { digests: new Set(), byTable: new Map(), byTag: new Map() }));
    index.digests.add(digest);
    for (const table of entry.readTables) addTo(index.byTable, table, digest);
    for (const tag of entry.tags) addTo(index.byTag, tag, digest);
  }

  remove(digest: string, entry: IndexedEntry): void {
    const index = this.#instances.get(entry.instanceId);
    if (index === undefined) return;
    index.digests.delete(digest);
    for (const table of entry.readTables) removeFrom(index.byTable, table, digest);
    for (const tag of entry.tags) removeFrom(index.byTag, tag, digest);
    if (index.digests.size === 0) this.#instances.delete(entry.instanceId);
  }

  /** Digests of the instance's entries that read any of `tables`. */
  byTables(instanceId: string, tables: readonly string[]): string[] {
    return this.#collect(this.#instances.get(instanceId)?.byTable, tables);
  }

  /** Digests of the instance's entries that carry any of `tags`. */
  byTags(instanceId: string, tags: readonly string[]): string[] {
    return this.#collect(this.#instances.get(instanceId)?.byTag, tags);
  }

  /** Digests of all the instance's entries. */
  byInstance(instanceId: string): string[] {
    return [...(this.#instances.get(instanceId)?.digests ?? [])];
  }

  #collect(map: Map<string, Set<string>> | undefined, names: readonly string[]): string[] {
    const found = new Set<string>();
    for (const name of names) for (const digest of map?.get(name) ?? []) found.add(digest);
    return [...found];
  }
}
