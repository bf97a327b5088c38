// Operator history: every cancel, resume, restart, fork and delete records who did it in the same
// transaction as the change; a resumed workflow goes back to its own queue; every failed attempt
// of a retried step keeps its error.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, MAX_ATTEMPT_ERROR_LENGTH, Strata, StrataClient, type OperatorAction } from '@strata/transact';
import { engines, freshDatabaseUrl, startCluster } from '@strata/testing';
import { runRetention } from '../src/system/retention.js';
import { countRows, quiet, SAFETY_POLL_INTERVAL_MS, uniqueId, WAIT_MS, waitFor } from './helpers.js';

/** Workflows whose `fragile` step throws while listed here. */
const failing = new Set<string>();
/** Per workflow: how many attempts of `retried` fail before one succeeds (or the message to throw). */
const failuresBefore = new Map<string, number>();
/** Releases the second attempt of a `gated` step. */
let openGate: () => void = () => {};

function summary(actions: readonly OperatorAction[]): string[] {
  return actions.map((a) => `${a.action} by ${a.actor}`);
}

for (const kind of engines()) {
  describe(`operator history (${kind})`, () => {
    let strata: Strata;
    let client: StrataClient;

    before(async () => {
      failing.clear();
      failuresBefore.clear();
      const url = await freshDatabaseUrl(kind);
      strata = new Strata({ database: url, logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS, executorId: uniqueId('history'), appVersion: 'v1' });
      strata.workflow('fragile', async (ctx) => {
        await ctx.step('first', () => 1);
        return ctx.step('fragile', () => {
          if (failing.has(ctx.workflowId)) throw Object.assign(new Error(`fragile failed in ${ctx.workflowId}`), { code: 'E_FRAGILE' });
          return 'done';
        });
      });
      const blocked = strata.workflow('blocked', async (ctx) => ctx.recv('go', { timeoutMs: Infinity }));
      strata.workflow('parent', async (ctx) => {
        await ctx.startChild(blocked);
        return ctx.recv('go', { timeoutMs: Infinity });
      });
      strata.workflow('retried', async (ctx, message: string) =>
        ctx.step(
          'retried',
          ({ attempt }) => {
            if (attempt <= (failuresBefore.get(ctx.workflowId) ?? 0)) throw new Error(`${message} ${attempt}`);
            return attempt;
          },
          { retry: { maxAttempts: 3, intervalMs: 1 } },
        ),
      );
      strata.workflow('gated', async (ctx) =>
        ctx.step(
          'gated',
          async ({ attempt }) => {
            if (attempt === 1) throw new Error('first attempt failed');
            await new Promise<void>((resolve) => (openGate = resolve));
            return attempt;
          },
          { retry: { maxAttempts: 2, intervalMs: 1 } },
        ),
      );
      strata.workflow('plain', async (ctx) => ctx.step('plain', () => 'ok', { retry: { maxAttempts: 5 } }));
      strata.queue('limited', { concurrency: 1 });
      await strata.launch();
      client = await StrataClient.connect({ database: kind === 'pglite' ? strata.systemDatabase : url });
    });
    after(async () => {
      await client?.close();
      await strata?.shutdown({ timeoutMs: 0 });
    });

    async function failed(id: string, options: { queue?: string; priority?: number } = {}): Promise<void> {
      failing.add(id);
      await assert.rejects((await strata.startByName('fragile', [], { workflowId: id, ...options })).result({ timeoutMs: WAIT_MS }), /fragile failed/);
    }
    async function running(id: string, name = 'blocked', queue?: string): Promise<void> {
      await strata.startByName(name, [], { workflowId: id, ...(queue ? { queue } : {}) });
      await waitFor(`${id} to run`, async () => (await strata.retrieve(id).status()).status === 'PENDING');
    }

    test('cancel, resume, restart, fork and delete each record who did it; without an actor it is "api"', async () => {
      const id = uniqueId('acted');
      await running(id);
      await client.workflows.cancel(id, { actor: 'alice' });
      await client.cancel(id, { actor: 'bob' }); // already cancelled: nothing happened, nothing recorded
      await client.workflows.resume(id, { actor: 'console-token' });
      await waitFor('the resumed workflow running', async () => (await strata.retrieve(id).status()).status === 'PENDING');
      await strata.cancel(id);
      const restarted = await client.workflows.restart(id, { actor: 'cli:carol', workflowId: `${id}-restart` });
      const forked = await client.workflows.fork(id, 0, { actor: 'cli:carol' });
      assert.equal(restarted, `${id}-restart`);
      const actions = await client.workflows.operatorActions(id);
      assert.deepEqual(summary(actions), ['cancel by alice', 'resume by console-token', 'cancel by api', 'restart by cli:carol', 'fork by cli:carol']);
      assert.deepEqual(actions[3]!.detail, { newWorkflowId: restarted, fromStep: 0, queue: '_strata' });
      assert.equal(actions[4]!.detail.newWorkflowId, forked);
      assert.ok(actions.every((a, i) => i === 0 || BigInt(a.id) > BigInt(actions[i - 1]!.id)), 'actions come oldest first');
      assert.ok(actions.every((a) => a.workflowId === id && a.at instanceof Date));
      // The copies say where they came from.
      assert.deepEqual((await client.workflows.operatorActions(restarted)).map((a) => [a.action, a.detail.sourceWorkflowId]), [['restart', id]]);
      assert.deepEqual((await client.workflows.operatorActions(forked)).map((a) => [a.action, a.detail.sourceWorkflowId]), [['fork', id]]);
      for (const copy of [restarted, forked]) {
        await waitFor(`${copy} to run`, async () => (await strata.retrieve(copy).status()).status === 'PENDING');
        await client.workflows.cancel(copy);
      }
    });


    test('the engine’s own cancel records the actor it is given', async () => {
      const id = uniqueId('engine-actor');
      await running(id);
      await strata.cancel(id, { actor: 'dave' });
      assert.deepEqual(summary(await strata.workflows.operatorActions(id)), ['cancel by dave']);
    });
    test('a delete keeps its record (and the actions before it) after the workflow is gone', async () => {
      const id = uniqueId('deleted');
      await running(id);
      await client.workflows.cancel(id, { actor: 'alice' });
      await client.workflows.delete(id, { actor: 'bob' });
      await assert.rejects(client.workflows.get(id), { name: 'WorkflowNotFoundError' });
      const actions = await client.workflows.operatorActions(id);
      assert.deepEqual(summary(actions), ['cancel by alice', 'delete by bob']);
      assert.deepEqual(actions[1]!.detail, { status: 'CANCELLED' });
      assert.deepEqual(await client.workflows.operatorActions(uniqueId('never')), []);
    });

    test('cancelling a parent records the cancel on it and on each descendant it cancelled', async () => {
      const id = uniqueId('parent');
      await running(id, 'parent');
      const child = async () => (await client.workflows.list({ parentWorkflowId: id })).workflows[0];
      await waitFor('the child to run', async () => (await child())?.status === 'PENDING');
      const childId = (await child())!.workflowId;
      await client.workflows.cancel(id, { actor: 'alice' });
      assert.deepEqual((await client.workflows.operatorActions(id)).map((a) => [a.action, a.actor, a.detail]), [['cancel', 'alice', { cancelledDescendants: 1 }]]);
      assert.deepEqual((await client.workflows.operatorActions(childId)).map((a) => [a.action, a.actor, a.detail]), [['cancel', 'alice', { via: id }]]);
    });

    test('bulk cancel, resume and delete record one action per workflow they changed', async () => {
      const prefix = uniqueId('bulk');
      for (let i = 0; i < 3; i++) await running(`${prefix}-${i}`);
      assert.equal(await client.workflows.cancelMany({ workflowIdPrefix: prefix }, { actor: 'ops' }), 3);
      assert.equal(await client.workflows.resumeMany({ workflowIdPrefix: prefix, status: 'CANCELLED' }, { actor: 'ops' }), 3);
      await waitFor('the resumed batch running', async () => (await client.workflows.list({ workflowIdPrefix: prefix, status: 'PENDING' })).workflows.length === 3);
      assert.equal(await client.workflows.cancelMany({ workflowIdPrefix: prefix }), 3);
      assert.equal(await client.workflows.deleteMany({ workflowIdPrefix: prefix }, { actor: 'ops' }), 3);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(summary(await client.workflows.operatorActions(`${prefix}-${i}`)), ['cancel by ops', 'resume by ops', 'cancel by api', 'delete by ops']);
      }
    });

    test('an action is recorded iff it happened: a refused record rolls the change back, a refused change records nothing', async () => {
      const db = strata.systemDatabase;
      const id = uniqueId('atomic');
      await running(id);
      await db.query(`create or replace function strata_test_refuse() returns trigger language plpgsql as $$
        begin if new.actor = 'refused' then raise exception 'refused by the test'; end if; return new; end $$`);
      await db.query(`create trigger strata_test_refuse before insert on strata.operator_actions for each row execute function strata_test_refuse()`);
      try {
        await assert.rejects(client.workflows.cancel(id, { actor: 'refused' }), /refused by the test/);
        assert.equal((await strata.retrieve(id).status()).status, 'PENDING', 'the cancel was rolled back with its record');
        await client.workflows.cancel(id, { actor: 'alice' });
        await assert.rejects(client.workflows.resume(id, { actor: 'refused' }), /refused by the test/);
        assert.equal((await strata.retrieve(id).status()).status, 'CANCELLED', 'the resume was rolled back with its record');
        await assert.rejects(client.workflows.delete(id, { actor: 'refused' }), /refused by the test/);
        assert.equal((await strata.retrieve(id).status()).status, 'CANCELLED', 'the delete was rolled back with its record');
      } finally {
        await db.query(`drop trigger strata_test_refuse on strata.operator_actions`);
      }
      // A change that does not happen records nothing.
      await client.workflows.cancel(id, { actor: 'bob' }); // already cancelled
      await assert.rejects(client.workflows.resume(`${id}-nope`, { actor: 'bob' }), { name: 'WorkflowNotFoundError' });
      assert.deepEqual(await client.workflows.operatorActions(`${id}-nope`), []);
      assert.deepEqual(summary(await client.workflows.operatorActions(id)), ['cancel by alice']);
    });

    test('an actor is checked like other identifiers, before anything changes', async () => {
      const id = uniqueId('actor');
      await running(id);
      for (const actor of ['', 'a\u0000b', 'x'.repeat(513), 42 as unknown as string]) {
        await assert.rejects(client.workflows.cancel(id, { actor }), InvalidArgumentError);
      }
      await assert.rejects(client.workflows.cancel(id, { actr: 'typo' } as never), /actor/);
      assert.equal((await strata.retrieve(id).status()).status, 'PENDING');
      assert.deepEqual(await client.workflows.operatorActions(id), []);
      await client.workflows.cancel(id);
    });

    test('a resumed workflow goes back to its own queue, with its priority, and that queue\'s concurrency applies', async () => {
      const blocker = uniqueId('blocker');
      const id = uniqueId('queued-fail');
      await failed(id, { queue: 'limited', priority: 3 });
      await running(blocker, 'blocked', 'limited'); // takes the queue's one slot
      failing.delete(id);
      await client.workflows.resume(id, { actor: 'alice' });
      const status = await strata.retrieve(id).status();
      assert.equal(status.queueName, 'limited');
      assert.equal(status.priority, 3);
      const [resume] = await client.workflows.operatorActions(id);
      assert.equal(resume!.detail.queue, 'limited');
      assert.equal(resume!.detail.keptQueue, true);
      assert.equal(resume!.detail.from, 'ERROR');
      // The queue's limit (concurrency 1) holds it until the blocker finished.
      await strata.send(blocker, 'go', { topic: 'go' });
      assert.equal(await strata.retrieve(id).result({ timeoutMs: WAIT_MS }), 'done');
      const [ran, held] = [await strata.retrieve(id).status(), await strata.retrieve(blocker).status()];
      assert.ok(ran.startedAt! >= held.completedAt!, `the resumed workflow started (${ran.startedAt?.toISOString()}) before the blocker finished (${held.completedAt?.toISOString()})`);
    });

    test('a workflow never on a queue resumes through _strata, and the action says so', async () => {
      const id = uniqueId('direct-fail');
      await failed(id);
      failing.delete(id);
      await client.workflows.resume(id);
      assert.equal(await strata.retrieve(id).result({ timeoutMs: WAIT_MS }), 'done');
      assert.equal((await strata.retrieve(id).status()).queueName, '_strata');
      const [resume] = await client.workflows.operatorActions(id);
      assert.equal(resume!.detail.queue, '_strata');
      assert.equal(resume!.detail.keptQueue, false);
      assert.match(String(resume!.detail.note), /never on a queue/);
    });

    test('the error of the step resume forgets is kept in the resume\'s action', async () => {
      const id = uniqueId('forgotten');
      await failed(id);
      const before = await client.workflows.steps(id);
      assert.equal(before.at(-1)!.error?.message, `fragile failed in ${id}`);
      failing.delete(id);
      await client.workflows.resume(id, { actor: 'alice' });
      assert.equal(await strata.retrieve(id).result({ timeoutMs: WAIT_MS }), 'done');
      const [resume] = await client.workflows.operatorActions(id);
      const forgotten = resume!.detail.forgottenStep as { stepId: number; name: string; error: { message: string; code?: string } };
      assert.equal(forgotten.stepId, 1);
      assert.equal(forgotten.name, 'fragile');
      assert.equal(forgotten.error.message, `fragile failed in ${id}`);
      assert.equal(forgotten.error.code, 'E_FRAGILE');
      assert.equal((await client.workflows.steps(id)).at(-1)!.output, 'done');
    });

    test('every failed attempt of a retried step keeps its error, in order, under its step', async () => {
      const id = uniqueId('retried');
      failuresBefore.set(id, 2);
      assert.equal(await (await strata.startByName('retried', ['boom'], { workflowId: id })).result({ timeoutMs: WAIT_MS }), 3);
      const [step] = await client.workflows.steps(id);
      assert.equal(step!.attempts, 3);
      assert.deepEqual(
        step!.failedAttempts.map((a) => [a.stepId, a.stepName, a.attempt, a.error.name, a.error.message]),
        [
          [0, 'retried', 1, 'Error', 'boom 1'],
          [0, 'retried', 2, 'Error', 'boom 2'],
        ],
      );
      assert.ok(step!.failedAttempts[0]!.failedAt <= step!.failedAttempts[1]!.failedAt);
      assert.deepEqual(await client.workflows.failedAttempts(id), step!.failedAttempts);
    });

    test('the success path writes no attempt rows', async () => {
      const id = uniqueId('plain');
      assert.equal(await (await strata.startByName('plain', [], { workflowId: id })).result({ timeoutMs: WAIT_MS }), 'ok');
      assert.equal(await countRows(strata.systemDatabase, 'select 1 from strata.step_attempts where workflow_id = $1', [id]), 0);
      assert.deepEqual((await client.workflows.steps(id))[0]!.failedAttempts, []);
    });

    test('a failed attempt is visible while its step is still retrying', async () => {
      const id = uniqueId('gated');
      const handle = await strata.startByName('gated', [], { workflowId: id });
      await waitFor('the first attempt recorded', async () => (await client.workflows.failedAttempts(id)).length === 1);
      assert.deepEqual(await client.workflows.steps(id), [], 'the step has no outcome yet');
      assert.equal((await client.workflows.failedAttempts(id))[0]!.error.message, 'first attempt failed');
      openGate();
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 2);
    });

    test('a long error is cut to MAX_ATTEMPT_ERROR_LENGTH; a write that fails does not fail the step', async () => {
      const long = uniqueId('long');
      failuresBefore.set(long, 1);
      await (await strata.startByName('retried', ['x'.repeat(MAX_ATTEMPT_ERROR_LENGTH * 3)], { workflowId: long })).result({ timeoutMs: WAIT_MS });
      const [attempt] = await client.workflows.failedAttempts(long);
      assert.equal(attempt!.error.message.length, MAX_ATTEMPT_ERROR_LENGTH);
      assert.ok(attempt!.error.message.endsWith('…'));

      const db = strata.systemDatabase;
      await db.query(`create or replace function strata_test_refuse_attempt() returns trigger language plpgsql as $$
        begin if new.message like 'poison%' then raise exception 'refused by the test'; end if; return new; end $$`);
      await db.query(`create trigger strata_test_refuse_attempt before insert on strata.step_attempts for each row execute function strata_test_refuse_attempt()`);
      try {
        const id = uniqueId('poison');
        failuresBefore.set(id, 2);
        assert.equal(await (await strata.startByName('retried', ['poison'], { workflowId: id })).result({ timeoutMs: WAIT_MS }), 3);
        assert.deepEqual(await client.workflows.failedAttempts(id), []);
      } finally {
        await db.query(`drop trigger strata_test_refuse_attempt on strata.step_attempts`);
      }
    });

    test('resume moves the failed attempts of the step that runs again into its action; fork copies those it reuses', async () => {
      const id = uniqueId('exhausted');
      failuresBefore.set(id, 3);
      await assert.rejects((await strata.startByName('retried', ['nope'], { workflowId: id })).result({ timeoutMs: WAIT_MS }), /nope 3/);
      assert.deepEqual((await client.workflows.failedAttempts(id)).map((a) => a.attempt), [1, 2]);
      const forked = await client.workflows.fork(id, 1);
      assert.deepEqual((await client.workflows.failedAttempts(forked)).map((a) => a.error.message), ['nope 1', 'nope 2']);
      failuresBefore.set(id, 1);
      await client.workflows.resume(id);
      assert.equal(await strata.retrieve(id).result({ timeoutMs: WAIT_MS }), 2);
      const resume = (await client.workflows.operatorActions(id)).at(-1);
      assert.equal(resume!.action, 'resume');
      assert.deepEqual((resume!.detail.forgottenAttempts as Array<{ attempt: number; error: { message: string } }>).map((a) => [a.attempt, a.error.message]), [
        [1, 'nope 1'],
        [2, 'nope 2'],
      ]);
      assert.equal((resume!.detail.forgottenStep as { error: { message: string } }).error.message, 'nope 3');
      assert.deepEqual((await client.workflows.failedAttempts(id)).map((a) => [a.attempt, a.error.message]), [[1, 'nope 1']], 'the new run\'s own attempts');
    });

    test('retention deletes a workflow\'s actions and attempts with it; an explicit delete keeps its record', async () => {
      const db = strata.systemDatabase;
      const old = uniqueId('old');
      failuresBefore.set(old, 1);
      await (await strata.startByName('retried', ['old'], { workflowId: old })).result({ timeoutMs: WAIT_MS });
      const copy = await client.workflows.restart(old, { actor: 'alice' });
      await strata.retrieve(copy).result({ timeoutMs: WAIT_MS });
      assert.equal(await countRows(db, 'select 1 from strata.operator_actions where workflow_id = $1', [old]), 1);
      await runRetention(db, undefined, { maxAgeMs: 1 }, new Date(Date.now() + 60_000));
      await assert.rejects(client.workflows.get(old), { name: 'WorkflowNotFoundError' });
      assert.equal(await countRows(db, 'select 1 from strata.operator_actions where workflow_id = $1', [old]), 0);
      assert.equal(await countRows(db, 'select 1 from strata.step_attempts where workflow_id = $1', [old]), 0);
    });
  });
}

