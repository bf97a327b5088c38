import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, openDatabase, type Database, type NotificationMode } from '@strata/store';
import { engines, freshPostgresUrl } from '@strata/testing';
import { sleep, waitFor } from './helpers.js';

/** How long a listener may take to hear a committed notification before a test calls it lost. */
const DELIVERY_TIMEOUT_MS = 3_000;
/** Poll interval used by every polling-mode database in this file. */
const POLL_INTERVAL_MS = 20;

/** Subscribes to `channel` and collects every payload it hears. */
async function collect(db: Database, channel: string): Promise<{ payloads: string[]; close: () => Promise<void> }> {
  const payloads: string[] = [];
  const subscription = await db.listen(channel, (payload) => payloads.push(payload));
  return { payloads, close: () => subscription.close() };
}

/** Sends a marker after `what` and waits for it, so anything sent before it has had its chance to arrive. */
async function flush(db: Database, channel: string, payloads: readonly string[]): Promise<void> {
  const marker = `marker-${Math.random()}`;
  await db.notify(channel, marker);
  await waitFor(() => payloads.includes(marker), `marker on ${channel}`, DELIVERY_TIMEOUT_MS);
}

for (const kind of engines()) {
  describe(`notifications on ${kind}`, () => {
    const dbs = {} as Record<NotificationMode, Database>;
    before(async () => {
      const open = async (notifications: NotificationMode) => {
        const url = kind === 'postgres' ? await freshPostgresUrl() : 'memory://';
        return openDatabase({ url, notifications, pollIntervalMs: POLL_INTERVAL_MS });
      };
      // PGlite opens take seconds; open both modes' databases side by side.
      [dbs.listen, dbs.poll] = await Promise.all([open('listen'), open('poll')]);
    });
    after(async () => {
      await Promise.all(Object.values(dbs).map((db) => db.close()));
    });

    test('notificationMode reports the mode each database was opened with', () => {
      assert.equal(dbs.listen.notificationMode, 'listen');
      assert.equal(dbs.poll.notificationMode, 'poll');
    });

    for (const mode of ['listen', 'poll'] as const) {
      describe(`${mode} mode`, () => {
        test('a listener receives the payloads sent with notify, in order', async () => {
          const db = dbs[mode];
          const heard = await collect(db, 'greetings');
          try {
            await db.notify('greetings', 'hello');
            await db.notify('greetings', 'world');
            await db.notify('greetings', '');
            await waitFor(() => heard.payloads.length >= 3, 'three payloads', DELIVERY_TIMEOUT_MS);
            assert.deepEqual(heard.payloads, ['hello', 'world', '']);
          } finally {
            await heard.close();
          }
        });

        test('a listener does not hear notifications of other channels', async () => {
          const db = dbs[mode];
          const heard = await collect(db, 'only_mine');
          try {
            await db.notify('someone_elses', 'not for you');
            await flush(db, 'only_mine', heard.payloads);
            assert.equal(heard.payloads.length, 1);
            assert.match(heard.payloads[0]!, /^marker-/);
          } finally {
            await heard.close();
          }
        });

        test('a notify inside a transaction is delivered after the commit, not while the transaction is open', async () => {
          const db = dbs[mode];
          const heard = await collect(db, 'committed');
          try {
            await db.transaction(async (tx) => {
              await tx.notify('committed', 'after commit');
              if (kind === 'postgres') {
                // The listener sits on another connection (LISTEN client, or the poller's pooled connection).
                await sleep(POLL_INTERVAL_MS * 8);
                assert.deepEqual(heard.payloads, [], 'delivered before the commit');
              }
            });
            await waitFor(() => heard.payloads.length > 0, 'the committed notification', DELIVERY_TIMEOUT_MS);
            assert.deepEqual(heard.payloads, ['after commit']);
          } finally {
            await heard.close();
          }
        });

        test('a notify inside a transaction that rolls back is never delivered', async () => {
          const db = dbs[mode];
          const heard = await collect(db, 'rolled_back');
          try {
            await assert.rejects(
              db.transaction(async (tx) => {
                await tx.notify('rolled_back', 'lost');
                throw new Error('abort the transaction');
              }),
              /abort the transaction/,
            );
            await flush(db, 'rolled_back', heard.payloads);
            await sleep(POLL_INTERVAL_MS * 3);
            assert.equal(heard.payloads.includes('lost'), false);
            assert.equal(heard.payloads.length, 1);
          } finally {
            await heard.close();
          }
        });

        test('subscription.close() stops delivery to that handler only', async () => {
          const db = dbs[mode];
          const closed = await collect(db, 'closing');
          const open = await collect(db, 'closing');
          try {
            await db.notify('closing', 'both');
            await waitFor(() => closed.payloads.length === 1 && open.payloads.length === 1, 'both handlers', DELIVERY_TIMEOUT_MS);
            await closed.close();
            await db.notify('closing', 'one');
            await flush(db, 'closing', open.payloads);
            assert.deepEqual(closed.payloads, ['both']);
            assert.deepEqual(open.payloads.slice(0, 2), ['both', 'one']);
          } finally {
            await open.close();
          }
        });

        test('invalid channel names are rejected with InvalidArgumentError', async () => {
          const db = dbs[mode];
          for (const channel of ['Bad-Name', '', 'a'.repeat(64), 'x'.repeat(70), '1starts_with_digit', 'semi;colon']) {
            await assert.rejects(db.listen(channel, () => {}), InvalidArgumentError, `listen ${JSON.stringify(channel)}`);
            await assert.rejects(db.notify(channel, 'x'), InvalidArgumentError, `notify ${JSON.stringify(channel)}`);
            await assert.rejects(
              db.transaction((tx) => tx.notify(channel, 'x')),
              InvalidArgumentError,
              `tx.notify ${JSON.stringify(channel)}`,
            );
          }
          // The longest valid name (63 characters) works.
          const heard = await collect(db, 'a'.repeat(63));
          try {
            await db.notify('a'.repeat(63), 'long');
            await waitFor(() => heard.payloads.length === 1, 'the 63-character channel', DELIVERY_TIMEOUT_MS);
          } finally {
            await heard.close();
          }
        });
      });
    }
  });
}

