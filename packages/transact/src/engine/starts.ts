// Starting workflows: the row of a direct start (group commit) or an enqueue, a child's start recorded in its parent, then its execution.
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '@strata/store';
import { DuplicateEnqueueError, InvalidArgumentError, UnknownQueueError, WorkflowConflictError } from '../errors.js';
import type { EnqueueOptions, Logger, StartOptions, WorkflowStarter } from '../interfaces.js';
import { assertQueuedIfQueueOptions, attributesJson, enqueue } from '../queues/enqueue.js';
import type { QueueRunner } from '../queues/queue-runner.js';
import type { Serializer } from '../serialization.js';
import { queueKey } from '../signals/keys.js';
import type { Signals } from '../signals/signals.js';
import { getQueue, getWorkflow, insertWorkflow, listQueues, type QueueRow } from '../sql/index.js';
import { activeTraceParent } from '../tracing.js';
import type { ParentLink, Runtime } from '../workflow/runtime.js';
import type { Executions } from './executions.js';
import type { Lease } from './lease.js';
import type { Registration, Registry } from './registry.js';

/** What starting workflows needs from its engine. */
export interface StartsHost {
  readonly db: Database;
  readonly runtime: Runtime;
  readonly registry: Registry;
  readonly executions: Executions;
  readonly lease: Lease;
  readonly queueRunner: QueueRunner;
  readonly signals: Signals;
  readonly serializer: Serializer;
  readonly logger: Logger;
  readonly executorId: string;
  readonly appVersion: string;
  /** True when `starter` was made by this engine's `strata.workflow()`. */
  ownsStarter(starter: WorkflowStarter<unknown[], unknown>): boolean;
}

/** The child start was not recorded: another execution of the parent recorded it first. */
class ChildStartUnwritten extends Error {}

/** Starts and enqueues workflows for one engine. */
export class Starts {
  readonly #host: StartsHost;

  constructor(host: StartsHost) {
    this.#host = host;
  }

  /** Starts or enqueues a workflow (a child when `parent` is given; inside `tx` when given) and returns its ID. */
  async startWorkflow(
    starter: WorkflowStarter<unknown[], unknown>,
    args: unknown[],
    options: StartOptions & EnqueueOptions,
    parent?: ParentLink,
    tx?: Queryable,
  ): Promise<string> {
    const host = this.#host;
    if (!host.ownsStarter(starter)) {
      throw new InvalidArgumentError(`workflow "${String(starter?.name)}" is registered with another Strata engine; start it through that engine`);
    }
    const registration = host.registry.require(starter.name);
    // `options` come from a starter's binding, validated when the engine bound them.
    const workflowId = options.workflowId ?? (parent ? `${parent.workflowId}-${parent.stepId}` : randomUUID());
    const inputs = host.serializer.serialize(args, `input of workflow "${registration.name}"`);
    const ownDeadline = options.timeoutMs === undefined ? null : new Date(Date.now() + options.timeoutMs);
    const deadlineAt = earliest(ownDeadline, parent?.deadlineAt ?? null);
    if (options.queue !== undefined) return this.#enqueue(registration, workflowId, inputs, options.queue, options, parent, tx);
    assertQueuedIfQueueOptions(options);
    const row = {
      workflowId,
      name: registration.name,
      inputs,
      executorId: host.executorId,
      epoch: host.lease.epoch,
      appVersion: host.appVersion,
      parentWorkflowId: parent?.workflowId ?? null,
      deadlineAt,
      attributes: attributesJson(options.attributes),
      traceParent: activeTraceParent(),
    };
    if (tx) throw new InvalidArgumentError('only queued starts can join a caller\'s transaction; give a queue');
    let created: boolean;
    if (parent) {
      const context = host.executions.contextOf(parent.workflowId);
      // Through the parent's durable path, like its every write: repeated through a lost
      // connection (a repeat after a lost answer finds the start recorded, and the child row
      // committed unanswered is adopted by the monitor's resync), never left to strand the parent.
      const outcome = await context
        .system(() =>
          host.db.transaction(async (tx) => {
            const inserted = await insertWorkflow(tx, row);
            if (!inserted) await assertSameName(tx, workflowId, registration.name);
            if (!(await context.recordChildStart(tx, parent.stepId, registration.name, workflowId))) throw new ChildStartUnwritten();
            return inserted;
          }, host.runtime.stepTransactions),
        )
        .catch(async (error: unknown) => {
          if (error instanceof ChildStartUnwritten) return context.childStartedElsewhere(parent.stepId);
          throw error;
        });
      if (typeof outcome === 'string') return outcome;
      created = outcome;
    } else {
      created = await host.runtime.starts.write(row);
      if (!created) await assertSameName(host.db, workflowId, registration.name);
    }
    if (created) host.executions.execute(workflowId, registration, args, deadlineAt, [], null, parent && host.executions.spanOf(parent.workflowId));
    return workflowId;
  }

