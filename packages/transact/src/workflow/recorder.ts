// The recording core of one workflow execution: step numbers, replay of recorded outcomes, checkpoints, fencing and drain.
import { AsyncLocalStorage } from 'node:async_hooks';
import { isUniqueViolation, type Transaction } from '@strata/store';
import type { Attributes } from '@opentelemetry/api';
import { HistoryEndError, InvalidArgumentError, NonDeterminismError, SystemDatabaseError, WorkflowCancelledError, WorkflowStateError, WorkflowTakenOverError } from '../errors.js';
import type { Logger } from '../interfaces.js';
import type { SignalKey } from '../signals/keys.js';
import { spanEvent } from '../tracing.js';
import { explainUnwrittenStep, type NewStep, type StepKind, type StepRow } from '../sql/index.js';
import { isSystemFailure, type Owner, type Runtime } from './runtime.js';
import { TakenMessages } from './taken-messages.js';

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

/** How a workflow execution runs. */
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

/** The step or transaction whose function is running now, if any (durable calls inside it are refused). */
export const insideStep = new AsyncLocalStorage<{ readonly recorder: Recorder; readonly name: string }>();

/** Thrown inside a transaction to roll it back when its checkpoint could not be written. */
export class Unwritten extends Error {}

/** The fields of a new step row that vary by operation. */
export interface StepFields {
  output?: string | null;
  error?: string | null;
  attempts?: number;
  startedAt: Date;
  childWorkflowId?: string;
}

/**
 * One execution of one workflow: assigns step numbers in call order, returns recorded outputs on
 * replay and records new ones. The operations (steps, messages, events, children, time) are
 * built on these primitives in the modules beside this one; {@link Context} composes them.
 */
export class Recorder {
  /** Errors thrown to the workflow's code as a step's or transaction's recorded outcome. */
  readonly #outcomes = new WeakSet<object>();
  readonly workflowId: string;
  readonly signal: AbortSignal;
  readonly deadlineAt: Date | null;
  readonly logger: Logger;
  readonly rt: Runtime;
  /** Messages recvs took whose taking is not recorded yet (see taken-messages.ts). */
  readonly taken: TakenMessages;
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
  /** Set in replay-only mode (see {@link ContextOptions.replay}). */
  readonly #observer: ReplayObserver | undefined;
  /** See {@link ContextOptions.onProgress}; cleared once called. */
  #onProgress: (() => void) | undefined;
  /** The running step attempts' aborts (see {@link onAbort}); made with the one listener. */
  #attemptAborts: Set<(reason: unknown) => void> | undefined;

  constructor(rt: Runtime, workflowId: string, signal: AbortSignal, history: readonly StepRow[], deadlineAt: Date | null, options: ContextOptions = {}) {
    this.rt = rt;
    this.#owner = rt.owner();
    this.#observer = options.replay;
    this.#onProgress = options.onProgress;
    this.workflowId = workflowId;
    this.signal = signal;
    this.deadlineAt = deadlineAt;
    this.#history = new Map(history.map((row) => [row.step_id, row]));
    this.logger = boundLogger(rt.logger, workflowId);
    this.taken = new TakenMessages(this);
  }

