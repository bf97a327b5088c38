// Helpers of the core tests: a KV database per engine, keys from strings, little-endian counters.

import { openDatabase, type Database } from '@strata/store';
import { freshDatabaseUrl, type EngineKind } from '@strata/testing';
import { openKv, type KvDatabase, type OpenKvOptions } from '../src/index.js';

/** A KV database on a fresh database, and the store database under it. */
export interface CoreKv {
  readonly kv: KvDatabase;
  readonly db: Database;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Opens a KV database on a new, empty database of `kind`.
 *
 * @example
 * const { kv, close } = await openCoreKv('pglite');
 */
export async function openCoreKv(kind: EngineKind, options: Omit<OpenKvOptions, 'database'> = {}, wrap?: (db: Database) => Database): Promise<CoreKv> {
  const url = await freshDatabaseUrl(kind);
  const db = await openDatabase(kind === 'postgres' ? { url, poolSize: 20 } : url);
  const kv = await openKv({ ...options, database: wrap ? wrap(db) : db });
  return {
    kv,
    db,
    url,
    close: async () => {
      await kv.close();
      await db.close();
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The UTF-8 bytes of `text`: a readable key or value. */
export function b(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The text of UTF-8 bytes (undefined stays undefined). */
export function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : decoder.decode(bytes);
}

/** `n` as 8 little-endian bytes: the counter form atomic `add` works on. */
export function int64(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n), true);
  return out;
}

/** The number in 8 little-endian bytes (absent: 0). */
export function readInt64(bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  const padded = new Uint8Array(8);
  padded.set(bytes.subarray(0, 8));
  return Number(new DataView(padded.buffer).getBigInt64(0, true));
}
