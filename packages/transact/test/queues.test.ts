// Queues: global, per-executor and per-partition concurrency, priorities, rate limits,
// deduplication, delayed and transactional enqueues, queues created and changed at runtime, bad
// input, cancelling queued work, queued children, queued timeouts, and (PostgreSQL) an indexed
// claim path under a large backlog.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DuplicateEnqueueError,
  InvalidArgumentError,
  QueueStateError,
  Serializer,
  Strata,
  UnknownQueueError,
  UnknownWorkflowError,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  type EnqueueOptions,
  type Queue,
  type QueueConfig,
  type StartOptions,
  type Workflow,
  type WorkflowHandle,
  type WorkflowStarter,
} from '@strata/transact';
import type { Database } from '@strata/store';
import { engines, freshPostgresUrl } from '@strata/testing';
import {
  countRows,
  delay,
  LAUNCH_TIMEOUT_MS,
  launchOrShutDown,
  PROMPT_MS,
  quiet,
  restartableApp,
  SAFETY_POLL_INTERVAL_MS,
  uniqueId,
  WAIT_MS,
  waitFor,
} from './helpers.js';

/** Executions of each workflow body, by workflow ID: shared by every engine in this process. */
const runs = new Map<string, number>();
function bump(workflowId: string): void {
  runs.set(workflowId, (runs.get(workflowId) ?? 0) + 1);
}

/** How many `hold` steps of a group run right now, and the most that ever ran at once. */
const gauges = new Map<string, { now: number; peak: number }>();
function gauge(group: string): { now: number; peak: number } {
  let g = gauges.get(group);
  if (!g) gauges.set(group, (g = { now: 0, peak: 0 }));
  return g;
}

/** What `record` steps saw, per group, in the order they ran. */
const records = new Map<string, Array<{ label: string; atMs: number }>>();
function recorded(group: string): Array<{ label: string; atMs: number }> {
  let list = records.get(group);
  if (!list) records.set(group, (list = []));
  return list;
}

/** An engine that is never launched: it owns a workflow other engines must refuse, and checks queue declarations. */
const foreign = new Strata({ database: 'memory://', logger: quiet });
const foreignWorkflow = foreign.workflow('foreign', async () => 'never runs');

/** Every queue and workflow the per-engine blocks need, declared on `strata` (not launched yet). */
function createApp(strata: Strata) {
  const queues = {
    global: strata.queue('global', { concurrency: 4 }),
    worker: strata.queue('worker', { workerConcurrency: 3 }),
    serial: strata.queue('serial', { workerConcurrency: 1 }),
    parts: strata.queue('parts', { partitionConcurrency: 1 }),
    prio: strata.queue('prio', { concurrency: 1 }),
    rated: strata.queue('rated', { rateLimit: { limit: 5, periodMs: 1_000 } }),
    dedup: strata.queue('dedup'),
    delayed: strata.queue('delayed'),
    tx: strata.queue('tx'),
    cancels: strata.queue('cancels', { concurrency: 1 }),
    timeouts: strata.queue('timeouts', { concurrency: 1 }),
    children: strata.queue('children'),
    bound: strata.queue('bound'),
    plain: strata.queue('plain'),
  };
  /** Holds for `holdMs` inside a step, counted in every gauge of `groups`. */
  const hold = strata.workflow('hold', async (ctx, groups: string[], holdMs: number) => {
    bump(ctx.workflowId);
    await ctx.step('hold', async () => {
      for (const group of groups) {
        const g = gauge(group);
        g.peak = Math.max(g.peak, ++g.now);
      }
      try {
        await delay(holdMs);
      } finally {
        for (const group of groups) gauge(group).now--;
      }
    });
    return 'held';
  });
  /** Records `label` and the time in `group`, then returns `label`. */
  const record = strata.workflow('record', async (ctx, group: string, label: string) => {
    bump(ctx.workflowId);
    await ctx.step('record', () => {
      recorded(group).push({ label, atMs: Date.now() });
    });
    return label;
  });
  /** Runs until a message arrives on topic 'go'. */
  const blocker = strata.workflow('blocker', async (ctx) => {
    bump(ctx.workflowId);
    await ctx.recv('go', { timeoutMs: Infinity });
    return 'released';
  });
  /** Sleeps durably for `ms`. */
  const napper = strata.workflow('napper', async (ctx, ms: number) => {
    bump(ctx.workflowId);
    await ctx.sleep(ms);
    return 'woke';
  });
  const child = strata.workflow('child', async (ctx, x: number) => {
    bump(ctx.workflowId);
    return ctx.step('triple', () => x * 3);
  });
  /** Enqueues a child, waits for 'go', then returns the child's result. */
  const parent = strata.workflow('parent', async (ctx, x: number) => {
    bump(ctx.workflowId);
    const handle = await queues.children.enqueue(child, x);
    await ctx.recv('go', { timeoutMs: Infinity });
    return handle.result();
  });
  return { strata, ...queues, hold, record, blocker, napper, child, parent };
}

type App = ReturnType<typeof createApp>;

async function launchApp(database: string, executorId: string, timeoutMs = Infinity): Promise<App> {
  const strata = new Strata({ database, executorId, logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS });
  const app = createApp(strata);
  await launchOrShutDown(strata, timeoutMs);
  return app;
}

