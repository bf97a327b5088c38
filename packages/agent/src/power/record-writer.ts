// Power changes written to strata_cloud.instance_power in the background, batched: the changes of
// every instance since the last write go in one statement, one write in flight at a time.
import type { Database } from '@strata/store';
import type { Logger } from '@strata/transact';
import { savePowerChanges, type PowerChange, type PowerState } from '../sql/instance-power.js';

/**
 * Keeps each instance's latest unwritten change (one per instance, so what waits is bounded by
 * the node's instances) and writes them off the wake path. A failed write is retried with the
 * next change or at {@link PowerRecordWriter.drain}; an agent that dies before a write leaves a
 * record its next reconcile corrects from what it finds on the machine.
 *
 * @example
 * const writer = new PowerRecordWriter(db, 'node-1', console);
 * writer.changed('ins_a', 'frozen');
 * writer.woke('ins_a', 'frozen', 0.8);
 * await writer.drain();
 */
export class PowerRecordWriter {
  readonly #db: Database;
  readonly #nodeId: string;
  readonly #logger: Logger;
  readonly #dirty = new Map<string, PowerChange>();
  #writing: Promise<void> | undefined;

  constructor(db: Database, nodeId: string, logger: Logger) {
    this.#db = db;
    this.#nodeId = nodeId;
    this.#logger = logger;
  }

  /** The instance entered `state` now. */
  changed(instanceId: string, state: PowerState): void {
    const before = this.#dirty.get(instanceId);
    this.#dirty.set(instanceId, { instanceId, state, changedAt: new Date(), wakes: before?.wakes ?? 0, lastWakeMs: before?.lastWakeMs ?? null, lastWakeFrom: before?.lastWakeFrom ?? null });
    this.#schedule();
  }

  /** The instance woke from `from` in `wakeMs` and runs now. */
  woke(instanceId: string, from: 'frozen' | 'stopped', wakeMs: number): void {
    const before = this.#dirty.get(instanceId);
    this.#dirty.set(instanceId, { instanceId, state: 'running', changedAt: new Date(), wakes: (before?.wakes ?? 0) + 1, lastWakeMs: wakeMs, lastWakeFrom: from });
    this.#schedule();
  }

  /** Drops what waits for the instance (it is being forgotten). */
  discard(instanceId: string): void {
    this.#dirty.delete(instanceId);
  }

  /** Resolves once everything changed so far is written (or has failed once more; the failure is logged). */
  async drain(): Promise<void> {
    // One more try after a failed write, not a loop: a database that is away stays away for a while.
    for (let attempt = 0; attempt < 2; attempt++) {
      while (this.#writing !== undefined) await this.#writing;
      if (this.#dirty.size === 0) return;
      this.#schedule();
    }
    while (this.#writing !== undefined) await this.#writing;
  }

  #schedule(): void {
    if (this.#writing !== undefined) return;
    let failed = false;
    this.#writing = (async () => {
      // Changes made while a write is in flight go in the next one.
      while (this.#dirty.size > 0) {
        const batch = [...this.#dirty.values()];
        this.#dirty.clear();
        try {
          await savePowerChanges(this.#db, this.#nodeId, batch);
        } catch (error) {
          failed = true;
          // Put back under what changed meanwhile; the next change (or a drain) tries again.
          for (const change of batch) {
            const later = this.#dirty.get(change.instanceId);
            this.#dirty.set(change.instanceId, later === undefined ? change : { ...later, wakes: later.wakes + change.wakes });
          }
          this.#logger.warn(`strata agent ${this.#nodeId}: could not record the power state of ${batch.map((change) => change.instanceId).join(', ')} (${(error as Error).message}); it is tried again`);
          return;
        }
      }
    })().finally(() => {
      this.#writing = undefined;
      // A change made between the loop's last check and now; after a failure, the next change retries.
      if (!failed && this.#dirty.size > 0) this.#schedule();
    });
  }
}
