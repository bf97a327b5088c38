// The engine's in-memory queues are bounded and its invariants stop loudly: the group-commit backlog,
// the signal waiters and the lease waiters refuse work past their bound with CapacityExceededError,
// and a group-commit flush that does not return one result per item fails every item with an InvariantError.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import { GroupCommit } from '../src/engine/group-commit.js';
import { Lease } from '../src/engine/lease.js';
import { CapacityExceededError, InvariantError } from '../src/errors.js';
import { queueKey, workflowEndedKey } from '../src/signals/keys.js';
import { Signals } from '../src/signals/signals.js';

/** A promise with its resolver, to hold a flush open. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

let db: Database;
before(async () => {
  db = await openDatabase({ url: 'memory://' });
});
after(async () => {
  await db.close();
});

test('a group-commit writer refuses an item past its backlog bound, and still writes the ones it holds, in order', async () => {
  const gate = latch();
  const flushed: number[][] = [];
  const writer = new GroupCommit<number, number>(
    async (items) => {
      await gate.promise;
      flushed.push(items);
      return items.map((item) => item * 10);
    },
    1,
    2,
  );
  const first = writer.write(1); // in flight
  const second = writer.write(2); // waiting
  const third = writer.write(3); // waiting: the backlog is full
  await assert.rejects(writer.write(4), (error: unknown) => {
    assert.ok(error instanceof CapacityExceededError);
    assert.equal(error.code, 'STRATA_CAPACITY_EXCEEDED');
    assert.match(error.message, /MAX_GROUP_COMMIT_BACKLOG/);
    return true;
  });
  gate.open();
  assert.deepEqual(await Promise.all([first, second, third]), [10, 20, 30]);
  assert.deepEqual(flushed, [[1], [2, 3]], 'the waiting items went together in one flush');
});

test('a group-commit flush that returns a result count other than its item count fails every item of the batch with an InvariantError', async () => {
  const writer = new GroupCommit<number, boolean>(async (items) => items.slice(1).map(() => true), 1);
  const outcomes = await Promise.allSettled([writer.write(1), writer.write(2)]);
  for (const outcome of outcomes) {
    assert.equal(outcome.status, 'rejected');
    assert.ok(outcome.reason instanceof InvariantError);
    assert.match(outcome.reason.message, /one result per item/);
  }
});

test('signals refuse a wait past the waiter bound, and take it again once a wait ended', async () => {
  const signals = new Signals(db, 2);
  const one = signals.arm([workflowEndedKey('a')], Infinity);
  const two = signals.arm([queueKey('emails')], Infinity);
  assert.equal(signals.waiterCount, 2);
  assert.throws(() => signals.arm([workflowEndedKey('b')], Infinity), CapacityExceededError);
  signals.wake(workflowEndedKey('a'));
  await one.fired;
  assert.equal(signals.waiterCount, 1, 'a woken wait gives its place back');
  const three = signals.arm([workflowEndedKey('b')], Infinity);
  three.cancel();
  two.cancel();
  assert.equal(signals.waiterCount, 0, 'cancelled waits give their places back');
});

test('executions waiting for a lapsed lease are bounded: one past the bound fails with CapacityExceededError', async () => {
  const lease = new Lease(
    {
      executorId: 'bounds-test',
      appVersion: 'v1',
      workflowNames: [],
      executorTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
      heartbeatDb: db,
      beating: () => false, // never renewed: every hold waits
      isRunning: () => false,
      onHeartbeat: () => {},
      onLapsed: async () => {},
      onFailure: () => {},
    },
    2,
  );
  const stop = new AbortController();
  const waiting = [lease.hold(stop.signal), lease.hold(stop.signal)];
  assert.ok(waiting.every((wait) => wait instanceof Promise), 'an unregistered executor holds no lease');
  await assert.rejects(lease.hold(stop.signal)!, CapacityExceededError);
  stop.abort(new Error('stopped'));
  for (const wait of waiting) await assert.rejects(wait!, /stopped/);
});
