import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Queryable, Transaction } from '@strata/store';
import {
  InvalidArgumentError,
  NonDeterminismError,
  StrataError,
  StepTimeoutError,
  StreamClosedError,
  WorkflowCancelledError,
  WorkflowNotFoundError,
  WorkflowStateError,
  WorkflowTakenOverError,
} from './errors.js';
import type {
  Logger,
  RetryPolicy,
  StepInfo,
  StepOptions,
  TransactionStepOptions,
  WaitOptions,
  WorkflowContext,
  WorkflowHandle,
  WorkflowStarter,
  WorkflowStatus,
} from './interfaces.js';
import type { Attributes } from '@opentelemetry/api';
import { inStatementChannel } from './signals.js';
import { inSpan, spanEvent } from './tracing.js';
import { SystemDatabaseError, abortable, abortableDelay, isSystemFailure, setLongTimeout, type Owner, type Runtime } from './runtime.js';
import {
  appendStream,
  explainUnwrittenStep,
  getEventValue,
  getTransactionOutput,
  insertStepInTransaction,
  peekMessage,
  recordTaken,
  sendAsStep,
  insertTransactionOutput,
  upsertEvent,
  type NewStep,
  type StepKind,
  type TakenMessage,
  type StepRow,
} from './sql/index.js';
import { assertDuration, assertFunction, assertIdentifier, assertOptions, assertString, waitTimeoutMs } from './validate.js';
import { RETRY_POLICY_KEYS, STEP_OPTION_KEYS, TRANSACTION_OPTION_KEYS } from './config.js';

/**
 * How long a recv waits before it records its deadline. When a message arrives sooner, the
 * deadline is recorded with the message, in the commit of the workflow's next write, so a quick
 * exchange of messages adds no commit for the deadline.
 */
const DEADLINE_RECORD_AFTER_MS = 100;
/** Most messages recvs may take before their taking is recorded; beyond it a recv records them first. */
const TAKEN_UNRECORDED_MAX = 16;

const DEFAULT_RETRY: Required<Omit<RetryPolicy, 'retryIf'>> = { maxAttempts: 1, intervalMs: 100, backoffFactor: 2, maxIntervalMs: 30_000 };
/** Retry bound: a step retried more than this is a loop, not a policy. */
const MAX_STEP_ATTEMPTS = 1_000;

/** The workflow context of the code running now, if any (to turn `workflow.start()` inside a workflow into a child). */
export const currentContext = new AsyncLocalStorage<Context>();

/** The name of the step or transaction whose function is running now, if any. */
const insideStep = new AsyncLocalStorage<{ readonly context: Context; readonly name: string }>();

/** Thrown inside a transaction to roll it back when its checkpoint could not be written. */
class Unwritten extends Error {}

/**
 * Watches a replay-only execution (time travel, `strata replay`): told of every recorded
 * operation the code calls again, of a divergence, and of the first operation the history does
 * not hold.
 */
export interface ReplayObserver {
  /** The code called the operation recorded as `row`; its recorded outcome is returned to the code. */
  replayed(row: StepRow): void;
  /** The code called `current` where the history recorded `row` (the replay stops: NonDeterminismError). */
  diverged(row: StepRow, current: { readonly kind: StepKind; readonly name: string }): void;
  /** The code called an operation the history does not hold at `stepId` (the replay stops: HistoryEndError). */
  notRecorded(stepId: number, kind: StepKind, name: string): void;
}

/** How a {@link Context} runs. */
export interface ContextOptions {
  /**
   * Replay only: recorded operations return their recorded outcomes and are reported here;
   * nothing runs, waits or is written, and the first operation without a record ends the
   * execution with {@link HistoryEndError}.
   */
  readonly replay?: ReplayObserver;
  /**
   * Called once, when this execution first commits a checkpoint or begins a durable wait: the
   * recovered workflow got past whatever stopped it before (see recovery attempts).
   */
  readonly onProgress?: () => void;
}

/**
 * A replay-only execution reached an operation its history does not hold: the recorded history
 * ends here, and the live workflow would run that operation next. Like a NonDeterminismError it
 * ends the execution whatever the workflow code does with it.
 */
export class HistoryEndError extends StrataError {
  readonly workflowId: string;
  readonly stepId: number;
  readonly kind: StepKind;
  readonly stepName: string;
  constructor(workflowId: string, stepId: number, kind: StepKind, stepName: string) {
    super(
      'STRATA_REPLAY_HISTORY_END',
      `the recorded history of workflow "${workflowId}" ends at step ${stepId}; the live workflow would run ${kind} "${stepName}" next (a replay runs no new operation)`,
    );
    this.workflowId = workflowId;
    this.stepId = stepId;
    this.kind = kind;
    this.stepName = stepName;
  }
}

/**
 * The context of the workflow whose code is running now, outside any of its steps; undefined in
 * a step or transaction body (where any code may run) and outside workflows. Engine and client
 * calls made from workflow code use it to record themselves, or to refuse.
 */