  /** Puts a workflow on its queue (inside the parent's or the caller's transaction, if any). */
  async #enqueue(
    registration: Registration,
    workflowId: string,
    inputs: string,
    queueName: string,
    options: StartOptions & EnqueueOptions,
    parent: ParentLink | undefined,
    tx: Queryable | undefined,
  ): Promise<string> {
    const host = this.#host;
    const context = parent ? host.executions.contextOf(parent.workflowId) : undefined;
    // A parent's read goes through its durable path too: a lost connection must not end it.
    const queue = context && !tx ? await context.system(() => this.knownQueue(queueName)) : await this.knownQueue(queueName, tx);
    const request = {
      workflowId,
      name: registration.name,
      inputs,
      queueName,
      queue,
      options,
      parentWorkflowId: parent?.workflowId ?? null,
      deadlineAt: parent?.deadlineAt ?? null,
    };
    let enqueuedId: string;
    if (parent && context) {
      // Repeated through a lost connection, as a direct child's start is (see startWorkflow).
      const outcome = await context
        .system(() =>
          host.db.transaction(async (parentTx) => {
            let holder: string;
            try {
              holder = (await enqueue(parentTx, request)).workflowId;
            } catch (error) {
              if (!(error instanceof DuplicateEnqueueError)) throw error;
              // Recorded, so a replay meets the same rejection instead of enqueuing anew.
              if (!(await context.recordChildStart(parentTx, parent.stepId, registration.name, null, error))) throw new ChildStartUnwritten();
              return { rejected: error };
            }
            if (!(await context.recordChildStart(parentTx, parent.stepId, registration.name, holder))) throw new ChildStartUnwritten();
            return { holder };
          }, host.runtime.stepTransactions),
        )
        .catch(async (error: unknown) => {
          if (error instanceof ChildStartUnwritten) return { holder: await context.childStartedElsewhere(parent.stepId) };
          throw error;
        });
      if ('rejected' in outcome) throw outcome.rejected;
      enqueuedId = outcome.holder;
    } else {
      enqueuedId = (tx ? await enqueue(tx, request) : await enqueue(host.db, request, (row) => host.runtime.enqueues.write(row))).workflowId;
    }
    if (!tx) {
      host.signals.wake(queueKey(queueName)); // this executor looks at once; others hear the NOTIFY
    }
    return enqueuedId;
  }

  /**
   * The queue's stored limits, from the runner's cache or the database (read through `tx` when
   * given: an embedded database has one connection). A queue deleted since it was cached is
   * caught by the enqueue's foreign key.
   */
  async knownQueue(name: string, tx?: Queryable): Promise<QueueRow> {
    const cached = this.#host.queueRunner.queues.get(name);
    if (cached) return cached;
    const via = tx ?? this.#host.db;
    const row = await getQueue(via, name);
    if (!row) throw new UnknownQueueError(name, (await listQueues(via)).map((q) => q.name));
    return row;
  }
}

async function assertSameName(db: Queryable, workflowId: string, name: string): Promise<void> {
  const existing = await getWorkflow(db, workflowId);
  if (existing && existing.name !== name) throw new WorkflowConflictError(workflowId, existing.name, name);
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a.getTime() <= b.getTime() ? a : b;
}
