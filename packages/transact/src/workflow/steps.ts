// Steps and transactions of a workflow: run once, retried by policy, their outcome checkpointed (a transaction's in its own commit).
import type { Transaction } from '@strata/store';
import { InvalidArgumentError, StepTimeoutError, SystemDatabaseError } from '../errors.js';
import type { RetryPolicy, StepInfo, StepOptions, TransactionStepOptions } from '../interfaces.js';
import { RETRY_POLICY_KEYS, STEP_OPTION_KEYS, TRANSACTION_OPTION_KEYS } from '../config.js';
import { getTransactionOutput, insertStepInTransaction, insertTransactionOutput } from '../sql/index.js';
import { abortableDelay, setLongTimeout } from '../timers.js';
import { inSpan } from '../tracing.js';
import { assertDuration, assertFunction, assertOptions, IdentifierMemo } from '../validate.js';
import { insideStep, Unwritten, type Recorder } from './recorder.js';
import { isSystemFailure } from './runtime.js';
import { recordFailedAttempt } from './failed-attempts.js';

const DEFAULT_RETRY: Required<Omit<RetryPolicy, 'retryIf'>> = { maxAttempts: 1, intervalMs: 100, backoffFactor: 2, maxIntervalMs: 30_000 };
/** Retry bound: a step retried more than this is a loop, not a policy. */
const MAX_STEP_ATTEMPTS = 1_000;
/** Step and transaction names found valid (bounded, see MAX_REMEMBERED_IDENTIFIERS); validity depends on the name only. */
const STEP_NAMES: IdentifierMemo = new IdentifierMemo();
/** The options of a step called without any: shared, and known valid. */
export const NO_STEP_OPTIONS: StepOptions = Object.freeze({});

/** `ctx.step`: runs `fn` (retried by policy) unless its outcome is recorded, and checkpoints the outcome. */
export async function runStep<T>(rec: Recorder, name: string, fn: (info: StepInfo) => Promise<T> | T, options: StepOptions): Promise<T> {
  // The checks of a step's arguments run per call: remembered names, and messages built only to throw.
  STEP_NAMES.assert(name, 'step name');
  if (typeof fn !== 'function') assertFunction(fn, `step "${name}" function`);
  if (options !== NO_STEP_OPTIONS) assertOptions(options, `options of step "${name}"`, STEP_OPTION_KEYS);
  const policy = retryPolicy(options.retry, name);
  if (options.timeoutMs !== undefined) assertDuration(options.timeoutMs, `timeoutMs of step "${name}"`);
  const stepId = rec.begin();
  const recorded = rec.replay(stepId, 'step', name);
  if (recorded) return rec.decode<T>(recorded);

  const startedAt = new Date();
  for (let attempt = 1; ; attempt++) {
    // A survivor may have run and recorded this step while this executor was paused: check.
    // (null while the lease holds, the common case: nothing to await.)
    const lapsed = rec.rt.holdLease(rec.signal);
    if (lapsed) await lapsed;
    let value: T;
    try {
      value = await inSpan(`step ${name}`, rec.spanAttributes(stepId, 'step', attempt), () => runAttempt(rec, name, fn, attempt, options.timeoutMs));
    } catch (error) {
      if (rec.signal.aborted) throw rec.signal.reason;
      if (attempt < policy.maxAttempts && policy.retryIf(error)) {
        await recordFailedAttempt(rec, stepId, name, attempt, error); // failure path only: strata.step_attempts
        await abortableDelay(Math.min(policy.maxIntervalMs, policy.intervalMs * policy.backoffFactor ** (attempt - 1)), rec.waitSignal);
        continue;
      }
      return rec.recordFailure<T>(stepId, 'step', name, error, attempt, startedAt);
    }
    let output: string;
    try {
      output = rec.rt.serializer.serialize(value, `output of step "${name}"`);
    } catch (error) {
      return rec.recordFailure<T>(stepId, 'step', name, error, attempt, startedAt); // retrying cannot make the value storable
    }
    const existing = await rec.checkpoint(rec.newStep(stepId, 'step', name, { output, attempts: attempt, startedAt }));
    return existing ? rec.decode<T>(existing) : value;
  }
}

/**
 * `ctx.transaction`: runs `fn` in a transaction on the application database whose commit also
 * records the step (exactly once); on a separate application database its output is kept there
 * and checkpointed after.
 */
