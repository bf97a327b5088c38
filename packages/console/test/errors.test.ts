// The one mapping from a Strata error's kind to the HTTP status the console's API answers with
// (src/errors.ts), with a real error of each kind from @strata/store and @strata/transact.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatabaseClosedError, DatabaseLockedError, ERROR_KINDS, MigrationError, TransactionConflictError } from '@strata/store';
import { InvalidArgumentError, NotSerializableError, ReplayIsolationError, UnknownScheduleError, WorkflowConflictError, WorkflowNotFoundError, WorkflowStateError } from '@strata/transact';
import { ConsoleRequestError, STATUS_BY_KIND, toErrorResponse } from '../src/errors.js';

describe('HTTP statuses of Strata errors', () => {
  test('each kind has a status, and the statuses are the documented ones', () => {
    assert.deepEqual(Object.keys(STATUS_BY_KIND).sort(), [...ERROR_KINDS].sort());
    assert.deepEqual(STATUS_BY_KIND, {
      'invalid-argument': 400,
      'not-found': 404,
      conflict: 409,
      'failed-precondition': 409,
      unavailable: 503,
      internal: 500,
    });
  });

  const cases: Array<[string, Error, number]> = [
    ['invalid-argument: a bad argument', new InvalidArgumentError('limit must be at least 1'), 400],
    ['invalid-argument: a value that cannot be stored', new NotSerializableError('the input', 'args[0]', 'is a function'), 400],
    ['not-found: an unknown workflow', new WorkflowNotFoundError('w-1'), 404],
    ['not-found: an unknown schedule', new UnknownScheduleError('nightly'), 404],
    ['conflict: a workflow ID of another workflow', new WorkflowConflictError('w-1', 'a', 'b'), 409],
    ['conflict: a transaction that kept conflicting', new TransactionConflictError(5, new Error('40001')), 409],
    ['failed-precondition: cancelling a finished workflow', new WorkflowStateError('w-1', 'SUCCESS', 'it has finished'), 409],
    ['failed-precondition: an edited migration', new MigrationError('edited'), 409],
    ['unavailable: a closed database', new DatabaseClosedError('memory://'), 503],
    ['internal: a bug in Strata', new ReplayIsolationError('the database'), 500],
  ];
  for (const [what, error, status] of cases) {
    test(`${what} is ${status} with its code and message`, () => {
      const answer = toErrorResponse(error);
      assert.equal(answer.status, status);
      assert.deepEqual(answer.body, { error: { code: (error as Error & { code: string }).code, message: error.message } });
      assert.equal(answer.headers?.['Retry-After'] !== undefined, status === 503, 'Retry-After goes with 503 only');
    });
  }

  test('a locked embedded directory is 409, not a 500', () => {
    assert.equal(toErrorResponse(new DatabaseLockedError('held by pid 1')).status, 409);
  });

  test("the console's own request errors keep their status; an error that is not Strata's is a 500", () => {
    assert.equal(toErrorResponse(new ConsoleRequestError(414, 'CONSOLE_URL_TOO_LONG', 'too long')).status, 414);
    const other = toErrorResponse(new Error('boom'));
    assert.equal(other.status, 500);
    assert.equal(other.body.error.code, 'CONSOLE_INTERNAL');
  });
});
