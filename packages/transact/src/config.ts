// Configuration checks: the known keys of every options object users pass (so a misspelled key
// fails with a suggestion instead of being ignored), and the ranges of the engine's settings.

import { InvalidArgumentError } from './errors.js';
import { isProfileRequest } from '@strata/store';
import { MAX_TIMER_MS } from './timers.js';
import type {
  ClientConfig,
  ClientEnqueueOptions,
  EnqueueOptions,
  ListWorkflowsOptions,
  Logger,
  QueueConfig,
  ReadStreamOptions,
  RetentionPolicy,
  RetryPolicy,
  ScheduleConfig,
  SendOptions,
  ShutdownOptions,
  StartOptions,
  StepOptions,
  StrataConfig,
  TransactionStepOptions,
  WorkflowFilter,
} from './interfaces.js';
import { validateRetentionPolicy } from './system/retention.js';
import { DEFAULT_MAX_VALUE_BYTES } from './serialization.js';
import { assertDuration, assertIdentifier, assertOptions, describe } from './validate.js';

/** Every key of `T`, checked by the compiler: a key added to `T` and not listed here fails to compile. */
function keysOf<T>(keys: Record<keyof T, true>): readonly (keyof T & string)[] {
  return Object.keys(keys) as (keyof T & string)[];
}

/** The executor ID of a process that names none: one process per system database needs no name. */
export const DEFAULT_EXECUTOR_ID = 'local';

/** Options of `new Strata({...})`. */
export const STRATA_CONFIG_KEYS = keysOf<StrataConfig>({
  database: true,
  appDatabase: true,
  databaseProfile: true,
  executorId: true,
  appVersion: true,
  maxValueBytes: true,
  maxRecoveryAttempts: true,
  safetyPollIntervalMs: true,
  logger: true,
  heartbeatIntervalMs: true,
  executorTimeoutMs: true,
  retention: true,
});
/** Options of `StrataConfig.retention`. */
export const RETENTION_POLICY_KEYS = keysOf<RetentionPolicy>({ maxAgeMs: true, maxCount: true, intervalMs: true, batchSize: true });
/** Options of `StrataClient.connect({...})`. */
export const CLIENT_CONFIG_KEYS = keysOf<ClientConfig>({ database: true, databaseProfile: true, maxValueBytes: true, safetyPollIntervalMs: true, executorTimeoutMs: true });
/** Options of a start: `workflow.with({...})`, `startByName`. */
export const START_OPTION_KEYS = keysOf<StartOptions & EnqueueOptions>({
  workflowId: true,
  timeoutMs: true,
  attributes: true,
  queue: true,
  priority: true,
  deduplicationKey: true,
  onDuplicate: true,
  partitionKey: true,
  delayMs: true,
  notBefore: true,
});
/** Options of `client.enqueue({...})`. */
export const CLIENT_ENQUEUE_OPTION_KEYS = keysOf<ClientEnqueueOptions>({
  ...Object.fromEntries(START_OPTION_KEYS.map((key) => [key, true] as const)),
  workflow: true,
  queue: true,
  appVersion: true,
  transaction: true,
} as Record<keyof ClientEnqueueOptions, true>);
/** Options of `strata.queue(name, {...})`, `queues.create`, `queues.update`. */
export const QUEUE_CONFIG_KEYS = keysOf<QueueConfig>({ concurrency: true, workerConcurrency: true, partitionConcurrency: true, rateLimit: true });
/** Options of `QueueConfig.rateLimit`. */
export const RATE_LIMIT_KEYS = keysOf<NonNullable<QueueConfig['rateLimit']>>({ limit: true, periodMs: true });
/** Options of `strata.schedule(name, workflow, {...})`; `schedules.create/update` also take `workflow`. */
export const SCHEDULE_CONFIG_KEYS = keysOf<ScheduleConfig>({ cron: true, timezone: true, catchUp: true, queue: true });
/** Options of `StepOptions.retry`. */
export const RETRY_POLICY_KEYS = keysOf<RetryPolicy>({ maxAttempts: true, intervalMs: true, backoffFactor: true, maxIntervalMs: true, retryIf: true });
/** Options of `ctx.step(name, fn, {...})`. */
export const STEP_OPTION_KEYS = keysOf<StepOptions>({ retry: true, timeoutMs: true });
/** Options of `ctx.transaction(name, fn, {...})`. */
export const TRANSACTION_OPTION_KEYS = keysOf<TransactionStepOptions>({ isolation: true });
/** Options of `strata.shutdown({...})`. */
export const SHUTDOWN_OPTION_KEYS = keysOf<ShutdownOptions>({ timeoutMs: true });
/** Options of `readStream(id, key, {...})`. */
export const READ_STREAM_OPTION_KEYS = keysOf<ReadStreamOptions>({ fromOffset: true });
/** Options of `strata.send(id, message, {...})`. */
export const SEND_OPTION_KEYS = keysOf<SendOptions>({ topic: true, idempotencyKey: true });
/** Fields of a {@link WorkflowFilter}. */
export const WORKFLOW_FILTER_KEYS = keysOf<WorkflowFilter>({
  status: true,
  name: true,
  queue: true,
  executorId: true,
  appVersion: true,
  createdAfter: true,
  createdBefore: true,
  workflowIdPrefix: true,
  attributes: true,
  parentWorkflowId: true,
  forkedFrom: true,
});
/** Options of `workflows.list({...})`: a filter and the page. */
export const LIST_OPTION_KEYS = keysOf<ListWorkflowsOptions>({
  ...Object.fromEntries(WORKFLOW_FILTER_KEYS.map((key) => [key, true] as const)),
  limit: true,
  cursor: true,
  order: true,
} as Record<keyof ListWorkflowsOptions, true>);
/** Options of `workflows.restart/fork(id, …, {...})`. */
export const COPY_OPTION_KEYS = ['workflowId'] as const;