export function workflowCodeContext(): Context | undefined {
  const context = currentContext.getStore();
  if (!context || insideStep.getStore()?.context === context) return undefined;
  return context;
}

/** The error for an engine or client call that workflow code must make through `ctx` (or inside a step). */
export function useContextInstead(call: string, instead: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `${call} was called from workflow code, where it would not be recorded (a recovered workflow would do it again or see something else): use ${instead}`,
  );
}

/**
 * One execution of one workflow: assigns step numbers in call order, returns recorded outputs on
 * replay and records new ones.
 */
export class Context implements WorkflowContext {
  readonly workflowId: string;
  readonly signal: AbortSignal;
  readonly deadlineAt: Date | null;
  readonly logger: Logger;
  readonly #rt: Runtime;
  /** The executor registration this execution runs under; its writes are fenced by it. */
  readonly #owner: Owner;
  readonly #history: ReadonlyMap<number, StepRow>;
  /**
   * Why this execution is draining (graceful shutdown), once it is: no new operation starts and
   * waits end, but a running step finishes and is recorded.
   */
  #drainReason: Error | undefined;
  /** Aborted on drain; made with the wait signal. */
  #drain: AbortController | undefined;
  /** What ends a wait: cancellation, timeout, shutdown or drain. */
  #waitSignalMade: AbortSignal | undefined;
  #nextStepId = 0;
  /** A failure that ends the workflow whatever its code does with it (non-determinism). */
  #fatal: Error | undefined;
  /** Stream writes of this execution, one at a time, so offsets are assigned in call order. */
  #streamChain: Promise<unknown> = Promise.resolve();
  /** Set in replay-only mode (see {@link ContextOptions.replay}). */
  readonly #observer: ReplayObserver | undefined;
  /** Messages recvs took and returned whose taking is not recorded yet, oldest first (see recv). */
  readonly #taken: TakenMessage[] = [];
  /** The recording of `#taken` in progress. */
  #recordingTaken: Promise<void> | undefined;
  /** See {@link ContextOptions.onProgress}; cleared once called. */
  #onProgress: (() => void) | undefined;

  constructor(
    rt: Runtime,
    workflowId: string,
    signal: AbortSignal,
    history: readonly StepRow[],
    deadlineAt: Date | null,
    options: ContextOptions = {},
  ) {
    this.#rt = rt;
    this.#owner = rt.owner();
    this.#observer = options.replay;
    this.#onProgress = options.onProgress;
    this.workflowId = workflowId;
    this.signal = signal;
    this.deadlineAt = deadlineAt;
    this.#history = new Map(history.map((row) => [row.step_id, row]));
    this.logger = boundLogger(rt.logger, workflowId);
  }

  /**
   * Aborts waits (sleeps, recv, getEvent, child results, retry delays) on cancellation and on
   * drain. Made at the first wait: most workflows never wait, and making it per workflow showed
   * in profiles.
   */
  get #waitSignal(): AbortSignal {
    if (!this.#waitSignalMade) {
      this.#drain = new AbortController();
      if (this.#drainReason) this.#drain.abort(this.#drainReason);
      this.#waitSignalMade = AbortSignal.any([this.signal, this.#drain.signal]);
    }
    return this.#waitSignalMade;
  }