/**
 * `workflow` with queue options bound. The queue's name is bound too: `with()` refuses queue
 * options without a queue (see the test of `queue.enqueue(workflow.with({ priority }))`).
 */
function queued<A extends unknown[], R>(workflow: Workflow<A, R>, queue: Queue, options: EnqueueOptions): WorkflowStarter<A, R> {
  return workflow.with({ queue: queue.name, ...options });
}

async function release(app: App, handle: WorkflowHandle<unknown>): Promise<void> {
  await app.strata.send(handle.workflowId, null, { topic: 'go' });
}

async function waitUntilRunning(handle: WorkflowHandle<unknown>): Promise<void> {
  await waitFor(`workflow ${handle.workflowId} to leave its queue`, async () => (await handle.status()).status === 'PENDING');
}

function queueRows(db: Database, queueName: string): Promise<number> {
  return countRows(db, 'select 1 from strata.workflows where queue_name = $1', [queueName]);
}

function allRows(db: Database): Promise<number> {
  return countRows(db, 'select 1 from strata.workflows', []);
}

for (const kind of engines()) {
  describe(`queues (${kind})`, () => {
    const block = restartableApp(kind, launchApp);

    test('a queue with concurrency 4 never runs more than 4 workflows at once, and runs 4 while work waits', async () => {
      const { app } = block;
      const group = uniqueId('global');
      const handles = await Promise.all(Array.from({ length: 40 }, () => app.global.enqueue(app.hold, [group], 30)));
      for (const handle of handles) assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'held');
      const { peak } = gauge(group);
      assert.ok(peak <= 4, `peak ${peak} exceeds the queue's concurrency 4`);
      assert.equal(peak, 4, 'with 40 workflows waiting, the queue should fill its 4 slots');
      const ids = handles.map((handle) => handle.workflowId);
      assert.equal(await countRows(app.strata.systemDatabase, `select 1 from strata.workflows where workflow_id = any($1) and status = 'SUCCESS'`, [ids]), 40);
    });

    test('a queue with workerConcurrency 3 never runs more than 3 workflows at once in one engine, and runs 3 while work waits', async () => {
      const { app } = block;
      const group = uniqueId('worker');
      const handles = await Promise.all(Array.from({ length: 30 }, () => app.worker.enqueue(app.hold, [group], 30)));
      for (const handle of handles) assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'held');
      const { peak } = gauge(group);
      assert.ok(peak <= 3, `peak ${peak} exceeds the queue's workerConcurrency 3`);
      assert.equal(peak, 3, 'with 30 workflows waiting, the engine should fill its 3 slots');
    });

    test('at its workerConcurrency, a queue starts the next workflow when one ends, without waiting for the safety poll', async () => {
      const { app } = block;
      const group = uniqueId('serial');
      const handles = [];
      for (let i = 0; i < 4; i++) handles.push(await app.serial.enqueue(app.record, group, `r${i}`));
      for (const handle of handles) await handle.result({ timeoutMs: WAIT_MS });
      const statuses = await Promise.all(handles.map((handle) => handle.status()));
      for (let i = 1; i < statuses.length; i++) {
        const previousEnd = statuses[i - 1]!.completedAt!.getTime();
        const started = statuses[i]!.startedAt!.getTime();
        assert.ok(started >= previousEnd, `r${i} started before r${i - 1} ended (workerConcurrency 1)`);
        assert.ok(started <= previousEnd + PROMPT_MS, `r${i} started ${started - previousEnd} ms after r${i - 1} ended: the end did not wake the queue`);
      }
    });

    test('partitionConcurrency 1 runs one workflow per partition at a time, partitions in parallel', async () => {
      const { app } = block;
      const all = uniqueId('parts');
      const keys = ['A', 'B', 'C'];
      const handles: Array<WorkflowHandle<string>> = [];
      for (let i = 0; i < 12; i++) {
        const key = keys[i % keys.length]!;
        handles.push(await app.parts.enqueue(queued(app.hold, app.parts, { partitionKey: key }), [all, `${all}:${key}`], 40));
      }
      for (const handle of handles) assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'held');
      for (const key of keys) assert.equal(gauge(`${all}:${key}`).peak, 1, `partition ${key} ran more than one workflow at once`);
      assert.ok(gauge(all).peak > 1, `partitions never ran in parallel (peak over all partitions ${gauge(all).peak})`);
    });

    test('enqueuing on a partitioned queue without a partitionKey throws InvalidArgumentError and enqueues nothing', async () => {
      const { app } = block;
      const before = await queueRows(app.strata.systemDatabase, 'parts');
      await assert.rejects(async () => app.parts.enqueue(app.hold, [uniqueId('unpartitioned')], 1), InvalidArgumentError);
      assert.equal(await queueRows(app.strata.systemDatabase, 'parts'), before);
    });

    test('queued workflows start by priority (lower first), then in enqueue order', async () => {
      const { app } = block;
      const group = uniqueId('prio');
      const blocker = await app.prio.enqueue(app.blocker);
      await waitUntilRunning(blocker);
      const priorities = [5, 1, 3, 1, 0, 2];
      const handles: Array<WorkflowHandle<string>> = [];
      for (const [i, priority] of priorities.entries()) {
        handles.push(await app.prio.enqueue(queued(app.record, app.prio, { priority }), group, `p${priority}#${i}`));
      }
      await release(app, blocker);
      for (const handle of handles) await handle.result({ timeoutMs: WAIT_MS });
      const expected = priorities
        .map((priority, i) => ({ priority, i }))
        .sort((a, b) => a.priority - b.priority || a.i - b.i)
        .map(({ priority, i }) => `p${priority}#${i}`);
      assert.deepEqual(
        recorded(group).map((r) => r.label),
        expected,
      );
    });

    test('a rate limit of 5 per second starts at most 5 workflows in any 1-second window and drains 12 in about 2 periods', async (t) => {
      const { app } = block;
      const db = app.strata.systemDatabase;
      const group = uniqueId('rated');
      const periodMs = 1_000;
      const handles: Array<WorkflowHandle<string>> = [];
      for (let i = 0; i < 12; i++) handles.push(await app.rated.enqueue(app.record, group, `r${i}`));
      for (const handle of handles) await handle.result({ timeoutMs: WAIT_MS });
      assert.equal(await countRows(db, `select 1 from strata.workflows where queue_name = 'rated' and status = 'SUCCESS'`, []), 12);

      // Exactly, on the database's start times (the limit counts them): every window (t - 1 s, t] holds ≤ 5 starts.
      const { rows } = await db.query<{ most: number; span_ms: number }>(
        `select (select max(n)::int from (
                  select (select count(*) from strata.workflows b
                           where b.queue_name = 'rated' and b.started_at > a.started_at - $1 * interval '1 millisecond' and b.started_at <= a.started_at) as n
                    from strata.workflows a where a.queue_name = 'rated') windows) as most,
                (select extract(epoch from max(started_at) - min(started_at)) * 1000 from strata.workflows where queue_name = 'rated')::float8 as span_ms`,
        [periodMs],
      );
      const { most, span_ms: spanMs } = rows[0]!;
      t.diagnostic(`most starts in a 1 s window: ${most}; first to last start: ${Math.round(spanMs)} ms`);
      assert.ok(most <= 5, `${most} workflows started within one period`);
      // 12 starts at ≤ 5 per period: the 11th and later start at least 2 periods after the first.
      assert.ok(spanMs >= 2 * periodMs - 10, `12 starts took only ${spanMs} ms`);

      // Seen from the workflows (their step runs a moment after the start): allow that moment's jitter.
      const stepTimes = recorded(group).map((r) => r.atMs).sort((a, b) => a - b);
      const jitterMs = 200;
      for (const [i, at] of stepTimes.entries()) {
        const inWindow = stepTimes.filter((other, j) => j >= i && other < at + periodMs - jitterMs).length;
        assert.ok(inWindow <= 5, `${inWindow} workflows ran within ${periodMs - jitterMs} ms of each other`);
      }
    });

    test('a second enqueue with a live deduplication key throws DuplicateEnqueueError naming the holder, or returns it with onDuplicate "return"; the key frees when the holder ends', async () => {
      const { app } = block;
      const db = app.strata.systemDatabase;
      const key = uniqueId('k');
      const keyRows = () => countRows(db, 'select 1 from strata.workflows where queue_name = $1 and deduplication_key = $2', ['dedup', key]);
      const first = await app.dedup.enqueue(queued(app.blocker, app.dedup, { deduplicationKey: key }));

      await assert.rejects(
        async () => app.dedup.enqueue(queued(app.blocker, app.dedup, { deduplicationKey: key })),
        (error: unknown) => {
          assert.ok(error instanceof DuplicateEnqueueError, `expected DuplicateEnqueueError, got ${String(error)}`);
          assert.equal(error.existingWorkflowId, first.workflowId);
          assert.equal(error.code, 'STRATA_DUPLICATE_ENQUEUE');
          return true;
        },
      );
      assert.equal(await keyRows(), 1);

      const returned = await app.dedup.enqueue(queued(app.blocker, app.dedup, { deduplicationKey: key, onDuplicate: 'return' }));
      assert.equal(returned.workflowId, first.workflowId);
      assert.equal(await keyRows(), 1);

      await release(app, first);
      assert.equal(await first.result({ timeoutMs: WAIT_MS }), 'released');
      const next = await app.dedup.enqueue(queued(app.blocker, app.dedup, { deduplicationKey: key }));
      assert.notEqual(next.workflowId, first.workflowId);
      await release(app, next);
      assert.equal(await next.result({ timeoutMs: WAIT_MS }), 'released');
      assert.equal(await keyRows(), 2);
    });

    test('a workflow enqueued with delayMs 400 stays ENQUEUED, then starts no earlier than 400 ms after the enqueue', async () => {
      const { app } = block;
      const group = uniqueId('delayed');
      const t0 = Date.now();
      const handle = await app.delayed.enqueue(queued(app.record, app.delayed, { delayMs: 400 }), group, 'late');
      assert.equal((await handle.status()).status, 'ENQUEUED');
      await delay(Math.max(0, t0 + 300 - Date.now()));
      assert.equal((await handle.status()).status, 'ENQUEUED', 'still queued 300 ms after a 400 ms delay');
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'late');
      const status = await handle.status();
      assert.equal(status.status, 'SUCCESS');
      const startedMs = status.startedAt!.getTime();
      assert.ok(startedMs >= t0 + 400, `started ${startedMs - t0} ms after the enqueue`);
      // created_at is stamped a moment after the delay was computed.
      assert.ok(startedMs - status.createdAt.getTime() >= 350, `started_at - created_at is ${startedMs - status.createdAt.getTime()} ms`);
      assert.ok(startedMs <= t0 + 400 + PROMPT_MS, `started ${startedMs - t0} ms after the enqueue, long after its delay`);
    });

    test('a workflow enqueued with notBefore stays ENQUEUED until then and starts at or after it', async () => {
      const { app } = block;
      const group = uniqueId('not-before');
      const notBefore = new Date(Date.now() + 400);
      const handle = await app.delayed.enqueue(queued(app.record, app.delayed, { notBefore }), group, 'at-time');
      assert.equal((await handle.status()).status, 'ENQUEUED');
      await delay(Math.max(0, notBefore.getTime() - 100 - Date.now()));
      assert.equal((await handle.status()).status, 'ENQUEUED', 'still queued 100 ms before notBefore');
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'at-time');
      const status = await handle.status();
      assert.equal(status.status, 'SUCCESS');
      assert.ok(status.startedAt!.getTime() >= notBefore.getTime(), `started ${notBefore.getTime() - status.startedAt!.getTime()} ms before notBefore`);
      assert.ok(status.startedAt!.getTime() <= notBefore.getTime() + PROMPT_MS, 'started long after notBefore');
    });

    test('enqueueIn a transaction that rolls back leaves no workflow and runs nothing', async () => {
      const { app } = block;
      const db = app.strata.systemDatabase;
      const group = uniqueId('rolled-back');
      const id = uniqueId('rolled-back');
      await assert.rejects(
        db.transaction(async (tx) => {
          await app.tx.enqueueIn(tx, app.record.with({ workflowId: id }), group, 'rolled-back');
          throw new Error('rollback');
        }),
        /rollback/,
      );
      const rolledBackAt = Date.now();
      // A workflow enqueued after it on the same queue has run, and longer than a start takes has passed.
      const follower = await app.tx.enqueue(app.record, group, 'follower');
      assert.equal(await follower.result({ timeoutMs: WAIT_MS }), 'follower');
      await delay(Math.max(0, rolledBackAt + 500 - Date.now()));
      assert.equal(await countRows(db, 'select 1 from strata.workflows where workflow_id = $1', [id]), 0);
      assert.equal(runs.get(id) ?? 0, 0);
      assert.deepEqual(
        recorded(group).map((r) => r.label),
        ['follower'],
      );
    });

    test('enqueueIn a transaction that commits runs the workflow', async () => {
      const { app } = block;
      const id = uniqueId('committed');
      const handle = await app.strata.systemDatabase.transaction(async (tx) =>
        app.tx.enqueueIn(tx, app.record.with({ workflowId: id }), uniqueId('committed'), 'committed'),
      );
      assert.equal(handle.workflowId, id);
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'committed');
      assert.equal(runs.get(id), 1);
    });

    test('enqueuing one workflow ID twice returns the same workflow and runs it once', async () => {
      const { app } = block;
      const id = uniqueId('same-id');
      const group = uniqueId('same-id');
      const starter = app.record.with({ workflowId: id });
      const [a, b] = await Promise.all([app.tx.enqueue(starter, group, 'once'), app.tx.enqueue(starter, group, 'once')]);
      assert.equal(a.workflowId, id);
      assert.equal(b.workflowId, id);
      assert.equal(await a.result({ timeoutMs: WAIT_MS }), 'once');
      const again = await app.tx.enqueue(starter, group, 'once');
      assert.equal(again.workflowId, id);
      assert.equal(await again.result({ timeoutMs: WAIT_MS }), 'once');
      assert.equal(await countRows(app.strata.systemDatabase, 'select 1 from strata.workflows where workflow_id = $1', [id]), 1);
      assert.equal(runs.get(id), 1);
      assert.equal(recorded(group).length, 1);
    });

    test('200 enqueues at once keep their own outcomes when they share statements: repeated IDs run once, a shared deduplication key has one holder', async () => {
      const { app } = block;
      const db = app.strata.systemDatabase;
      const group = uniqueId('burst');
      const ids = Array.from({ length: 20 }, (_, i) => uniqueId(`burst-${i}`));
      const key = uniqueId('burst-key');
      // 160 distinct workflows, 20 IDs enqueued twice each in the same burst, and 20 enqueues
      // sharing one deduplication key (the first holds it; the rest return it).
      const distinct = Array.from({ length: 160 }, (_, i) => app.tx.enqueue(app.record, group, `distinct-${i}`));
      const repeated = ids.flatMap((id) => [0, 1].map(() => app.tx.enqueue(app.record.with({ workflowId: id }), group, id)));
      const deduplicated = Array.from({ length: 20 }, () =>
        app.dedup.enqueue(queued(app.blocker, app.dedup, { deduplicationKey: key, onDuplicate: 'return' })),
      );
      const [d, r, k] = await Promise.all([Promise.all(distinct), Promise.all(repeated), Promise.all(deduplicated)]);
      assert.equal(new Set(d.map((h) => h.workflowId)).size, 160);
      assert.deepEqual(r.map((h) => h.workflowId), ids.flatMap((id) => [id, id]));
      assert.equal(new Set(k.map((h) => h.workflowId)).size, 1, 'every enqueue with the key returned the one holder');
      assert.equal(await countRows(db, 'select 1 from strata.workflows where queue_name = $1 and deduplication_key = $2', ['dedup', key]), 1);
      for (const handle of [...d, ...r]) await handle.result({ timeoutMs: WAIT_MS });
      for (const id of ids) assert.equal(runs.get(id), 1, `${id} ran once`);
      assert.equal(recorded(group).length, 180);
      await release(app, k[0]!);
      assert.equal(await k[0]!.result({ timeoutMs: WAIT_MS }), 'released');
    });

    test('queues.create/get/list/update/delete manage queues at runtime, with typed errors for existing, unknown and busy queues', async () => {
      const { app } = block;
      const admin = app.strata.queues;
      const name = uniqueId('runtime');
      const missing = uniqueId('missing');

      const created = await admin.create(name, { concurrency: 2, rateLimit: { limit: 100, periodMs: 1_000 } });
      assert.equal(created.name, name);
      assert.equal(created.concurrency, 2);
      assert.equal(created.workerConcurrency, null);
      assert.equal(created.partitionConcurrency, null);
      assert.deepEqual(created.rateLimit, { limit: 100, periodMs: 1_000 });
      assert.ok(created.createdAt instanceof Date);
      assert.deepEqual(await admin.get(name), created);
      const names = (await admin.list()).map((q) => q.name);
      assert.ok(names.includes(name), `list() lacks "${name}": ${names.join(', ')}`);
      assert.ok(names.includes('global'), 'list() lacks the queues declared in code');
      assert.equal(await admin.get(missing), undefined);

      await assert.rejects(admin.create(name, { concurrency: 5 }), QueueStateError);
      assert.equal((await admin.get(name))!.concurrency, 2, 'a refused create changed the queue');
      await assert.rejects(admin.update(missing, { concurrency: 2 }), UnknownQueueError);
      await assert.rejects(admin.delete(missing), UnknownQueueError);
      assert.equal(await admin.get(missing), undefined);

      const updated = await admin.update(name, { workerConcurrency: 7, rateLimit: null });
      assert.equal(updated.concurrency, 2, 'update() changed a limit it was not given');
      assert.equal(updated.workerConcurrency, 7);
      assert.equal(updated.rateLimit, null);
      assert.ok(updated.updatedAt.getTime() >= created.updatedAt.getTime());
      assert.deepEqual(await admin.get(name), updated);

      const busy = await app.strata.queueNamed(name).enqueue(app.blocker);
      await assert.rejects(admin.delete(name), QueueStateError);
      assert.ok(await admin.get(name), 'a refused delete removed the queue');
      await release(app, busy);
      assert.equal(await busy.result({ timeoutMs: WAIT_MS }), 'released');

      await admin.delete(name);
      assert.equal(await admin.get(name), undefined);
      assert.ok(!(await admin.list()).some((q) => q.name === name));
    });

    test('raising a runtime queue\'s concurrency from 1 to 3 takes effect without a restart', async () => {
      const { app } = block;
      const name = uniqueId('raise');
      await app.strata.queues.create(name, { concurrency: 1 });
      const queue = app.strata.queueNamed(name);
      const group = uniqueId('raise');
      const handles: Array<WorkflowHandle<string>> = [];
      for (let i = 0; i < 12; i++) handles.push(await queue.enqueue(app.hold, [group], 100));
      assert.equal(await handles[0]!.result({ timeoutMs: WAIT_MS }), 'held');
      assert.equal(gauge(group).peak, 1, 'concurrency 1 ran more than one');
      await app.strata.queues.update(name, { concurrency: 3 });
      for (const handle of handles) assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'held');
      assert.equal(gauge(group).peak, 3, 'the raised limit was not used (or exceeded)');
    });

    test('a deleted queue takes no more work: enqueuing on it right after delete() throws UnknownQueueError and inserts nothing', async () => {
      const { app } = block;
      // Each round races the engine's re-read of its queues after the delete; rounds make a lost race show.
      const rounds = 20;
      const names: string[] = [];
      const accepted: string[] = [];
      for (let round = 0; round < rounds; round++) {
        const name = uniqueId('deleted');
        names.push(name);
        await app.strata.queues.create(name);
        const queue = app.strata.queueNamed(name);
        assert.equal(await (await queue.enqueue(app.record, uniqueId('deleted'), 'before')).result({ timeoutMs: WAIT_MS }), 'before');
        await app.strata.queues.delete(name);
        try {
          const handle = await queue.enqueue(app.record, uniqueId('deleted'), 'after');
          accepted.push(`${handle.workflowId} on "${name}" (${(await handle.status()).status})`);
        } catch (error) {
          assert.ok(error instanceof UnknownQueueError, `expected UnknownQueueError, got ${String(error)}`);
        }
      }
      assert.deepEqual(accepted, [], `${accepted.length} of ${rounds} enqueues on a just-deleted queue were accepted`);
      // The finished 'before' workflows stay, unlinked from the deleted queues; nothing waits on them.
      assert.equal(await countRows(app.strata.systemDatabase, 'select 1 from strata.workflows where queue_name = any($1)', [names]), 0);
      assert.equal(await countRows(app.strata.systemDatabase, "select 1 from strata.workflows where status = 'ENQUEUED' and queue_name is null", []), 0);
    });

    test('bad queue names, limits and enqueue options throw (UnknownQueueError, InvalidArgumentError, UnknownWorkflowError) and enqueue nothing', async () => {
      const { app } = block;
      const { strata } = app;
      const db = strata.systemDatabase;
      const rowsBefore = await allRows(db);
      const queuesBefore = (await strata.queues.list()).map((q) => q.name);
      const group = uniqueId('bad');

      await assert.rejects(async () => strata.queueNamed(uniqueId('nope')).enqueue(app.record, group, 'x'), UnknownQueueError);
      await assert.rejects(async () => app.record.with({ queue: uniqueId('nope') }).start(group, 'x'), UnknownQueueError);

      for (const concurrency of [0, -1, 1.5, 'x'] as unknown as number[]) {
        assert.throws(() => foreign.queue(uniqueId('bad'), { concurrency }), InvalidArgumentError, `strata.queue() took concurrency ${String(concurrency)}`);
        await assert.rejects(strata.queues.create(uniqueId('bad'), { concurrency }), InvalidArgumentError, `queues.create() took concurrency ${String(concurrency)}`);
      }
      const noPeriod = { rateLimit: { limit: 5 } } as unknown as QueueConfig;
      assert.throws(() => foreign.queue(uniqueId('bad'), noPeriod), InvalidArgumentError);
      await assert.rejects(strata.queues.create(uniqueId('bad'), noPeriod), InvalidArgumentError);
      await assert.rejects(strata.queues.update('plain', noPeriod), InvalidArgumentError);
      assert.deepEqual((await strata.queues.list()).map((q) => q.name), queuesBefore, 'a refused create left a queue');
      assert.equal((await strata.queues.get('plain'))!.rateLimit, null, 'a refused update changed the queue');

      await assert.rejects(async () => app.plain.enqueue(queued(app.record, app.plain, { priority: 1.5 }), group, 'x'), InvalidArgumentError);
      await assert.rejects(
        async () => app.plain.enqueue(queued(app.record, app.plain, { onDuplicate: 'maybe' as 'return' }), group, 'x'),
        InvalidArgumentError,
      );
      await assert.rejects(
        async () => app.plain.enqueue(queued(app.record, app.plain, { delayMs: 100, notBefore: new Date(Date.now() + 100) }), group, 'x'),
        InvalidArgumentError,
      );
      // Queue options on a start without a queue.
      await assert.rejects(async () => app.record.with({ priority: 1 }).start(group, 'x'), InvalidArgumentError);
      await assert.rejects(async () => app.record.with({ deduplicationKey: 'k' }).start(group, 'x'), InvalidArgumentError);
      await assert.rejects(async () => app.record.with({ delayMs: 10 }).start(group, 'x'), InvalidArgumentError);

      await assert.rejects(async () => app.plain.enqueue(foreignWorkflow), InvalidArgumentError);
      const onQueue: StartOptions & EnqueueOptions = { queue: 'plain' };
      await assert.rejects(strata.startByName(uniqueId('unknown-workflow'), [], onQueue), UnknownWorkflowError);

      assert.equal(await allRows(db), rowsBefore);
      assert.equal(recorded(group).length, 0);
    });

    test('cancelling an ENQUEUED workflow makes it CANCELLED, its result() throws WorkflowCancelledError, and it never runs', async () => {
      const { app } = block;
      const group = uniqueId('cancel');
      const blocker = await app.cancels.enqueue(app.blocker);
      await waitUntilRunning(blocker);
      const target = await app.cancels.enqueue(app.record, group, 'target');
      assert.equal((await target.status()).status, 'ENQUEUED');

      await app.strata.cancel(target.workflowId);
      assert.equal((await target.status()).status, 'CANCELLED');
      await assert.rejects(target.result({ timeoutMs: WAIT_MS }), WorkflowCancelledError);

      // Free the queue; a workflow enqueued after the target runs, the target does not.
      const follower = await app.cancels.enqueue(app.record, group, 'follower');
      await release(app, blocker);
      assert.equal(await follower.result({ timeoutMs: WAIT_MS }), 'follower');
      assert.equal(runs.get(target.workflowId) ?? 0, 0);
      assert.deepEqual(
        recorded(group).map((r) => r.label),
        ['follower'],
      );
      assert.equal((await target.status()).status, 'CANCELLED');
    });

    test('timeoutMs of a queued workflow counts from its start: waiting in the queue longer does not time it out, running longer does', async () => {
      const { app } = block;
      const blocker = await app.timeouts.enqueue(app.blocker);
      await waitUntilRunning(blocker);
      const quick = await app.timeouts.enqueue(app.record.with({ timeoutMs: 300 }), uniqueId('timeouts'), 'quick');
      const slow = await app.timeouts.enqueue(app.napper.with({ timeoutMs: 300 }), 1_000);
      await delay(500);
      assert.equal((await quick.status()).status, 'ENQUEUED', 'a queued workflow timed out before it started');
      assert.equal((await slow.status()).status, 'ENQUEUED', 'a queued workflow timed out before it started');
      await release(app, blocker);

      assert.equal(await quick.result({ timeoutMs: WAIT_MS }), 'quick');
      const quickStatus = await quick.status();
      assert.equal(quickStatus.status, 'SUCCESS');
      const deadlineAfterStartMs = quickStatus.deadlineAt!.getTime() - quickStatus.startedAt!.getTime();
      assert.ok(Math.abs(deadlineAfterStartMs - 300) <= 2, `deadline is ${deadlineAfterStartMs} ms after the start`);

      await assert.rejects(slow.result({ timeoutMs: WAIT_MS }), WorkflowTimeoutError);
      const slowStatus = await slow.status();
      assert.equal(slowStatus.status, 'CANCELLED');
      const ranMs = slowStatus.completedAt!.getTime() - slowStatus.startedAt!.getTime();
      assert.ok(ranMs >= 290 && ranMs < 1_000, `timed out ${ranMs} ms after its start`);
    });

    test('queue.enqueue(workflow.with({ priority, deduplicationKey })) applies options bound without a queue', async () => {
      const { app } = block;
      const key = uniqueId('bound');
      const handle = await app.bound.enqueue(app.record.with({ priority: 2, deduplicationKey: key }), uniqueId('bound'), 'bound');
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 'bound');
      const status = await handle.status();
      assert.equal(status.queueName, 'bound');
      assert.equal(status.priority, 2);
      assert.equal(status.deduplicationKey, key);
    });

    test('a child enqueued inside a workflow runs and returns its result to the parent; replay after a restart does not enqueue it again', async () => {
      const parent = await block.app.parent.start(7);
      const db = () => block.app.strata.systemDatabase;
      const children = () => countRows(db(), 'select 1 from strata.workflows where parent_workflow_id = $1', [parent.workflowId]);
      await waitFor('the queued child to finish', async () =>
        (await countRows(db(), `select 1 from strata.workflows where parent_workflow_id = $1 and status = 'SUCCESS'`, [parent.workflowId])) === 1,
      );
      const { rows } = await db().query<{ workflow_id: string; queue_name: string | null }>(
        'select workflow_id, queue_name from strata.workflows where parent_workflow_id = $1',
        [parent.workflowId],
      );
      assert.equal(rows[0]!.queue_name, 'children');
      const childId = rows[0]!.workflow_id;

      await block.restart();
      await block.app.strata.send(parent.workflowId, null, { topic: 'go' });
      assert.equal(await block.app.strata.retrieve<number>(parent.workflowId).result({ timeoutMs: WAIT_MS }), 21);
      assert.equal(await children(), 1);
      assert.equal(runs.get(childId), 1);
      assert.equal(runs.get(parent.workflowId), 2, 'the parent ran once, then replayed once after the restart');
    });
  });
}

