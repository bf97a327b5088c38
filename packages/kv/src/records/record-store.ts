// RecordStore: typed records in a subspace, with secondary indexes kept exact in the same transaction.

import { InvalidArgumentError } from '@strata/store';
import type { KvDatabase, ReadTransaction, Transaction } from '../core/interfaces.js';
import { Subspace } from '../subspace/subspace.js';
import { compareBytes, concatBytes } from '../tuple/bytes.js';
import { rangeOfPrefix, type KeyRange } from '../tuple/range.js';
import type { Tuple, TupleItem } from '../tuple/types.js';
import { IndexNotReadyError, RecordExistsError, RecordNotFoundError, UnknownIndexError } from './errors.js';
import { maintainIndex, readCount } from './index-entries.js';
import { IndexStates, type IndexState, type IndexStatus } from './index-states.js';
import type { FieldValue, Fields, IndexDefinition, RecordOf, RecordType } from './record-type.js';

/** Sub-subspaces of a store (small integers: one byte each in every key). */
const RECORDS = 1;
const INDEXES = 2;
const INDEX_STATES = 3;

/**
 * Records one index-build batch reads and indexes in one transaction. Small enough that a batch
 * of typical records (a few KB each) stays far below the KV's 10 MB and 5 s transaction limits,
 * large enough that a million records take a few thousand transactions.
 */
export const DEFAULT_INDEX_BUILD_BATCH_SIZE = 200;
/** Upper bound of a batch: past it one transaction risks the KV's 5 s limit on a loaded server. */
export const MAX_INDEX_BUILD_BATCH_SIZE = 10_000;


/** One entry of a value index: the indexed fields' values and the record's primary key (for `load`). */
export interface IndexEntry {
  readonly values: FieldValue[];
  readonly primaryKey: FieldValue[];
}

/**
 * Which entries of a value index to read. Bounds are values of the index's fields, a prefix of
 * them (in the index's field order): `equals` reads entries whose leading values are these;
 * `from` (inclusive) and `to` (exclusive: entries whose values start with `to` are not read)
 * bound a range. Without bounds it reads the whole index.
 *
 * @example
 * await users.scanIndex(tr, 'by_city_age', { equals: ['Paris'] });
 * await users.scanIndex(tr, 'by_city_age', { from: ['Paris', 18], to: ['Paris', 65], limit: 50 });
 */
export interface IndexScanOptions {
  readonly equals?: Tuple;
  readonly from?: Tuple;
  readonly to?: Tuple;
  /** Most entries to return (a positive integer); all by default. */
  readonly limit?: number;
  /** Descending order. */
  readonly reverse?: boolean;
}

/** Which records {@link RecordStore.scan} reads: those whose primary key starts with `prefix`. */
export interface RecordScanOptions {
  readonly prefix?: Tuple;
  readonly limit?: number;
  readonly reverse?: boolean;
}

/** What one build batch did. */
export interface IndexBuildProgress {
  /** True when the index is readable (this batch reached the end, or it already was). */
  readonly done: boolean;
  /** Records this batch indexed. */
  readonly recordsIndexed: number;
}

/** What a whole build did. */
export interface IndexBuildReport {
  readonly batches: number;
  readonly recordsIndexed: number;
}

/**
 * Typed records of one {@link RecordType}, stored in a subspace, with the type's secondary
 * indexes maintained in the same transaction as each write: `insert`, `save`, `update` and
 * `delete` keep every value and count index exact, and a serializable KV transaction makes that
 * hold under concurrency. Every method takes the transaction it runs in, so records, indexes and
 * the app's other keys commit together.
 *
 * Layout under the subspace: `[1, ...primaryKey]` → the other fields packed as a tuple;
 * `[2, indexName, ...values, ...primaryKey]` → empty (value index);
 * `[2, indexName, ...groupValues]` → a little-endian 64-bit count (count index);
 * `[3, indexName]` → the index's build state.
 *
 * An index added to a type that already has records starts `building`: writes maintain it for
 * records the build has covered, and it becomes readable when {@link buildIndex} (or the
 * workflow from `indexBuildWorkflow`) has gone through every record. An index name must not be
 * reused for a different index: drop the old one first ({@link dropIndex}).
 *
 * @example
 * const users = new RecordStore(await db.transact((tr) => directory.createOrOpen(tr, ['app', 'users'])), user);
 * await db.transact((tr) => users.insert(tr, { id: 'ada', email: 'ada@example.com', city: 'London', age: 36 }));
 * await db.transact((tr) => users.scanIndexRecords(tr, 'by_email', { equals: ['ada@example.com'] }));
 * await db.transact((tr) => users.count(tr, 'per_city', ['London'])); // 1
 */
