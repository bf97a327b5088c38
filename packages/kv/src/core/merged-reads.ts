// Read-your-writes: reads of the database snapshot merged with the transaction's buffered writes.

import type { Queryable } from '@strata/store';
import { applyAll } from './atomic.js';
import { FIRST_KEY, SYSTEM_KEY_PREFIX, compareKeys, keyAfter } from './bytes.js';
import type { KeyValue } from './interfaces.js';
import type { KeySelector } from './key-selector.js';
import { readRange, readValue } from './sql/read.js';
import type { KeyRange, WriteBuffer } from './write-buffer.js';
import { AccessedUnreadableError } from '../errors.js';

/** Rows fetched per round trip of a range read: big enough to amortize it, small enough to stop early. */
const RANGE_BATCH_ROWS = 500;

/** What a merged read found, and the range of the database it depended on (its read conflict). */
export interface MergedGet {
  readonly value: Uint8Array | undefined;
  /** True when the value came from (or depended on) the database, so the read conflicts. */
  readonly fromDatabase: boolean;
}

/** The value of `key` as this transaction sees it. */
export async function mergedGet(q: Queryable, buffer: WriteBuffer, key: Uint8Array): Promise<MergedGet> {
  const entry = buffer.entry(key);
  if (entry?.kind === 'known') return { value: entry.value, fromDatabase: false };
  if (entry?.kind === 'stamped') throw new AccessedUnreadableError();
  if (entry === undefined && buffer.clearedByRange(key)) return { value: undefined, fromDatabase: false };
  const stored = await readValue(q, key);
  return { value: entry?.kind === 'atomic' ? applyAll(stored, entry.mutations) : stored, fromDatabase: true };
}

/** Up to `limit` pairs of `[begin, end)` as this transaction sees them. */
export async function mergedRange(
  q: Queryable,
  buffer: WriteBuffer,
  begin: Uint8Array,
  end: Uint8Array,
  reverse: boolean,
  limit: number,
): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  if (compareKeys(begin, end) >= 0 || limit <= 0) return out;
  const local = buffer.entriesIn(begin, end, reverse);
  let localIndex = 0;
  let rows: KeyValue[] = [];
  let rowIndex = 0;
  let exhausted = false;
  // The database rows still to read: [cursorBegin, cursorEnd).
  let cursorBegin = begin;
  let cursorEnd = end;
  const before = (a: Uint8Array, b: Uint8Array) => (reverse ? compareKeys(a, b) > 0 : compareKeys(a, b) < 0);

  while (out.length < limit) {
    if (rowIndex === rows.length && !exhausted) {
      const want = Math.min(RANGE_BATCH_ROWS, limit - out.length + local.length - localIndex);
      rows = compareKeys(cursorBegin, cursorEnd) < 0 ? await readRange(q, cursorBegin, cursorEnd, reverse, want) : [];
      rowIndex = 0;
      exhausted = rows.length < want;
      const last = rows.at(-1);
      if (last !== undefined) {
        if (reverse) cursorEnd = last.key;
        else cursorBegin = keyAfter(last.key);
      }
    }
    const row = rows[rowIndex];
    const slot = local[localIndex];
    if (row === undefined && slot === undefined) break;
    if (slot === undefined || (row !== undefined && before(row.key, slot.key))) {
      rowIndex++;
      const cleared = buffer.clearedByRange((row as KeyValue).key);
      if (cleared === undefined) {
        out.push(row as KeyValue);
      } else {
        skipCleared(cleared);
      }
      continue;
    }
    // The buffered key comes first (or is the same key as the row, which it overrides).
    localIndex++;
    let base: Uint8Array | undefined;
    if (row !== undefined && compareKeys(row.key, slot.key) === 0) {
      rowIndex++;
      base = row.value;
    }
    const { entry } = slot;
    if (entry.kind === 'stamped') throw new AccessedUnreadableError();
    const value = entry.kind === 'known' ? entry.value : applyAll(base, entry.mutations);
    if (value !== undefined) out.push({ key: slot.key, value });
  }
  return out;

  /** Moves the database cursor past a cleared range: none of its rows are visible. */
  function skipCleared(cleared: KeyRange): void {
    rows = rows.slice(rowIndex).filter((r) => buffer.clearedByRange(r.key) === undefined);
    rowIndex = 0;
    if (reverse) {
      if (compareKeys(cleared.begin, cursorEnd) < 0) {
        cursorEnd = compareKeys(cleared.begin, begin) > 0 ? cleared.begin : begin;
        rows = [];
        exhausted = false;
      }
    } else if (compareKeys(cleared.end, cursorBegin) > 0) {
      cursorBegin = compareKeys(cleared.end, end) < 0 ? cleared.end : end;
      rows = [];
      exhausted = false;
    }
  }
}

/** A key selector resolved to a key, and the range it looked at (its read conflict). */
export interface ResolvedSelector {
  readonly key: Uint8Array;
  readonly scanned: KeyRange;
}

/** Resolves `selector` against this transaction's view (clamped to `['', [0xff]]`). */
export async function resolveSelector(q: Queryable, buffer: WriteBuffer, selector: KeySelector): Promise<ResolvedSelector> {
  const { key, orEqual, offset } = selector;
  if (offset >= 1) {
    const start = orEqual ? keyAfter(key) : key;
    const rows = await mergedRange(q, buffer, start, SYSTEM_KEY_PREFIX, false, offset);
    const found = rows.length === offset ? rows[offset - 1] : undefined;
    return found === undefined
      ? { key: SYSTEM_KEY_PREFIX, scanned: { begin: start, end: SYSTEM_KEY_PREFIX } }
      : { key: found.key, scanned: { begin: start, end: keyAfter(found.key) } };
  }
  const stop = orEqual ? keyAfter(key) : key;
  const count = 1 - offset;
  const rows = await mergedRange(q, buffer, FIRST_KEY, stop, true, count);
  const found = rows.length === count ? rows[count - 1] : undefined;
  return found === undefined
    ? { key: FIRST_KEY, scanned: { begin: FIRST_KEY, end: stop } }
    : { key: found.key, scanned: { begin: found.key, end: stop } };
}
