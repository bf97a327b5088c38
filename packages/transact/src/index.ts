// The public surface of @strata/transact: everything a user imports is re-exported here.
/**
 * @strata/transact — durable workflows on PostgreSQL or embedded PGlite: steps, exactly-once
 * transactions, durable sleep, messages, events, streams, child workflows, cancellation,
 * timeouts and recovery; durable queues, cron schedules, and scale-out over executors that
 * heartbeat and take over each other's work; a database-only client.
 */
export { Strata } from './engine/strata.js';
export { StrataClient, type ClientConfig, type ClientEnqueueOptions } from './client.js';
export type { SendOptions } from './interfaces.js';
/** Queued and running workflows per queue (the console's and the CLI's queue views). */
export { queueCounts, type QueueCounts } from './queues/queue-counts.js';
/** Longest error message kept per failed step attempt (`strata.step_attempts`). */
export { MAX_ATTEMPT_ERROR_LENGTH } from './sql/history.js';
export type {
  BulkWorkflowFilter,
  CheckDeployReport,
  EnqueueOptions,
  ErrorInfo,
  ExecutorInfo,
  ListWorkflowsOptions,
  StepRecord,
  StepAttempt,
  OperatorAction,
  OperatorActionName,
  ActorOptions,
  CopyOptions,
  WorkflowAdmin,
  WorkflowDetails,
  WorkflowFilter,
  WorkflowPage,
  Logger,
  Queue,
  QueueAdmin,
  QueueConfig,
  QueueInfo,
  RetentionPolicy,
  ScheduleAdmin,
  ScheduleConfig,
  ScheduleInfo,
  ShutdownOptions,
  ReadStreamOptions,
  RetryPolicy,
  StartOptions,
  StepInfo,
  StepOptions,
  StrataConfig,
  TransactionStepOptions,
  WaitOptions,
  Workflow,
  WorkflowContext,
  WorkflowFunction,
  WorkflowHandle,
  WorkflowStarter,
  WorkflowStatus,
  WorkflowStatusName,
} from './interfaces.js';
export {
  DuplicateEnqueueError,
  DuplicateScheduleError,
  DuplicateWorkflowError,
  ExecutorConflictError,
  InvalidScheduleError,
  QueueStateError,
  UnknownQueueError,
  UnknownScheduleError,
  EngineStateError,
  InvalidArgumentError,
  NonDeterminismError,
  NotSerializableError,
  PayloadTooLargeError,
  StepTimeoutError,
  StrataError,
  ERROR_KINDS,
  errorKindOf,
  type ErrorKind,
  StreamClosedError,
  UnknownOptionError,
  UnknownWorkflowError,
  WaitTimeoutError,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowNotFoundError,
  WorkflowStateError,
  WorkflowTakenOverError,
  WorkflowTimeoutError,
  SystemDatabaseError,
  HistoryEndError,
  ReplayIsolationError,
  InvariantError,
  MaxRecoveryAttemptsError,
  EnqueueConflictError,
  CapacityExceededError,
} from './errors.js';
/** The database stopped answering (a restart, a cut connection): typed, retryable; see docs/transact.md "Faults". */
export { DatabaseUnavailableError, isConnectionError } from '@strata/store';
export {
  replayWorkflow,
  formatReplayReport,
  type ReplayReport,
  type ReplayStepEvent,
  type ReplayInput,
  type ReplayError,
  type UnreachedStep,
} from './workflow/replay.js';
export { Serializer, DEFAULT_MAX_VALUE_BYTES } from './serialization.js';
export { DEFAULT_WAIT_TIMEOUT_MS, MAX_DURATION_MS, MAX_IDENTIFIER_LENGTH } from './validate.js';
