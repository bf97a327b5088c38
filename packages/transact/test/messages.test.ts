// Messages: strata.send / ctx.send into a workflow's inbox, ctx.recv out of it (FIFO per topic),
// exactly once across restarts, and woken by notifications rather than by the safety poll.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Strata, WorkflowNotFoundError, type StrataConfig } from '@strata/transact';
import { engines } from '@strata/testing';
import { delay, launchOrShutDown, PROMPT_MS, quiet, restartableApp, SAFETY_POLL_INTERVAL_MS, SETTLE_MS, uniqueId } from './helpers.js';

function registerWorkflows(strata: Strata) {
  return {
    /** Receives one message; `timeoutMs` null waits forever. */
    recvOne: strata.workflow('recv-one', async (ctx, topic: string, timeoutMs: number | null) =>
      ctx.recv<string>(topic, { timeoutMs: timeoutMs ?? Infinity }),
    ),
    /** Tells the outside it is about to wait, then waits for one message forever. */
    announcedRecv: strata.workflow('announced-recv', async (ctx) => {
      await ctx.setEvent('ready', true);
      return ctx.recv<string>('', { timeoutMs: Infinity });
    }),
    /** Receives five messages of topic 'a', then five of topic 'b'. */
    fifo: strata.workflow('fifo', async (ctx) => {
      const a: Array<string | null> = [];
      const b: Array<string | null> = [];
      for (let i = 0; i < 5; i++) a.push(await ctx.recv<string>('a', { timeoutMs: 10_000 }));
      for (let i = 0; i < 5; i++) b.push(await ctx.recv<string>('b', { timeoutMs: 10_000 }));
      return { a, b };
    }),
    /** Waits briefly on topic 'a' (only 'b' gets a message), then on 'b'. */
    twoTopics: strata.workflow('two-topics', async (ctx) => {
      const a = await ctx.recv<string>('a', { timeoutMs: 300 });
      const b = await ctx.recv<string>('b', { timeoutMs: 10_000 });
      return { a, b };
    }),
    /** Only calls recv on the default topic after a message on 'gate' arrived. */
    gatedRecv: strata.workflow('gated-recv', async (ctx) => {
      await ctx.recv('gate', { timeoutMs: Infinity });
      return ctx.recv<string>('', { timeoutMs: 10_000 });
    }),
    /** Receives once, then tries a second time briefly. */
    recvTwice: strata.workflow('recv-twice', async (ctx, topic: string) => {
      const first = await ctx.recv<string>(topic, { timeoutMs: 10_000 });
      const second = await ctx.recv<string>(topic, { timeoutMs: 300 });
      return [first, second];
    }),
    /** Sends one message to `destinationId`, then waits for 'go' before it ends. */
    sender: strata.workflow('sender', async (ctx, destinationId: string) => {
      await ctx.send(destinationId, `hello from ${ctx.workflowId}`, 'mail');
      await ctx.setEvent('sent', true);
      await ctx.recv('go', { timeoutMs: Infinity });
      return 'done';
    }),
    /** Sends to a workflow that does not exist and reports what it caught. */
    sendToMissing: strata.workflow('send-to-missing', async (ctx, destinationId: string) => {
      try {
        await ctx.send(destinationId, 'anyone there?');
        return { caught: 'nothing' };
      } catch (error) {
        return { caught: (error as Error).name, isNotFound: error instanceof WorkflowNotFoundError, code: (error as { code?: string }).code };
      }
    }),
    /** Receives one message and sends it back to `replyTo` on topic 'reply'. */
    echo: strata.workflow('echo', async (ctx, replyTo: string) => {
      const got = await ctx.recv<string>('', { timeoutMs: Infinity });
      await ctx.send(replyTo, got, 'reply');
      return got;
    }),
    /** Two recvs of one topic at once. */
    parallelRecvs: strata.workflow('parallel-recvs', async (ctx) =>
      Promise.all([ctx.recv<string>('p', { timeoutMs: 10_000 }), ctx.recv<string>('p', { timeoutMs: 10_000 })]),
    ),
    /** Receives one message, publishes it, then blocks on topic 'go'. */
    recvThenBlock: strata.workflow('recv-then-block', async (ctx) => {
      const first = await ctx.recv<string>('', { timeoutMs: Infinity });
      await ctx.setEvent('first', first);
      await ctx.recv('go', { timeoutMs: Infinity });
      return { first };
    }),
  };
}