export class RecordStore<F extends Fields> {
  readonly subspace: Subspace;
  readonly type: RecordType<F>;
  readonly #records: Subspace;
  readonly #indexes: Subspace;
  readonly #states: IndexStates;

  constructor(subspace: Subspace, type: RecordType<F>) {
    this.subspace = subspace;
    this.type = type;
    this.#records = subspace.sub(RECORDS);
    this.#indexes = subspace.sub(INDEXES);
    this.#states = new IndexStates(subspace.sub(INDEX_STATES), this.#records, type.indexes.map((index) => index.name));
  }

  /**
   * Stores a new record and its index entries.
   *
   * @throws {InvalidRecordError} when the record does not match the type.
   * @throws {RecordExistsError} when a record with its primary key exists.
   *
   * @example
   * await db.transact((tr) => users.insert(tr, { id: 'ada', email: 'ada@example.com', city: null, age: 36 }));
   */
  async insert(tr: Transaction, record: RecordOf<F>): Promise<void> {
    this.type.validate(record);
    const key = this.type.keyOf(record);
    const old = await this.#load(tr, key);
    if (old !== undefined) throw new RecordExistsError(this.type.name, key);
    await this.#write(tr, key, undefined, record);
  }

  /**
   * Stores a record, replacing the one with the same primary key if there is one; returns the
   * replaced record.
   *
   * @example
   * const before = await db.transact((tr) => users.save(tr, { ...ada, age: 37 }));
   */
  async save(tr: Transaction, record: RecordOf<F>): Promise<RecordOf<F> | undefined> {
    this.type.validate(record);
    const key = this.type.keyOf(record);
    const old = await this.#load(tr, key);
    await this.#write(tr, key, old, record);
    return old;
  }

  /**
   * Replaces an existing record; returns the one it replaced.
   *
   * @throws {RecordNotFoundError} when no record has its primary key.
   *
   * @example
   * await db.transact((tr) => users.update(tr, { ...ada, city: 'Paris' }));
   */
  async update(tr: Transaction, record: RecordOf<F>): Promise<RecordOf<F>> {
    this.type.validate(record);
    const key = this.type.keyOf(record);
    const old = await this.#load(tr, key);
    if (old === undefined) throw new RecordNotFoundError(this.type.name, key);
    await this.#write(tr, key, old, record);
    return old;
  }

  /**
   * Deletes the record with this primary key (values in primary-key order) and its index
   * entries; returns the deleted record, or `undefined` when there was none.
   *
   * @example
   * await db.transact((tr) => users.delete(tr, ['ada']));
   */
  async delete(tr: Transaction, primaryKey: Tuple): Promise<RecordOf<F> | undefined> {
    const key = this.type.keyOf(primaryKey);
    const old = await this.#load(tr, key);
    if (old !== undefined) await this.#write(tr, key, old, undefined);
    return old;
  }

  /**
   * The record with this primary key, or `undefined`.
   *
   * @example
   * const ada = await db.transact((tr) => users.load(tr, ['ada']));
   */
  async load(tr: ReadTransaction, primaryKey: Tuple): Promise<RecordOf<F> | undefined> {
    return this.#load(tr, this.type.keyOf(primaryKey));
  }

  /** The record at a primary key already in tuple form (from `keyOf`). */
  async #load(tr: ReadTransaction, key: TupleItem[]): Promise<RecordOf<F> | undefined> {
    const value = await tr.get(this.#records.pack(key));
    return value === undefined ? undefined : this.type.decode(key, value);
  }

