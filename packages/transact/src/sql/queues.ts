// SQL: queues and their limits, enqueueing workflows (one or many), and claiming queued work within the limits.
import type { Database, Queryable } from '@strata/store';
import { QUEUE_PREFIX, sqlSignalKey } from '../signals/keys.js';

/** The notification sent with the statement's own commit (see signals/keys.ts). */
const NOTIFY_QUEUE = `, pg_notify($15, ${sqlSignalKey(QUEUE_PREFIX, 'queue_name')})`;

/** A queue as stored in `strata.queues`. */
export interface QueueRow {
  readonly name: string;
  readonly concurrency: number | null;
  readonly worker_concurrency: number | null;
  readonly partition_concurrency: number | null;
  readonly rate_limit: number | null;
  readonly rate_period_ms: number | null;
  readonly created_at: Date;
  readonly updated_at: Date;
}

/** The limit columns of a queue. */
export type QueueLimits = Pick<QueueRow, 'concurrency' | 'worker_concurrency' | 'partition_concurrency' | 'rate_limit' | 'rate_period_ms'>;

const QUEUE_COLUMNS = 'name, concurrency, worker_concurrency, partition_concurrency, rate_limit, rate_period_ms, created_at, updated_at';

function limitParams(limits: QueueLimits): unknown[] {
  return [limits.concurrency, limits.worker_concurrency, limits.partition_concurrency, limits.rate_limit, limits.rate_period_ms];
}

/** Creates a queue; undefined when the name exists. */
export async function insertQueue(db: Queryable, name: string, limits: QueueLimits): Promise<QueueRow | undefined> {
  const { rows } = await db.query<QueueRow & Record<string, unknown>>(
    `insert into strata.queues (name, concurrency, worker_concurrency, partition_concurrency, rate_limit, rate_period_ms)
     values ($1, $2, $3, $4, $5, $6) on conflict (name) do nothing returning ${QUEUE_COLUMNS}`,
    [name, ...limitParams(limits)],
  );
  return rows[0];
}