/**
 * Smallest `maxValueBytes`: room for the record of a failure (an error whose description is cut
 * to fit), since a workflow's failure must always be storable.
 */
export const MIN_MAX_VALUE_BYTES = 256;
/** Largest `maxValueBytes`: PostgreSQL's jsonb holds at most 256 MB, so the SQL views could not read a larger value. */
export const MAX_MAX_VALUE_BYTES = 256 * 1024 * 1024;
/**
 * Shortest `safetyPollIntervalMs`: the safety net behind notifications polls every waiter at
 * this interval, so 0 would make an idle engine spin a core; 10 ms is already 100 polls a second.
 */
export const MIN_SAFETY_POLL_INTERVAL_MS = 10;
/** Shortest `heartbeatIntervalMs`: each heartbeat is a write; more often than 100 a second is load, not liveness. */
export const MIN_HEARTBEAT_INTERVAL_MS = 10;
/**
 * Longest interval of a timer-driven setting: Node's `setTimeout` fires at once for delays over
 * 2^31 − 1 ms (about 24.8 days), which would turn a long interval into a busy loop.
 */
export const MAX_TIMER_INTERVAL_MS = MAX_TIMER_MS;
/** Most recoveries of one workflow: `recovery_attempts` is a PostgreSQL integer. */
export const MAX_RECOVERY_ATTEMPTS_LIMIT = 2 ** 31 - 1;

/** Defaults of the engine's settings. */
export const DEFAULT_SAFETY_POLL_INTERVAL_MS = 2_000;
export const DEFAULT_MAX_RECOVERY_ATTEMPTS = 50;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
export const DEFAULT_EXECUTOR_TIMEOUT_MS = 10_000;

/** The methods a {@link Logger} must have (engine and `ctx.logger` call each of them). */
const LOGGER_METHODS = ['info', 'warn', 'error'] as const;

