// Every typed error of the transact layer, each with a stable code and a message that says what to do.
/**
 * Typed errors of the transact layer. Each has a stable `code`, a `kind` (what a caller can do
 * about it: see `ErrorKind` in `@strata/store`) and a message that says what to do. Their root,
 * {@link StrataError}, and the one {@link InvalidArgumentError} live in `@strata/store` and are
 * re-exported here, so `instanceof StrataError` holds for every error of either package. Errors
 * thrown by workflow code itself are stored and rethrown as they were (name, message, stack and
 * `code` survive; the class becomes `Error`).
 */
import { InvalidArgumentError, StrataError, type ErrorKind } from '@strata/store';

export { ERROR_KINDS, errorKindOf, InvalidArgumentError, StrataError, type ErrorKind } from '@strata/store';

/** No workflow of that name is registered with this engine. */
export class UnknownWorkflowError extends StrataError {
  override get kind(): ErrorKind {
    return 'not-found';
  }
  constructor(name: string, known: readonly string[]) {
    super(
      'STRATA_UNKNOWN_WORKFLOW',
      `no workflow named "${name}" is registered; register it with strata.workflow("${name}", fn) before launch()` +
        (known.length ? ` (registered: ${known.slice(0, 20).join(', ')})` : ''),
    );
  }
}

/** A workflow name was registered twice. */
export class DuplicateWorkflowError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  constructor(name: string) {
    super('STRATA_DUPLICATE_WORKFLOW', `a workflow named "${name}" is already registered; workflow names must be unique in one engine`);
  }
}

/** No workflow with that ID exists. */
export class WorkflowNotFoundError extends StrataError {
  override get kind(): ErrorKind {
    return 'not-found';
  }
  readonly workflowId: string;
  constructor(workflowId: string) {
    super('STRATA_WORKFLOW_NOT_FOUND', `no workflow with ID "${workflowId}" exists`);
    this.workflowId = workflowId;
  }
}

/** A workflow ID was reused for a different workflow name. */
export class WorkflowConflictError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly workflowId: string;
  constructor(workflowId: string, existingName: string, requestedName: string) {
    super(
      'STRATA_WORKFLOW_CONFLICT',
      `workflow ID "${workflowId}" already belongs to workflow "${existingName}", so it cannot start "${requestedName}"; use a different workflow ID`,
    );
    this.workflowId = workflowId;
  }
}

/** The operation does not apply to the workflow's current status. */
export class WorkflowStateError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly workflowId: string;
  readonly status: string;
  constructor(workflowId: string, status: string, message: string) {
    super('STRATA_WORKFLOW_STATE', message);
    this.workflowId = workflowId;
    this.status = status;
  }
}

/** The workflow was cancelled; thrown by its result and inside it at its next durable operation. */
export class WorkflowCancelledError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly workflowId: string;
  constructor(workflowId: string) {
    super('STRATA_WORKFLOW_CANCELLED', `workflow "${workflowId}" was cancelled`);
    this.workflowId = workflowId;
  }
}

/** The workflow (or an ancestor) passed its deadline and was cancelled. */
export class WorkflowTimeoutError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly workflowId: string;
  constructor(workflowId: string) {
    super('STRATA_WORKFLOW_TIMEOUT', `workflow "${workflowId}" did not finish before its deadline and was cancelled`);
    this.workflowId = workflowId;
  }
}

/** A replayed workflow called a different durable operation than its history recorded. */
export class NonDeterminismError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly workflowId: string;
  readonly stepId: number;
  readonly recorded: string;
  readonly called: string;
  constructor(workflowId: string, stepId: number, recorded: string, called: string) {
    super(
      'STRATA_NON_DETERMINISM',
      `workflow "${workflowId}" is not deterministic: step ${stepId} was recorded as ${recorded} but the code now calls ${called} there. ` +
        'Workflow code must call its steps in the same order on every run; deploy changed code under a new appVersion',
    );
    this.workflowId = workflowId;
    this.stepId = stepId;
    this.recorded = recorded;
    this.called = called;
  }
}

/** A step attempt ran longer than its `timeoutMs`. */
export class StepTimeoutError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(stepName: string, timeoutMs: number) {
    super('STRATA_STEP_TIMEOUT', `step "${stepName}" did not finish within ${timeoutMs} ms`);
  }
}

/**
 * This execution's executor lost the workflow: its lease lapsed (a pause, an outage) and another
 * executor, or a later registration of the same executor ID, took the workflow over. Fencing
 * refused the write; nothing was committed, and the new owner continues the workflow.
 */
export class WorkflowTakenOverError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly workflowId: string;
  constructor(workflowId: string, executorId: string, newOwner: string | null) {
    super(
      'STRATA_WORKFLOW_TAKEN_OVER',
      `workflow "${workflowId}" was taken over by executor "${newOwner ?? 'none'}" after executor "${executorId}" lost its lease; this execution stops without writing, and the new owner continues it`,
    );
    this.workflowId = workflowId;
  }
}

