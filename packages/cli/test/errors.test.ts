// The one mapping from a library error's kind to the exit code a script sees (src/errors.ts), with
// a real error of each kind from @strata/store and @strata/transact.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatabaseLockedError, DatabaseUnreachableError, ERROR_KINDS, InvalidDatabaseUrlError, TransactionConflictError } from '@strata/store';
import { InvalidArgumentError, UnknownQueueError, WorkflowConflictError, WorkflowNotFoundError, WorkflowStateError } from '@strata/transact';
import { CliError, EXIT_CODE_BY_KIND, ExitCode, UsageError, exitCodeOf } from '../src/errors.js';

describe('exit codes of library errors', () => {
  test('each kind has an exit code, and the codes are the documented ones', () => {
    assert.deepEqual(Object.keys(EXIT_CODE_BY_KIND).sort(), [...ERROR_KINDS].sort());
    assert.deepEqual(EXIT_CODE_BY_KIND, {
      'invalid-argument': 2,
      'not-found': 3,
      conflict: 4,
      'failed-precondition': 4,
      unavailable: 5,
      internal: 1,
    });
  });

  const cases: Array<[string, unknown, number]> = [
    ['invalid-argument: a bad argument', new InvalidArgumentError('limit must be at least 1'), ExitCode.usage],
    ['invalid-argument: a bad database URL', new InvalidDatabaseUrlError('"postgres:/x" is not a URL'), ExitCode.usage],
    ['not-found: an unknown workflow ID', new WorkflowNotFoundError('w-1'), ExitCode.notFound],
    ['not-found: an unknown queue', new UnknownQueueError('emails', []), ExitCode.notFound],
    ['conflict: a workflow ID of another workflow', new WorkflowConflictError('w-1', 'a', 'b'), ExitCode.state],
    ['conflict: a transaction that kept conflicting', new TransactionConflictError(5, new Error('40001')), ExitCode.state],
    ['failed-precondition: cancelling a finished workflow', new WorkflowStateError('w-1', 'SUCCESS', 'finished'), ExitCode.state],
    ['failed-precondition: an embedded directory held by another process', new DatabaseLockedError('held by pid 1'), ExitCode.state],
    ['unavailable: an unreachable database', new DatabaseUnreachableError('connection refused'), ExitCode.unavailable],
    ['a Strata error from another copy of the package (by kind, not class)', Object.assign(new Error('gone'), { code: 'STRATA_X', kind: 'not-found' }), ExitCode.notFound],
    ['a database refusing a value (SQLSTATE class 22)', Object.assign(new Error('invalid byte sequence'), { code: '22021' }), ExitCode.usage],
    ['any other error', new Error('boom'), ExitCode.failed],
    ['a thrown string', 'boom', ExitCode.failed],
    ["the CLI's own usage error", new UsageError('--limit must be a whole number'), ExitCode.usage],
    ["the CLI's own error with its code", new CliError('diverged'), ExitCode.failed],
  ];
  for (const [what, error, expected] of cases) {
    test(`${what} exits ${expected}`, () => {
      assert.equal(exitCodeOf(error), expected);
    });
  }
});
