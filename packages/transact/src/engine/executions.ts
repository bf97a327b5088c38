// The workflows running in this process: one execution each, from its recorded history to its recorded end.
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { isConnectionError, type Database } from '@strata/store';
import {
  EngineStateError,
  SystemDatabaseError,
  WorkflowCancelledError,
  WorkflowStateError,
  WorkflowTakenOverError,
  WorkflowTimeoutError,
} from '../errors.js';
import type { Logger } from '../interfaces.js';
import type { Serializer } from '../serialization.js';
import { workflowEndedKey } from '../signals/keys.js';
import { cancelWorkflowTree, expiredRoot, resetRecoveryAttempts, type StepRow } from '../sql/index.js';
import type { Operations } from '../system/operations.js';
import { abortable, setLongTimeout, withTimeout } from '../timers.js';
import { startSpan, withSpan } from '../tracing.js';
import { Context, currentContext } from '../workflow/context.js';
import type { Owner, Runtime, Terminal } from '../workflow/runtime.js';
import type { Availability } from './availability.js';
import type { Registration } from './registry.js';

/** How one execution ended, as far as this process knows. */
interface Outcome {
  readonly terminal: Terminal | undefined;
}

interface Execution {
  readonly controller: AbortController;
  readonly context: Context;
  readonly done: Promise<Outcome>;
  /** The queue it was taken from, if any (counts against the queue's per-executor limit). */
  readonly queue: string | null;
  /** Its trace span (children started here nest under it). */
  readonly span: Span;
}

/** What the executions need from their engine. */
export interface ExecutionsHost {
  readonly runtime: Runtime;
  readonly operations: Operations;
  readonly serializer: Serializer;
  readonly logger: Logger;
  readonly executorId: string;
  readonly appVersion: string;
  /** Aborted when the engine stops: ends waits for a lost database that would outlive it. */
  readonly stopping: AbortSignal;
  /** True while the engine runs (not launching, draining or stopped). */
  isRunning(): boolean;
  availabilityOf(db: Database): Availability;
  /** A workflow taken from `queue` ended here (its slot is free). */
  queueSlotFreed(queue: string): void;
}

/** The executions of one engine, by workflow ID: at most one per workflow in this process. */
export class Executions {
  readonly #host: ExecutionsHost;
  readonly #running = new Map<string, Execution>();
  /** While orphans are searched for after an outage: every workflow that ran here meanwhile. */
  #adopting: Set<string> | undefined;

  constructor(host: ExecutionsHost) {
    this.#host = host;
  }

  has(workflowId: string): boolean {
    return this.#running.has(workflowId);
  }

  /** True when `context` is the context of this engine's execution of its workflow. */
  owns(context: Context): boolean {
    return this.#running.get(context.workflowId)?.context === context;
  }

  /** The running context of `workflowId`, or an EngineStateError when it does not run here. */
  contextOf(workflowId: string): Context {
    const context = this.#running.get(workflowId)?.context;
    if (!context) throw new EngineStateError(`workflow "${workflowId}" is not running in this process`);
    return context;
  }

  spanOf(workflowId: string): Span | undefined {
    return this.#running.get(workflowId)?.span;
  }