  /**
   * Stops this execution at its next checkpoint (graceful shutdown): a step or transaction in
   * progress finishes and is recorded, waits end at once, and the next operation throws `reason`.
   */
  drain(reason: Error): void {
    if (this.#drainReason) return;
    this.#drainReason = reason;
    this.#drain?.abort(reason);
  }

  /** The executor registration this execution writes as (see fencing in docs/transact.md). */
  get owner(): Owner {
    return this.#owner;
  }

  /** The error that must end this workflow regardless of what its code caught, if any. */
  get fatalError(): Error | undefined {
    return this.#fatal;
  }

  /** True for a replay-only execution (time travel): it runs, waits for and writes nothing. */
  get replaying(): boolean {
    return this.#observer !== undefined;
  }

  async step<T>(name: string, fn: (info: StepInfo) => Promise<T> | T, options: StepOptions = {}): Promise<T> {
    assertIdentifier(name, 'step name');
    assertFunction(fn, `step "${name}" function`);
    assertOptions(options, `options of step "${name}"`, STEP_OPTION_KEYS);
    const policy = retryPolicy(options.retry, name);
    if (options.timeoutMs !== undefined) assertDuration(options.timeoutMs, `timeoutMs of step "${name}"`);
    const stepId = this.#begin();
    const recorded = this.#replay(stepId, 'step', name);
    if (recorded) return this.#decode<T>(recorded);

    const startedAt = new Date();
    for (let attempt = 1; ; attempt++) {
      // A survivor may have run and recorded this step while this executor was paused: check.
      await this.#rt.holdLease(this.signal);
      let value: T;
      try {
        value = await inSpan(`step ${name}`, this.#spanAttributes(stepId, 'step', attempt), () => this.#attempt(name, fn, attempt, options.timeoutMs));
      } catch (error) {
        if (this.signal.aborted) throw this.signal.reason;
        if (attempt < policy.maxAttempts && policy.retryIf(error)) {
          await abortableDelay(Math.min(policy.maxIntervalMs, policy.intervalMs * policy.backoffFactor ** (attempt - 1)), this.#waitSignal);
          continue;
        }
        return this.#recordFailure<T>(stepId, 'step', name, error, attempt, startedAt);
      }
      let output: string;
      try {
        output = this.#rt.serializer.serialize(value, `output of step "${name}"`);
      } catch (error) {
        return this.#recordFailure<T>(stepId, 'step', name, error, attempt, startedAt); // retrying cannot make the value storable
      }
      const existing = await this.#checkpoint(this.#newStep(stepId, 'step', name, { output, attempts: attempt, startedAt }));
      return existing ? this.#decode<T>(existing) : value;
    }
  }

  async transaction<T>(name: string, fn: (tx: Transaction) => Promise<T>, options: TransactionStepOptions = {}): Promise<T> {
    assertIdentifier(name, 'transaction name');
    assertFunction(fn, `transaction "${name}" function`);
    assertOptions(options, `options of transaction "${name}"`, TRANSACTION_OPTION_KEYS);
    const stepId = this.#begin();
    const recorded = this.#replay(stepId, 'transaction', name);
    if (recorded) return this.#decode<T>(recorded);
    const startedAt = new Date();
    const rt = this.#rt;
    const sameDatabase = rt.appDb === rt.db;
    const txOptions = options.isolation ? { isolation: options.isolation } : {};
    let attempts = 1;
    await this.#rt.holdLease(this.signal);
    await this.settle();
    try {
      let output = '';
      // Repeated through an outage: a repeat after an ambiguous commit finds its step written (Unwritten).
      const value = await rt.durable(rt.appDb, () => rt.appDb.transaction(async (tx) => {
        attempts = tx.attempt;
        const result = await inSpan(`transaction ${name}`, this.#spanAttributes(stepId, 'transaction', tx.attempt), () =>
          insideStep.run({ context: this, name }, () => fn(tx)),
        );
        output = rt.serializer.serialize(result, `output of transaction "${name}"`);
        const written = sameDatabase
          ? await insertStepInTransaction(tx, this.#newStep(stepId, 'transaction', name, { output, attempts, startedAt }))
          : await insertTransactionOutput(tx, this.workflowId, stepId, output);
        if (!written) throw new Unwritten();
        return result;
      }, txOptions), this.signal);
      if (sameDatabase) return value;
      const existing = await this.#checkpoint(this.#newStep(stepId, 'transaction', name, { output, attempts, startedAt }));
      return existing ? this.#decode<T>(existing) : value;
    } catch (error) {
      if (error instanceof Unwritten) {
        if (sameDatabase) return this.#decode<T>(await this.#explainUnwritten(stepId));
        const committed = await this.#system(() => getTransactionOutput(rt.appDb, this.workflowId, stepId));
        if (committed === undefined) throw new SystemDatabaseError(new Error(`transaction output ${this.workflowId}/${stepId} vanished`));
        const existing = await this.#checkpoint(this.#newStep(stepId, 'transaction', name, { output: committed, attempts, startedAt }));
        return this.#decode<T>(existing ?? { output: committed, error: null });
      }
      if (this.signal.aborted) throw this.signal.reason;
      if (isSystemFailure(error)) throw new SystemDatabaseError(error);
      // The user's transaction failed and rolled back: its failure is the step's recorded outcome.
      return this.#recordFailure<T>(stepId, 'transaction', name, error, attempts, startedAt);
    }
  }

  async sleep(durationMs: number): Promise<void> {
    assertDuration(durationMs, 'sleep durationMs');
    const wakeAtMs = await this.#durableTime('sleep', durationMs);
    if (this.#observer) return; // replay: the recorded wake-up time is all that matters
    this.#progressed();
    await abortableDelay(wakeAtMs - Date.now(), this.#waitSignal);
  }

  async send(destinationId: string, message: unknown, topic = ''): Promise<void> {
    assertIdentifier(destinationId, 'destination workflow ID');
    assertString(topic, 'topic');
    const stepId = this.#begin();
    if (this.#replay(stepId, 'send', topic)) return;
    const text = this.#rt.serializer.serialize(message, `message to workflow "${destinationId}"`);
    const startedAt = new Date();
    const rt = this.#rt;
    const channel = inStatementChannel(rt.db);
    const sendStatement = async (taken: TakenMessage | null) => {
      try {
        return await sendAsStep(rt.db, this.#newStep(stepId, 'send', topic, { startedAt }), destinationId, topic, text, channel, taken);
      } catch (error) {
        if ((error as { code?: unknown }).code === '23503') throw new WorkflowNotFoundError(destinationId);
        throw error;
      }
    };
    let written: boolean | StepRow | undefined;
    // The message a recv just took is recorded in the same commit, so a reply costs one commit.
    const only = this.#taken.length === 1 && !this.#recordingTaken ? this.#taken.shift()! : null;
    if (only) {
      written = await this.#recordTaken(only, () =>
        sendStatement(only).catch((error: unknown) => {
          // An unknown destination rolled the recv's record back too: it is recorded alone, then the send alone reports it.
          if (error instanceof WorkflowNotFoundError) return undefined;
          throw error;
        }),
      );
    }
    if (written === undefined) {
      await this.settle();
      written = await this.#inStatement(stepId, () => sendStatement(null));
    }
    if (written !== true) return; // recorded by another execution, which sent the message
    // The statement notified other processes with its commit (a polled database is told now).
    if (channel !== null) rt.signals.wake(`m:${destinationId}`);
    else await this.#publish(`m:${destinationId}`);
  }

  async recv<T = unknown>(topic = '', options: WaitOptions = {}): Promise<T | null> {
    assertString(topic, 'topic');
    const timeoutMs = waitTimeoutMs(options, 'recv');
    const deadline = this.#lazyDeadline(timeoutMs);
    const stepId = this.#begin();
    const recorded = this.#replay(stepId, 'recv', topic);
    if (recorded) return this.#decode<T | null>(recorded);
    const startedAt = new Date();
    const rt = this.#rt;
    if (this.#taken.length >= TAKEN_UNRECORDED_MAX) await this.settle();
    const keys = [`m:${this.workflowId}`];
    // A read: the message is taken in memory and recorded with this workflow's next write.
    const check = async () => {
      for (;;) {
        const skip = this.#taken.map((taken) => taken.messageId);
        const found = await this.#system(() => peekMessage(rt.db, this.workflowId, topic, skip));
        // A parallel recv of this workflow may have taken it while this read ran: read again.
        if (!found || !this.#taken.some((taken) => taken.messageId === found.messageId)) return found;
      }
    };
    this.#progressed();
    let found = await rt.signals.waitFor(
      keys,
      check,
      deadline.unrecorded ? Math.min(deadline.ms, Date.now() + DEADLINE_RECORD_AFTER_MS) : deadline.ms,
      rt.safetyPollIntervalMs,
      this.#waitSignal,
    );
    if (found === undefined && deadline.unrecorded) {
      // A longer wait: make the deadline durable first, so a recovered recv keeps it.
      const existing = await this.#checkpoint(deadline.unrecorded);
      if (existing) deadline.ms = this.#decode<number>(existing);
      deadline.unrecorded = undefined;
      found = await rt.signals.waitFor(keys, check, deadline.ms, rt.safetyPollIntervalMs, this.#waitSignal);
    }
    if (found === undefined) return this.#recordValue<T | null>(stepId, 'recv', topic, null, startedAt);
    const step = this.#newStep(stepId, 'recv', topic, { output: found.message, startedAt });
    this.#taken.push({ messageId: found.messageId, steps: deadline.unrecorded ? [deadline.unrecorded, step] : [step] });
    return rt.serializer.deserialize<T>(found.message);
  }

  async setEvent(key: string, value: unknown): Promise<void> {
    assertIdentifier(key, 'event key');
    const stepId = this.#begin();
    if (this.#replay(stepId, 'set_event', key)) return;
    const text = this.#rt.serializer.serialize(value, `event "${key}"`);
    const startedAt = new Date();
    await this.#inTransaction(stepId, async (tx) => {
      await upsertEvent(tx, this.workflowId, key, text);
      return insertStepInTransaction(tx, this.#newStep(stepId, 'set_event', key, { startedAt }));
    });
    await this.#publish(`e:${this.workflowId}:${key}`);
  }

  async getEvent<T = unknown>(workflowId: string, key: string, options: WaitOptions = {}): Promise<T | null> {
    assertIdentifier(workflowId, 'workflow ID');
    assertIdentifier(key, 'event key');
    const timeoutMs = waitTimeoutMs(options, 'getEvent');
    const deadlineMs = await this.#durableDeadline(timeoutMs);
    const stepId = this.#begin();
    const name = `${workflowId}:${key}`;
    const recorded = this.#replay(stepId, 'get_event', name);
    if (recorded) return this.#decode<T | null>(recorded);
    const startedAt = new Date();
    const rt = this.#rt;
    this.#progressed();
    const value = await rt.signals.waitFor(
      [`e:${workflowId}:${key}`],
      () => this.#system(() => getEventValue(rt.db, workflowId, key)),
      deadlineMs,
      rt.safetyPollIntervalMs,
      this.#waitSignal,
    );
    if (value === undefined) return this.#recordValue<T | null>(stepId, 'get_event', name, null, startedAt);
    const existing = await this.#checkpoint(this.#newStep(stepId, 'get_event', name, { output: value, startedAt }));
    return this.#decode<T>(existing ?? { output: value, error: null });
  }

  writeStream(key: string, value: unknown): Promise<void> {
    assertIdentifier(key, 'stream key');
    return this.#streamOp(key, 'stream_write', () => this.#rt.serializer.serialize(value, `value of stream "${key}"`));
  }

  closeStream(key: string): Promise<void> {
    assertIdentifier(key, 'stream key');
    return this.#streamOp(key, 'stream_close', () => null);
  }

  async startChild<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<WorkflowHandle<R>> {
    if (!workflow || typeof workflow !== 'object' || typeof workflow.start !== 'function') {
      throw new InvalidArgumentError('startChild() needs a workflow registered with strata.workflow()');
    }
    const stepId = this.#begin();
    const recorded = this.#replay(stepId, 'start_child', workflow.name);
    if (recorded) {
      if (recorded.error !== null) throw this.#rt.serializer.deserialize(recorded.error); // e.g. a rejected duplicate enqueue
      return this.#childHandle<R>(recorded.child_workflow_id!);
    }
    await this.settle();
    const childId = await this.#rt.startWorkflow(workflow as unknown as WorkflowStarter<unknown[], unknown>, args, workflow.binding.options, {
      workflowId: this.workflowId,
      stepId,
      deadlineAt: this.deadlineAt,
    });
    return this.#childHandle<R>(childId);
  }

  /**
   * Waits for any workflow's result and records it as a step, so a recovered workflow sees the
   * same outcome (what `strata.retrieve(id).result()` does when called from workflow code).
   */
  resultOf<R>(workflowId: string): Promise<R> {
    return this.#childHandle<R>(workflowId).result();
  }

  async runChild<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<R> {
    return (await this.startChild(workflow, ...args)).result();
  }

  now(): Promise<number> {
    return this.#recordFresh('now', () => Date.now());
  }

  random(): Promise<number> {
    return this.#recordFresh('random', () => Math.random());
  }

  uuid(): Promise<string> {
    return this.#recordFresh('uuid', () => randomUUID());
  }

  /**
   * Records a child's start inside the parent's transaction (called by the engine); with `error`,
   * records that the start failed (a rejected duplicate enqueue), so replay throws it again.
   */
  recordChildStart(tx: Queryable, stepId: number, name: string, childWorkflowId: string | null, error?: unknown): Promise<boolean> {
    const outcome = error === undefined ? {} : { error: this.#rt.serializer.serializeError(error) };
    return insertStepInTransaction(tx, this.#newStep(stepId, 'start_child', name, { childWorkflowId: childWorkflowId ?? undefined, startedAt: new Date(), ...outcome }));
  }

  /** Resolves a child start that was not written because another execution recorded it first. */
  async childStartedElsewhere(stepId: number): Promise<string> {
    const row = await this.#explainUnwritten(stepId);
    if (row.error !== null) throw this.#rt.serializer.deserialize(row.error);
    return row.child_workflow_id!;
  }

  /**
   * Records the messages this execution's recvs took (consuming them and writing the recvs'
   * steps), if any are unrecorded. Every write of the execution runs it first, and the engine
   * runs it before recording the workflow's end. A failure ends the execution: its recvs' messages
   * stay unconsumed, so the recovered workflow's recvs take them again.
   *
   * A recv returns its message before this: a crash in between is a crash before the recv, and
   * the recovered recv reads the same message (the oldest unconsumed of its topic), so no message
   * is lost or received twice while a write is saved on the path of every reply.
   */
  async settle(): Promise<void> {
    while (this.#recordingTaken || this.#taken.length > 0) {
      if (this.#recordingTaken) {
        await this.#recordingTaken;
        if (this.#fatal) throw this.#fatal;
      } else {
        const taken = this.#taken.shift()!;
        await this.#recordTaken(taken, () => recordTaken(this.#rt.db, taken));
      }
    }
  }

  /**
   * Runs `write`, a statement that records the taken message `taken` (and perhaps more); other
   * writes wait for it (see settle). Returns what `write` returned when it wrote; `undefined` when
   * `write` wrote nothing because another execution of this workflow recorded the same message for
   * this recv first. `write` returning `undefined` puts `taken` back for a later write. Any failure
   * ends this execution (`#fatal`): its recv already returned the message.
   */
  #recordTaken<T>(taken: TakenMessage, write: () => Promise<T | false | undefined>): Promise<T | undefined> {
    const recording = (async (): Promise<T | undefined> => {
      const recvStep = taken.steps.at(-1)!;
      try {
        let outcome: T | false | undefined;
        try {
          outcome = await this.#system(write);
        } catch (error) {
          if ((error as { code?: unknown }).code !== '23505') throw error;
          outcome = false;
        }
        if (outcome === undefined) this.#taken.unshift(taken);
        if (outcome !== false) return outcome;
        const recorded = await this.#explainUnwritten(recvStep.stepId);
        if (recorded.kind !== 'recv' || recorded.output !== recvStep.output) {
          throw new WorkflowStateError(
            this.workflowId,
            'PENDING',
            `another execution of workflow "${this.workflowId}" recorded a different message for recv step ${recvStep.stepId}; this one stops`,
          );
        }
        return undefined;
      } catch (error) {
        this.#fatal ??= error as Error;
        throw error;
      }
    })();
    const clear = () => {
      if (this.#recordingTaken === done) this.#recordingTaken = undefined;
    };
    const done: Promise<void> = recording.then(clear, clear);
    this.#recordingTaken = done;
    return recording;
  }

  // ---- internals ----

  /** Takes the next step number, after checking the workflow may still proceed. */
  #begin(): number {
    const step = insideStep.getStore();
    if (step?.context === this) {
      // Inside a step the call would run only until the step is recorded, shifting every later step number on replay.
      throw new InvalidArgumentError(
        `a durable operation was called inside "${step.name}": steps and transactions cannot contain ctx calls; call them from the workflow function`,
      );
    }
    if (this.#fatal) throw this.#fatal;
    if (this.signal.aborted) throw this.signal.reason;
    if (this.#drainReason) throw this.#drainReason;
    return this.#nextStepId++;
  }

  /** The recorded row of step `stepId`, checking it is the same operation the code calls now. */
  #replay(stepId: number, kind: StepKind, name: string): StepRow | undefined {
    const row = this.#history.get(stepId);
    if (!row) {
      if (!this.#observer) return undefined;
      // Replay only: the caller must not run, wait or write, so the execution ends here.
      this.#observer.notRecorded(stepId, kind, name);
      this.#fatal = new HistoryEndError(this.workflowId, stepId, kind, name);
      throw this.#fatal;
    }
    if (row.kind !== kind || row.name !== name) {
      this.#observer?.diverged(row, { kind, name });
      this.#fatal = new NonDeterminismError(this.workflowId, stepId, `${row.kind} "${row.name}"`, `${kind} "${name}"`);
      throw this.#fatal;
    }
    this.#observer?.replayed(row);
    return row;
  }

  #decode<T>(row: Pick<StepRow, 'output' | 'error'>): T {
    if (row.error !== null) throw this.#rt.serializer.deserialize(row.error);
    return row.output === null ? (undefined as T) : this.#rt.serializer.deserialize<T>(row.output);
  }

  #newStep(
    stepId: number,
    kind: StepKind,
    name: string,
    fields: { output?: string | null; error?: string | null; attempts?: number; startedAt: Date; childWorkflowId?: string },
  ): NewStep {
    return {
      workflowId: this.workflowId,
      stepId,
      name,
      kind,
      output: fields.output ?? null,
      error: fields.error ?? null,
      childWorkflowId: fields.childWorkflowId ?? null,
      attempts: fields.attempts ?? 1,
      startedAt: fields.startedAt,
      executorId: this.#owner.executorId,
      epoch: this.#owner.epoch,
    };
  }

  /** Records a step's or transaction's final failure and rethrows it (or adopts the outcome another execution recorded first). */
  async #recordFailure<T>(stepId: number, kind: 'step' | 'transaction', name: string, error: unknown, attempts: number, startedAt: Date): Promise<T> {
    const existing = await this.#checkpoint(this.#newStep(stepId, kind, name, { error: this.#rt.serializer.serializeError(error), attempts, startedAt }));
    if (existing) return this.#decode<T>(existing);
    throw error;
  }

  /** Writes a checkpoint; returns the row another execution recorded first, if that happened. */
  async #checkpoint(step: NewStep): Promise<StepRow | undefined> {
    await this.settle();
    const written = await this.#system(() => this.#rt.writer.write(step));
    if (!written) return this.#explainUnwritten(step.stepId);
    this.#progressed();
    return undefined;
  }

  /** A step could not be written: return the row recorded first, or end this execution. */
  async #explainUnwritten(stepId: number): Promise<StepRow> {
    const { step, status, owner } = await this.#system(() => explainUnwrittenStep(this.#rt.db, this.workflowId, stepId));
    if (step) return step;
    const self = this.#owner;
    if (status === 'PENDING' && owner && (owner.executorId !== self.executorId || owner.epoch !== self.epoch)) {
      // Fenced: another executor (or a later registration of this one) took the workflow over.
      throw new WorkflowTakenOverError(this.workflowId, self.executorId, owner.executorId);
    }
    if (status === 'CANCELLED' || status === undefined) {
      const reason = this.signal.aborted ? this.signal.reason : new WorkflowCancelledError(this.workflowId);
      throw reason;
    }
    throw new WorkflowStateError(this.workflowId, status, `workflow "${this.workflowId}" already finished (${status}) in another execution; this one stops`);
  }

  /**
   * Runs one statement that records step `stepId`; `false` from it, or a unique violation of the
   * step's key, means "not written": then returns the row another execution recorded first, or
   * ends this execution.
   */
  async #inStatement<T>(stepId: number, statement: () => Promise<T | false>): Promise<T | StepRow> {
    let result: T | false;
    try {
      result = await this.#system(statement);
    } catch (error) {
      if ((error as { code?: unknown }).code !== '23505') throw error;
      result = false;
    }
    return result === false ? this.#explainUnwritten(stepId) : result;
  }

  /** Runs a transaction whose body records step `stepId`; `false` from the body means "not written". */
  async #inTransaction<T>(stepId: number, body: (tx: Transaction) => Promise<T | false>): Promise<T | StepRow> {
    await this.settle();
    try {
      return await this.#system(() =>
        this.#rt.db.transaction(async (tx) => {
          const result = await body(tx);
          if (result === false) throw new Unwritten();
          return result;
        }),
      );
    } catch (error) {
      if (error instanceof Unwritten) return this.#explainUnwritten(stepId);
      throw error;
    }
  }

  /** Records a value computed now (time, randomness, a wake-up time), or returns the recorded one. */
  async #recordFresh<T>(kind: 'now' | 'random' | 'uuid' | 'sleep' | 'deadline', compute: () => T): Promise<T> {
    const stepId = this.#begin();
    const recorded = this.#replay(stepId, kind, kind);
    if (recorded) return this.#decode<T>(recorded);
    return this.#recordValue(stepId, kind, kind, compute(), new Date());
  }

  async #recordValue<T>(stepId: number, kind: StepKind, name: string, value: T, startedAt: Date): Promise<T> {
    const output = this.#rt.serializer.serialize(value, `${kind} value`);
    const existing = await this.#checkpoint(this.#newStep(stepId, kind, name, { output, startedAt }));
    return existing ? this.#decode<T>(existing) : value;
  }

