// The claim guard: claim paths run together, the adoption of orphans runs alone, and it waits for
// the claim paths in progress while new ones wait for it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClaimGuard } from '../src/engine/claim-guard.js';

/** A promise with its resolver, to hold a holder inside the guard. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test('shared holders run at once; an exclusive one waits for them, and shared ones asked later wait for it', async () => {
  const guard = new ClaimGuard();
  const order: string[] = [];
  const first = latch();
  const second = latch();
  const sharedA = guard.shared(async () => {
    order.push('A in');
    await first.promise;
    order.push('A out');
  });
  const sharedB = guard.shared(async () => {
    order.push('B in');
    await second.promise;
    order.push('B out');
  });
  await Promise.resolve();
  const exclusive = guard.exclusive(async () => {
    order.push('X in');
    await Promise.resolve();
    order.push('X out');
  });
  const later = guard.shared(async () => void order.push('C'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['A in', 'B in'], 'the exclusive holder and the later shared one wait');
  first.open();
  await sharedA;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['A in', 'B in', 'A out'], 'still waiting for B');
  second.open();
  await Promise.all([sharedB, exclusive, later]);
  assert.deepEqual(order, ['A in', 'B in', 'A out', 'B out', 'X in', 'X out', 'C']);
});

test('a failing holder releases the guard', async () => {
  const guard = new ClaimGuard();
  await assert.rejects(guard.exclusive(async () => Promise.reject(new Error('boom'))), /boom/);
  await assert.rejects(guard.shared(async () => Promise.reject(new Error('bang'))), /bang/);
  assert.equal(await guard.exclusive(async () => 'free'), 'free');
  assert.equal(await guard.shared(async () => 'free too'), 'free too');
});