  /**
   * Records in primary-key order, all or those whose key starts with `prefix`.
   *
   * @example
   * await db.transact((tr) => orders.scan(tr, { prefix: ['customer-7'], limit: 20 }));
   */
  async scan(tr: ReadTransaction, options: RecordScanOptions = {}): Promise<Array<RecordOf<F>>> {
    const prefix = this.type.boundOf(this.type.primaryKey, options.prefix ?? []);
    const { begin, end } = this.#records.range(prefix);
    const rows = await tr.getRange(begin, end, rangeOptions(options));
    return rows.map(({ key, value }) => this.type.decode(this.#records.unpack(key), value));
  }

  /**
   * Entries of a value index in index order (bounded as {@link IndexScanOptions} says).
   *
   * @throws {UnknownIndexError} when the index is not a declared value index.
   * @throws {IndexNotReadyError} while the index is being built.
   *
   * @example
   * const adults = await db.transact((tr) => users.scanIndex(tr, 'by_age', { from: [18] }));
   * adults[0]; // { values: [18], primaryKey: ['bob'] }
   */
  async scanIndex(tr: ReadTransaction, indexName: string, options: IndexScanOptions = {}): Promise<IndexEntry[]> {
    const index = this.#valueIndex(indexName);
    await this.#requireReadable(tr, index.name);
    const fields = index.fields;
    const rows = await tr.getRange(...this.#scanRange(index.name, fields, options), rangeOptions(options));
    const base = this.#indexes.sub(index.name);
    return rows.map(({ key }) => {
      const items = base.unpack(key);
      return { values: this.type.valuesOf(fields, items.slice(0, fields.length)), primaryKey: this.type.valuesOf(this.type.primaryKey, items.slice(fields.length)) };
    });
  }

  /**
   * The records a value-index scan finds, in index order.
   *
   * @example
   * const parisians = await db.transact((tr) => users.scanIndexRecords(tr, 'by_city_age', { equals: ['Paris'] }));
   */
  async scanIndexRecords(tr: ReadTransaction, indexName: string, options: IndexScanOptions = {}): Promise<Array<RecordOf<F>>> {
    const entries = await this.scanIndex(tr, indexName, options);
    const records = await Promise.all(entries.map((entry) => this.load(tr, entry.primaryKey)));
    return records.map((record, i) => {
      if (record === undefined) {
        throw new Error(`invariant broken: index ${JSON.stringify(indexName)} has an entry for ${JSON.stringify(entries[i]?.primaryKey)}, which has no record`);
      }
      return record;
    });
  }

  /**
   * How many records a count index counts for one group (the `groupBy` fields' values; `[]`
   * for an index without `groupBy`).
   *
   * @example
   * await db.transact((tr) => users.count(tr, 'per_city', ['London'])); // 2
   */
  async count(tr: ReadTransaction, indexName: string, group: Tuple = []): Promise<number> {
    const index = this.#countIndex(indexName);
    await this.#requireReadable(tr, index.name);
    if (group.length !== index.groupBy.length) {
      throw new InvalidArgumentError(`count of index "${index.name}" takes ${index.groupBy.length} group values (${index.groupBy.join(', ')}); got ${group.length}`);
    }
    const value = await tr.get(this.#indexes.pack([index.name, ...this.type.boundOf(index.groupBy, group)]));
    return value === undefined ? 0 : readCount(value);
  }

  /**
   * Every non-zero group of a count index with its count, in group order.
   *
   * @example
   * await db.transact((tr) => users.counts(tr, 'per_city')); // [{ group: ['London'], count: 2 }, …]
   */
  async counts(tr: ReadTransaction, indexName: string): Promise<Array<{ group: FieldValue[]; count: number }>> {
    const index = this.#countIndex(indexName);
    await this.#requireReadable(tr, index.name);
    const base = this.#indexes.sub(index.name);
    const out: Array<{ group: FieldValue[]; count: number }> = [];
    const groupOnly = index.groupBy.length === 0 ? await tr.get(base.key) : undefined;
    if (groupOnly !== undefined && readCount(groupOnly) !== 0) out.push({ group: [], count: readCount(groupOnly) });
    for (const { key, value } of await tr.getRange(base.range().begin, base.range().end)) {
      const count = readCount(value);
      if (count !== 0) out.push({ group: this.type.valuesOf(index.groupBy, base.unpack(key)), count });
    }
    return out;
  }

  /**
   * Whether the index can be read, or is still being built.
   *
   * @example
   * await db.transact((tr) => users.indexStatus(tr, 'by_email')); // 'readable'
   */
  async indexStatus(tr: ReadTransaction, indexName: string): Promise<IndexStatus> {
    this.#index(indexName);
    return (await this.#states.forRead(tr, indexName)).status;
  }

  /**
   * Indexes the next batch of records for an index that is being built, in this transaction,
   * and records how far it got (so the next batch, in any process, continues from there). The
   * batch that reaches the end makes the index readable. Running a batch again after a lost
   * commit is harmless: it reads the recorded position.
   *
   * @example
   * let progress;
   * do progress = await db.transact((tr) => users.buildIndexBatch(tr, 'by_email'));
   * while (!progress.done);
   */
  async buildIndexBatch(tr: Transaction, indexName: string, options: { batchSize?: number } = {}): Promise<IndexBuildProgress> {
    const batchSize = options.batchSize ?? DEFAULT_INDEX_BUILD_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_INDEX_BUILD_BATCH_SIZE) {
      throw new InvalidArgumentError(`batchSize is an integer from 1 to ${MAX_INDEX_BUILD_BATCH_SIZE}; got ${batchSize}`);
    }
    const index = this.#index(indexName);
    const states = await this.#states.forWrite(tr);
    const state = states.get(index.name);
    if (state === undefined || state.status === 'readable') return { done: true, recordsIndexed: 0 };
    const all = this.#records.range();
    const begin = state.cursor === null ? all.begin : concatBytes(state.cursor, Uint8Array.of(0x00));
    const rows = await tr.getRange(begin, all.end, { limit: batchSize });
    for (const { key, value } of rows) {
      const primaryKey = this.#records.unpack(key);
      maintainIndex(tr, this.#indexes, this.type, index, primaryKey, undefined, this.type.decode(primaryKey, value));
    }
    const last = rows[rows.length - 1];
    const next: IndexState = rows.length < batchSize || last === undefined ? { status: 'readable' } : { status: 'building', cursor: last.key };
    this.#states.set(tr, states, index.name, next);
    return { done: next.status === 'readable', recordsIndexed: rows.length };
  }

  /**
   * Builds an index to the end, one {@link buildIndexBatch} per transaction. Use the
   * `indexBuildWorkflow` instead when the build must survive a crash of this process.
   *
   * @example
   * await users.buildIndex(db, 'by_email'); // { batches: 5, recordsIndexed: 812 }
   */
  async buildIndex(db: KvDatabase, indexName: string, options: { batchSize?: number } = {}): Promise<IndexBuildReport> {
    let batches = 0;
    let recordsIndexed = 0;
    for (;;) {
      const progress = await db.transact((tr) => this.buildIndexBatch(tr, indexName, options));
      batches++;
      recordsIndexed += progress.recordsIndexed;
      if (progress.done) return { batches, recordsIndexed };
    }
  }

  /**
   * Deletes an index's entries and state (for an index removed from the type, or before reusing
   * its name for a different index). Declared indexes are rebuilt from the records afterwards.
   *
   * @example
   * await db.transact((tr) => users.dropIndex(tr, 'old_by_email'));
   */
  async dropIndex(tr: Transaction, indexName: string): Promise<void> {
    const base = this.#indexes.sub(indexName);
    tr.clear(base.key);
    tr.clearRange(base.range().begin, base.range().end);
    this.#states.clear(tr, indexName);
  }

  async #write(tr: Transaction, primaryKey: TupleItem[], old: RecordOf<F> | undefined, record: RecordOf<F> | undefined): Promise<void> {
    const recordKey = this.#records.pack(primaryKey);
    const states = await this.#states.forWrite(tr);
    for (const index of this.type.indexes) {
      const state = states.get(index.name);
      // A building index covers records up to its cursor; the build indexes the rest later.
      if (state?.status === 'building' && (state.cursor === null || compareBytes(recordKey, state.cursor) > 0)) continue;
      maintainIndex(tr, this.#indexes, this.type, index, primaryKey, old, record);
    }
    if (record === undefined) tr.clear(recordKey);
    else tr.set(recordKey, this.type.encodeValue(record));
  }

  #index(name: string): IndexDefinition<keyof F & string> {
    const index = this.type.index(name);
    if (index === undefined) throw new UnknownIndexError(this.type.name, name);
    return index;
  }

  #valueIndex(name: string): Extract<IndexDefinition<keyof F & string>, { kind: 'value' }> {
    const index = this.#index(name);
    if (index.kind !== 'value') throw new UnknownIndexError(this.type.name, name, 'is a count index; read it with count()');
    return index;
  }

  #countIndex(name: string): Extract<IndexDefinition<keyof F & string>, { kind: 'count' }> {
    const index = this.#index(name);
    if (index.kind !== 'count') throw new UnknownIndexError(this.type.name, name, 'is a value index; read it with scanIndex()');
    return index;
  }

  #scanRange(indexName: string, fields: readonly string[], options: IndexScanOptions): [Uint8Array, Uint8Array] {
    const whole = rangeOfPrefix(this.#indexes.pack([indexName]));
    if (options.equals !== undefined) {
      if (options.from !== undefined || options.to !== undefined) throw new InvalidArgumentError('an index scan takes equals, or from/to, not both');
      const range: KeyRange = rangeOfPrefix(this.#indexes.pack([indexName, ...this.type.boundOf(fields, options.equals)]));
      return [range.begin, range.end];
    }
    const begin = options.from === undefined ? whole.begin : this.#indexes.pack([indexName, ...this.type.boundOf(fields, options.from)]);
    const end = options.to === undefined ? whole.end : this.#indexes.pack([indexName, ...this.type.boundOf(fields, options.to)]);
    return [begin, end];
  }

  async #requireReadable(tr: ReadTransaction, indexName: string): Promise<void> {
    if ((await this.#states.forRead(tr, indexName)).status !== 'readable') throw new IndexNotReadyError(indexName);
  }
}

function rangeOptions(options: { limit?: number; reverse?: boolean }): { limit?: number; reverse?: boolean } {
  const out: { limit?: number; reverse?: boolean } = {};
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new InvalidArgumentError(`limit is a positive integer; got ${options.limit}`);
    out.limit = options.limit;
  }
  if (options.reverse !== undefined) out.reverse = options.reverse;
  return out;
}