/** Creates or replaces a queue declared in code. Returns true when anything changed. */
export async function upsertQueue(db: Queryable, name: string, limits: QueueLimits): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into strata.queues as q (name, concurrency, worker_concurrency, partition_concurrency, rate_limit, rate_period_ms)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (name) do update
       set concurrency = excluded.concurrency, worker_concurrency = excluded.worker_concurrency,
           partition_concurrency = excluded.partition_concurrency, rate_limit = excluded.rate_limit,
           rate_period_ms = excluded.rate_period_ms, updated_at = now()
     where (q.concurrency, q.worker_concurrency, q.partition_concurrency, q.rate_limit, q.rate_period_ms)
           is distinct from (excluded.concurrency, excluded.worker_concurrency, excluded.partition_concurrency, excluded.rate_limit, excluded.rate_period_ms)`,
    [name, ...limitParams(limits)],
  );
  return rowCount === 1;
}

/** Replaces a queue's limits; undefined when it does not exist. */
export async function updateQueue(db: Queryable, name: string, limits: QueueLimits): Promise<QueueRow | undefined> {
  const { rows } = await db.query<QueueRow & Record<string, unknown>>(
    `update strata.queues
        set concurrency = $2, worker_concurrency = $3, partition_concurrency = $4, rate_limit = $5, rate_period_ms = $6, updated_at = now()
      where name = $1 returning ${QUEUE_COLUMNS}`,
    [name, ...limitParams(limits)],
  );
  return rows[0];
}

export async function getQueue(db: Queryable, name: string): Promise<QueueRow | undefined> {
  const { rows } = await db.query<QueueRow & Record<string, unknown>>(`select ${QUEUE_COLUMNS} from strata.queues where name = $1`, [name]);
  return rows[0];
}

/**
 * What a client's enqueue checks, in one statement: queue `name` (undefined when there is none)
 * and whether some executor registered `workflow`.
 */
export async function queueForEnqueue(db: Queryable, name: string, workflow: string): Promise<{ queue: QueueRow | undefined; workflowKnown: boolean }> {
  const { rows } = await db.query<QueueRow & { workflow_known: boolean } & Record<string, unknown>>(
    `select q.*, exists (select 1 from strata.executors where $2 = any(workflow_names)) as workflow_known
       from (select 1) one left join (select ${QUEUE_COLUMNS} from strata.queues where name = $1) q on true`,
    [name, workflow],
    { prepare: true },
  );
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: the enqueue check answers one row');
  const { workflow_known: workflowKnown, ...queue } = row;
  return { queue: queue.name === null ? undefined : (queue as QueueRow), workflowKnown };
}

export async function listQueues(db: Queryable): Promise<QueueRow[]> {
  const { rows } = await db.query<QueueRow & Record<string, unknown>>(`select ${QUEUE_COLUMNS} from strata.queues order by name`);
  return rows;
}

/** Deletes a queue unless workflows are queued or running on it. */
export async function deleteQueue(db: Database, name: string): Promise<'deleted' | 'missing' | 'busy'> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query(`select name from strata.queues where name = $1 for update`, [name]);
    if (rows.length === 0) return 'missing';
    const busy = await tx.query(`select 1 from strata.workflows where queue_name = $1 and status in ('ENQUEUED', 'PENDING') limit 1`, [name]);
    if (busy.rows.length > 0) return 'busy';
    await tx.query(`delete from strata.queues where name = $1`, [name]);
    return 'deleted';
  });
}

/** A workflow to put on a queue. */
export interface NewQueuedWorkflow {
  readonly workflowId: string;
  readonly name: string;
  readonly inputs: string;
  readonly queueName: string;
  readonly partitionKey: string;
  readonly priority: number;
  readonly deduplicationKey: string | null;
  readonly notBefore: Date | null;
  readonly timeoutMs: number | null;
  readonly parentWorkflowId: string | null;
  /** An inherited deadline (a child's parent's), kept when the queue's own timeout starts. */
  readonly deadlineAt: Date | null;
  /** `StartOptions.attributes` as JSON text, or null for none. */
  readonly attributes: string | null;
  /** W3C traceparent of the active span, if any. */
  readonly traceParent: string | null;
  /** The only application version whose executors may dequeue it; null: any (the claimer's is set then). */
  readonly appVersion: string | null;
}

/**
 * Inserts an ENQUEUED workflow. False when the workflow ID exists or the deduplication key is
 * live (the caller tells which): no error is raised, so a caller's transaction stays usable.
 */
export async function enqueueWorkflow(db: Queryable, workflow: NewQueuedWorkflow, notifyChannel: string | null = null): Promise<boolean> {
  // With notifyChannel, `q:<queue>` goes out with the insert's own commit (no second commit).
  const notify = notifyChannel === null ? '' : NOTIFY_QUEUE;
  const { rows } = await db.query(
    `with queued as (
       insert into strata.workflows
         (workflow_id, name, status, inputs, queue_name, queue_partition, priority, deduplication_key, not_before,
          timeout_ms, parent_workflow_id, deadline_at, attributes, trace_parent, app_version, queue_order)
       values ($1, $2, 'ENQUEUED', $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12::jsonb, '{}'), $13, $14, nextval('strata.queue_order'))
       on conflict do nothing
       returning queue_name)
     select 1${notify} from queued`,
    [
      workflow.workflowId,
      workflow.name,
      workflow.inputs,
      workflow.queueName,
      workflow.partitionKey,
      workflow.priority,
      workflow.deduplicationKey,
      workflow.notBefore,
      workflow.timeoutMs,
      workflow.parentWorkflowId,
      workflow.deadlineAt,
      workflow.attributes,
      workflow.traceParent,
      workflow.appVersion,
      ...(notifyChannel === null ? [] : [notifyChannel]),
    ],
    { prepare: true },
  );
  return rows.length === 1;
}

/**
 * {@link enqueueWorkflow} for many workflows in one statement (group commit of enqueues outside
 * a transaction): returns the IDs it inserted; the others (an existing ID, a live deduplication
 * key) are for the caller to sort out one by one. With `notifyChannel`, `q:<queue>` goes out
 * with the commit (PostgreSQL sends one of each distinct notification per transaction).
 */
export async function enqueueWorkflows(db: Queryable, workflows: readonly NewQueuedWorkflow[], notifyChannel: string | null): Promise<Set<string>> {
  if (workflows.length === 1) {
    const [one] = workflows as [NewQueuedWorkflow];
    return new Set((await enqueueWorkflow(db, one, notifyChannel)) ? [one.workflowId] : []);
  }
  const notify = notifyChannel === null ? '' : NOTIFY_QUEUE;
  const { rows } = await db.query<{ workflow_id: string }>(
    `with queued as (
       insert into strata.workflows
         (workflow_id, name, status, inputs, queue_name, queue_partition, priority, deduplication_key, not_before,
          timeout_ms, parent_workflow_id, deadline_at, attributes, trace_parent, app_version, queue_order)
       select u.workflow_id, u.name, 'ENQUEUED', u.inputs, u.queue_name, u.queue_partition, u.priority, u.deduplication_key, u.not_before,
              u.timeout_ms, u.parent_workflow_id, u.deadline_at, coalesce(u.attributes::jsonb, '{}'), u.trace_parent, u.app_version, nextval('strata.queue_order')
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::timestamptz[],
                     $9::bigint[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[])
              as u(workflow_id, name, inputs, queue_name, queue_partition, priority, deduplication_key, not_before,
                   timeout_ms, parent_workflow_id, deadline_at, attributes, trace_parent, app_version)
       on conflict do nothing
       returning workflow_id, queue_name)
     select workflow_id${notify} from queued`,
    [
      workflows.map((w) => w.workflowId),
      workflows.map((w) => w.name),
      workflows.map((w) => w.inputs),
      workflows.map((w) => w.queueName),
      workflows.map((w) => w.partitionKey),
      workflows.map((w) => w.priority),
      workflows.map((w) => w.deduplicationKey),
      workflows.map((w) => w.notBefore?.toISOString() ?? null),
      workflows.map((w) => w.timeoutMs),
      workflows.map((w) => w.parentWorkflowId),
      workflows.map((w) => w.deadlineAt?.toISOString() ?? null),
      workflows.map((w) => w.attributes),
      workflows.map((w) => w.traceParent),
      workflows.map((w) => w.appVersion),
      ...(notifyChannel === null ? [] : [notifyChannel]),
    ],
    { prepare: true },
  );
  return new Set(rows.map((row) => row.workflow_id));
}

/** The queued or running workflow that holds a deduplication key, if any. */
export async function liveDeduplicationHolder(db: Queryable, queueName: string, deduplicationKey: string): Promise<string | undefined> {
  const { rows } = await db.query<{ workflow_id: string }>(
    `select workflow_id from strata.workflows
      where queue_name = $1 and deduplication_key = $2 and status in ('ENQUEUED', 'PENDING')`,
    [queueName, deduplicationKey],
  );
  return rows[0]?.workflow_id;
}

/** A workflow this executor took off a queue. */
export interface DequeuedWorkflow {
  readonly workflow_id: string;
  readonly name: string;
  readonly inputs: string;
  readonly deadline_at: Date | null;
  readonly priority: number;
  readonly queue_order: string;
  /** It has recorded steps (a resumed workflow): load them before running it. */
  readonly has_steps: boolean;
  readonly trace_parent: string | null;
}

/** What one claim may take. */
export interface ClaimRequest {
  readonly queueName: string;
  readonly executorId: string;
  /** The executor's registration epoch, recorded as the owner's (fencing). */
  readonly epoch: number;
  readonly appVersion: string;
  /** Workflow names this executor can run; others stay queued for executors that can. */
  readonly workflowNames: readonly string[];
  /** Most to take (worker concurrency and batch bound already applied). */
  readonly max: number;
}

/** The claim's result, and when to look again if a limit (not an empty queue) held work back. */
export interface ClaimResult {
  readonly claimed: DequeuedWorkflow[];
  /** The rate limit is used up until this time. */
  readonly rateLimitedUntil?: Date;
  /**
   * When the earliest delayed workflow of the queue comes due (null: none is delayed), where the
   * claim found out in the same statement; undefined when it did not ({@link nextNotBefore} tells).
   */
  readonly nextNotBefore?: Date | null;
}

/** Startable rows of queue $1, for application version $2 and workflow names $3. */
const ELIGIBLE = `status = 'ENQUEUED' and queue_name = $1 and (not_before is null or not_before <= now())
   and (app_version is null or app_version = $2) and name = any($3)`;

/** Rows of queue $1 delayed to a time still to come. */
const DELAYED = `status = 'ENQUEUED' and queue_name = $1 and not_before > now()`;

/** Moves a row to PENDING on executor $4 (registration epoch $6) and version $2; a queued timeout starts now. */
const START = `status = 'PENDING', executor_id = $4, executor_epoch = $6, app_version = coalesce(w.app_version, $2), started_at = now(), updated_at = now(),
       deadline_at = least(w.deadline_at, now() + w.timeout_ms * interval '1 millisecond')`;

const RETURNING = `returning w.workflow_id, w.name, w.inputs, w.deadline_at, w.priority, w.queue_order, w.trace_parent,
  exists (select 1 from strata.steps s where s.workflow_id = w.workflow_id) as has_steps`;

/**
 * Claims up to $5 startable rows of an unlimited queue in one statement (see {@link claimQueued}):
 * `lock` locks the candidates as they are picked, `recheck` re-tests them in the update.
 */
function claimStatement(lock: string, recheck: string): string {
  return `with claimed as (
     update strata.workflows w set ${START}
       from (select workflow_id from strata.workflows where ${ELIGIBLE}
              order by priority, queue_order limit $5 ${lock}) c
      where w.workflow_id = c.workflow_id ${recheck} ${RETURNING}),
   due as (select min(not_before) as next_not_before from strata.workflows where ${DELAYED})
   select claimed.*, due.next_not_before from due left join claimed on true`;
}

/** Native: locked candidates are skipped, so executors never wait for each other. */
const CLAIM_SKIP_LOCKED = claimStatement('for update skip locked', '');

/** Portable (no SKIP LOCKED): the update re-checks eligibility, so a row claimed meanwhile is left alone. */
const CLAIM_RECHECKED = claimStatement('', `and ${ELIGIBLE}`); // unqualified names are w's: c has only workflow_id

/**
 * The head of every partition of queue $1 (distinct partitions found by a loose index scan, so
 * the cost grows with partitions, not with queued rows), each cut to its free slots ($4 minus
 * what runs in it), merged in start order and cut to $5.
 */
const PARTITION_CANDIDATES = `
  with recursive parts(p) as (
    (select queue_partition from strata.workflows where status = 'ENQUEUED' and queue_name = $1 order by queue_partition limit 1)
    union all
    select (select queue_partition from strata.workflows
             where status = 'ENQUEUED' and queue_name = $1 and queue_partition > parts.p order by queue_partition limit 1)
      from parts where parts.p is not null
  ),
  running as (
    select queue_partition as p, count(*)::int as n from strata.workflows
     where queue_name = $1 and status = 'PENDING' group by queue_partition
  )
  select c.workflow_id from parts
    left join running r on r.p = parts.p
    cross join lateral (
      select workflow_id, priority, queue_order from strata.workflows
       where ${ELIGIBLE} and queue_partition = parts.p
       order by priority, queue_order limit greatest($4 - coalesce(r.n, 0), 0)
    ) c
   where parts.p is not null
   order by c.priority, c.queue_order limit $5`;

/**
 * Takes up to `request.max` startable workflows off a queue in start order (priority, then
 * enqueue order) and marks them PENDING on this executor, within the queue's limits.
 *
 * A queue without global limits is claimed in one statement with `FOR UPDATE SKIP LOCKED`, so
 * executors never wait for each other. Where the engine has no `SKIP LOCKED` (the portable
 * profile), the same statement re-checks each row's eligibility in its `UPDATE`: two executors
 * that picked the same row serialize on it (SERIALIZABLE aborts one with 40001, and the store
 * retries it), and the row goes to one of them, PENDING under its executor lease (epoch).
 *
 * A queue with a global concurrency, partition concurrency or rate limit is claimed under a lock
 * on its `strata.queues` row, so the counts it checks cannot change until its claim commits: the
 * limits hold exactly across executors.
 */
export async function claimQueued(db: Database, queue: QueueLimits, request: ClaimRequest): Promise<ClaimResult> {
  if (request.max <= 0) return { claimed: [] };
  const eligible = [request.queueName, request.appVersion, request.workflowNames];
  if (queue.concurrency === null && queue.partition_concurrency === null && queue.rate_limit === null) {
    // One statement claims and also says when the earliest delayed workflow comes due: always one
    // row (the due time), joined to each claimed one.
    type Row = DequeuedWorkflow & { next_not_before: Date | null };
    const { rows } = await db.query<{ [K in keyof Row]: Row[K] | null } & Record<string, unknown>>(
      db.profile.capabilities.skipLocked ? CLAIM_SKIP_LOCKED : CLAIM_RECHECKED,
      [...eligible, request.executorId, request.max, request.epoch],
      { prepare: true },
    );
    // The row of an empty claim has nulls where a claimed workflow's columns would be.
    const claimed = rows.filter((row) => row.workflow_id !== null).map(({ next_not_before: _, ...row }) => row as unknown as DequeuedWorkflow);
    return { claimed: inStartOrder(claimed), nextNotBefore: rows[0]?.next_not_before ?? null };
  }
  return db.transaction(async (tx) => {
    // Fresh limits under the lock: a concurrent claim or update of this queue waits for this one.
    // (NO KEY UPDATE, not UPDATE: enqueues only take KEY SHARE through their foreign key, and must not wait.)
    const locked = await tx.query<QueueLimits & Record<string, unknown>>(
      `select concurrency, worker_concurrency, partition_concurrency, rate_limit, rate_period_ms from strata.queues where name = $1 for no key update`,
      [request.queueName],
    );
    const limits = locked.rows[0];
    if (!limits) return { claimed: [] };
    let max = request.max;
    if (limits.concurrency !== null) {
      const { rows } = await tx.query<{ n: number }>(
        `select count(*)::int as n from strata.workflows where queue_name = $1 and status = 'PENDING'`,
        [request.queueName],
      );
      max = Math.min(max, limits.concurrency - rows[0]!.n);
    }
    let rateLimitedUntil: Date | undefined;
    if (limits.rate_limit !== null && limits.rate_period_ms !== null) {
      const { rows } = await tx.query<{ n: number; oldest: Date | null }>(
        `select count(*)::int as n, min(started_at) as oldest from strata.workflows
          where queue_name = $1 and started_at > now() - $2 * interval '1 millisecond'`,
        [request.queueName, limits.rate_period_ms],
      );
      const { n, oldest } = rows[0]!;
      if (n >= limits.rate_limit && oldest) rateLimitedUntil = new Date(oldest.getTime() + limits.rate_period_ms);
      max = Math.min(max, limits.rate_limit - n);
    }
    if (max <= 0) return { claimed: [], rateLimitedUntil };
    const candidates =
      limits.partition_concurrency === null
        ? await tx.query<{ workflow_id: string }>(`select workflow_id from strata.workflows where ${ELIGIBLE} order by priority, queue_order limit $4`, [...eligible, max])
        : await tx.query<{ workflow_id: string }>(PARTITION_CANDIDATES, [...eligible, limits.partition_concurrency, max]);
    if (candidates.rows.length === 0) return { claimed: [], rateLimitedUntil };
    const { rows } = await tx.query<DequeuedWorkflow & Record<string, unknown>>(
      `update strata.workflows w set ${START.replace('$4', '$3').replace('$6', '$4')} where w.workflow_id = any($1) and w.status = 'ENQUEUED' ${RETURNING}`,
      [candidates.rows.map((row) => row.workflow_id), request.appVersion, request.executorId, request.epoch],
    );
    return { claimed: inStartOrder(rows), rateLimitedUntil };
  });
}

/** When the earliest delayed workflow of a queue becomes startable, if any is delayed. */
export async function nextNotBefore(db: Queryable, queueName: string): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(`select min(not_before) as at from strata.workflows where ${DELAYED}`, [queueName], { prepare: true });
  return rows[0]?.at ?? undefined;
}

function inStartOrder(rows: DequeuedWorkflow[]): DequeuedWorkflow[] {
  return rows.sort((a, b) => a.priority - b.priority || Number(BigInt(String(a.queue_order)) - BigInt(String(b.queue_order))));
}
