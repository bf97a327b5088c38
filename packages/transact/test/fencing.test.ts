// Fencing: an execution whose workflow was taken over (another executor, or a later registration
// of the same executor ID, owns it now) commits nothing for it — no checkpoint, no transaction's
// effect, no message, no end — and stops; the new owner runs the workflow to its end once.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Strata, WorkflowTakenOverError } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { countRows, launchWithin, quiet, uniqueId, waitFor } from './helpers.js';

/** Releases the gates the first execution waits at. */
class Gate {
  readonly opened: Promise<void>;
  open!: () => void;
  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }
}

for (const kind of engines()) {
  describe(`fencing (${kind})`, () => {
    const live = new Set<Strata>();
    afterEach(async () => {
      for (const strata of live) await strata.shutdown({ timeoutMs: 0 });
      live.clear();
    });

    /** A workflow: a gated step, a transaction writing an app row, a send, then its end. */
    function app(database: string, executorId: string, gate: Gate | undefined, entered: string[], errors: unknown[]) {
      const strata = new Strata({ database, executorId, logger: quiet });
      live.add(strata);
      const sink = strata.workflow('sink', async (ctx) => ctx.recv('note', { timeoutMs: 60_000 }));
      const work = strata.workflow('work', async (ctx, sinkId: string) => {
        try {
          const value = await ctx.step('gated', async () => {
            entered.push(`${executorId}:gated`);
            await gate?.opened;
            return `gated by ${executorId}`;
          });
          await ctx.transaction('effect', (tx) => tx.query('insert into fenced_effects (workflow_id, executor_id) values ($1, $2)', [ctx.workflowId, executorId]));
          await ctx.send(sinkId, value, 'note');
          return value;
        } catch (error) {
          errors.push(error);
          throw error;
        }
      });
      return { strata, sink, work };
    }

    test('a stale execution commits nothing for a workflow taken over while its step ran, and the new owner finishes it once', async () => {
      const database = await freshDatabaseUrl(kind);
      const workflowId = uniqueId('fenced');
      const sinkId = uniqueId('sink');
      const gate = new Gate();
      const entered: string[] = [];
      const staleErrors: unknown[] = [];

      const first = app(database, 'stale', gate, entered, staleErrors);
      await launchWithin(first.strata);
      const db = first.strata.systemDatabase;
      await db.exec('create table if not exists fenced_effects (workflow_id text not null, executor_id text not null)');
      await first.sink.with({ workflowId: sinkId }).start();
      await first.work.with({ workflowId }).start(sinkId);
      await waitFor('the step to start on the stale executor', async () => entered.includes('stale:gated'));

      // The takeover, as a survivor's does it: the workflow now belongs to another executor's registration.
      await db.query(`update strata.workflows set executor_id = 'survivor', executor_epoch = 1 where workflow_id = $1`, [workflowId]);
      gate.open();
      await waitFor('the stale execution to stop', async () => staleErrors.length > 0);
      assert.ok(staleErrors[0] instanceof WorkflowTakenOverError, `the stale execution stops with WorkflowTakenOverError, got ${String(staleErrors[0])}`);
      assert.equal((staleErrors[0] as WorkflowTakenOverError).code, 'STRATA_WORKFLOW_TAKEN_OVER');

      assert.equal(await countRows(db, 'select 1 from strata.steps where workflow_id = $1', [workflowId]), 0, 'no checkpoint of the stale execution');
      assert.equal(await countRows(db, 'select 1 from fenced_effects where workflow_id = $1', [workflowId]), 0, 'no transaction effect');
      assert.equal(await countRows(db, 'select 1 from strata.messages where destination_id = $1', [sinkId]), 0, 'no message');
      const { rows } = await db.query<{ status: string; executor_id: string }>('select status, executor_id from strata.workflows where workflow_id = $1', [workflowId]);
      assert.deepEqual(rows[0], { status: 'PENDING', executor_id: 'survivor' }, 'the end was not written either');
      await first.strata.shutdown();
      live.delete(first.strata);

      // The survivor's registration claims it (a new epoch) and runs it to its end, once.
      const survivorErrors: unknown[] = [];
      const second = app(database, 'survivor', undefined, entered, survivorErrors);
      await launchWithin(second.strata);
      assert.equal(await second.strata.retrieve(workflowId).result({ timeoutMs: 30_000 }), 'gated by survivor');
      assert.equal(await second.strata.retrieve(sinkId).result({ timeoutMs: 30_000 }), 'gated by survivor');
      const db2 = second.strata.systemDatabase;
      assert.deepEqual(
        (await db2.query<{ executor_id: string }>('select executor_id from fenced_effects where workflow_id = $1', [workflowId])).rows,
        [{ executor_id: 'survivor' }],
        'the transaction committed once, by the new owner',
      );
      assert.deepEqual(entered, ['stale:gated', 'survivor:gated']);
      assert.deepEqual(survivorErrors, []);
    });

    test('a registration of the same executor ID in another process fences the previous one: its epoch moved on', async () => {
      const database = await freshDatabaseUrl(kind);
      const workflowId = uniqueId('epoch');
      const sinkId = uniqueId('sink');
      const gate = new Gate();
      const entered: string[] = [];
      const errors: unknown[] = [];
      const first = app(database, 'same-id', gate, entered, errors);
      await launchWithin(first.strata);
      const db = first.strata.systemDatabase;
      await db.exec('create table if not exists fenced_effects (workflow_id text not null, executor_id text not null)');
      await first.sink.with({ workflowId: sinkId }).start();
      await first.work.with({ workflowId }).start(sinkId);
      await waitFor('the step to start', async () => entered.includes('same-id:gated'));
      const { rows } = await db.query<{ epoch: string }>(`select epoch::text from strata.executors where executor_id = 'same-id'`);
      const epoch = Number(rows[0]!.epoch);
      // A later registration of 'same-id' (a restarted process) claimed it with the next epoch.
      await db.query(`update strata.executors set epoch = epoch + 1 where executor_id = 'same-id'`);
      await db.query(`update strata.workflows set executor_epoch = $2 where workflow_id = $1`, [workflowId, epoch + 1]);
      gate.open();
      await waitFor('the stale execution to stop', async () => errors.length > 0);
      assert.ok(errors[0] instanceof WorkflowTakenOverError, `stopped with WorkflowTakenOverError, got ${String(errors[0])}`);
      assert.equal(await countRows(db, 'select 1 from strata.steps where workflow_id = $1', [workflowId]), 0, 'no checkpoint of the stale epoch');
    });
  });
}
