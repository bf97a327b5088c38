// The error model of the store layer: every exported error class is a StrataError with a stable
// code and a kind from the closed ErrorKind union. The classes are found by enumerating the
// package's exports at run time, so a new class without a kind (or without a sample here) fails.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_ROOTS, declaredKind, exportedErrorClasses } from '@strata/testing';
import * as store from '@strata/store';
import {
  DatabaseClosedError,
  DatabaseCrashedError,
  DatabaseLockedError,
  DatabaseUnavailableError,
  DatabaseUnreachableError,
  DiskFullError,
  ERROR_KINDS,
  InvalidArgumentError,
  InvalidDatabaseUrlError,
  MigrationChangedError,
  LeaseLostError,
  MigrationError,
  StorageReadOnlyError,
  StorageUnavailableError,
  StoreError,
  StrataError,
  TransactionAbortedError,
  TransactionConflictError,
  errorKindOf,
  type ErrorKind,
} from '@strata/store';


/** One real instance of each concrete error class of @strata/store, with the kind it must have. */
const SAMPLES: Readonly<Record<string, { make: () => Error; kind: ErrorKind }>> = {
  InvalidDatabaseUrlError: { make: () => new InvalidDatabaseUrlError('"postgres:/x" is not a URL'), kind: 'invalid-argument' },
  InvalidArgumentError: { make: () => new InvalidArgumentError('poolSize must be at least 1'), kind: 'invalid-argument' },
  DatabaseUnreachableError: { make: () => new DatabaseUnreachableError('connection refused'), kind: 'unavailable' },
  DatabaseUnavailableError: { make: () => new DatabaseUnavailableError('postgres://h/db', new Error('terminated')), kind: 'unavailable' },
  DatabaseClosedError: { make: () => new DatabaseClosedError('memory://'), kind: 'unavailable' },
  DatabaseCrashedError: { make: () => new DatabaseCrashedError('PANIC'), kind: 'unavailable' },
  StorageUnavailableError: { make: () => new StorageUnavailableError('STRATA_DISK_FULL', '/data', 'full'), kind: 'unavailable' },
  DiskFullError: { make: () => new DiskFullError('/data', 'the disk is full'), kind: 'unavailable' },
  StorageReadOnlyError: { make: () => new StorageReadOnlyError('/data', 'read-only file system'), kind: 'unavailable' },
  DatabaseLockedError: { make: () => new DatabaseLockedError('held by pid 1'), kind: 'failed-precondition' },
  TransactionAbortedError: { make: () => new TransactionAbortedError(), kind: 'failed-precondition' },
  MigrationError: { make: () => new MigrationError('gap'), kind: 'failed-precondition' },
  MigrationChangedError: { make: () => new MigrationChangedError('shop', 2, 'edited'), kind: 'failed-precondition' },
  LeaseLostError: { make: () => new LeaseLostError('strata.migrations', 3), kind: 'unavailable' },
  TransactionConflictError: { make: () => new TransactionConflictError(5, new Error('40001')), kind: 'conflict' },
};

describe('the error model of @strata/store', () => {
  const classes = exportedErrorClasses(store as Record<string, unknown>);

  test('every exported error class extends StrataError and declares a kind from ErrorKind', () => {
    assert.ok(classes.length >= Object.keys(SAMPLES).length, `found ${classes.length} error classes`);
    for (const [name, errorClass] of classes) {
      assert.ok(errorClass === StrataError || errorClass.prototype instanceof StrataError, `${name} does not extend StrataError`);
      if (ERROR_ROOTS.has(errorClass)) continue;
      const kind = declaredKind(errorClass);
      assert.ok(ERROR_KINDS.includes(kind as ErrorKind), `${name} declares kind ${String(kind)}; give it \`override get kind(): ErrorKind\``);
    }
  });

  test('a sample of every exported error class has a STRATA_ code, its kind, its name and a message', () => {
    for (const [name, errorClass] of classes) {
      if (ERROR_ROOTS.has(errorClass)) continue;
      const sample = SAMPLES[name];
      assert.ok(sample !== undefined, `${name} has no sample in this test; add one with the kind it must have`);
      const error = sample.make();
      assert.ok(error instanceof errorClass && error instanceof StrataError && error instanceof StoreError, name);
      assert.match(error.code, /^STRATA_[A-Z0-9_]+$/, name);
      assert.equal(error.kind, sample.kind, `${name}'s kind`);
      assert.equal(error.name, name);
      assert.ok(error.message.length > 0, `${name} has a message`);
    }
  });

  test('the kind is a property of the class, not of the instance, so stored errors keep their shape', () => {
    const error = new InvalidArgumentError('bad');
    assert.equal(Object.hasOwn(error, 'kind'), false);
    assert.equal(error.kind, 'invalid-argument');
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(error)) as object).sort(), ['code', 'name']);
  });

  test('InvalidArgumentError takes a narrower code and keeps its kind', () => {
    const error = new InvalidArgumentError('no filter given', 'STRATA_EMPTY_FILTER');
    assert.equal(error.code, 'STRATA_EMPTY_FILTER');
    assert.equal(error.kind, 'invalid-argument');
    assert.equal(new InvalidArgumentError('bad').code, 'STRATA_INVALID_ARGUMENT');
  });

  test('errorKindOf reads a StrataError, a Strata error from another copy of the package, and nothing else', () => {
    assert.equal(errorKindOf(new DatabaseLockedError('held')), 'failed-precondition');
    // What a second copy of @strata/store would throw: not instanceof this StrataError.
    const foreign = Object.assign(new Error('no workflow "w"'), { code: 'STRATA_WORKFLOW_NOT_FOUND', kind: 'not-found' });
    assert.equal(errorKindOf(foreign), 'not-found');
    assert.equal(errorKindOf(Object.assign(new Error('x'), { code: 'STRATA_X', kind: 'unheard-of' })), undefined);
    assert.equal(errorKindOf(Object.assign(new Error('x'), { kind: 'not-found' })), undefined, 'no code, not a Strata error');
    assert.equal(errorKindOf(new Error('boom')), undefined);
    assert.equal(errorKindOf(null), undefined);
    assert.equal(errorKindOf('not-found'), undefined);
  });
});