/** A {@link StrataConfig} checked and with its defaults filled in. */
export interface ValidatedStrataConfig {
  readonly executorId: string;
  readonly appVersion: string;
  readonly logger: Logger;
  readonly maxValueBytes: number;
  readonly safetyPollIntervalMs: number;
  readonly maxRecoveryAttempts: number;
  readonly heartbeatIntervalMs: number;
  readonly executorTimeoutMs: number;
  readonly retention: RetentionPolicy | undefined;
}

/**
 * Checks a {@link StrataConfig} (unknown keys, types and ranges) and fills in its defaults;
 * throws {@link InvalidArgumentError} (or its {@link UnknownOptionError}) saying what to fix.
 *
 * @example
 * validateStrataConfig({ databse: 'postgres://localhost/app' });
 * // UnknownOptionError: Strata config has no option "databse"; did you mean "database"? …
 */
export function validateStrataConfig(config: StrataConfig | undefined, env: NodeJS.ProcessEnv = process.env): ValidatedStrataConfig {
  assertOptions<StrataConfig>(config, 'Strata config', STRATA_CONFIG_KEYS);
  const c = config ?? {};
  // database and appDatabase are checked at launch, where they are opened.
  assertProfile(c.databaseProfile);
  const executorId = c.executorId ?? env.STRATA_EXECUTOR_ID ?? DEFAULT_EXECUTOR_ID;
  const appVersion = c.appVersion ?? env.STRATA_APP_VERSION ?? '0';
  assertIdentifier(executorId, c.executorId === undefined ? 'executorId (from STRATA_EXECUTOR_ID)' : 'executorId');
  assertIdentifier(appVersion, c.appVersion === undefined ? 'appVersion (from STRATA_APP_VERSION)' : 'appVersion');
  const logger = c.logger ?? console;
  assertLogger(logger);
  const maxValueBytes = wholeNumber(c.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, 'maxValueBytes', MIN_MAX_VALUE_BYTES, MAX_MAX_VALUE_BYTES, 'room for the record of a failure');
  const safetyPollIntervalMs = interval(
    c.safetyPollIntervalMs ?? DEFAULT_SAFETY_POLL_INTERVAL_MS,
    'safetyPollIntervalMs',
    MIN_SAFETY_POLL_INTERVAL_MS,
    'a shorter safety poll makes an idle engine spin',
  );
  const maxRecoveryAttempts = wholeNumber(c.maxRecoveryAttempts ?? DEFAULT_MAX_RECOVERY_ATTEMPTS, 'maxRecoveryAttempts', 1, MAX_RECOVERY_ATTEMPTS_LIMIT, 'a workflow runs at least once');
  const heartbeatIntervalMs = interval(
    c.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    'heartbeatIntervalMs',
    MIN_HEARTBEAT_INTERVAL_MS,
    'each heartbeat is a write to the system database',
  );
  const executorTimeoutMs = c.executorTimeoutMs ?? Math.max(DEFAULT_EXECUTOR_TIMEOUT_MS, 3 * heartbeatIntervalMs);
  assertDuration(executorTimeoutMs, 'executorTimeoutMs');
  if (executorTimeoutMs <= heartbeatIntervalMs) {
    throw new InvalidArgumentError(
      `executorTimeoutMs (${executorTimeoutMs}) must exceed heartbeatIntervalMs (${heartbeatIntervalMs}), or live executors would be taken over; a few heartbeats is usual`,
    );
  }
  let retention: RetentionPolicy | undefined;
  if (c.retention !== undefined) {
    assertOptions<RetentionPolicy>(c.retention, 'retention', RETENTION_POLICY_KEYS);
    retention = validateRetentionPolicy(c.retention);
  }
  return { executorId, appVersion, logger, maxValueBytes, safetyPollIntervalMs, maxRecoveryAttempts, heartbeatIntervalMs, executorTimeoutMs, retention };
}

/** A {@link ClientConfig} checked and with its defaults filled in. */
export interface ValidatedClientConfig {
  readonly maxValueBytes: number;
  readonly safetyPollIntervalMs: number;
  readonly executorTimeoutMs: number;
}