/** A value given to Strata cannot be stored (a function, a class instance, a cycle, …). */
export class NotSerializableError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  readonly path: string;
  constructor(what: string, path: string, reason: string) {
    super(
      'STRATA_NOT_SERIALIZABLE',
      `${what} cannot be stored: ${path} ${reason}. Pass plain data (objects, arrays, strings, numbers, booleans, null, undefined, Date, BigInt, Map, Set, Uint8Array, Error, RegExp, URL)`,
    );
    this.path = path;
  }
}

/** A serialized value is larger than the configured limit. */
export class PayloadTooLargeError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  readonly bytes: number;
  readonly limitBytes: number;
  constructor(what: string, bytes: number, limitBytes: number) {
    super(
      'STRATA_PAYLOAD_TOO_LARGE',
      `${what} is ${bytes} bytes when serialized, over the limit of ${limitBytes} bytes; store large data elsewhere and pass a reference, or raise maxValueBytes`,
    );
    this.bytes = bytes;
    this.limitBytes = limitBytes;
  }
}

/** A stream was written after it was closed. */
export class StreamClosedError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(workflowId: string, key: string) {
    super('STRATA_STREAM_CLOSED', `stream "${key}" of workflow "${workflowId}" is closed; open a stream under another key`);
  }
}

/** The engine was used before `launch()` or after `shutdown()`. */
export class EngineStateError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(message: string) {
    super('STRATA_ENGINE_STATE', message);
  }
}

/** A wait (`result`, `getEvent`) from outside a workflow reached its timeout. */
export class WaitTimeoutError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(what: string, timeoutMs: number) {
    super('STRATA_WAIT_TIMEOUT', `${what} did not happen within ${timeoutMs} ms`);
  }
}

/** A queue name no queue is declared or created under. */
export class UnknownQueueError extends StrataError {
  override get kind(): ErrorKind {
    return 'not-found';
  }
  readonly queueName: string;
  constructor(queueName: string, known: readonly string[]) {
    super(
      'STRATA_UNKNOWN_QUEUE',
      `no queue named "${queueName}" exists; ${known.length > 0 ? `known queues: ${known.map((q) => `"${q}"`).join(', ')}` : 'no queue is declared yet'} (declare it with strata.queue() or create it with queues.create())`,
    );
    this.queueName = queueName;
  }
}

/** A queue that already exists was created again, or a queue still holding work was deleted. */
export class QueueStateError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly queueName: string;
  constructor(queueName: string, message: string) {
    super('STRATA_QUEUE_STATE', message);
    this.queueName = queueName;
  }
}

/**
 * An enqueue carried a deduplication key that a queued or running workflow of the same queue
 * already holds (with `onDuplicate: 'reject'`, the default). Nothing was enqueued.
 */
export class DuplicateEnqueueError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly queueName: string;
  readonly deduplicationKey: string;
  /** The live workflow that holds the key. */
  readonly existingWorkflowId: string;
  constructor(queueName: string, deduplicationKey: string, existingWorkflowId: string) {
    super(
      'STRATA_DUPLICATE_ENQUEUE',
      `queue "${queueName}" already holds deduplication key "${deduplicationKey}" (workflow "${existingWorkflowId}" is queued or running); nothing was enqueued — pass onDuplicate: 'return' to get that workflow instead`,
    );
    this.queueName = queueName;
    this.deduplicationKey = deduplicationKey;
    this.existingWorkflowId = existingWorkflowId;
  }
}

/** A cron expression or time zone that cannot be parsed. */
export class InvalidScheduleError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, 'STRATA_INVALID_SCHEDULE');
  }
}

/** A schedule name no schedule exists under. */
export class UnknownScheduleError extends StrataError {
  override get kind(): ErrorKind {
    return 'not-found';
  }
  readonly scheduleName: string;
  constructor(scheduleName: string) {
    super('STRATA_UNKNOWN_SCHEDULE', `no schedule named "${scheduleName}" exists`);
    this.scheduleName = scheduleName;
  }
}

/** A schedule was created under a name that exists. */
export class DuplicateScheduleError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly scheduleName: string;
  constructor(scheduleName: string) {
    super('STRATA_DUPLICATE_SCHEDULE', `a schedule named "${scheduleName}" already exists; update it with schedules.update() or pick another name`);
    this.scheduleName = scheduleName;
  }
}

/** Another live process heartbeats under this engine's executor ID. */
export class ExecutorConflictError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly executorId: string;
  constructor(executorId: string, holder: string) {
    super(
      'STRATA_EXECUTOR_CONFLICT',
      `executor ID "${executorId}" is in use by a live process (${holder}); two processes with one executor ID would run the same workflows twice — give each process its own executorId (or STRATA_EXECUTOR_ID)`,
    );
    this.executorId = executorId;
  }
}

/**
 * An options object has a key Strata does not know, most often a misspelling (`databse`,
 * `workflowID`) that would otherwise be silently ignored.
 */
