// The query cache: TTL/SWR on an injected clock, invalidation by table, tag and instance, byte
// bounds, keys that keep tenants, roles, databases and parameters apart, and fills racing writes.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  analyzeStatement,
  cacheKeyDigest,
  loadSqlParser,
  MAX_FILL_DURATION_MS,
  MAX_INVALIDATIONS_TRACKED_PER_FILL,
  QueryCache,
  type CacheKey,
  type StoreOutcome,
} from '../src/cache/index.js';

before(async () => {
  await loadSqlParser();
});

const baseKey: CacheKey = { instanceId: 'ins_a', role: 'app', database: 'shop', sql: 'select * from products where id = $1', params: [Buffer.from('1')] };

function setup(options: { maxBytes?: number; maxEntryBytes?: number } = {}) {
  const clock = { nowMs: 1_000_000 };
  const cache = new QueryCache({ now: () => clock.nowMs, ...options });
  const fill = (key: CacheKey, value: string | Buffer, meta: { readTables?: readonly string[]; tags?: readonly string[]; ttlMs?: number; swrMs?: number } = {}): StoreOutcome => {
    const ticket = cache.beginFill(key);
    return cache.store(key, typeof value === 'string' ? Buffer.from(value) : value, {
      ticket,
      readTables: meta.readTables ?? ['public.products'],
      tags: meta.tags ?? [],
      ttlMs: meta.ttlMs ?? 10_000,
      swrMs: meta.swrMs ?? 0,
    });
  };
  const read = (key: CacheKey): string | undefined => cache.lookup(key)?.value.toString();
  return { clock, cache, fill, read };
}

describe('QueryCache: freshness on an injected clock', () => {
  test('an entry is fresh until ttl, stale until ttl + swr, then gone', () => {
    const { clock, cache, fill } = setup();
    assert.equal(fill(baseKey, 'rows', { ttlMs: 1_000, swrMs: 500 }), 'stored');
    assert.equal(cache.lookup(baseKey)?.state, 'fresh');
    clock.nowMs += 999;
    assert.equal(cache.lookup(baseKey)?.state, 'fresh');
    clock.nowMs += 1;
    const stale = cache.lookup(baseKey);
    assert.equal(stale?.state, 'stale');
    assert.equal(stale?.value.toString(), 'rows');
    clock.nowMs += 499;
    assert.equal(cache.lookup(baseKey)?.state, 'stale');
    clock.nowMs += 1;
    assert.equal(cache.lookup(baseKey), undefined);
    assert.deepEqual(cache.stats(), { hits: 2, staleHits: 2, misses: 1, evictions: 0, invalidations: 0, fillsDropped: 0, bytes: 0, entries: 0 });
  });

  test('without swr an entry goes from fresh to gone', () => {
    const { clock, cache, fill } = setup();
    fill(baseKey, 'rows', { ttlMs: 100 });
    clock.nowMs += 100;
    assert.equal(cache.lookup(baseKey), undefined);
  });

  test('age counts from when the fill began, not from when it was stored', () => {
    const { clock, cache } = setup();
    const ticket = cache.beginFill(baseKey);
    clock.nowMs += 700;
    cache.store(baseKey, Buffer.from('slow rows'), { ticket, readTables: ['public.products'], tags: [], ttlMs: 1_000, swrMs: 0 });
    assert.equal(cache.lookup(baseKey)?.meta.storedAtMs, clock.nowMs - 700);
    clock.nowMs += 300;
    assert.equal(cache.lookup(baseKey), undefined);
  });

  test('only one revalidation of a stale key runs at a time; storing or abandoning it frees the key', () => {
    const { clock, cache, fill } = setup();
    fill(baseKey, 'v1', { ttlMs: 100, swrMs: 10_000 });
    clock.nowMs += 200;
    assert.equal(cache.lookup(baseKey)?.state, 'stale');
    const first = cache.beginRevalidate(baseKey);
    assert.ok(first);
    assert.equal(cache.beginRevalidate(baseKey), undefined);
    assert.equal(cache.beginRevalidate(baseKey), undefined);
    // Another key revalidates independently.
    assert.ok(cache.beginRevalidate({ ...baseKey, params: [Buffer.from('2')] }));
    assert.equal(cache.store(baseKey, Buffer.from('v2'), { ticket: first, readTables: ['public.products'], tags: [], ttlMs: 100, swrMs: 10_000 }), 'stored');
    const refreshed = cache.lookup(baseKey);
    assert.equal(refreshed?.state, 'fresh');
    assert.equal(refreshed?.value.toString(), 'v2');

    clock.nowMs += 200;
    const second = cache.beginRevalidate(baseKey);
    assert.ok(second);
    cache.abandonFill(second);
    assert.ok(cache.beginRevalidate(baseKey));
  });

  test('a revalidation that never ends frees its key after MAX_FILL_DURATION_MS', () => {
    const { clock, cache } = setup();
    assert.ok(cache.beginRevalidate(baseKey));
    clock.nowMs += MAX_FILL_DURATION_MS - 1;
    assert.equal(cache.beginRevalidate(baseKey), undefined);
    clock.nowMs += 1;
    assert.ok(cache.beginRevalidate(baseKey));
  });

  test('the cache keeps its own copy of the stored bytes', () => {
    const { cache, fill } = setup();
    const socketBuffer = Buffer.from('original');
    fill(baseKey, socketBuffer);
    socketBuffer.write('XXXXXXXX');
    assert.equal(cache.lookup(baseKey)?.value.toString(), 'original');
  });
});

