// Index entries of one record: which keys a value index and a count index hold for it, and the
// writes that move them from an old version of the record to a new one.

import type { Transaction } from '../core/interfaces.js';
import type { Subspace } from '../subspace/subspace.js';
import { compareBytes } from '../tuple/bytes.js';
import type { TupleItem } from '../tuple/types.js';
import type { Fields, IndexDefinition, RecordOf, RecordType } from './record-type.js';

const EMPTY = new Uint8Array(0);
const PLUS_ONE = littleEndian(1n);
const MINUS_ONE = littleEndian(-1n);

/**
 * Updates one index for a record going from `old` to `record` (`undefined`: absent). A value
 * index moves the record's entry; a count index moves one count between groups with atomic adds,
 * which never conflict with each other.
 */
export function maintainIndex<F extends Fields>(
  tr: Transaction,
  indexes: Subspace,
  type: RecordType<F>,
  index: IndexDefinition,
  primaryKey: readonly TupleItem[],
  old: RecordOf<F> | undefined,
  record: RecordOf<F> | undefined,
): void {
  const fields = index.kind === 'value' ? index.fields : index.groupBy;
  const keyOf = (version: RecordOf<F>) =>
    indexes.pack(index.kind === 'value' ? [index.name, ...type.tupleOf(version, fields), ...primaryKey] : [index.name, ...type.tupleOf(version, fields)]);
  const oldKey = old === undefined ? undefined : keyOf(old);
  const newKey = record === undefined ? undefined : keyOf(record);
  if (oldKey !== undefined && newKey !== undefined && compareBytes(oldKey, newKey) === 0) return;
  if (index.kind === 'value') {
    if (oldKey !== undefined) tr.clear(oldKey);
    if (newKey !== undefined) tr.set(newKey, EMPTY);
  } else {
    if (oldKey !== undefined) tr.add(oldKey, MINUS_ONE);
    if (newKey !== undefined) tr.add(newKey, PLUS_ONE);
  }
}

/** The count a count-index value holds (a little-endian signed 64-bit integer). */
export function readCount(bytes: Uint8Array): number {
  const padded = new Uint8Array(8);
  padded.set(bytes.subarray(0, 8));
  return Number(new DataView(padded.buffer).getBigInt64(0, true));
}

function littleEndian(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, value, true);
  return bytes;
}
