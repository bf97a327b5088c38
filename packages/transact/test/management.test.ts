// Management API: listing with filters and paging, details and steps, cancel, resume, restart,
// fork, delete, their bulk forms, bad input, and the SQL views.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  InvalidArgumentError,
  Strata,
  StrataClient,
  WorkflowNotFoundError,
  WorkflowStateError,
  type WorkflowHandle,
} from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { countRows, quiet, SAFETY_POLL_INTERVAL_MS, uniqueId, WAIT_MS, waitFor } from './helpers.js';

/** How often each step body ran, by `<workflowId>:<step>`. */
const executed = new Map<string, number>();
function ran(key: string): number {
  return executed.get(key) ?? 0;
}
/** Workflows whose `flaky` step fails while listed here. */
const failing = new Set<string>();

for (const kind of engines()) {
  describe(`management API (${kind})`, () => {
    let strata: Strata;
    let client: StrataClient;
    const seeded: Record<string, string> = {};

    before(async () => {
      // Workflow IDs repeat per engine block; the blocks run one after the other.
      executed.clear();
      failing.clear();
      const url = await freshDatabaseUrl(kind);
      strata = new Strata({ database: url, logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS, executorId: uniqueId('mgmt'), appVersion: 'v1' });
      const count = (ctx: { workflowId: string }, step: string) => executed.set(`${ctx.workflowId}:${step}`, ran(`${ctx.workflowId}:${step}`) + 1);
      strata.workflow('three', async (ctx, label: string) => {
        const a = await ctx.step('a', () => (count(ctx, 'a'), `${label}-a`));
        const b = await ctx.step('b', () => (count(ctx, 'b'), `${label}-b`));
        const c = await ctx.step('c', () => (count(ctx, 'c'), `${label}-c`));
        return [a, b, c].join(',');
      });
      strata.workflow('flaky', async (ctx) => {
        await ctx.step('first', () => (count(ctx, 'first'), 1));
        return ctx.step('flaky', () => {
          count(ctx, 'flaky');
          if (failing.has(ctx.workflowId)) throw new Error('flaky failed');
          return 'recovered';
        });
      });
      strata.workflow('blocked', async (ctx) => ctx.recv('go', { timeoutMs: Infinity }));
      strata.queue('mgmt-q');
      await strata.launch();
      client = await StrataClient.connect({ database: kind === 'pglite' ? strata.systemDatabase : url });

      for (const label of ['x', 'y', 'z']) {
        const id = `three-${label}`;
        seeded[label] = id;
        await (await strata.startByName('three', [label], { workflowId: id, attributes: { customer: label === 'z' ? 'c-2' : 'c-1', region: 'eu' } })).result({ timeoutMs: WAIT_MS });
      }
      failing.add('flaky-1');
      await assert.rejects((await strata.startByName('flaky', [], { workflowId: 'flaky-1' })).result({ timeoutMs: WAIT_MS }), /flaky failed/);
      await strata.startByName('blocked', [], { workflowId: 'blocked-1', queue: 'mgmt-q' });
      await waitFor('blocked-1 to run', async () => (await strata.retrieve('blocked-1').status()).status === 'PENDING');
    });
    after(async () => {
      await client?.close();
      await strata?.shutdown({ timeoutMs: 0 });
    });

    test('list filters by status, name, queue, executor, version, time range, ID prefix and attributes', async () => {
      const ids = async (options: Parameters<typeof strata.workflows.list>[0]) => (await strata.workflows.list(options)).workflows.map((w) => w.workflowId).sort();
      assert.deepEqual(await ids({ status: 'ERROR' }), ['flaky-1']);
      assert.deepEqual(await ids({ status: ['SUCCESS'], name: 'three' }), ['three-x', 'three-y', 'three-z']);
      assert.deepEqual(await ids({ queue: 'mgmt-q' }), ['blocked-1']);
      assert.deepEqual(await ids({ executorId: strata.executorId, workflowIdPrefix: 'three-' }), ['three-x', 'three-y', 'three-z']);
      assert.deepEqual(await ids({ appVersion: 'v0' }), []);
      assert.deepEqual(await ids({ attributes: { customer: 'c-1' } }), ['three-x', 'three-y']);
      assert.deepEqual(await ids({ attributes: { customer: 'c-2', region: 'eu' } }), ['three-z']);
      assert.deepEqual(await ids({ createdAfter: new Date(Date.now() + 60_000) }), []);
      assert.deepEqual(await ids({ createdBefore: new Date(Date.now() + 60_000), workflowIdPrefix: 'flaky' }), ['flaky-1']);
      const listed = (await strata.workflows.list({ workflowIdPrefix: 'three-z' })).workflows[0]!;
      assert.deepEqual(listed.attributes, { customer: 'c-2', region: 'eu' });
    });

    test('pages follow the cursor in both orders without gaps or repeats', async () => {
      for (const order of ['newest', 'oldest'] as const) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.workflows.list({ limit: 2, order, ...(cursor ? { cursor } : {}) });
          assert.ok(page.workflows.length <= 2);
          seen.push(...page.workflows.map((w) => w.workflowId));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        const all = (await client.workflows.list({ limit: 1000, order })).workflows.map((w) => w.workflowId);
        assert.deepEqual(seen, all);
        assert.equal(new Set(seen).size, seen.length);
        const created = (await client.workflows.list({ limit: 1000, order })).workflows.map((w) => w.createdAt.getTime());
        const sorted = [...created].sort((a, b) => (order === 'newest' ? b - a : a - b));
        assert.deepEqual(created, sorted);
      }
    });

    test('get decodes inputs, output and error; steps come with timings and outcomes', async () => {
      const details = await client.workflows.get('three-x');
      assert.deepEqual(details.inputs, ['x']);
      assert.equal(details.output, 'x-a,x-b,x-c');
      assert.equal(details.error, null);
      const failed = await client.workflows.get('flaky-1');
      assert.equal(failed.error?.message, 'flaky failed');
      const steps = await client.workflows.steps('three-x');
      assert.deepEqual(steps.map((s) => [s.stepId, s.kind, s.name, s.output]), [[0, 'step', 'a', 'x-a'], [1, 'step', 'b', 'x-b'], [2, 'step', 'c', 'x-c']]);
      for (const step of steps) {
        assert.equal(step.attempts, 1);
        assert.ok(step.durationMs >= 0 && step.completedAt >= step.startedAt);
      }
      assert.equal((await client.workflows.steps('flaky-1'))[1]!.error?.message, 'flaky failed');
      await assert.rejects(client.workflows.get('nope'), WorkflowNotFoundError);
      await assert.rejects(client.workflows.steps('nope'), WorkflowNotFoundError);
    });

    test('resume continues an ERROR workflow from its last checkpoint on an executor of its version', async () => {
      failing.delete('flaky-1');
      await client.workflows.resume('flaky-1');
      assert.equal(await strata.retrieve('flaky-1').result({ timeoutMs: WAIT_MS }), 'recovered');
      assert.equal(ran('flaky-1:first'), 1, 'the checkpointed step did not run again');
      assert.equal(ran('flaky-1:flaky'), 2, 'the failed step ran again');
      await assert.rejects(client.workflows.resume('flaky-1'), WorkflowStateError); // SUCCESS now
      await assert.rejects(client.workflows.resume('nope'), WorkflowNotFoundError);
    });

    test('cancel, then resume, of a waiting workflow; cancelling a finished one is a state error', async () => {
      await client.workflows.cancel('blocked-1');
      assert.equal((await client.status('blocked-1')).status, 'CANCELLED');
      await assert.rejects(client.workflows.cancel('three-x'), WorkflowStateError);
      await client.workflows.resume('blocked-1');
      await waitFor('blocked-1 running again', async () => (await client.status('blocked-1')).status === 'PENDING');
      await client.send('blocked-1', 'released', { topic: 'go' });
      assert.equal(await client.retrieve('blocked-1').result({ timeoutMs: WAIT_MS }), 'released');
    });

    test('restart runs a new workflow from scratch with the same inputs', async () => {
      const id = await client.workflows.restart('three-y', { workflowId: uniqueId('restart') });
      assert.equal(await client.retrieve(id).result({ timeoutMs: WAIT_MS }), 'y-a,y-b,y-c');
      assert.equal(ran(`${id}:a`), 1);
      assert.equal((await client.status(id)).name, 'three');
      assert.deepEqual((await client.status(id)).forkedFrom, { workflowId: 'three-y', step: 0 });
      assert.equal((await client.status('three-y')).forkedFrom, null);
      await assert.rejects(client.workflows.restart('three-y', { workflowId: id }), InvalidArgumentError); // taken
    });

    test('fork reuses the first N checkpoints and runs the rest', async () => {
      const id = await client.workflows.fork('three-z', 2, { workflowId: uniqueId('fork') });
      assert.equal(await client.retrieve(id).result({ timeoutMs: WAIT_MS }), 'z-a,z-b,z-c');
      assert.equal(ran(`${id}:a`), 0, 'step 0 came from the copied checkpoint');
      assert.equal(ran(`${id}:b`), 0, 'step 1 came from the copied checkpoint');
      assert.equal(ran(`${id}:c`), 1, 'step 2 ran in the fork');
      assert.equal((await client.workflows.steps(id)).length, 3);
      assert.deepEqual((await client.workflows.get(id)).forkedFrom, { workflowId: 'three-z', step: 2 });
      const whole = await client.workflows.fork('three-z', 3);
      const forks = (await client.workflows.list({ forkedFrom: 'three-z' })).workflows.map((w) => w.workflowId).sort();
      assert.deepEqual(forks, [id, whole].sort());
      assert.equal(await client.retrieve(whole).result({ timeoutMs: WAIT_MS }), 'z-a,z-b,z-c');
      const before = await countRows(client.database, 'select 1 from strata.workflows', []);
      await assert.rejects(client.workflows.fork('three-z', 4), (error: unknown) => error instanceof InvalidArgumentError && /between 0 and 3/.test(error.message));
      await assert.rejects(client.workflows.fork('three-z', -1), InvalidArgumentError);
      await assert.rejects(client.workflows.fork('nope', 0), WorkflowNotFoundError);
      assert.equal(await countRows(client.database, 'select 1 from strata.workflows', []), before);
    });

    test('delete removes a finished workflow with its steps; an unfinished one is a state error', async () => {
      const id = await client.workflows.restart('three-x');
      await client.retrieve(id).result({ timeoutMs: WAIT_MS });
      await client.workflows.delete(id);
      await assert.rejects(client.workflows.get(id), WorkflowNotFoundError);
      assert.equal(await countRows(client.database, 'select 1 from strata.steps where workflow_id = $1', [id]), 0);
      await assert.rejects(client.workflows.delete('nope'), WorkflowNotFoundError);
      const waiting: WorkflowHandle<unknown> = await strata.startByName('blocked', [], { workflowId: uniqueId('undeletable') });
      await assert.rejects(client.workflows.delete(waiting.workflowId), WorkflowStateError);
      await client.workflows.cancel(waiting.workflowId);
    });

    test('bulk cancel, resume and delete act on every match and report how many', async () => {
      const prefix = uniqueId('bulk');
      for (let i = 0; i < 4; i++) await strata.startByName('blocked', [], { workflowId: `${prefix}-${i}`, attributes: { batch: prefix } });
      assert.equal(await client.workflows.cancelMany({ attributes: { batch: prefix } }), 4);
      assert.equal((await client.workflows.list({ workflowIdPrefix: prefix, status: 'CANCELLED' })).workflows.length, 4);
      assert.equal(await client.workflows.resumeMany({ workflowIdPrefix: prefix, status: 'CANCELLED' }), 4);
      await waitFor('the resumed batch running', async () => (await client.workflows.list({ workflowIdPrefix: prefix, status: 'PENDING' })).workflows.length === 4);
      assert.equal(await client.workflows.cancelMany({ workflowIdPrefix: prefix }), 4);
      assert.equal(await client.workflows.deleteMany({ workflowIdPrefix: prefix }), 4);
      assert.equal((await client.workflows.list({ workflowIdPrefix: prefix })).workflows.length, 0);
      assert.equal(await client.workflows.deleteMany({ workflowIdPrefix: prefix }), 0);
    });

    test('malformed filters and options are InvalidArgumentError and change nothing', async () => {
      const before = await countRows(client.database, 'select 1 from strata.workflows', []);
      await assert.rejects(client.workflows.list({ status: 'NOPE' as never }), /status must be one of ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED/);
      await assert.rejects(client.workflows.list({ limit: 0 }), InvalidArgumentError);
      await assert.rejects(client.workflows.list({ limit: 1001 }), InvalidArgumentError);
      await assert.rejects(client.workflows.list({ cursor: 'garbage' }), /cursor/);
      await assert.rejects(client.workflows.list({ order: 'sideways' as never }), InvalidArgumentError);
      await assert.rejects(client.workflows.list({ createdAfter: new Date('yesterday') }), /createdAfter/);
      await assert.rejects(client.workflows.list({ attributes: { n: 1 as never } }), InvalidArgumentError);
      await assert.rejects(client.workflows.cancelMany(undefined as never), InvalidArgumentError);
      await assert.rejects(client.workflows.deleteMany({ status: ['BAD' as never] }), InvalidArgumentError);
      await assert.rejects(strata.startByName('three', ['q'], { attributes: { k: 5 as never } }), InvalidArgumentError);
      await assert.rejects(strata.queues.create('_mine'), /reserved/);
      assert.equal(await countRows(client.database, 'select 1 from strata.workflows', []), before);
    });

    test('the strata views expose workflows, steps, queues, schedules, messages and events as JSON', async () => {
      const db = client.database;
      const { rows: wf } = await db.query<{ output: unknown; inputs: unknown; duration_ms: number }>(
        `select output, inputs, duration_ms from strata.workflow_status where workflow_id = 'three-x'`,
      );
      assert.deepEqual(wf[0]!.inputs, ['x']);
      assert.equal(wf[0]!.output, 'x-a,x-b,x-c');
      assert.ok(Number(wf[0]!.duration_ms) >= 0);
      const { rows: steps } = await db.query<{ name: string; output: unknown }>(`select name, output from strata.step_history where workflow_id = 'three-x' order by step_id`);
      assert.deepEqual(steps, [{ name: 'a', output: 'x-a' }, { name: 'b', output: 'x-b' }, { name: 'c', output: 'x-c' }]);
      const { rows: queues } = await db.query<{ name: string; queued: string; running: string }>(`select name, queued, running from strata.queue_status where name = 'mgmt-q'`);
      assert.equal(queues.length, 1);
      const { rows: joined } = await db.query<{ n: number }>(
        `select count(*)::int as n from strata.workflow_status w join strata.step_history s using (workflow_id) where w.name = 'three' and w.workflow_id like 'three-%'`,
      );
      assert.equal(joined[0]!.n, 9);
      for (const view of ['schedule_status', 'message_log', 'event_values']) await db.query(`select * from strata.${view} limit 1`);
      const { rows: messages } = await db.query<{ message: unknown }>(`select message from strata.message_log where destination_id = 'blocked-1'`);
      assert.deepEqual(messages.map((m) => m.message), ['released']);
    });
  });
}
