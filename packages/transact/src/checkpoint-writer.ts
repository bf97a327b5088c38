import type { Database } from '@strata/store';
import { insertStepInTransaction, insertSteps, type NewStep } from './sql/index.js';

/** Most steps written in one statement: keeps the statement and its arrays a bounded size. */
const MAX_BATCH_STEPS = 500;

interface Pending {
  readonly step: NewStep;
  readonly resolve: (written: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit of step checkpoints. A checkpoint is written at once when a connection is free;
 * checkpoints that arrive while all writes are in flight are gathered and written together in
 * one statement, so concurrent workflows share commits and a lone workflow waits for nothing.
 */
export class CheckpointWriter {
  readonly #db: Database;
  readonly #maxInFlight: number;
  #queue: Pending[] = [];
  #inFlight = 0;

  constructor(db: Database, maxInFlight: number) {
    this.#db = db;
    this.#maxInFlight = maxInFlight;
  }

  /** Writes `step`; resolves true when written, false when not (already recorded, or workflow not PENDING). */
  write(step: NewStep): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ step, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH_STEPS);
      this.#inFlight++;
      void this.#flush(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #flush(batch: Pending[]): Promise<void> {
    try {
      // A lone checkpoint takes the plain single-row statement: cheaper to plan than unnest.
      const written =
        batch.length === 1
          ? new Set((await insertStepInTransaction(this.#db, batch[0]!.step)) ? [`${batch[0]!.step.workflowId}/${batch[0]!.step.stepId}`] : [])
          : await insertSteps(
              this.#db,
              batch.map((pending) => pending.step),
            );
      for (const { step, resolve } of batch) resolve(written.has(`${step.workflowId}/${step.stepId}`));
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }
}
