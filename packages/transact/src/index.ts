/**
 * @strata/transact — durable workflows on PostgreSQL or embedded PGlite: steps, exactly-once
 * transactions, durable sleep, messages, events, streams, child workflows, cancellation,
 * timeouts and recovery.
 */
export { Strata } from './engine.js';
export type {
  Logger,
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
  DuplicateWorkflowError,
  EngineStateError,
  InvalidArgumentError,
  NonDeterminismError,
  NotSerializableError,
  PayloadTooLargeError,
  StepTimeoutError,
  StrataError,
  StreamClosedError,
  UnknownWorkflowError,
  WaitTimeoutError,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowNotFoundError,
  WorkflowStateError,
  WorkflowTimeoutError,
} from './errors.js';
export { SystemDatabaseError } from './runtime.js';
export { Serializer, DEFAULT_MAX_VALUE_BYTES } from './serialization.js';
export { DEFAULT_WAIT_TIMEOUT_MS } from './validate.js';