type App = ReturnType<typeof registerWorkflows> & { readonly strata: Strata };

/** Launches an engine; a launch that takes longer than `timeoutMs` is shut down and fails. */
async function launchApp(database: string, config: Partial<StrataConfig> = {}, timeoutMs = Infinity): Promise<App> {
  const strata = new Strata({ database, logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS, ...config });
  const app = { strata, ...registerWorkflows(strata) };
  await launchOrShutDown(strata, timeoutMs);
  return app;
}

async function countMessages(strata: Strata, destinationId: string, onlyUnconsumed = false): Promise<number> {
  const { rows } = await strata.systemDatabase.query<{ n: number }>(
    `select count(*)::int as n from strata.messages where destination_id = $1 ${onlyUnconsumed ? 'and consumed_at is null' : ''}`,
    [destinationId],
  );
  return rows[0]!.n;
}

for (const kind of engines()) {
  describe(`messages (${kind})`, () => {
    const fixture = restartableApp(kind, (database, executorId, timeoutMs) => launchApp(database, { executorId }, timeoutMs));

    test('a message sent from outside is returned by the recv the workflow is blocked in', async () => {
      const handle = await fixture.app.recvOne.with({ workflowId: uniqueId('outside') }).start('', null);
      await delay(SETTLE_MS);
      await fixture.app.strata.send(handle.workflowId, 'ping');
      assert.equal(await handle.result({ timeoutMs: 5_000 }), 'ping');
    });

    test('a blocked recv is woken by the send itself, long before the safety poll', async () => {
      const handle = await fixture.app.announcedRecv.with({ workflowId: uniqueId('push') }).start();
      assert.equal(await fixture.app.strata.getEvent(handle.workflowId, 'ready', { timeoutMs: 5_000 }), true);
      await delay(SETTLE_MS);
      const sentAtMs = Date.now();
      await fixture.app.strata.send(handle.workflowId, 'wake up');
      assert.equal(await handle.result({ timeoutMs: SAFETY_POLL_INTERVAL_MS }), 'wake up');
      const wokenAfterMs = Date.now() - sentAtMs;
      assert.ok(wokenAfterMs < PROMPT_MS, `recv woke ${wokenAfterMs} ms after the send; safety poll is ${SAFETY_POLL_INTERVAL_MS} ms`);
    });

    test('messages of one topic are received in the order they were sent, whatever is sent on other topics', async () => {
      const handle = await fixture.app.fifo.with({ workflowId: uniqueId('fifo') }).start();
      for (let i = 0; i < 5; i++) {
        await fixture.app.strata.send(handle.workflowId, `a${i}`, { topic: 'a' });
        await fixture.app.strata.send(handle.workflowId, `b${i}`, { topic: 'b' });
      }
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), {
        a: ['a0', 'a1', 'a2', 'a3', 'a4'],
        b: ['b0', 'b1', 'b2', 'b3', 'b4'],
      });
    });

    test('a recv on one topic neither returns nor consumes a message of another topic', async () => {
      const handle = await fixture.app.twoTopics.with({ workflowId: uniqueId('topics') }).start();
      await fixture.app.strata.send(handle.workflowId, 'for b', { topic: 'b' });
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), { a: null, b: 'for b' });
    });

    test('recv returns null when no message arrives within its timeout', async () => {
      const handle = await fixture.app.recvOne.with({ workflowId: uniqueId('timeout') }).start('', 100);
      assert.equal(await handle.result({ timeoutMs: 5_000 }), null);
    });

    test('a message sent before the workflow calls recv is delivered to that recv', async () => {
      const handle = await fixture.app.gatedRecv.with({ workflowId: uniqueId('early') }).start();
      await fixture.app.strata.send(handle.workflowId, 'early bird');
      await fixture.app.strata.send(handle.workflowId, 'open', { topic: 'gate' });
      assert.equal(await handle.result({ timeoutMs: 10_000 }), 'early bird');
    });

    test('sending twice with the same idempotencyKey delivers the message once', async () => {
      const handle = await fixture.app.recvTwice.with({ workflowId: uniqueId('idempotent') }).start('');
      await fixture.app.strata.send(handle.workflowId, 'once', { idempotencyKey: 'request-1' });
      await fixture.app.strata.send(handle.workflowId, 'once', { idempotencyKey: 'request-1' });
      assert.deepEqual(await handle.result({ timeoutMs: 10_000 }), ['once', null]);
      assert.equal(await countMessages(fixture.app.strata, handle.workflowId), 1);
    });

    test('ctx.send delivers exactly once even when the sender is restarted after sending', async () => {
      const receiverId = uniqueId('receiver');
      const senderId = uniqueId('sender');
      await fixture.app.recvTwice.with({ workflowId: receiverId }).start('mail');
      await fixture.app.sender.with({ workflowId: senderId }).start(receiverId);
      assert.equal(await fixture.app.strata.getEvent(senderId, 'sent', { timeoutMs: 5_000 }), true);

      await fixture.restart();
      await fixture.app.strata.send(senderId, 'finish', { topic: 'go' });

      assert.equal(await fixture.app.strata.retrieve(senderId).result({ timeoutMs: 10_000 }), 'done');
      assert.deepEqual(await fixture.app.strata.retrieve(receiverId).result({ timeoutMs: 10_000 }), [`hello from ${senderId}`, null]);
      assert.equal(await countMessages(fixture.app.strata, receiverId), 1);
    });

    test('strata.send to an unknown workflow ID fails with WorkflowNotFoundError', async () => {
      await assert.rejects(fixture.app.strata.send(uniqueId('nobody'), 'hello?'), WorkflowNotFoundError);
    });

    test('ctx.send to an unknown workflow ID fails with WorkflowNotFoundError inside the workflow', async () => {
      const outcome = await fixture.app.sendToMissing.with({ workflowId: uniqueId('send-missing') }).run(uniqueId('nobody'));
      assert.deepEqual(outcome, { caught: 'WorkflowNotFoundError', isNotFound: true, code: 'STRATA_WORKFLOW_NOT_FOUND' });
    });

    test('after a restart, a replayed recv returns the recorded message and consumes no new one', async () => {
      const workflowId = uniqueId('replayed-recv');
      await fixture.app.recvThenBlock.with({ workflowId }).start();
      await fixture.app.strata.send(workflowId, 'msg1');
      assert.equal(await fixture.app.strata.getEvent(workflowId, 'first', { timeoutMs: 5_000 }), 'msg1');

      await fixture.restart();
      await fixture.app.strata.send(workflowId, 'msg2');
      await fixture.app.strata.send(workflowId, 'go', { topic: 'go' });

      assert.deepEqual(await fixture.app.strata.retrieve(workflowId).result({ timeoutMs: 10_000 }), { first: 'msg1' });
      assert.equal(await countMessages(fixture.app.strata, workflowId, true), 1, 'msg2 is still waiting in the inbox');
    });

    test('a recv whose message is already waiting records its deadline and the message in one commit', async () => {
      const handle = await fixture.app.gatedRecv.with({ workflowId: uniqueId('one-commit') }).start();
      await fixture.app.strata.send(handle.workflowId, 'waiting already');
      await fixture.app.strata.send(handle.workflowId, 'open', { topic: 'gate' });
      assert.equal(await handle.result({ timeoutMs: 10_000 }), 'waiting already');
      const { rows } = await fixture.app.strata.systemDatabase.query<{ step_id: number; kind: string; tx: string }>(
        'select step_id, kind, xmin::text as tx from strata.steps where workflow_id = $1 order by step_id',
        [handle.workflowId],
      );
      // Step 0 is the recv on 'gate' (no timeout, no deadline); then the deadline and the recv.
      assert.deepEqual(rows.map((r) => [r.step_id, r.kind]), [[0, 'recv'], [1, 'deadline'], [2, 'recv']]);
      assert.equal(rows[1]!.tx, rows[2]!.tx, 'the deadline and the received message commit in one transaction');
    });

    test('a reply records the recv that took the message and the send in one commit', async () => {
      const replyTo = await fixture.app.recvOne.with({ workflowId: uniqueId('reply-to') }).start('reply', null);
      const echo = await fixture.app.echo.with({ workflowId: uniqueId('echo') }).start(replyTo.workflowId);
      await fixture.app.strata.send(echo.workflowId, 'ping');
      assert.equal(await echo.result({ timeoutMs: 10_000 }), 'ping');
      assert.equal(await replyTo.result({ timeoutMs: 10_000 }), 'ping');
      const { rows } = await fixture.app.strata.systemDatabase.query<{ kind: string; tx: string }>(
        'select kind, xmin::text as tx from strata.steps where workflow_id = $1 order by step_id',
        [echo.workflowId],
      );
      assert.deepEqual(rows.map((r) => r.kind), ['recv', 'send']);
      assert.equal(rows[0]!.tx, rows[1]!.tx, 'the recv and the reply commit in one transaction');
      assert.equal(await countMessages(fixture.app.strata, echo.workflowId, true), 0, 'the message is consumed');
    });

    test('two recvs of one topic waiting at once take different messages', async () => {
      const handle = await fixture.app.parallelRecvs.with({ workflowId: uniqueId('parallel') }).start();
      await fixture.app.strata.send(handle.workflowId, 'first', { topic: 'p' });
      await fixture.app.strata.send(handle.workflowId, 'second', { topic: 'p' });
      const got = await handle.result({ timeoutMs: 10_000 });
      assert.deepEqual([...got].sort(), ['first', 'second'], `each message went to one recv (got ${JSON.stringify(got)})`);
      assert.equal(await countMessages(fixture.app.strata, handle.workflowId, true), 0, 'both messages are consumed');
    });

    test('a recv that keeps waiting records its deadline before any message arrives, and a restart keeps it', async () => {
      const workflowId = uniqueId('lazy-deadline');
      await fixture.app.recvOne.with({ workflowId }).start('', 60_000);
      const recorded = async () =>
        (await fixture.app.strata.systemDatabase.query<{ step_id: number; kind: string; output: string | null }>(
          'select step_id, kind, output from strata.steps where workflow_id = $1 order by step_id',
          [workflowId],
        )).rows;
      let before = await recorded();
      for (let i = 0; i < 50 && before.length === 0; i++) {
        await delay(20);
        before = await recorded();
      }
      assert.deepEqual(before.map((r) => [r.step_id, r.kind]), [[0, 'deadline']], 'the deadline is recorded while the recv waits');
      const deadline = JSON.parse(before[0]!.output!) as { json: number };
      assert.ok(Math.abs(deadline.json - (Date.now() + 60_000)) < 5_000, `deadline ${deadline.json} is about a minute away`);

      await fixture.restart();
      await fixture.app.strata.send(workflowId, 'after the restart');
      assert.equal(await fixture.app.strata.retrieve(workflowId).result({ timeoutMs: 10_000 }), 'after the restart');
      const after = await recorded();
      assert.deepEqual(after.map((r) => [r.step_id, r.kind]), [[0, 'deadline'], [1, 'recv']]);
      assert.equal(after[0]!.output, before[0]!.output, 'the recovered recv kept the recorded deadline');
    });

    if (kind === 'postgres') {
      test('a message sent by another engine on the same database wakes the recv promptly', async () => {
        const handle = await fixture.app.announcedRecv.with({ workflowId: uniqueId('cross-process') }).start();
        assert.equal(await fixture.app.strata.getEvent(handle.workflowId, 'ready', { timeoutMs: 5_000 }), true);
        const other = new Strata({ database: fixture.database, executorId: 'other-process', logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS });
        await other.launch();
        try {
          await delay(SETTLE_MS);
          const sentAtMs = Date.now();
          await other.send(handle.workflowId, 'from afar');
          assert.equal(await handle.result({ timeoutMs: SAFETY_POLL_INTERVAL_MS }), 'from afar');
          const wokenAfterMs = Date.now() - sentAtMs;
          assert.ok(wokenAfterMs < PROMPT_MS, `recv woke ${wokenAfterMs} ms after the other engine's send; safety poll is ${SAFETY_POLL_INTERVAL_MS} ms`);
        } finally {
          await other.shutdown();
        }
      });
    }
  });
}