  /** A point in time `durationMs` from the first run, recorded so a recovered workflow keeps it. */
  #durableTime(kind: 'sleep' | 'deadline', durationMs: number): Promise<number> {
    return this.#recordFresh(kind, () => Date.now() + durationMs);
  }

  /**
   * The deadline of a wait that records it only if the wait lasts (see DEADLINE_RECORD_AFTER_MS):
   * the recorded one on replay; else now + `timeoutMs` with its step in `unrecorded`, which the
   * caller writes with its result or before waiting longer. A crash before it is written is a
   * crash before the wait began, so the recovered wait computes its deadline afresh. Infinity,
   * recording nothing, for a wait without timeout.
   */
  #lazyDeadline(timeoutMs: number): { ms: number; unrecorded: NewStep | undefined } {
    if (!Number.isFinite(timeoutMs)) return { ms: Infinity, unrecorded: undefined };
    const stepId = this.#begin();
    const recorded = this.#replay(stepId, 'deadline', 'deadline');
    if (recorded) return { ms: this.#decode<number>(recorded), unrecorded: undefined };
    const ms = Date.now() + timeoutMs;
    const output = this.#rt.serializer.serialize(ms, 'deadline value');
    return { ms, unrecorded: this.#newStep(stepId, 'deadline', 'deadline', { output, startedAt: new Date() }) };
  }

  /** The recorded deadline of a wait, or Infinity for a wait without timeout (which records nothing). */
  #durableDeadline(timeoutMs: number): Promise<number> {
    return Number.isFinite(timeoutMs) ? this.#durableTime('deadline', timeoutMs) : Promise.resolve(Infinity);
  }

  #streamOp(key: string, kind: 'stream_write' | 'stream_close', value: () => string | null): Promise<void> {
    const stepId = this.#begin();
    if (this.#replay(stepId, kind, key)) return Promise.resolve();
    const text = value();
    const startedAt = new Date();
    const run = this.#streamChain.then(async () => {
      await this.#inTransaction(stepId, async (tx) => {
        if ((await appendStream(tx, this.workflowId, key, text, kind === 'stream_close')) === 'closed') {
          throw new StreamClosedError(this.workflowId, key);
        }
        return insertStepInTransaction(tx, this.#newStep(stepId, kind, key, { startedAt }));
      });
      await this.#publish(`s:${this.workflowId}:${key}`);
    });
    this.#streamChain = run.catch(() => undefined);
    return run;
  }

  async #attempt<T>(name: string, fn: (info: StepInfo) => Promise<T> | T, attempt: number, timeoutMs: number | undefined): Promise<T> {
    // The step's AbortSignal is made only when the step reads it: most steps never do, and
    // making one per attempt showed in profiles of short steps.
    let controller: AbortController | undefined;
    let abortReason: unknown;
    let aborted = false;
    const abort = (reason: unknown) => {
      if (aborted) return;
      aborted = true;
      abortReason = reason;
      controller?.abort(reason);
    };
    const onCancel = () => abort(this.signal.reason);
    this.signal.addEventListener('abort', onCancel, { once: true });
    const info: StepInfo = {
      attempt,
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (aborted) controller.abort(abortReason);
        }
        return controller.signal;
      },
    };
    let cancelTimer: (() => void) | undefined;
    try {
      const run = Promise.resolve().then(() => insideStep.run({ context: this, name }, () => fn(info)));
      const timed =
        timeoutMs === undefined
          ? run
          : Promise.race([
              run,
              new Promise<never>((_, reject) => {
                cancelTimer = setLongTimeout(() => {
                  const error = new StepTimeoutError(name, timeoutMs);
                  abort(error);
                  reject(error);
                }, timeoutMs);
              }),
            ]);
      return await abortable(timed, this.signal);
    } finally {
      cancelTimer?.();
      this.signal.removeEventListener('abort', onCancel);
    }
  }

  #spanAttributes(stepId: number, kind: 'step' | 'transaction', attempt: number): Attributes {
    return { 'strata.workflow.id': this.workflowId, 'strata.step.id': stepId, 'strata.step.kind': kind, 'strata.step.attempt': attempt };
  }

  #childHandle<R>(childId: string): WorkflowHandle<R> {
    const rt = this.#rt;
    return {
      workflowId: childId,
      status: async (): Promise<WorkflowStatus> => {
        throw new InvalidArgumentError('status() of a child handle is not available inside a workflow; use result()');
      },
      result: async (): Promise<R> => {
        const stepId = this.#begin();
        const recorded = this.#replay(stepId, 'child_result', childId);
        if (recorded) return this.#decode<R>(recorded);
        const startedAt = new Date();
        const terminal = await rt.awaitTerminal(childId, Infinity, this.#waitSignal);
        let outcome: { output?: string | null; error?: string | null };
        try {
          rt.decodeTerminal(childId, terminal);
          outcome = { output: terminal.output };
        } catch (error) {
          outcome = { error: this.#rt.serializer.serializeError(error) };
        }
        const existing = await this.#checkpoint(this.#newStep(stepId, 'child_result', childId, { ...outcome, startedAt }));
        return this.#decode<R>(existing ?? { output: outcome.output ?? null, error: outcome.error ?? null });
      },
    };
  }

  async #publish(key: string): Promise<void> {
    try {
      await this.#rt.signals.publish(key);
    } catch (error) {
      // The change is committed; a lost notification only delays remote waiters to their safety poll.
      this.#rt.logger.warn(`strata: could not notify ${key}`, error);
    }
  }

  /** Reports the first progress of this execution (see {@link ContextOptions.onProgress}). */
  #progressed(): void {
    const onProgress = this.#onProgress;
    if (!onProgress) return;
    this.#onProgress = undefined;
    onProgress();
  }

  /**
   * Runs a system-database operation, pausing through outages until the database is back (every
   * operation passed here is a read or a write that is safe to repeat); a connection failure the
   * engine no longer waits through (it is stopping) is marked as such.
   */
  async #system<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await this.#rt.durable(this.#rt.db, operation, this.signal);
    } catch (error) {
      if (isSystemFailure(error)) throw new SystemDatabaseError(error);
      throw error;
    }
  }
}

