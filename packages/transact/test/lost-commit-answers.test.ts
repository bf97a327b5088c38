// One lost connection at the wrong write, and nothing else failing: a write whose COMMIT was lost
// (or whose answer was lost after it committed) must not leave a workflow PENDING in a live
// process. Each test injects exactly one such fault (or two, for the race) with
// @strata/testing's faultyDatabase, matched to one statement, so no other fault (a heartbeat's,
// say) can make the engine look again by chance: the workflow finishes promptly or never.
// Found by faults.test.ts, where such a workflow waited for an unrelated fault's resync (a run of
// 65 s instead of 16, and once over its 120-s bound).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import { Strata } from '@strata/transact';
import { engines, faultyDatabase, freshDatabaseUrl, type FaultPlan, type FaultyDatabase } from '@strata/testing';
import { delay, launchWithin, quiet, WAIT_MS } from './helpers.js';

/** Far longer than a healthy run of any test here (well under a second); a stranded workflow never ends. */
const FINISH_BOUND_MS = 15_000;
/** A safety poll that does not come during a test. */
const QUIET_POLL_MS = 600_000;
/** Enqueues before a claim meets its fault (the first nearly always does). */
const MAX_ENQUEUES = 5;
/** Seed of the fault streams: every rule here has probability 1, so the seed chooses nothing. */
const SEED = 1;

