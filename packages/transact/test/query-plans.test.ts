// Query plans of the fenced writes: a checkpoint, a batch of checkpoints, a workflow's end, a
// recorded recv and a send each find their workflow row by primary key, whatever else is pending.
// Written with three equalities, the partial index workflows_pending (executor_id, …) matched too,
// and on a young table the planner took it: every checkpoint then walked every pending workflow of
// its executor (sql/owned-by.ts). EXPLAIN runs each statement's real text with real parameters.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database, Queryable, QueryResult, Row } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { Strata } from '@strata/transact';
import { completeWorkflows, insertStepInTransaction, insertSteps, recordTaken, sendAsStep, type NewStep } from '../src/sql/index.js';
import { launchWithin, quiet, waitFor } from './helpers.js';

/** The scans of `relation` in a plan (EXPLAIN's JSON): each as its node type and index, if any. */
function scansOf(relation: string, node: Record<string, unknown>, into: string[] = []): string[] {
  if (node['Relation Name'] === relation && String(node['Node Type']).endsWith('Scan')) into.push(`${String(node['Node Type'])}${node['Index Name'] ? ` using ${String(node['Index Name'])}` : ''}`);
  for (const child of (node['Plans'] as Array<Record<string, unknown>> | undefined) ?? []) scansOf(relation, child, into);
  return into;
}

/** A Queryable that explains each statement instead of running it, and keeps the plans. */
function explaining(db: Database, plans: Array<Record<string, unknown>>): Queryable {
  return {
    async query<R extends Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(`explain (format json) ${sql}`, params);
      const plan = rows[0]!['QUERY PLAN'];
      plans.push(((typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
      // One empty row: the callers read a count from the first row (undefined here: nothing written).
      return { rows: [{}], rowCount: 0 } as unknown as QueryResult<R>;
    },
  } as Queryable;
}

for (const kind of engines()) {
  describe(`query plans of fenced writes (${kind})`, () => {
    let strata: Strata;
    let owner: { id: string; executorId: string; epoch: number };
    before(async () => {
      strata = new Strata({ database: await freshDatabaseUrl(kind), logger: quiet });
      const parked = strata.workflow('parked', async (ctx) => ctx.sleep(3_600_000));
      await launchWithin(strata);
      // Enough pending workflows of one executor that walking them would show, few enough to stay quick.
      const ids = await Promise.all(Array.from({ length: 50 }, async () => (await parked.start()).workflowId));
      await waitFor('the parked workflows to be PENDING', async () => {
        const { rows } = await strata.systemDatabase.query<{ n: string }>(`select count(*) as n from strata.workflows where workflow_id = any($1) and status = 'PENDING'`, [ids]);
        return Number(rows[0]!.n) === ids.length;
      });
      const { rows } = await strata.systemDatabase.query<{ executor_id: string; executor_epoch: string }>(`select executor_id, executor_epoch from strata.workflows where workflow_id = $1`, [ids[0]]);
      owner = { id: ids[0]!, executorId: rows[0]!.executor_id, epoch: Number(rows[0]!.executor_epoch) };
    });
    after(() => strata.shutdown({ timeoutMs: 0 }));

    const step = (stepId: number): NewStep => ({
      workflowId: owner.id, stepId, name: 'a', kind: 'step', output: '1', error: null, childWorkflowId: null, attempts: 1, startedAt: new Date(), executorId: owner.executorId, epoch: owner.epoch,
    });

    const statements: Record<string, (db: Queryable) => Promise<unknown>> = {
      'a checkpoint': (db) => insertStepInTransaction(db, step(1_000)),
      'a batch of checkpoints': (db) => insertSteps(db, [step(1_001), step(1_002)]),
      "a workflow's end": (db) => completeWorkflows(db, [{ workflowId: owner.id, status: 'SUCCESS', output: '1', error: null, executorId: owner.executorId, epoch: owner.epoch }], null),
      'a recorded recv': (db) => recordTaken(db, { messageId: '1', steps: [step(1_003)] }),
      'a send': (db) => sendAsStep(db, step(1_004), owner.id, 'topic', '1', 'test_channel'),
    };
    for (const [what, run] of Object.entries(statements)) {
      test(`${what} finds its workflow by primary key, not by the executor's pending workflows`, async () => {
        const plans: Array<Record<string, unknown>> = [];
        await run(explaining(strata.systemDatabase, plans));
        assert.ok(plans.length > 0, 'the statement was explained');
        const scans = plans.flatMap((plan) => scansOf('workflows', plan));
        assert.ok(scans.length > 0, `the statement reads strata.workflows: ${JSON.stringify(plans)}`);
        assert.deepEqual(scans, scans.map(() => 'Index Scan using workflows_pkey'), `scans of strata.workflows: ${JSON.stringify(plans)}`);
      });
    }
  });
}
