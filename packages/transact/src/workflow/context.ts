// The workflow context handed to workflow code (`ctx`): a façade over the recording core and one module per kind of operation.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Queryable, Transaction } from '@strata/store';
import { InvalidArgumentError } from '../errors.js';
import type { StepInfo, StepOptions, TransactionStepOptions, WaitOptions, WorkflowContext, WorkflowHandle, WorkflowStarter } from '../interfaces.js';
import { assertIdentifier } from '../validate.js';
import { childHandle, childStartedElsewhere, recordChildStart, startChild } from './children.js';
import { getEvent, setEvent, StreamWriter } from './events-streams.js';
import { recv, send } from './messages.js';
import { insideStep, Recorder } from './recorder.js';
import { NO_STEP_OPTIONS, runStep, runTransaction } from './steps.js';
import { now, random, sleep, uuid } from './time.js';

export type { ContextOptions, ReplayObserver } from './recorder.js';

/** The workflow context of the code running now, if any (to turn `workflow.start()` inside a workflow into a child). */
export const currentContext = new AsyncLocalStorage<Context>();

/**
 * The context of the workflow whose code is running now, outside any of its steps; undefined in
 * a step or transaction body (where any code may run) and outside workflows. Engine and client
 * calls made from workflow code use it to record themselves, or to refuse.
 */
export function workflowCodeContext(): Context | undefined {
  const context = currentContext.getStore();
  if (!context || insideStep.getStore()?.recorder === context) return undefined;
  return context;
}

/** The error for an engine or client call that workflow code must make through `ctx` (or inside a step). */
export function useContextInstead(call: string, instead: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `${call} was called from workflow code, where it would not be recorded (a recovered workflow would do it again or see something else): use ${instead}`,
  );
}

/**
 * One execution of one workflow, as its code sees it: each method is one durable operation,
 * implemented in the module named beside it on the recording core ({@link Recorder}).
 */
export class Context extends Recorder implements WorkflowContext {
  /** Made at the first stream operation (events-streams.ts). */
  #streams: StreamWriter | undefined;

  step<T>(name: string, fn: (info: StepInfo) => Promise<T> | T, options: StepOptions = NO_STEP_OPTIONS): Promise<T> {
    return runStep(this, name, fn, options); // steps.ts
  }

  transaction<T>(name: string, fn: (tx: Transaction) => Promise<T>, options: TransactionStepOptions = {}): Promise<T> {
    return runTransaction(this, name, fn, options); // steps.ts
  }

  sleep(durationMs: number): Promise<void> {
    return sleep(this, durationMs); // time.ts
  }

  send(destinationId: string, message: unknown, topic = ''): Promise<void> {
    return send(this, destinationId, message, topic); // messages.ts
  }

  recv<T = unknown>(topic = '', options: WaitOptions = {}): Promise<T | null> {
    return recv<T>(this, topic, options); // messages.ts
  }

  setEvent(key: string, value: unknown): Promise<void> {
    return setEvent(this, key, value); // events-streams.ts
  }

  getEvent<T = unknown>(workflowId: string, key: string, options: WaitOptions = {}): Promise<T | null> {
    return getEvent<T>(this, workflowId, key, options); // events-streams.ts
  }

  writeStream(key: string, value: unknown): Promise<void> {
    assertIdentifier(key, 'stream key');
    return this.#streamWriter().write(key, 'stream_write', () => this.rt.serializer.serialize(value, `value of stream "${key}"`));
  }

  closeStream(key: string): Promise<void> {
    assertIdentifier(key, 'stream key');
    return this.#streamWriter().write(key, 'stream_close', () => null);
  }

  startChild<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<WorkflowHandle<R>> {
    return startChild<A, R>(this, workflow, args); // children.ts
  }

  async runChild<A extends unknown[], R>(workflow: WorkflowStarter<A, R>, ...args: A): Promise<R> {
    return (await this.startChild(workflow, ...args)).result();
  }

  /**
   * Waits for any workflow's result and records it as a step, so a recovered workflow sees the
   * same outcome (what `strata.retrieve(id).result()` does when called from workflow code).
   */
  resultOf<R>(workflowId: string): Promise<R> {
    return childHandle<R>(this, workflowId).result();
  }

  now(): Promise<number> {
    return now(this); // time.ts
  }

  random(): Promise<number> {
    return random(this);
  }

  uuid(): Promise<string> {
    return uuid(this);
  }

  /** See {@link recordChildStart} (called by the engine inside the parent's transaction). */
  recordChildStart(tx: Queryable, stepId: number, name: string, childWorkflowId: string | null, error?: unknown): Promise<boolean> {
    return recordChildStart(this, tx, stepId, name, childWorkflowId, error);
  }

  /** See {@link childStartedElsewhere}. */
  childStartedElsewhere(stepId: number): Promise<string> {
    return childStartedElsewhere(this, stepId);
  }

  #streamWriter(): StreamWriter {
    return (this.#streams ??= new StreamWriter(this));
  }
}