describe('a failed attempt during a database outage (postgres)', { skip: engines().includes('postgres') ? false : 'needs PostgreSQL' }, () => {
  test('its write waits until the database is back, and the attempt is recorded', async (t) => {
    // Commits are durable (the harness's clusters default to synchronous_commit off, which an immediate stop would lose).
    const cluster = await startCluster({ settings: { synchronous_commit: 'on' } });
    t.after(() => cluster.stop());
    const strata = new Strata({ database: cluster.url, logger: quiet, executorId: uniqueId('outage') });
    t.after(() => strata.shutdown({ timeoutMs: 0 }));
    let down = false;
    strata.workflow('through-outage', async (ctx) =>
      ctx.step(
        'flaky',
        async ({ attempt }) => {
          if (attempt === 1) {
            await cluster.stopServer({ mode: 'immediate' });
            down = true;
            throw new Error('failed while the database was down');
          }
          return attempt;
        },
        { retry: { maxAttempts: 2, intervalMs: 1 } },
      ),
    );
    await strata.launch();
    const handle = await strata.startByName('through-outage', [], { workflowId: 'outage-1' });
    await waitFor('the database to be down', async () => down);
    await cluster.startServer();
    assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 2);
    // Had the write failed fast instead of waiting, it would have been logged and skipped.
    const attempts = await strata.workflows.failedAttempts('outage-1');
    assert.deepEqual(attempts.map((a) => [a.attempt, a.error.message]), [[1, 'failed while the database was down']]);
  });
});