  /** How many workflows of `queue` run in this process now. */
  countOnQueue(queue: string): number {
    let count = 0;
    for (const execution of this.#running.values()) if (execution.queue === queue) count++;
    return count;
  }

  /**
   * Starts recording, in `seen`, every workflow that runs here from now until {@link stopAdopting}
   * (the search for orphans must not run one of them again); `seen` starts with those running now.
   */
  startAdopting(): Set<string> | undefined {
    if (this.#adopting) return undefined;
    this.#adopting = new Set(this.#running.keys());
    return this.#adopting;
  }

  stopAdopting(): void {
    this.#adopting = undefined;
  }

  /** Runs a workflow in this process from its recorded history. */
  execute(
    workflowId: string,
    registration: Registration,
    args: unknown[],
    deadlineAt: Date | null,
    history: StepRow[],
    queue: string | null,
    parentSpan?: Span | string | null,
    recoveryAttempts = 0,
  ): void {
    // One execution per workflow per process: a second would race the first for checkpoints.
    if (this.#running.has(workflowId)) return;
    this.#adopting?.add(workflowId);
    const host = this.#host;
    const runtime = host.runtime;
    const controller = new AbortController();
    // A workflow recovered more than once is forgiven its count once it gets past where it stopped.
    const onProgress =
      recoveryAttempts > 1
        ? () => void resetRecoveryAttempts(runtime.db, workflowId).catch((error: unknown) => host.logger.warn(`strata: could not reset the recovery count of "${workflowId}"`, error))
        : undefined;
    const context = new Context(runtime, workflowId, controller.signal, history, deadlineAt, onProgress ? { onProgress } : {});
    // A child's span nests under its parent's when the parent runs here.
    const span = startSpan(
      `workflow ${registration.name}`,
      {
        'strata.workflow.id': workflowId,
        'strata.workflow.name': registration.name,
        'strata.executor.id': host.executorId,
        'strata.app.version': host.appVersion,
        'strata.workflow.replayed_steps': history.length,
        ...(queue === null ? {} : { 'strata.queue': queue }),
      },
      parentSpan,
    );
    const cancelDeadline = deadlineAt ? setLongTimeout(() => void this.expire(workflowId, deadlineAt), deadlineAt.getTime() - Date.now(), true) : undefined;
    const done = (async (): Promise<Outcome> => {
      try {
        await Promise.resolve();
        let result: unknown;
        try {
          result = await withSpan(span, () => currentContext.run(context, () => registration.fn(context, ...args)));
          if (context.fatalError) throw context.fatalError;
          if (controller.signal.aborted) throw controller.signal.reason;
          await context.settle(); // what its last recvs took is recorded before its end
        } catch (error) {
          return await this.#finishFailed(workflowId, context, controller.signal, error);
        }
        let output: string;
        try {
          output = host.serializer.serialize(result, `output of workflow "${registration.name}"`);
        } catch (error) {
          return await this.#finishFailed(workflowId, context, controller.signal, error);
        }
        return await this.finish(workflowId, 'SUCCESS', output, null, context.owner, controller.signal);
      } finally {
        span.end();
        cancelDeadline?.();
        this.#running.delete(workflowId);
        this.#adopting?.add(workflowId);
        if (queue !== null) host.queueSlotFreed(queue);
      }
    })();
    // Set before the workflow's first line runs (it starts after an await), so children find their parent.
    this.#running.set(workflowId, { controller, context, done, queue, span });
  }

  async #finishFailed(workflowId: string, context: Context, signal: AbortSignal, error: unknown): Promise<Outcome> {
    // What its recvs took is recorded before the end; a failure to record it is fatal (it stays PENDING).
    if (!context.fatalError && !signal.aborted) await context.settle().catch(() => {});
    const failure = context.fatalError ?? error;
    const span = this.#running.get(workflowId)?.span;
    if (span?.isRecording()) {
      span.recordException(failure instanceof Error ? failure : new Error(String(failure)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: (failure as Error)?.message ?? String(failure) });
    }
    if (signal.aborted && !context.fatalError) return { terminal: undefined }; // cancelled, timed out or shut down: recorded by whoever aborted
    const logger = this.#host.logger;
    // A connection error from a step's own code (recorded as its outcome) is the workflow's failure like any other.
    if ((failure instanceof WorkflowTakenOverError && failure.workflowId === workflowId) || (isConnectionError(failure) && !context.isRecordedOutcome(failure))) {
      // Fenced (another executor owns it now) or the database is gone while the engine stops: nothing to record here.
      logger.warn(`strata: workflow "${workflowId}" is not finished here: ${(failure as Error).message}`);
      return { terminal: undefined };
    }
    if (failure instanceof SystemDatabaseError || failure instanceof EngineStateError) {
      logger.warn(`strata: workflow "${workflowId}" stays PENDING: ${(failure as Error).message}`);
      return { terminal: undefined };
    }
    // This workflow was cancelled or finished elsewhere: its row already says so. (The same error
    // about another workflow, e.g. a cancelled child, is an ordinary failure of this one.)
    if ((failure instanceof WorkflowCancelledError || failure instanceof WorkflowStateError) && failure.workflowId === workflowId) {
      return { terminal: undefined };
    }
    return this.finish(workflowId, 'ERROR', null, this.#host.serializer.serializeError(failure), context.owner, signal);
  }

  /**
   * Records a workflow's end. Through an outage the write waits for the database until `signal`
   * aborts (the execution is stopped: a shutdown past its timeout) or the engine stops; then the
   * workflow stays PENDING and its recovery finishes it.
   */
  async finish(
    workflowId: string,
    status: 'SUCCESS' | 'ERROR',
    output: string | null,
    error: string | null,
    owner: Owner = this.#host.runtime.owner(),
    signal: AbortSignal = this.#host.stopping,
  ): Promise<Outcome> {
    const host = this.#host;
    const { ends, signals, db } = host.runtime;
    try {
      // The end and its notification to other processes commit together; through an outage the
      // write waits for the database (a repeat after an ambiguous commit finds the row ended).
      const end = { workflowId, status, output, error, executorId: owner.executorId, epoch: owner.epoch };
      let written: boolean;
      try {
        written = await ends.write(end);
      } catch (failure) {
        if (!isConnectionError(failure)) throw failure;
        // Only now the combined signal: AbortSignal.any on every end showed in profiles.
        const until = signal === host.stopping ? signal : AbortSignal.any([signal, host.stopping]);
        written = await host.availabilityOf(db).retry(() => ends.write(end), until);
      }
      if (!written) return { terminal: undefined };
    } catch (failure) {
      host.logger.warn(`strata: could not record the end of workflow "${workflowId}"; it stays PENDING and re-runs from its checkpoints on recovery`, failure);
      return { terminal: undefined };
    }
    signals.wake(workflowEndedKey(workflowId));
    return { terminal: { status, output, error } };
  }

  /** Waits for a workflow to finish: the local execution if it runs here, else the database. */
  async awaitTerminal(workflowId: string, timeoutMs: number, signal?: AbortSignal): Promise<Terminal> {
    const deadlineMs = Date.now() + timeoutMs;
    const local = this.#running.get(workflowId);
    if (local) {
      const outcome = await abortable(withTimeout(local.done, timeoutMs, `workflow "${workflowId}" finishing`), signal);
      if (outcome.terminal) return outcome.terminal;
    }
    return this.#host.operations.awaitStored(workflowId, timeoutMs, deadlineMs, signal);
  }

  /** A workflow passed its deadline: cancel it and its children, recording the timeout. */
  async expire(workflowId: string, deadlineAt: Date): Promise<void> {
    const host = this.#host;
    if (!host.isRunning()) return;
    try {
      const { db } = host.runtime;
      // Not before the deadline itself: a timer may fire a millisecond early, and then no ancestor
      // sharing the deadline would count as expired and a child alone would be cancelled.
      const root = await expiredRoot(db, workflowId, new Date(Math.max(Date.now(), deadlineAt.getTime())));
      const cancelled = await cancelWorkflowTree(db, root, host.serializer.serialize(new WorkflowTimeoutError(root), 'error'));
      await this.#announceCancelled(cancelled, (id) => new WorkflowTimeoutError(id));
    } catch (error) {
      host.logger.warn(`strata: could not time out workflow "${workflowId}"`, error);
    }
  }

  async #announceCancelled(workflowIds: readonly string[], reason: (id: string) => Error): Promise<void> {
    for (const id of workflowIds) this.abortLocal(id, reason);
    await this.#host.operations.announceEnded(workflowIds, true).catch((error: unknown) => this.#host.logger.warn('strata: could not notify a cancellation', error));
  }

  /** Stops the local execution of `workflowId`, if any, with `reason(workflowId)`. */
  abortLocal(workflowId: string, reason: (id: string) => Error): void {
    const execution = this.#running.get(workflowId);
    if (execution && !execution.controller.signal.aborted) execution.controller.abort(reason(workflowId));
  }

  /**
   * Graceful stop: every execution drains (a step in progress finishes and is recorded, waits end),
   * gets `timeoutMs` to reach its next checkpoint, then the rest are aborted with `reason`.
   */
  async drain(reason: Error, timeoutMs: number): Promise<void> {
    const executions = [...this.#running.values()];
    for (const execution of executions) execution.context.drain(reason);
    const settled = Promise.allSettled(executions.map((execution) => execution.done));
    if (timeoutMs > 0) await withTimeout(settled, timeoutMs, 'shutdown').catch(() => {});
    for (const execution of executions) execution.controller.abort(reason);
    await settled;
  }

  /** Aborts every execution with `reason` and waits until they all ended (a lapsed lease). */
  async abortAll(reason: Error): Promise<void> {
    const executions = [...this.#running.values()];
    for (const execution of executions) execution.controller.abort(reason);
    await Promise.allSettled(executions.map((execution) => execution.done));
  }
}
