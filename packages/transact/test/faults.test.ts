// The engine under seeded faults (@strata/testing's faultyDatabase): connections lost before
// COMMIT, ambiguous commits (committed, but the answer lost), serialization-failure bursts, lost
// and dropped notifications, slow statements and statements whose connection died. Workflows run
// through all of it in one live process; afterwards every workflow succeeded, every step's code
// ran exactly once, every transaction's effect and every message happened exactly once.
// The seed is printed; STRATA_TEST_SEED=<n> replays it.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import { Strata } from '@strata/transact';
import { engines, faultyDatabase, freshDatabaseUrl, testSeed, type FaultyDatabase } from '@strata/testing';
import { launchWithin, quiet } from './helpers.js';

/** Workflows per run: enough for faults to land on every kind of write, few enough for a quick test. */
const PAIRS = 8;
const QUEUED = 8;
/** Bound on retries of a start the test makes itself (the documented contract: repeat with the same ID). */
const MAX_START_ATTEMPTS = 50;

/** Repeats a call that failed with a retryable (connection) error, as an app would. */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if ((error as { retryable?: unknown }).retryable !== true || attempt >= MAX_START_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Every workflow not ended SUCCESS, with its recorded steps: where each one stopped, for a failure's log. */
async function unfinished(db: Database): Promise<string> {
  const workflows = await db.query<{ workflow_id: string; status: string; executor_id: string | null; executor_epoch: string | null; queue_name: string | null; recovery_attempts: number }>(
    `select workflow_id, status, executor_id, executor_epoch::text, queue_name, recovery_attempts from strata.workflows where status <> 'SUCCESS' order by workflow_id`,
  );
  const lines = [`${workflows.rows.length} workflow(s) not ended SUCCESS:`];
  for (const row of workflows.rows) {
    lines.push(`  ${row.workflow_id}: ${row.status} on ${row.executor_id}/${row.executor_epoch}${row.queue_name ? ` (queue ${row.queue_name})` : ''}, recovered ${row.recovery_attempts} time(s)`);
    const steps = await db.query<{ step_id: number; kind: string; name: string; error: string | null }>(
      'select step_id, kind, name, error from strata.steps where workflow_id = $1 order by step_id',
      [row.workflow_id],
    );
    for (const step of steps.rows) lines.push(`    #${step.step_id} ${step.kind} ${step.name}${step.error === null ? '' : ' (error)'}`);
  }
  return lines.join('\n');
}

for (const kind of engines()) {
  describe(`the engine under seeded faults (${kind})`, () => {
    const opened: Database[] = [];
    after(async () => {
      for (const db of opened) await db.close().catch(() => {});
    });

    test('every workflow succeeds; each step ran once, each transaction and each message happened once', async () => {
      const seed = testSeed(`engine under faults (${kind})`);
      const inner = await openDatabase(await freshDatabaseUrl(kind));
      opened.push(inner);
      const writes = /insert into strata\.|update strata\.|strata\.messages|app_effects/i;
      const db: FaultyDatabase = faultyDatabase(inner, {
        seed,
        faults: {
          lostBeforeCommit: { probability: 0.08, match: writes },
          ambiguousCommit: { probability: 0.08, match: writes },
          serializationBurst: { probability: 0.1, attempts: 1, attemptsMax: 3 },
          lostNotify: { probability: 0.15 },
          droppedDelivery: { probability: 0.15, signalRestored: true },
          slowStatement: { probability: 0.05, maxDelayMs: 20 },
          queryConnectionLost: { probability: 0.05, phase: 'either', match: writes },
        },
      });
      db.setEnabled(false); // launch (migrations, registration) on a healthy database

      const stepRuns = new Map<string, number>();
      const ran = (key: string) => stepRuns.set(key, (stepRuns.get(key) ?? 0) + 1);
      const strata = new Strata({ database: db, logger: quiet, safetyPollIntervalMs: 500 });
      const queue = strata.queue('faulty', { concurrency: 4 });
      const child = strata.workflow('child', async (ctx, n: number) => {
        await ctx.step('child-step', () => ran(`${ctx.workflowId}/child-step`));
        return n * 2;
      });
      const pair = strata.workflow('pair', async (ctx, partner: string, first: boolean) => {
        const a = await ctx.step('a', () => {
          ran(`${ctx.workflowId}/a`);
          return ctx.workflowId;
        });
        await ctx.transaction('effect', (tx) => tx.query('insert into app_effects (workflow_id) values ($1)', [ctx.workflowId]));
        let heard: unknown;
        if (first) {
          await ctx.send(partner, `from ${ctx.workflowId}`, 'hello');
          heard = await ctx.recv('hello', { timeoutMs: 60_000 });
        } else {
          heard = await ctx.recv('hello', { timeoutMs: 60_000 });
          await ctx.send(partner, `from ${ctx.workflowId}`, 'hello');
        }
        await ctx.setEvent('heard', heard);
        const doubled = await ctx.runChild(child.with({ workflowId: `${ctx.workflowId}-child` }), 21);
        await ctx.sleep(20);
        await ctx.step('b', () => ran(`${ctx.workflowId}/b`));
        return { a, heard, doubled };
      });
      const queued = strata.workflow('queued', async (ctx, n: number) => {
        await ctx.step('q', () => ran(`${ctx.workflowId}/q`));
        return n + 1;
      });
      await launchWithin(strata);
      await inner.exec('create table if not exists app_effects (workflow_id text not null)');
      db.setEnabled(true);

      try {
        const handles = [];
        for (let i = 0; i < PAIRS; i++) {
          const left = `pair-${i}-L`;
          const right = `pair-${i}-R`;
          // The receiving side first: the sending side's first send must find its partner.
          const rightHandle = await retrying(() => pair.with({ workflowId: right }).start(left, false));
          handles.push(await retrying(() => pair.with({ workflowId: left }).start(right, true)), rightHandle);
        }
        for (let i = 0; i < QUEUED; i++) handles.push(await retrying(() => queue.enqueue(queued.with({ workflowId: `queued-${i}` }), i)));
        const results = await Promise.all(handles.map((handle) => handle.result({ timeoutMs: 120_000 })));
        db.setEnabled(false);

        for (let i = 0; i < PAIRS; i++) {
          assert.deepEqual(results[2 * i], { a: `pair-${i}-L`, heard: `from pair-${i}-R`, doubled: 42 });
          assert.deepEqual(results[2 * i + 1], { a: `pair-${i}-R`, heard: `from pair-${i}-L`, doubled: 42 });
        }
        for (let i = 0; i < QUEUED; i++) assert.equal(results[2 * PAIRS + i], i + 1);

        for (const [key, count] of stepRuns) assert.equal(count, 1, `step ${key} ran ${count} times`);
        assert.equal(stepRuns.size, PAIRS * 2 * 3 + QUEUED, 'every step ran');
        const effects = await inner.query<{ workflow_id: string; n: number }>('select workflow_id, count(*)::int as n from app_effects group by workflow_id');
        assert.equal(effects.rows.length, PAIRS * 2, 'every transaction committed');
        for (const row of effects.rows) assert.equal(row.n, 1, `${row.workflow_id}'s transaction committed ${row.n} times`);
        const messages = await inner.query<{ n: number; consumed: number }>(`select count(*)::int as n, count(consumed_at)::int as consumed from strata.messages`);
        assert.deepEqual(messages.rows[0], { n: PAIRS * 2, consumed: PAIRS * 2 }, 'each message sent once and received once');
        const stuck = await inner.query(`select workflow_id, status from strata.workflows where status <> 'SUCCESS'`);
        assert.deepEqual(stuck.rows, [], 'every workflow (children included) ended SUCCESS');
        assert.ok(db.log.length > 0, 'faults were injected (or the test proves nothing)');
      } catch (error) {
        // Printed at failure time too: the seed line at the start may be far up a CI log.
        process.stderr.write(`engine under faults (${kind}) failed with seed ${seed} (replay with STRATA_TEST_SEED=${seed})\n`);
        process.stderr.write(`${await unfinished(inner).catch((readError: unknown) => `(could not read the unfinished workflows: ${String(readError)})`)}\n`);
        process.stderr.write(`${db.formatLog()}\n`);
        throw error;
      } finally {
        db.setEnabled(false);
        await strata.shutdown();
      }
    });
  });
}
