// The reads of the KV core: a key's value, a range of keys, and the version a snapshot is at.
// Keys are found through the (key_head, key_hash) primary key; see migrations/000001_kv.sql.

import type { Queryable } from '@strata/store';
import { asBuffer, plain } from '../bytes.js';
import type { KeyValue } from '../interfaces.js';

/** The version of the last commit visible to `q`'s snapshot. */
export async function readVersion(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ version: string }>('select version::text as version from strata.kv_meta', [], { prepare: true });
  const row = rows[0];
  if (row === undefined) throw new Error('strata.kv_meta has no row: the kv migrations did not run');
  return Number(row.version);
}

/** The value of `key`, or undefined. */
export async function readValue(q: Queryable, key: Uint8Array): Promise<Uint8Array | undefined> {
  const { rows } = await q.query<{ value: Uint8Array }>(
    'select value from strata.kv where key_head = substring($1::bytea from 1 for 1024) and key = $1::bytea',
    [asBuffer(key)],
    { prepare: true },
  );
  const value = rows[0]?.value;
  return value === undefined ? undefined : plain(value);
}

const FORWARD_SQL = `select key, value from strata.kv
  where key_head >= substring($1::bytea from 1 for 1024) and key_head <= substring($2::bytea from 1 for 1024)
    and key >= $1::bytea and key < $2::bytea
  order by key_head, key limit $3`;
const REVERSE_SQL = `select key, value from strata.kv
  where key_head >= substring($1::bytea from 1 for 1024) and key_head <= substring($2::bytea from 1 for 1024)
    and key >= $1::bytea and key < $2::bytea
  order by key_head desc, key desc limit $3`;

/** Up to `limit` pairs with `begin <= key < end`, ascending (descending with `reverse`). */
export async function readRange(q: Queryable, begin: Uint8Array, end: Uint8Array, reverse: boolean, limit: number): Promise<KeyValue[]> {
  const { rows } = await q.query<{ key: Uint8Array; value: Uint8Array }>(reverse ? REVERSE_SQL : FORWARD_SQL, [asBuffer(begin), asBuffer(end), limit], {
    prepare: true,
  });
  return rows.map((row) => ({ key: plain(row.key), value: plain(row.value) }));
}

/** The values of `keys` (hex), by hex key; absent keys are left out. */
export async function readValues(q: Queryable, hexKeys: readonly string[]): Promise<Map<string, Uint8Array>> {
  const found = new Map<string, Uint8Array>();
  if (hexKeys.length === 0) return found;
  const { rows } = await q.query<{ k: string; value: Uint8Array }>(
    `select w.k, kv.value from unnest($1::text[]) as w(k)
       join strata.kv on kv.key_head = substring(decode(w.k, 'hex') from 1 for 1024) and kv.key = decode(w.k, 'hex')`,
    [hexKeys],
    { prepare: true },
  );
  for (const row of rows) found.set(row.k, plain(row.value));
  return found;
}
