// Engine and client calls made from workflow code: recorded as the workflow's own durable
// operations (send, getEvent, a result), so a recovered workflow does not repeat them, or refused
// with an error that names the ctx method to use. Inside a step, any call is allowed.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { InvalidArgumentError, Strata, StrataClient } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { countRows, launchWithin, quiet, uniqueId, waitFor } from './helpers.js';

for (const kind of engines()) {
  describe(`engine calls from workflow code (${kind})`, () => {
    const live: Strata[] = [];
    after(async () => {
      for (const strata of live) await strata.shutdown();
    });

    test('strata.send, strata.getEvent and retrieve(id).result() are recorded as steps; a restarted workflow does not send again', async () => {
      const database = await freshDatabaseUrl(kind);
      const executorId = uniqueId('calls');
      const build = () => {
        const strata = new Strata({ database, executorId, logger: quiet });
        live.push(strata);
        const inbox = strata.workflow('inbox', async (ctx) => {
          await ctx.setEvent('ready', 'yes');
          return ctx.recv('note', { timeoutMs: 60_000 });
        });
        const caller = strata.workflow('caller', async (ctx, inboxId: string) => {
          const ready = await strata.getEvent<string>(inboxId, 'ready', { timeoutMs: 30_000 });
          await strata.send(inboxId, `hello (${ready})`, { topic: 'note' });
          const received = await strata.retrieve<string>(inboxId).result();
          await ctx.recv('finish', { timeoutMs: 60_000 }); // a restart happens while it waits here
          return received;
        });
        return { strata, inbox, caller };
      };
      const first = build();
      await launchWithin(first.strata);
      const inboxId = uniqueId('inbox');
      const callerId = uniqueId('caller');
      await first.inbox.with({ workflowId: inboxId }).start();
      await first.caller.with({ workflowId: callerId }).start(inboxId);
      assert.equal(await first.strata.retrieve(inboxId).result({ timeoutMs: 30_000 }), 'hello (yes)');
      const db = first.strata.systemDatabase;
      // The caller records the result just after the inbox ends: wait for it to reach its recv.
      await waitFor('the caller to record the result', async () => (await countRows(db, `select 1 from strata.steps where workflow_id = $1 and kind = 'child_result'`, [callerId])) === 1);
      const kinds = await db.query<{ kind: string }>('select kind from strata.steps where workflow_id = $1 order by step_id', [callerId]);
      assert.deepEqual(
        kinds.rows.map((row) => row.kind).slice(0, 4),
        ['deadline', 'get_event', 'send', 'child_result'],
        'getEvent, send and the result are durable operations of the calling workflow',
      );
      await first.strata.shutdown();

      // A restart replays the caller: its send is recorded, so the message is not sent again.
      const second = build();
      await launchWithin(second.strata);
      await second.strata.send(callerId, 'go', { topic: 'finish' });
      assert.equal(await second.strata.retrieve(callerId).result({ timeoutMs: 30_000 }), 'hello (yes)');
      assert.equal(await countRows(second.strata.systemDatabase, 'select 1 from strata.messages where destination_id = $1', [inboxId]), 1, 'one message, however often the caller ran');
    });

    test('calls that cannot be recorded are refused with the ctx method to use; inside a step they are allowed', async () => {
      const database = await freshDatabaseUrl(kind);
      const strata = new Strata({ database, logger: quiet });
      live.push(strata);
      const target = strata.workflow('target', async (ctx) => ctx.recv('never', { timeoutMs: 60_000 }));
      const refusals = strata.workflow('refusals', async (ctx, targetId: string) => {
        const messages: string[] = [];
        const attempt = async (call: () => unknown) => {
          try {
            await call();
            messages.push('allowed');
          } catch (error) {
            assert.ok(error instanceof InvalidArgumentError, `a refusal is an InvalidArgumentError, got ${String(error)}`);
            messages.push((error as Error).message);
          }
        };
        await attempt(() => strata.cancel(targetId));
        await attempt(() => strata.retrieve(targetId).status());
        await attempt(() => strata.workflows);
        await attempt(() => strata.send(targetId, 'x', { idempotencyKey: 'k' }));
        // Inside a step the same call runs (a step may run again until its checkpoint commits).
        const status = await ctx.step('status', async () => (await strata.retrieve(targetId).status()).status);
        messages.push(`in a step: ${status}`);
        await ctx.step('cancel', () => strata.cancel(targetId));
        return messages;
      });
      await launchWithin(strata);
      const targetId = uniqueId('target');
      await target.with({ workflowId: targetId }).start();
      const messages = await strata.retrieve<string[]>((await refusals.start(targetId)).workflowId).result({ timeoutMs: 30_000 });
      assert.match(messages[0]!, /strata\.cancel\(\).*ctx\.step/);
      assert.match(messages[1]!, /handle\.status\(\).*ctx\.step/);
      assert.match(messages[2]!, /strata\.workflows.*ctx\.step/);
      assert.match(messages[3]!, /idempotencyKey.*ctx\.send/);
      assert.equal(messages[4], 'in a step: PENDING');
      assert.equal((await strata.retrieve(targetId).status()).status, 'CANCELLED', 'the cancel inside a step ran');
    });

    test('a StrataClient called from workflow code is refused, naming the ctx methods', async (t) => {
      if (kind === 'pglite') return t.skip('StrataClient needs a server: an embedded directory is open in one process');
      const database = await freshDatabaseUrl(kind);
      const strata = new Strata({ database, logger: quiet });
      live.push(strata);
      const client = await StrataClient.connect({ database });
      t.after(() => client.close());
      const usesClient = strata.workflow('uses-client', async () => {
        try {
          await client.send('anyone', 'x');
          return 'allowed';
        } catch (error) {
          return `${(error as Error).name}: ${(error as Error).message}`;
        }
      });
      await launchWithin(strata);
      const outcome = await usesClient.run();
      assert.match(outcome, /^InvalidArgumentError: .*StrataClient.*ctx\.send/);
    });
  });
}