/** The plan nodes of an EXPLAIN (FORMAT JSON) result, flattened. */
interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly Plans?: PlanNode[];
}

async function explain(db: Database, sql: string): Promise<PlanNode[]> {
  const { rows } = await db.query<Record<string, unknown>>(`explain (format json) ${sql}`);
  const raw = rows[0]!['QUERY PLAN'];
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>;
  const nodes: PlanNode[] = [];
  const walk = (node: PlanNode): void => {
    nodes.push(node);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(plan[0]!.Plan);
  return nodes;
}

function describePlan(nodes: readonly PlanNode[]): string {
  return nodes.map((n) => `${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`).join(' / ');
}

if (engines().includes('postgres')) {
  describe('queue claims under a 200,000-workflow backlog (postgres)', () => {
    const BACKLOG = 200_000;
    const PARTITIONS = 1_000;
    /** Queued rows per partition of the partitioned backlog: enough that reading a whole partition would show. */
    const PER_PARTITION = 20;
    /** When each backlog workflow began running. */
    const starts: number[] = [];
    let strata: Strata;
    let bulk: Queue;
    let blocker: Workflow<[], string>;

    before(async () => {
      strata = new Strata({ database: await freshPostgresUrl(), logger: quiet, safetyPollIntervalMs: SAFETY_POLL_INTERVAL_MS });
      bulk = strata.queue('bulk', { concurrency: 1 });
      strata.workflow('bulk-item', async (ctx) => {
        starts.push(Date.now());
        await ctx.recv('go', { timeoutMs: Infinity });
      });
      blocker = strata.workflow('bulk-blocker', async (ctx) => {
        await ctx.recv('go', { timeoutMs: Infinity });
        return 'released';
      });
      await launchOrShutDown(strata, LAUNCH_TIMEOUT_MS);
      // Fill the queue's one slot, so the backlog stays queued until a test raises the limit.
      const handle = await bulk.enqueue(blocker);
      await waitUntilRunning(handle);
      const db = strata.systemDatabase;
      const inputs = new Serializer().serialize([], 'inputs');
      await db.query(
        `insert into strata.workflows (workflow_id, name, status, inputs, queue_name, queue_partition, priority, queue_order)
         select 'bulk-' || lpad(i::text, 7, '0'), 'bulk-item', 'ENQUEUED', $1, 'bulk', '', i % 10, nextval('strata.queue_order')
           from generate_series(1, $2::int) i`,
        [inputs, BACKLOG],
      );
      // A partitioned backlog on a queue no executor serves (the claim query is only explained):
      // its rows name a workflow no engine registers, so no claim takes them.
      await db.query(`insert into strata.queues (name, partition_concurrency) values ('bulk-parts', 1)`);
      await db.query(
        `insert into strata.workflows (workflow_id, name, status, inputs, queue_name, queue_partition, priority, queue_order)
         select 'parted-' || lpad(i::text, 7, '0'), 'bulk-unserved', 'ENQUEUED', $1, 'bulk-parts', 'p' || (i % $3::int), i % 10, nextval('strata.queue_order')
           from generate_series(1, $2::int) i`,
        [inputs, PARTITIONS * PER_PARTITION, PARTITIONS],
      );
      await db.exec('analyze strata.workflows');
    });

    after(async () => {
      await strata?.shutdown({ timeoutMs: 0 });
    });

    test('the candidate query of a claim reads the workflows_enqueued index in start order: no Sort, no Seq Scan', async (t) => {
      const eligible = `status = 'ENQUEUED' and queue_name = 'bulk' and (not_before is null or not_before <= now())
        and (app_version is null or app_version = '0') and name = any('{bulk-item}'::text[])`;
      for (const sql of [
        `select workflow_id from strata.workflows where ${eligible} order by priority, queue_order limit 50 for update skip locked`,
        `select workflow_id from strata.workflows where ${eligible} order by priority, queue_order limit 50`,
      ]) {
        const nodes = await explain(strata.systemDatabase, sql);
        const plan = describePlan(nodes);
        t.diagnostic(plan);
        assert.ok(nodes.some((n) => n['Index Name'] === 'workflows_enqueued'), `plan does not use workflows_enqueued: ${plan}`);
        assert.ok(!nodes.some((n) => /Sort/.test(n['Node Type'])), `plan sorts: ${plan}`);
        assert.ok(!nodes.some((n) => n['Node Type'] === 'Seq Scan'), `plan scans a table: ${plan}`);
      }
    });

    test('the partition candidate query over 1,000 partitions reads strata.workflows through indexes only (no Seq Scan)', async (t) => {
      // PARTITION_CANDIDATES of src/sql/queues.ts, with $1 = queue, $2 = app version, $3 = names, $4 = partition limit, $5 = max.
      const eligible = `status = 'ENQUEUED' and queue_name = 'bulk-parts' and (not_before is null or not_before <= now())
        and (app_version is null or app_version = '0') and name = any('{bulk-unserved}'::text[])`;
      const sql = `
        with recursive parts(p) as (
          (select queue_partition from strata.workflows where status = 'ENQUEUED' and queue_name = 'bulk-parts' order by queue_partition limit 1)
          union all
          select (select queue_partition from strata.workflows
                   where status = 'ENQUEUED' and queue_name = 'bulk-parts' and queue_partition > parts.p order by queue_partition limit 1)
            from parts where parts.p is not null
        ),
        running as (
          select queue_partition as p, count(*)::int as n from strata.workflows
           where queue_name = 'bulk-parts' and status = 'PENDING' group by queue_partition
        )
        select c.workflow_id from parts
          left join running r on r.p = parts.p
          cross join lateral (
            select workflow_id, priority, queue_order from strata.workflows
             where ${eligible} and queue_partition = parts.p
             order by priority, queue_order limit greatest(1 - coalesce(r.n, 0), 0)
          ) c
         where parts.p is not null
         order by c.priority, c.queue_order limit 50`;
      const nodes = await explain(strata.systemDatabase, sql);
      const plan = describePlan(nodes);
      t.diagnostic(plan);
      assert.ok(!nodes.some((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'workflows'), `plan scans strata.workflows: ${plan}`);
      const { rows } = await strata.systemDatabase.query<{ n: number }>(`select count(*)::int as n from (${sql}) c`);
      assert.equal(rows[0]!.n, 50, 'the query finds the head of 50 partitions');
    });

    test('with the backlog queued, raising the limit starts the first 50 workflows well under a second', async (t) => {
      const t0 = Date.now();
      await strata.queues.update('bulk', { concurrency: 51 });
      await waitFor('50 backlog workflows to start', async () => starts.length >= 50);
      const elapsedMs = Math.max(...starts.slice(0, 50)) - t0;
      t.diagnostic(`first 50 of ${BACKLOG} queued workflows started within ${elapsedMs} ms of the update`);
      assert.ok(elapsedMs < 2_000, `the first 50 starts took ${elapsedMs} ms`);
      assert.equal(
        await countRows(strata.systemDatabase, `select 1 from strata.workflows where queue_name = 'bulk' and status = 'PENDING'`, []),
        51,
        'the queue runs its blocker and 50 backlog workflows, as its concurrency allows',
      );
    });
  });
}