describe('QueryCache: invalidation', () => {
  test('invalidating a table removes the entries of that instance that read it, and only those', () => {
    const { cache, fill, read } = setup();
    const products = { ...baseKey, sql: 'select * from products' };
    const joined = { ...baseKey, sql: 'select * from products join categories using (id)' };
    const categories = { ...baseKey, sql: 'select * from categories' };
    const otherInstance = { ...products, instanceId: 'ins_b' };
    fill(products, 'p', { readTables: ['public.products'] });
    fill(joined, 'pc', { readTables: ['public.categories', 'public.products'] });
    fill(categories, 'c', { readTables: ['public.categories'] });
    fill(otherInstance, 'p@b', { readTables: ['public.products'] });

    assert.equal(cache.invalidateTables('ins_a', ['public.products']), 2);
    assert.equal(read(products), undefined);
    assert.equal(read(joined), undefined);
    assert.equal(read(categories), 'c');
    assert.equal(read(otherInstance), 'p@b');
    assert.equal(cache.stats().invalidations, 2);
    assert.equal(cache.invalidateTables('ins_a', ['public.products']), 0);
  });

  test('invalidating a tag removes the entries that carry it', () => {
    const { cache, fill, read } = setup();
    const a = { ...baseKey, sql: 'select 1 /* a */' };
    const b = { ...baseKey, sql: 'select 2 /* b */' };
    fill(a, 'a', { readTables: [], tags: ['featured', 'home'] });
    fill(b, 'b', { readTables: [], tags: ['home'] });
    assert.equal(cache.invalidateTags('ins_a', ['featured']), 1);
    assert.equal(read(a), undefined);
    assert.equal(read(b), 'b');
    assert.equal(cache.invalidateTags('ins_b', ['home']), 0);
    assert.equal(cache.invalidateTags('ins_a', ['home', 'featured']), 1);
    assert.equal(cache.stats().entries, 0);
  });

  test('invalidating an instance removes all of its entries and no other instance\'s', () => {
    const { cache, fill, read } = setup();
    fill(baseKey, 'a1');
    fill({ ...baseKey, database: 'other' }, 'a2', { readTables: ['s.t'] });
    fill({ ...baseKey, instanceId: 'ins_b' }, 'b1');
    assert.equal(cache.invalidateInstance('ins_a'), 2);
    assert.equal(read(baseKey), undefined);
    assert.equal(read({ ...baseKey, instanceId: 'ins_b' }), 'b1');
    assert.equal(cache.stats().entries, 1);
  });

  test('an analyzed write invalidates the reads it changes (analysis and cache together)', () => {
    const { cache, fill, read } = setup();
    const readKey = { ...baseKey, sql: 'select * from shop.products join "Tags" using (id)' };
    const readAnalysis = analyzeStatement(readKey.sql);
    fill(readKey, 'rows', { readTables: readAnalysis.readTables });
    const write = analyzeStatement('update "Tags" set name = lower(name)');
    cache.invalidateTables('ins_a', write.writtenTables);
    assert.equal(read(readKey), undefined);
  });
});