/**
 * Checks the options of `StrataClient.connect` (unknown keys, types and ranges; `database` is
 * required) and fills in the defaults.
 *
 * @example
 * validateClientConfig({ database: 'postgres://localhost/app', safetyPollIntervalMs: 0 });
 * // InvalidArgumentError: safetyPollIntervalMs must be at least 10 ms (a shorter safety poll makes an idle client spin) …
 */
export function validateClientConfig(config: ClientConfig | undefined): ValidatedClientConfig {
  assertOptions<ClientConfig>(config, 'client config', CLIENT_CONFIG_KEYS);
  if (config === undefined || config.database === undefined) throw new InvalidArgumentError('StrataClient.connect() needs { database: "postgres://…" }');
  assertDatabaseOption(config.database, 'database');
  assertProfile(config.databaseProfile);
  const safetyPollIntervalMs = interval(
    config.safetyPollIntervalMs ?? DEFAULT_SAFETY_POLL_INTERVAL_MS,
    'safetyPollIntervalMs',
    MIN_SAFETY_POLL_INTERVAL_MS,
    'a shorter safety poll makes an idle client spin',
  );
  const executorTimeoutMs = config.executorTimeoutMs ?? DEFAULT_EXECUTOR_TIMEOUT_MS;
  assertDuration(executorTimeoutMs, 'executorTimeoutMs');
  const maxValueBytes = wholeNumber(config.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, 'maxValueBytes', MIN_MAX_VALUE_BYTES, MAX_MAX_VALUE_BYTES, 'room for the record of a failure');
  return { maxValueBytes, safetyPollIntervalMs, executorTimeoutMs };
}

/** Throws unless `logger` has every method of {@link Logger}, so the first `ctx.logger.info()` cannot fail. */
export function assertLogger(logger: unknown): asserts logger is Logger {
  if (logger === null || typeof logger !== 'object') {
    throw new InvalidArgumentError(`logger must be an object with ${LOGGER_METHODS.join(', ')} methods (console fits), got ${describe(logger)}`);
  }
  const missing = LOGGER_METHODS.filter((method) => typeof (logger as Record<string, unknown>)[method] !== 'function');
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      `logger has no ${missing.join(', ')} method${missing.length > 1 ? 's' : ''}; a logger needs ${LOGGER_METHODS.join(', ')} (console fits, or wrap yours: { info: (m) => log.info(m), … })`,
    );
  }
}

function assertDatabaseOption(value: unknown, what: string): void {
  if (value === undefined || typeof value === 'string') {
    if (value === '') throw new InvalidArgumentError(`${what} must be a postgres:// URL, memory://, a directory path, or a Database from @strata/store; got ""`);
    return;
  }
  if (value === null || typeof value !== 'object' || typeof (value as { transaction?: unknown }).transaction !== 'function') {
    throw new InvalidArgumentError(`${what} must be a postgres:// URL, memory://, a directory path, or a Database from @strata/store; got ${describe(value)}`);
  }
}

function wholeNumber(value: unknown, what: string, min: number, max: number, why: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${what} must be a whole number from ${min} (${why}) to ${max}, got ${describe(value)}`);
  }
  return value;
}

function interval(value: unknown, what: string, minMs: number, why: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < minMs || value > MAX_TIMER_INTERVAL_MS) {
    throw new InvalidArgumentError(
      `${what} must be a number of milliseconds from ${minMs} (${why}) to ${MAX_TIMER_INTERVAL_MS} (the longest timer Node.js keeps), got ${describe(value)}`,
    );
  }
  return value;
}

/** Refuses a `databaseProfile` other than `'native'`, `'portable'` or `'auto'` (undefined is the default). */
function assertProfile(profile: unknown): void {
  if (profile !== undefined && !isProfileRequest(profile)) {
    throw new InvalidArgumentError(`databaseProfile must be 'native', 'portable' or 'auto', got ${JSON.stringify(profile)}`);
  }
}