  /**
   * Aborts waits (sleeps, recv, getEvent, child results, retry delays) on cancellation and on
   * drain. Made at the first wait: most workflows never wait, and making it per workflow showed
   * in profiles.
   */
  get waitSignal(): AbortSignal {
    if (!this.#waitSignalMade) {
      this.#drain = new AbortController();
      if (this.#drainReason) this.#drain.abort(this.#drainReason);
      this.#waitSignalMade = AbortSignal.any([this.signal, this.#drain.signal]);
    }
    return this.#waitSignalMade;
  }

  /**
   * Calls `abort` with the reason once this execution is cancelled (at once if it is); returns
   * the function that stops watching. Step attempts watch through one listener on `signal` per
   * execution instead of adding and removing their own: Node's EventTarget was ~7% of a short
   * step's CPU. Attempts may run in parallel, hence a set.
   */
  onAbort(abort: (reason: unknown) => void): () => void {
    const signal = this.signal;
    if (signal.aborted) {
      abort(signal.reason);
      return noop;
    }
    let aborts = this.#attemptAborts;
    if (!aborts) {
      const made = (aborts = this.#attemptAborts = new Set());
      signal.addEventListener('abort', () => {
        for (const each of made) each(signal.reason);
        made.clear();
      }, { once: true });
    }
    aborts.add(abort);
    return () => void aborts.delete(abort);
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

  /**
   * True for an error that is a step's or transaction's recorded outcome, as thrown to the
   * workflow's code: the user's code failed (if with a connection error of its own, say to another
   * database), not the engine's writes, so a workflow ending with it ends in ERROR.
   */
  isRecordedOutcome(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.#outcomes.has(error);
  }

  /** The error that must end this workflow regardless of what its code caught, if any. */
  get fatalError(): Error | undefined {
    return this.#fatal;
  }

  /** Ends this execution whatever its code does (the first fatal error wins); returns it. */
  fail(error: Error): Error {
    this.#fatal ??= error;
    return this.#fatal;
  }

  /** True for a replay-only execution (time travel): it runs, waits for and writes nothing. */
  get replaying(): boolean {
    return this.#observer !== undefined;
  }

  /** Records the messages this execution's recvs took, if any are unrecorded (see {@link TakenMessages.settle}). */
  settle(): Promise<void> {
    return this.taken.settle();
  }

  /** Takes the next step number, after checking the workflow may still proceed. */
  begin(): number {
    const step = insideStep.getStore();
    if (step?.recorder === this) {
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
  replay(stepId: number, kind: StepKind, name: string): StepRow | undefined {
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

  decode<T>(row: Pick<StepRow, 'output' | 'error'>): T {
    if (row.error !== null) throw this.#outcome(this.rt.serializer.deserialize(row.error));
    return row.output === null ? (undefined as T) : this.rt.serializer.deserialize<T>(row.output);
  }

  newStep(stepId: number, kind: StepKind, name: string, fields: StepFields): NewStep {
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
  async recordFailure<T>(stepId: number, kind: 'step' | 'transaction', name: string, error: unknown, attempts: number, startedAt: Date): Promise<T> {
    const existing = await this.checkpoint(this.newStep(stepId, kind, name, { error: this.rt.serializer.serializeError(error), attempts, startedAt }));
    if (existing) return this.decode<T>(existing);
    throw this.#outcome(error);
  }

  /** Marks `error` as a recorded outcome (see {@link isRecordedOutcome}); returns it. */
  #outcome<E>(error: E): E {
    if (typeof error === 'object' && error !== null) this.#outcomes.add(error);
    return error;
  }

  /** Writes a checkpoint; returns the row another execution recorded first, if that happened. */
  async checkpoint(step: NewStep): Promise<StepRow | undefined> {
    // settle() would find nothing to do, synchronously: skipping the await saves its promise and
    // microtask on every checkpoint of a workflow without unrecorded taken messages.
    if (!this.taken.settled) await this.settle();
    const written = await this.system(() => this.rt.writer.write(step));
    if (!written) return this.explainUnwritten(step.stepId);
    this.progressed();
    return undefined;
  }

  /** A step could not be written: return the row recorded first, or end this execution. */
  async explainUnwritten(stepId: number): Promise<StepRow> {
    const { step, status, owner } = await this.system(() => explainUnwrittenStep(this.rt.db, this.workflowId, stepId));
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
  async inStatement<T>(stepId: number, statement: () => Promise<T | false>): Promise<T | StepRow> {
    let result: T | false;
    try {
      result = await this.system(statement);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      result = false;
    }
    return result === false ? this.explainUnwritten(stepId) : result;
  }

  /** Runs a transaction whose body records step `stepId`; `false` from the body means "not written". */
  async inTransaction<T>(stepId: number, body: (tx: Transaction) => Promise<T | false>): Promise<T | StepRow> {
    await this.settle();
    try {
      return await this.system(() =>
        this.rt.db.transaction(async (tx) => {
          const result = await body(tx);
          if (result === false) throw new Unwritten();
          return result;
        }, this.rt.stepTransactions),
      );
    } catch (error) {
      if (error instanceof Unwritten) return this.explainUnwritten(stepId);
      throw error;
    }
  }

  /** Records a value computed now (time, randomness, a wake-up time), or returns the recorded one. */
  async recordFresh<T>(kind: 'now' | 'random' | 'uuid' | 'sleep' | 'deadline', compute: () => T): Promise<T> {
    const stepId = this.begin();
    const recorded = this.replay(stepId, kind, kind);
    if (recorded) return this.decode<T>(recorded);
    return this.recordValue(stepId, kind, kind, compute(), new Date());
  }

  async recordValue<T>(stepId: number, kind: StepKind, name: string, value: T, startedAt: Date): Promise<T> {
    const output = this.rt.serializer.serialize(value, `${kind} value`);
    const existing = await this.checkpoint(this.newStep(stepId, kind, name, { output, startedAt }));
    return existing ? this.decode<T>(existing) : value;
  }

  /** A point in time `durationMs` from the first run, recorded so a recovered workflow keeps it. */
  durableTime(kind: 'sleep' | 'deadline', durationMs: number): Promise<number> {
    return this.recordFresh(kind, () => Date.now() + durationMs);
  }

  /**
   * The deadline of a wait that records it only if the wait lasts (see DEADLINE_RECORD_AFTER_MS
   * in messages.ts): the recorded one on replay; else now + `timeoutMs` with its step in
   * `unrecorded`, which the caller writes with its result or before waiting longer. A crash
   * before it is written is a crash before the wait began, so the recovered wait computes its
   * deadline afresh. Infinity, recording nothing, for a wait without timeout.
   */
  lazyDeadline(timeoutMs: number): { ms: number; unrecorded: NewStep | undefined } {
    if (!Number.isFinite(timeoutMs)) return { ms: Infinity, unrecorded: undefined };
    const stepId = this.begin();
    const recorded = this.replay(stepId, 'deadline', 'deadline');
    if (recorded) return { ms: this.decode<number>(recorded), unrecorded: undefined };
    const ms = Date.now() + timeoutMs;
    const output = this.rt.serializer.serialize(ms, 'deadline value');
    return { ms, unrecorded: this.newStep(stepId, 'deadline', 'deadline', { output, startedAt: new Date() }) };
  }

  /** The recorded deadline of a wait, or Infinity for a wait without timeout (which records nothing). */
  durableDeadline(timeoutMs: number): Promise<number> {
    return Number.isFinite(timeoutMs) ? this.durableTime('deadline', timeoutMs) : Promise.resolve(Infinity);
  }

  spanAttributes(stepId: number, kind: 'step' | 'transaction', attempt: number): Attributes {
    return { 'strata.workflow.id': this.workflowId, 'strata.step.id': stepId, 'strata.step.kind': kind, 'strata.step.attempt': attempt };
  }

  /** Wakes waiters of `key` here and elsewhere; a lost notification is logged, not thrown (the change is committed). */
  async publish(key: SignalKey): Promise<void> {
    try {
      await this.rt.signals.publish(key);
    } catch (error) {
      // The change is committed; a lost notification only delays remote waiters to their safety poll.
      this.rt.logger.warn(`strata: could not notify ${key}`, error);
    }
  }

  /** Reports the first progress of this execution (see {@link ContextOptions.onProgress}). */
  progressed(): void {
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
  async system<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await this.rt.durable(this.rt.db, operation, this.signal);
    } catch (error) {
      if (isSystemFailure(error)) throw new SystemDatabaseError(error);
      throw error;
    }
  }
}

function noop(): void {}

/** `logger` with each line prefixed by the workflow and recorded as an event of the active span. */
function boundLogger(logger: Logger, workflowId: string): Logger {
  const bind = (level: 'info' | 'warn' | 'error') => (message: string, ...details: unknown[]) => {
    spanEvent(message, { 'strata.workflow.id': workflowId, 'log.level': level });
    logger[level](`[workflow ${workflowId}] ${message}`, ...details);
  };
  return { info: bind('info'), warn: bind('warn'), error: bind('error') };
}