if (engines().includes('postgres')) {
  describe('notifications between two Database objects on one PostgreSQL database', () => {
    for (const mode of ['listen', 'poll'] as const) {
      test(`${mode} mode: the listener hears the sender's notification within a bounded time`, async () => {
        const url = await freshPostgresUrl();
        const sender = await openDatabase({ url, notifications: mode, pollIntervalMs: POLL_INTERVAL_MS });
        const listener = await openDatabase({ url, notifications: mode, pollIntervalMs: POLL_INTERVAL_MS });
        try {
          const heard = await collect(listener, 'across');
          const sentAtMs = Date.now();
          await sender.notify('across', 'direct');
          await sender.transaction((tx) => tx.notify('across', 'in a transaction'));
          await waitFor(() => heard.payloads.length >= 2, 'both notifications', 2_000);
          assert.deepEqual(heard.payloads, ['direct', 'in a transaction']);
          assert.ok(Date.now() - sentAtMs < 2_000);
          await heard.close();
        } finally {
          await Promise.all([sender.close(), listener.close()]);
        }
      });
    }

    test('poll mode: a notification from a transaction that stays open longer than 2 s is still delivered', async () => {
      const url = await freshPostgresUrl();
      const db = await openDatabase({ url, notifications: 'poll', pollIntervalMs: POLL_INTERVAL_MS });
      try {
        const heard = await collect(db, 'slow');
        const slow = db.transaction(async (tx) => {
          await tx.notify('slow', 'from the slow transaction');
          await sleep(2_600);
        });
        // While it is open, a quick notification is delivered and the poller moves on.
        await sleep(2_200);
        await db.notify('slow', 'quick');
        await waitFor(() => heard.payloads.includes('quick'), 'the quick notification', DELIVERY_TIMEOUT_MS);
        await slow;
        await flush(db, 'slow', heard.payloads);
        await sleep(POLL_INTERVAL_MS * 5);
        assert.ok(heard.payloads.includes('from the slow transaction'), `heard only ${JSON.stringify(heard.payloads)}`);
        await heard.close();
      } finally {
        await db.close();
      }
    });
  });
}