describe('QueryCache: a fill racing a write', () => {
  test('an invalidation of a table the fill read, between its miss and its store, drops the fill', () => {
    const { cache, read } = setup();
    assert.equal(cache.lookup(baseKey), undefined); // t0: miss
    const ticket = cache.beginFill(baseKey); // the query goes to the backend
    cache.invalidateTables('ins_a', ['public.products']); // a write commits meanwhile
    const outcome = cache.store(baseKey, Buffer.from('rows from before the write'), { ticket, readTables: ['public.products'], tags: [], ttlMs: 60_000, swrMs: 0 });
    assert.equal(outcome, 'superseded');
    assert.equal(read(baseKey), undefined);
    assert.equal(cache.stats().fillsDropped, 1);
    // The next fill, begun after the write, is stored.
    const next = cache.beginFill(baseKey);
    assert.equal(cache.store(baseKey, Buffer.from('fresh rows'), { ticket: next, readTables: ['public.products'], tags: [], ttlMs: 60_000, swrMs: 0 }), 'stored');
    assert.equal(read(baseKey), 'fresh rows');
  });

  test('a revalidation is dropped the same way, and the stale entry is gone', () => {
    const { clock, cache, fill, read } = setup();
    fill(baseKey, 'old', { ttlMs: 10, swrMs: 10_000 });
    clock.nowMs += 20;
    const ticket = cache.beginRevalidate(baseKey);
    assert.ok(ticket);
    cache.invalidateTables('ins_a', ['public.products']);
    assert.equal(cache.store(baseKey, Buffer.from('maybe old'), { ticket, readTables: ['public.products'], tags: [], ttlMs: 10, swrMs: 10_000 }), 'superseded');
    assert.equal(read(baseKey), undefined);
  });

  test('tag and instance invalidations supersede fills too', () => {
    const { cache } = setup();
    const byTag = cache.beginFill(baseKey);
    cache.invalidateTags('ins_a', ['catalog']);
    assert.equal(cache.store(baseKey, Buffer.from('x'), { ticket: byTag, readTables: ['public.products'], tags: ['catalog'], ttlMs: 1000, swrMs: 0 }), 'superseded');
    const byInstance = cache.beginFill(baseKey);
    cache.invalidateInstance('ins_a');
    assert.equal(cache.store(baseKey, Buffer.from('x'), { ticket: byInstance, readTables: ['public.products'], tags: [], ttlMs: 1000, swrMs: 0 }), 'superseded');
  });

  test('invalidations of other tables, other tags, other instances, or before the fill began do not drop it', () => {
    const { cache, read } = setup();
    cache.invalidateTables('ins_a', ['public.products']); // before the fill: its query sees the write
    const ticket = cache.beginFill(baseKey);
    cache.invalidateTables('ins_a', ['public.orders']);
    cache.invalidateTags('ins_a', ['unrelated']);
    cache.invalidateTables('ins_b', ['public.products']);
    cache.invalidateInstance('ins_c');
    assert.equal(cache.store(baseKey, Buffer.from('rows'), { ticket, readTables: ['public.products'], tags: ['catalog'], ttlMs: 1000, swrMs: 0 }), 'stored');
    assert.equal(read(baseKey), 'rows');
  });

  test(`more than ${MAX_INVALIDATIONS_TRACKED_PER_FILL} distinct invalidations during one fill supersede it`, () => {
    const { cache } = setup();
    const ticket = cache.beginFill(baseKey);
    for (let i = 0; i <= MAX_INVALIDATIONS_TRACKED_PER_FILL; i += 1) cache.invalidateTables('ins_a', [`public.t${i}`]);
    assert.equal(cache.store(baseKey, Buffer.from('x'), { ticket, readTables: ['public.products'], tags: [], ttlMs: 1000, swrMs: 0 }), 'superseded');
  });

  test('a ticket is good once, expires after MAX_FILL_DURATION_MS, and belongs to its key', () => {
    const { clock, cache } = setup();
    const meta = { readTables: ['public.products'], tags: [], ttlMs: 1000, swrMs: 0 };
    const once = cache.beginFill(baseKey);
    assert.equal(cache.store(baseKey, Buffer.from('x'), { ticket: once, ...meta }), 'stored');
    assert.equal(cache.store(baseKey, Buffer.from('y'), { ticket: once, ...meta }), 'ticket-expired');

    const slow = cache.beginFill(baseKey);
    clock.nowMs += MAX_FILL_DURATION_MS;
    assert.equal(cache.store(baseKey, Buffer.from('z'), { ticket: slow, ...meta }), 'ticket-expired');

    const abandoned = cache.beginFill(baseKey);
    cache.abandonFill(abandoned);
    assert.equal(cache.store(baseKey, Buffer.from('z'), { ticket: abandoned, ...meta }), 'ticket-expired');

    const mine = cache.beginFill(baseKey);
    assert.throws(() => cache.store({ ...baseKey, role: 'other' }, Buffer.from('z'), { ticket: mine, ...meta }), /issued for another key/);
  });
});