export class UnknownOptionError extends InvalidArgumentError {
  /** The key that was given. */
  readonly option: string;
  /** The known key closest to it, if one is close. */
  readonly suggestion: string | undefined;
  constructor(what: string, option: string, suggestion: string | undefined, known: readonly string[]) {
    super(
      `${what} has no option ${JSON.stringify(option)}` +
        (suggestion === undefined ? '' : `; did you mean "${suggestion}"?`) +
        ` (the options are: ${known.join(', ')})`,
      'STRATA_UNKNOWN_OPTION',
    );
    this.option = option;
    this.suggestion = suggestion;
  }
}

/**
 * The system database failed under a running workflow. The workflow is left PENDING and resumes
 * from its last checkpoint on the next launch (or when another executor recovers it).
 */
export class SystemDatabaseError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(cause: unknown) {
    super(
      'STRATA_SYSTEM_DATABASE',
      `the system database failed (${(cause as Error)?.message ?? String(cause)}); the workflow stays PENDING and resumes from its last checkpoint on recovery`,
      { cause },
    );
  }
}

/**
 * A replay-only execution reached an operation its history does not hold: the recorded history
 * ends here, and the live workflow would run that operation next. Like a NonDeterminismError it
 * ends the execution whatever the workflow code does with it.
 */
export class HistoryEndError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly workflowId: string;
  readonly stepId: number;
  /** The kind of operation the code called (a step kind: 'step', 'recv', 'sleep', …); `kind` is the error's kind. */
  readonly stepKind: string;
  readonly stepName: string;
  constructor(workflowId: string, stepId: number, kind: string, stepName: string) {
    super(
      'STRATA_REPLAY_HISTORY_END',
      `the recorded history of workflow "${workflowId}" ends at step ${stepId}; the live workflow would run ${kind} "${stepName}" next (a replay runs no new operation)`,
    );
    this.workflowId = workflowId;
    this.stepId = stepId;
    this.stepKind = kind;
    this.stepName = stepName;
  }
}

/**
 * A replay used the database, the signals or the engine. Replay must run, wait for and write
 * nothing, so this is a bug in Strata, not in the workflow: the replay is abandoned loudly.
 */
export class ReplayIsolationError extends StrataError {
  override get kind(): ErrorKind {
    return 'internal';
  }
  constructor(what: string) {
    super(
      'STRATA_REPLAY_ISOLATION',
      `a replay tried to use ${what}; replay must have no side effects, so it was stopped (this is a bug in Strata, please report it)`,
    );
  }
}

/** An invariant of the engine does not hold: a bug in Strata, never a user mistake. */
export class InvariantError extends StrataError {
  override get kind(): ErrorKind {
    return 'internal';
  }
  constructor(invariant: string) {
    super('STRATA_INVARIANT', `Strata invariant violated: ${invariant}. This is a bug in Strata; please report it with the stack trace`);
  }
}

/**
 * A workflow was recovered more times than `maxRecoveryAttempts` without finishing (it crashes
 * its executor, or runs out of memory, every time): it was marked ERROR so it stops doing so.
 */
export class MaxRecoveryAttemptsError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  readonly workflowId: string;
  readonly maxRecoveryAttempts: number;
  constructor(workflowId: string, recoveries: number, maxRecoveryAttempts: number) {
    super(
      'STRATA_MAX_RECOVERY_ATTEMPTS',
      `workflow "${workflowId}" was recovered ${recoveries} times without finishing (limit ${maxRecoveryAttempts}); it was marked ERROR so it stops crashing its executor — fix the cause, then restart or fork it`,
    );
    this.workflowId = workflowId;
    this.maxRecoveryAttempts = maxRecoveryAttempts;
  }
}

/**
 * An enqueue kept meeting a workflow ID or deduplication key whose holder vanished before it
 * could be read (finished and deleted meanwhile), more times than it tries. Nothing was enqueued;
 * enqueuing again usually succeeds.
 */
export class EnqueueConflictError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly workflowId: string;
  readonly attempts: number;
  constructor(workflowId: string, attempts: number) {
    super(
      'STRATA_ENQUEUE_CONFLICT',
      `could not enqueue workflow "${workflowId}": its ID or deduplication key kept conflicting with workflows that vanished before they could be read (${attempts} attempts); nothing was enqueued — enqueue it again`,
    );
    this.workflowId = workflowId;
    this.attempts = attempts;
  }
}

/**
 * An in-memory queue of the engine reached its bound (see the constant named in the message):
 * the process is overloaded or a database is too slow. The operation was refused rather than
 * letting memory grow without limit; retry it later, or spread the load over more executors.
 */
export class CapacityExceededError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  readonly limit: number;
  constructor(what: string, limit: number, bound: string) {
    super('STRATA_CAPACITY_EXCEEDED', `${what} already holds ${limit} entries (${bound}); this process is overloaded — retry later or run more executors`);
    this.limit = limit;
  }
}
