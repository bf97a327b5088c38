// Typed errors of the record layer.

import { StrataError, type ErrorKind } from '@strata/store';

/**
 * A record type definition is wrong: no primary key, a key or index field that is not declared,
 * a duplicate index name, an unknown field type.
 *
 * @example
 * defineRecordType({ name: 'user', fields: { id: 'string' }, primaryKey: ['uid'] }); // throws InvalidRecordTypeError
 */
export class InvalidRecordTypeError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(typeName: string, problem: string) {
    super('STRATA_KV_INVALID_RECORD_TYPE', `record type ${JSON.stringify(typeName)}: ${problem}`);
  }
}

/**
 * A record does not match its type: a missing or undeclared field, or a value of the wrong type.
 *
 * @example
 * await users.insert(tr, { id: 'ada', age: 'old' }); // throws InvalidRecordError: field "age" must be an int
 */
export class InvalidRecordError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(typeName: string, problem: string) {
    super('STRATA_KV_INVALID_RECORD', `a ${JSON.stringify(typeName)} record ${problem}; fix the value to match the record type`);
  }
}

/**
 * `insert` of a record whose primary key is taken.
 *
 * @example
 * await users.insert(tr, ada);
 * await users.insert(tr, ada); // throws RecordExistsError; use save() to replace
 */
export class RecordExistsError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  constructor(typeName: string, primaryKey: readonly unknown[]) {
    super('STRATA_KV_RECORD_EXISTS', `a ${JSON.stringify(typeName)} record with primary key ${describeKey(primaryKey)} exists; use save() to replace it or update() to change it`);
  }
}

/**
 * `update` of a record that does not exist.
 *
 * @example
 * await users.update(tr, { id: 'nobody', age: 1 }); // throws RecordNotFoundError
 */
export class RecordNotFoundError extends StrataError {
  override get kind(): ErrorKind {
    return 'not-found';
  }
  constructor(typeName: string, primaryKey: readonly unknown[]) {
    super('STRATA_KV_RECORD_NOT_FOUND', `no ${JSON.stringify(typeName)} record has primary key ${describeKey(primaryKey)}; insert it first, or use save()`);
  }
}

/**
 * A scan or count of an index that is not built yet (it was added to a type that already had
 * records): writes maintain it, but it is incomplete until {@link RecordStore.buildIndex} or the
 * index-build workflow finishes.
 *
 * @example
 * await users.scanIndex(tr, 'by_email'); // throws IndexNotReadyError until the build finishes
 */
export class IndexNotReadyError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(indexName: string) {
    super('STRATA_KV_INDEX_NOT_READY', `index ${JSON.stringify(indexName)} is still being built; run the index build (buildIndex or the build-index workflow) to the end first`);
  }
}

/**
 * A call names an index the record type does not declare, or uses it as the wrong kind
 * (counting a value index, scanning a count index).
 *
 * @example
 * await users.count(tr, 'no_such_index'); // throws UnknownIndexError
 */
export class UnknownIndexError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(typeName: string, indexName: string, problem = 'is not declared') {
    super('STRATA_KV_UNKNOWN_INDEX', `index ${JSON.stringify(indexName)} of record type ${JSON.stringify(typeName)} ${problem}; use one of the indexes in its definition`);
  }
}

function describeKey(primaryKey: readonly unknown[]): string {
  return `[${primaryKey.map((item) => (typeof item === 'bigint' ? `${item}n` : item instanceof Uint8Array ? `0x${Buffer.from(item).toString('hex')}` : JSON.stringify(item))).join(', ')}]`;
}