export async function runTransaction<T>(rec: Recorder, name: string, fn: (tx: Transaction) => Promise<T>, options: TransactionStepOptions): Promise<T> {
  STEP_NAMES.assert(name, 'transaction name');
  assertFunction(fn, `transaction "${name}" function`);
  assertOptions(options, `options of transaction "${name}"`, TRANSACTION_OPTION_KEYS);
  const stepId = rec.begin();
  const recorded = rec.replay(stepId, 'transaction', name);
  if (recorded) return rec.decode<T>(recorded);
  const startedAt = new Date();
  const rt = rec.rt;
  const sameDatabase = rt.appDb === rt.db;
  const txOptions = options.isolation ? { ...rec.rt.stepTransactions, isolation: options.isolation } : rec.rt.stepTransactions;
  let attempts = 1;
  await rt.holdLease(rec.signal);
  await rec.settle();
  try {
    let output = '';
    // Repeated through an outage: a repeat after an ambiguous commit finds its step written (Unwritten).
    const value = await rt.durable(rt.appDb, () => rt.appDb.transaction(async (tx) => {
      attempts = tx.attempt;
      const result = await inSpan(`transaction ${name}`, rec.spanAttributes(stepId, 'transaction', tx.attempt), () =>
        insideStep.run({ recorder: rec, name }, () => fn(tx)),
      );
      output = rt.serializer.serialize(result, `output of transaction "${name}"`);
      const written = sameDatabase
        ? await insertStepInTransaction(tx, rec.newStep(stepId, 'transaction', name, { output, attempts, startedAt }))
        : await insertTransactionOutput(tx, rec.workflowId, stepId, output);
      if (!written) throw new Unwritten();
      return result;
    }, txOptions), rec.signal);
    if (sameDatabase) return value;
    const existing = await rec.checkpoint(rec.newStep(stepId, 'transaction', name, { output, attempts, startedAt }));
    return existing ? rec.decode<T>(existing) : value;
  } catch (error) {
    if (error instanceof Unwritten) {
      if (sameDatabase) return rec.decode<T>(await rec.explainUnwritten(stepId));
      const committed = await rec.system(() => getTransactionOutput(rt.appDb, rec.workflowId, stepId));
      if (committed === undefined) throw new SystemDatabaseError(new Error(`transaction output ${rec.workflowId}/${stepId} vanished`));
      const existing = await rec.checkpoint(rec.newStep(stepId, 'transaction', name, { output: committed, attempts, startedAt }));
      return rec.decode<T>(existing ?? { output: committed, error: null });
    }
    if (rec.signal.aborted) throw rec.signal.reason;
    if (isSystemFailure(error)) throw new SystemDatabaseError(error);
    // The user's transaction failed and rolled back: its failure is the step's recorded outcome.
    return rec.recordFailure<T>(stepId, 'transaction', name, error, attempts, startedAt);
  }
}

/** One attempt of a step's function, ended by the workflow's cancellation or the step's timeout. */
function runAttempt<T>(rec: Recorder, name: string, fn: (info: StepInfo) => Promise<T> | T, attempt: number, timeoutMs: number | undefined): Promise<T> {
  // The step's AbortSignal is made only when the step reads it: most steps never do, and
  // making one per attempt showed in profiles of short steps. Cancellation reaches the attempt
  // through the execution's one listener (Recorder.onAbort), not a listener per attempt.
  let controller: AbortController | undefined;
  let abortReason: unknown;
  let aborted = false;
  let stop: ((reason: unknown) => void) | undefined;
  const abort = (reason: unknown) => {
    if (aborted) return;
    aborted = true;
    abortReason = reason;
    controller?.abort(reason);
    stop?.(reason);
  };
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
  return new Promise<T>((resolve, reject) => {
    let cancelTimer: (() => void) | undefined;
    let unwatch: (() => void) | undefined;
    const end = () => {
      cancelTimer?.();
      unwatch?.();
    };
    // The attempt settles with the function's outcome, or first with the cancellation's reason
    // or the timeout (the function is not awaited then; it is told through info.signal).
    stop = (reason) => {
      end();
      reject(reason);
    };
    if (timeoutMs !== undefined) cancelTimer = setLongTimeout(() => abort(new StepTimeoutError(name, timeoutMs)), timeoutMs);
    unwatch = rec.onAbort(abort);
    Promise.resolve()
      .then(() => insideStep.run({ recorder: rec, name }, () => fn(info)))
      .then(
        (value) => {
          end();
          resolve(value);
        },
        (error: unknown) => {
          end();
          reject(error);
        },
      );
  });
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