describe('QueryCache: bounds', () => {
  test('total bytes stay within maxBytes by evicting the least recently used entry', () => {
    const { cache, fill, read } = setup({ maxBytes: 4_000, maxEntryBytes: 2_000 });
    const key = (n: number): CacheKey => ({ ...baseKey, params: [Buffer.from(String(n))] });
    const value = Buffer.alloc(1_000 - 256 - 'public.products'.length * 2, 1); // 1,000 bytes with the overhead
    for (const n of [1, 2, 3, 4]) assert.equal(fill(key(n), value), 'stored');
    assert.equal(cache.stats().bytes, 4_000);
    assert.ok(read(key(1))); // 1 is now the most recently used; 2 is the least
    fill(key(5), value);
    assert.equal(cache.stats().evictions, 1);
    assert.equal(read(key(2)), undefined);
    for (const n of [1, 3, 4, 5]) assert.ok(read(key(n)), `entry ${n}`);
    assert.ok(cache.stats().bytes <= 4_000);
  });

  test('an entry over maxEntryBytes is not stored', () => {
    const { cache, fill } = setup({ maxBytes: 10_000, maxEntryBytes: 1_000 });
    assert.equal(fill(baseKey, Buffer.alloc(1_000)), 'too-large');
    assert.equal(cache.lookup(baseKey), undefined);
    assert.equal(cache.stats().entries, 0);
  });

  test('evicted entries leave the invalidation index (invalidating them later removes nothing)', () => {
    const { cache, fill } = setup({ maxBytes: 1_000, maxEntryBytes: 1_000 });
    fill(baseKey, Buffer.alloc(600), { readTables: ['public.a'] });
    fill({ ...baseKey, sql: 'other' }, Buffer.alloc(600), { readTables: ['public.b'] });
    assert.equal(cache.stats().evictions, 1);
    assert.equal(cache.invalidateTables('ins_a', ['public.a']), 0);
    assert.equal(cache.invalidateTables('ins_a', ['public.b']), 1);
    assert.deepEqual([cache.stats().entries, cache.stats().bytes], [0, 0]);
  });

  test('replacing an entry counts its bytes once', () => {
    const { cache, fill } = setup();
    fill(baseKey, Buffer.alloc(100));
    const bytes = cache.stats().bytes;
    fill(baseKey, Buffer.alloc(100));
    assert.deepEqual([cache.stats().entries, cache.stats().bytes], [1, bytes]);
  });
});

describe('QueryCache: keys isolate tenants, roles, databases and parameters (security)', () => {
  const variants: readonly (readonly [string, CacheKey])[] = [
    ['base', baseKey],
    ['another instance', { ...baseKey, instanceId: 'ins_b' }],
    ['another role', { ...baseKey, role: 'admin' }],
    ['another database', { ...baseKey, database: 'shop2' }],
    ['another statement', { ...baseKey, sql: 'select * from products where id = $1 ' }],
    ['another parameter', { ...baseKey, params: [Buffer.from('2')] }],
    ['a NULL parameter', { ...baseKey, params: [null] }],
    ['an empty parameter', { ...baseKey, params: [Buffer.alloc(0)] }],
    ['no parameter list (simple protocol)', { instanceId: 'ins_a', role: 'app', database: 'shop', sql: baseKey.sql }],
    ['an empty parameter list', { ...baseKey, params: [] }],
    ['two parameters', { ...baseKey, params: [Buffer.from('1'), null] }],
    ['another variant (formats, settings)', { ...baseKey, variant: 'results=binary' }],
    // Fields run together differently must not collide: role 'app' + database 'shop' vs 'apps' + 'hop'.
    ['fields shifted across a boundary', { ...baseKey, role: 'apps', database: 'hop' }],
    ['parameters shifted across a boundary', { ...baseKey, params: [Buffer.from('1'), Buffer.alloc(0)] }],
  ];

  test('every variant of a key digests differently', () => {
    const digests = new Set(variants.map(([, key]) => cacheKeyDigest(key)));
    assert.equal(digests.size, variants.length);
    assert.equal(cacheKeyDigest({ ...baseKey }), cacheKeyDigest(baseKey));
    assert.equal(cacheKeyDigest({ ...baseKey, variant: '' }), cacheKeyDigest(baseKey));
  });

  test('an entry is served only to the exact key it was stored under', () => {
    const { fill, read } = setup();
    for (const [name, key] of variants) fill(key, `rows for ${name}`);
    for (const [name, key] of variants) assert.equal(read(key), `rows for ${name}`, name);
  });

  test('a result stored for one tenant\'s role is a miss for every other key', () => {
    const { fill, read } = setup();
    fill(baseKey, 'tenant a, role app');
    for (const [name, key] of variants.slice(1)) assert.equal(read(key), undefined, name);
  });
});