/** The policy of a step without `retry` options: one attempt. Shared, so such steps allocate none. */
const NO_RETRY: Required<RetryPolicy> = Object.freeze({ ...DEFAULT_RETRY, retryIf: () => true });

function retryPolicy(policy: RetryPolicy | undefined, stepName: string): Required<RetryPolicy> {
  if (policy === undefined) return NO_RETRY;
  assertOptions(policy, `retry policy of step "${stepName}"`, RETRY_POLICY_KEYS);
  const merged = { ...DEFAULT_RETRY, retryIf: () => true, ...policy };
  if (!Number.isInteger(merged.maxAttempts) || merged.maxAttempts < 1 || merged.maxAttempts > MAX_STEP_ATTEMPTS) {
    throw new InvalidArgumentError(`retry.maxAttempts of step "${stepName}" must be a whole number from 1 to ${MAX_STEP_ATTEMPTS}, got ${String(merged.maxAttempts)}`);
  }
  assertDuration(merged.intervalMs, `retry.intervalMs of step "${stepName}"`);
  assertDuration(merged.maxIntervalMs, `retry.maxIntervalMs of step "${stepName}"`);
  if (typeof merged.backoffFactor !== 'number' || !(merged.backoffFactor >= 1)) {
    throw new InvalidArgumentError(`retry.backoffFactor of step "${stepName}" must be a number ≥ 1, got ${String(merged.backoffFactor)}`);
  }
  assertFunction(merged.retryIf, `retry.retryIf of step "${stepName}"`);
  return merged;
}

/** `logger` with each line prefixed by the workflow and recorded as an event of the active span. */
function boundLogger(logger: Logger, workflowId: string): Logger {
  const bind = (level: 'info' | 'warn' | 'error') => (message: string, ...details: unknown[]) => {
    spanEvent(message, { 'strata.workflow.id': workflowId, 'log.level': level });
    logger[level](`[workflow ${workflowId}] ${message}`, ...details);
  };
  return { info: bind('info'), warn: bind('warn'), error: bind('error') };
}