for (const kind of engines()) {
  describe(`a lost commit or answer leaves no workflow behind (${kind})`, () => {
    const opened: Database[] = [];
    after(async () => {
      for (const db of opened) await db.close().catch(() => {});
    });

    /** An engine on a fresh database whose faults start once it launched. */
    async function faultyEngine(faults: FaultPlan, safetyPollIntervalMs = 500): Promise<{ db: FaultyDatabase; strata: Strata; ran: Map<string, number> }> {
      const inner = await openDatabase(await freshDatabaseUrl(kind));
      opened.push(inner);
      const db = faultyDatabase(inner, { seed: SEED, faults });
      db.setEnabled(false);
      const strata = new Strata({ database: db, logger: quiet, safetyPollIntervalMs });
      return { db, strata, ran: new Map() };
    }

    async function finishes<T>(db: FaultyDatabase, result: Promise<T>): Promise<T> {
      try {
        return await result;
      } catch (error) {
        process.stderr.write(`${db.formatLog()}\n`);
        throw error;
      }
    }

    /**
     * Enqueues workflows one at a time (`queued-1`, `queued-2`, …), each finishing with `expected`,
     * until the fault has hit a claim; returns their IDs. On a loaded machine the claim that takes
     * the first one can be a pass begun before the faults were on (its statement queued for a
     * connection until after the enqueue committed): the next enqueue meets the fault.
     */
    async function enqueueUntilFaulted(db: FaultyDatabase, enqueue: (workflowId: string) => Promise<{ result: (options: { timeoutMs: number }) => Promise<unknown> }>, expected: unknown): Promise<string[]> {
      const ids: string[] = [];
      for (let n = 1; n <= MAX_ENQUEUES && db.log.length === 0; n++) {
        const workflowId = `queued-${n}`;
        ids.push(workflowId);
        const handle = await enqueue(workflowId);
        assert.equal(await finishes(db, handle.result({ timeoutMs: FINISH_BOUND_MS })), expected);
      }
      return ids;
    }

    for (const fault of ['lostBeforeCommit', 'ambiguousCommit'] as const) {
      test(`a child's start that meets ${fault}: the parent goes on, the child runs once`, async () => {
        // The child's row and the parent's start_child step commit in one transaction.
        const { db, strata, ran } = await faultyEngine({ [fault]: { probability: 1, maxCount: 1, match: /insert into strata\.workflows/ } });
        const child = strata.workflow('child', async (ctx, n: number) => {
          await ctx.step('count', () => ran.set(ctx.workflowId, (ran.get(ctx.workflowId) ?? 0) + 1));
          return n * 2;
        });
        const parent = strata.workflow('parent', async (ctx) => ctx.runChild(child.with({ workflowId: `${ctx.workflowId}-child` }), 21));
        await launchWithin(strata);
        try {
          const handle = await parent.with({ workflowId: 'parent' }).start();
          db.setEnabled(true);
          assert.equal(await finishes(db, handle.result({ timeoutMs: FINISH_BOUND_MS })), 42);
          assert.deepEqual(db.log.map((entry) => entry.kind), [fault], 'the fault hit the child start');
          assert.deepEqual([...ran], [['parent-child', 1]], 'the child ran once');
        } finally {
          db.setEnabled(false);
          await strata.shutdown();
        }
      });
    }

    const queueClaims: ReadonlyArray<{ readonly what: string; readonly how: string; readonly kind: 'ambiguousCommit' | 'queryConnectionLost'; readonly faults: FaultPlan; readonly concurrency?: number }> = [
      {
        what: 'whose COMMIT answer is lost',
        // A queue with a global limit is claimed in a transaction; its update names the ENQUEUED rows.
        how: 'limited',
        kind: 'ambiguousCommit',
        faults: { ambiguousCommit: { probability: 1, maxCount: 1, match: /w\.status = 'ENQUEUED'/ } },
        concurrency: 2,
      },
      {
        what: 'whose statement commits but loses its answer',
        // A queue without global limits is claimed in one statement.
        how: 'unlimited',
        kind: 'queryConnectionLost',
        faults: { queryConnectionLost: { probability: 1, maxCount: 1, phase: 'after', match: /with claimed as/ } },
      },
    ];
    for (const claim of queueClaims) {
      test(`a queue claim ${claim.what}: the claimed workflow runs`, async () => {
        // No safety poll during the test: its empty claims could take the fault instead.
        const { db, strata, ran } = await faultyEngine(claim.faults, QUIET_POLL_MS);
        const queue = strata.queue(claim.how, claim.concurrency === undefined ? {} : { concurrency: claim.concurrency });
        const queued = strata.workflow('queued', async (ctx, n: number) => {
          await ctx.step('count', () => ran.set(ctx.workflowId, (ran.get(ctx.workflowId) ?? 0) + 1));
          return n + 1;
        });
        await launchWithin(strata);
        try {
          db.setEnabled(true);
          const ids = await enqueueUntilFaulted(db, (workflowId) => queue.enqueue(queued.with({ workflowId }), 1), 2);
          assert.deepEqual(db.log.map((entry) => entry.kind), [claim.kind], 'the fault hit the claim');
          assert.deepEqual([...ran], ids.map((id) => [id, 1]), 'each ran once');
        } finally {
          db.setEnabled(false);
          await strata.shutdown();
        }
      });
    }

    test('an orphan made while a search for orphans is under way is adopted too', async () => {
      // Two starts commit but lose their answers; the search the first one causes is held (a slow
      // read of its orphan's steps) until the second start committed, after the search's list was read.
      const { db, strata, ran } = await faultyEngine({
        queryConnectionLost: { probability: 1, maxCount: 2, phase: 'after', match: /insert into strata\.workflows/ },
        slowStatement: { probability: 1, maxCount: 1, minDelayMs: 1_000, maxDelayMs: 1_000, match: /from strata\.steps\s+where workflow_id = any/ },
      });
      const work = strata.workflow('work', async (ctx) => {
        await ctx.step('count', () => ran.set(ctx.workflowId, (ran.get(ctx.workflowId) ?? 0) + 1));
        return ctx.workflowId;
      });
      await launchWithin(strata);
      try {
        db.setEnabled(true);
        await assert.rejects(work.with({ workflowId: 'first' }).start(), (error: { retryable?: unknown }) => error.retryable === true);
        // The search for orphans found "first" and is reading its steps (slowly) when "second" commits.
        const deadline = Date.now() + WAIT_MS;
        while (!db.log.some((entry) => entry.kind === 'slowStatement')) {
          assert.ok(Date.now() < deadline, 'the search for orphans began');
          await delay(5);
        }
        await assert.rejects(work.with({ workflowId: 'second' }).start(), (error: { retryable?: unknown }) => error.retryable === true);
        const results = await finishes(
          db,
          Promise.all(['first', 'second'].map((id) => strata.retrieve<string>(id).result({ timeoutMs: FINISH_BOUND_MS }))),
        );
        assert.deepEqual(results, ['first', 'second']);
        assert.deepEqual(
          db.log.map((entry) => entry.kind),
          ['queryConnectionLost', 'slowStatement', 'queryConnectionLost'],
          'the second start lost its answer while the search was held',
        );
        assert.deepEqual([...ran].sort(), [['first', 1], ['second', 1]], 'each ran once');
      } finally {
        db.setEnabled(false);
        await strata.shutdown();
      }
    });
  });
}
