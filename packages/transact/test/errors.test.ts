// The error model seen from @strata/transact: one root (store's StrataError, re-exported), one
// InvalidArgumentError, and every exported error class with a stable code and a kind from the
// closed ErrorKind union. The classes are found by enumerating the package's exports at run time,
// so a new class without a kind (or without a sample here) fails.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_ROOTS, declaredKind, exportedErrorClasses } from '@strata/testing';
import * as store from '@strata/store';
import * as transact from '@strata/transact';
import { ERROR_KINDS, StrataError, type ErrorKind } from '@strata/store';

type AnyErrorClass = new (...args: never[]) => Error;

/** Constructs the exported class `name` with `args` (looked up by name, so a class not exported yet is simply not sampled). */
function make(name: string, ...args: unknown[]): Error {
  const errorClass = (transact as Record<string, unknown>)[name] as AnyErrorClass;
  return new errorClass(...(args as never[]));
}

/** One real instance of each concrete error class transact adds to store's, with the kind it must have. */
const SAMPLES: Readonly<Record<string, { make: () => Error; kind: ErrorKind }>> = {
  UnknownWorkflowError: { make: () => make('UnknownWorkflowError', 'checkout', ['refund']), kind: 'not-found' },
  WorkflowNotFoundError: { make: () => make('WorkflowNotFoundError', 'w-1'), kind: 'not-found' },
  UnknownQueueError: { make: () => make('UnknownQueueError', 'emails', []), kind: 'not-found' },
  UnknownScheduleError: { make: () => make('UnknownScheduleError', 'nightly'), kind: 'not-found' },
  DuplicateWorkflowError: { make: () => make('DuplicateWorkflowError', 'checkout'), kind: 'conflict' },
  WorkflowConflictError: { make: () => make('WorkflowConflictError', 'w-1', 'checkout', 'refund'), kind: 'conflict' },
  WorkflowTakenOverError: { make: () => make('WorkflowTakenOverError', 'w-1', 'a', 'b'), kind: 'conflict' },
  DuplicateEnqueueError: { make: () => make('DuplicateEnqueueError', 'emails', 'k', 'w-1'), kind: 'conflict' },
  DuplicateScheduleError: { make: () => make('DuplicateScheduleError', 'nightly'), kind: 'conflict' },
  ExecutorConflictError: { make: () => make('ExecutorConflictError', 'e-1', 'pid 1 on host'), kind: 'conflict' },
  EnqueueConflictError: { make: () => make('EnqueueConflictError', 'w-1', 10), kind: 'conflict' },
  WorkflowStateError: { make: () => make('WorkflowStateError', 'w-1', 'SUCCESS', 'it has finished'), kind: 'failed-precondition' },
  WorkflowCancelledError: { make: () => make('WorkflowCancelledError', 'w-1'), kind: 'failed-precondition' },
  WorkflowTimeoutError: { make: () => make('WorkflowTimeoutError', 'w-1'), kind: 'failed-precondition' },
  NonDeterminismError: { make: () => make('NonDeterminismError', 'w-1', 2, 'step "a"', 'step "b"'), kind: 'failed-precondition' },
  StreamClosedError: { make: () => make('StreamClosedError', 'w-1', 'log'), kind: 'failed-precondition' },
  QueueStateError: { make: () => make('QueueStateError', 'emails', 'it holds work'), kind: 'failed-precondition' },
  HistoryEndError: { make: () => make('HistoryEndError', 'w-1', 3, 'step', 'charge'), kind: 'failed-precondition' },
  MaxRecoveryAttemptsError: { make: () => make('MaxRecoveryAttemptsError', 'w-1', 101, 100), kind: 'failed-precondition' },
  NotSerializableError: { make: () => make('NotSerializableError', 'the input', 'args[0]', 'is a function'), kind: 'invalid-argument' },
  PayloadTooLargeError: { make: () => make('PayloadTooLargeError', 'the output', 10, 5), kind: 'invalid-argument' },
  InvalidScheduleError: { make: () => make('InvalidScheduleError', 'bad cron'), kind: 'invalid-argument' },
  UnknownOptionError: { make: () => make('UnknownOptionError', 'launch()', 'databse', 'database', ['database']), kind: 'invalid-argument' },
  EngineStateError: { make: () => make('EngineStateError', 'not launched'), kind: 'unavailable' },
  WaitTimeoutError: { make: () => make('WaitTimeoutError', 'the result', 10), kind: 'unavailable' },
  StepTimeoutError: { make: () => make('StepTimeoutError', 'fetch', 10), kind: 'unavailable' },
  SystemDatabaseError: { make: () => make('SystemDatabaseError', new Error('terminated')), kind: 'unavailable' },
  CapacityExceededError: { make: () => make('CapacityExceededError', 'the group-commit backlog', 10_000, 'MAX_BACKLOG'), kind: 'unavailable' },
  ReplayIsolationError: { make: () => make('ReplayIsolationError', 'the database'), kind: 'internal' },
  InvariantError: { make: () => make('InvariantError', 'one result per item'), kind: 'internal' },
};

describe('the error model of @strata/transact', () => {
  const storeClasses = new Set(exportedErrorClasses(store as Record<string, unknown>).map(([, errorClass]) => errorClass));
  const classes = exportedErrorClasses(transact as Record<string, unknown>);

  test('StrataError and InvalidArgumentError are store\'s own classes, re-exported: one root, one InvalidArgumentError', () => {
    assert.equal(transact.StrataError, store.StrataError);
    assert.equal(transact.InvalidArgumentError, store.InvalidArgumentError);
    assert.ok(new transact.UnknownOptionError('launch()', 'x', undefined, []) instanceof store.InvalidArgumentError);
  });

  test('every exported error class extends StrataError and declares a kind from ErrorKind', () => {
    assert.ok(classes.length > 20, `found only ${classes.length} error classes`);
    for (const [name, errorClass] of classes) {
      assert.ok(errorClass === StrataError || errorClass.prototype instanceof StrataError, `${name} does not extend StrataError`);
      if (ERROR_ROOTS.has(errorClass)) continue;
      const kind = declaredKind(errorClass);
      assert.ok(ERROR_KINDS.includes(kind as ErrorKind), `${name} declares kind ${String(kind)}; give it \`override get kind(): ErrorKind\``);
    }
  });

  test('a sample of every error class transact exports has a STRATA_ code, its kind, its name and a message', () => {
    for (const [name, errorClass] of classes) {
      // store's classes are sampled by packages/store/test/errors.test.ts.
      if (ERROR_ROOTS.has(errorClass) || storeClasses.has(errorClass)) continue;
      const sample = SAMPLES[name];
      assert.ok(sample !== undefined, `${name} has no sample in this test; add one with the kind it must have`);
      const error = sample.make();
      assert.ok(error instanceof errorClass && error instanceof StrataError, name);
      assert.match((error as StrataError).code, /^STRATA_[A-Z0-9_]+$/, name);
      assert.equal((error as StrataError).kind, sample.kind, `${name}'s kind`);
      assert.equal(error.name, name);
      assert.ok(error.message.length > 0, `${name} has a message`);
    }
  });
});
