// The taken-message protocol: messages a recv returned are recorded (consumed, recv step written) with the workflow's next write.
import { isUniqueViolation, type Database } from '@strata/store';
import { WorkflowStateError } from '../errors.js';
import { recordTaken, type StepRow, type TakenMessage } from '../sql/index.js';

/** Most messages recvs may take before their taking is recorded; beyond it a recv records them first. */
export const TAKEN_UNRECORDED_MAX = 16;

/** What the protocol needs from its execution (see recorder.ts). */
export interface TakenMessagesHost {
  readonly workflowId: string;
  readonly rt: { readonly db: Database };
  /** The error that ends the execution, if any. */
  readonly fatalError: Error | undefined;
  fail(error: Error): Error;
  system<T>(operation: () => Promise<T>): Promise<T>;
  explainUnwritten(stepId: number): Promise<StepRow>;
}

/**
 * The messages one execution's recvs took and returned whose taking is not recorded yet, oldest
 * first. Every write of the execution records them first ({@link settle}), or in the same
 * statement (a send that replies); the engine settles before recording the workflow's end.
 */
export class TakenMessages {
  readonly #host: TakenMessagesHost;
  readonly #taken: TakenMessage[] = [];
  /** The recording of taken messages in progress. */
  #recording: Promise<void> | undefined;

  constructor(host: TakenMessagesHost) {
    this.#host = host;
  }

  /** True when there is nothing to settle: no taken message unrecorded, none being recorded. */
  get settled(): boolean {
    return !this.#recording && this.#taken.length === 0;
  }

  /** True when a recv must record what was taken before taking more (see TAKEN_UNRECORDED_MAX). */
  get full(): boolean {
    return this.#taken.length >= TAKEN_UNRECORDED_MAX;
  }

  /** Whether a message is taken but unrecorded (a parallel recv must not return it again). */
  has(messageId: string): boolean {
    return this.#taken.some((taken) => taken.messageId === messageId);
  }

  /** The IDs of the taken, unrecorded messages (a recv's read skips them). */
  ids(): string[] {
    return this.#taken.map((taken) => taken.messageId);
  }

  /** A recv took `taken`: it is recorded with the next write. */
  push(taken: TakenMessage): void {
    this.#taken.push(taken);
  }

  /** The one taken message, when exactly one waits and none is being recorded (a reply records it in its own statement). */
  takeOnly(): TakenMessage | null {
    return this.#taken.length === 1 && !this.#recording ? this.#taken.shift()! : null;
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
    while (this.#recording || this.#taken.length > 0) {
      if (this.#recording) {
        await this.#recording;
        const fatal = this.#host.fatalError;
        if (fatal) throw fatal;
      } else {
        const taken = this.#taken.shift()!;
        await this.record(taken, () => recordTaken(this.#host.rt.db, taken));
      }
    }
  }

  /**
   * Runs `write`, a statement that records the taken message `taken` (and perhaps more); other
   * writes wait for it (see settle). Returns what `write` returned when it wrote; `undefined` when
   * `write` wrote nothing because another execution of this workflow recorded the same message for
   * this recv first. `write` returning `undefined` puts `taken` back for a later write. Any failure
   * ends this execution (fatal): its recv already returned the message.
   */
  record<T>(taken: TakenMessage, write: () => Promise<T | false | undefined>): Promise<T | undefined> {
    const host = this.#host;
    const recording = (async (): Promise<T | undefined> => {
      const recvStep = taken.steps.at(-1)!;
      try {
        let outcome: T | false | undefined;
        try {
          outcome = await host.system(write);
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
          outcome = false;
        }
        if (outcome === undefined) this.#taken.unshift(taken);
        if (outcome !== false) return outcome;
        const recorded = await host.explainUnwritten(recvStep.stepId);
        if (recorded.kind !== 'recv' || recorded.output !== recvStep.output) {
          throw new WorkflowStateError(
            host.workflowId,
            'PENDING',
            `another execution of workflow "${host.workflowId}" recorded a different message for recv step ${recvStep.stepId}; this one stops`,
          );
        }
        return undefined;
      } catch (error) {
        host.fail(error as Error);
        throw error;
      }
    })();
    const clear = () => {
      if (this.#recording === done) this.#recording = undefined;
    };
    const done: Promise<void> = recording.then(clear, clear);
    this.#recording = done;
    return recording;
  }
}
