// One executor's queue runner: claims what each queue's limits allow and starts it, on notifications and a safety poll.
import { isConnectionError, type Database } from '@strata/store';
import type { Logger } from '../interfaces.js';
import { claimQueued, listQueues, nextNotBefore, type DequeuedWorkflow, type QueueRow } from '../sql/index.js';

/** Most workflows one claim statement takes; a pass repeats while claims come back full. */
export const DEQUEUE_BATCH = 100;

/** What the queue runner needs from its engine. */
export interface QueueRunnerHost {
  readonly db: Database;
  readonly executorId: string;
  /** The executor's current registration epoch (fencing). */
  epoch(): number;
  readonly appVersion: string;
  readonly workflowNames: readonly string[];
  readonly logger: Logger;
  /** Re-read queues and re-check each one at least this often, in case a notification was lost. */
  readonly safetyPollIntervalMs: number;
  /** How many workflows of `queue` run in this process now. */
  localRunning(queue: string): number;
  /** Starts the claimed workflows (already PENDING on this executor), in the given order. */
  run(queue: string, claimed: readonly DequeuedWorkflow[]): Promise<void>;
  /** Holds the engine's claim guard (shared) from before a claim until its executions began. */
  claiming<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * A claim or read failed on a lost connection. A claim may have committed unanswered, its
   * workflows PENDING here without an execution: the engine's availability monitor waits for the
   * database, and its resync adopts them.
   */
  connectionLost(error: unknown): void;
}

interface Pump {
  running: boolean;
  again: boolean;
  /** The last pass stopped at this executor's worker concurrency, not at an empty queue. */
  heldBack: boolean;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

/**
 * Takes work off the queues for one executor. A pass over a queue claims what its limits allow;
 * passes run when an enqueue is announced (`q:<name>`, push: no poll interval on the start
 * latency), when a local workflow of the queue ends, when a delayed workflow or a rate-limit
 * window comes due, and every `safetyPollIntervalMs` as a safety net.
 */
export class QueueRunner {
  readonly #host: QueueRunnerHost;
  readonly #queues = new Map<string, QueueRow>();
  readonly #pumps = new Map<string, Pump>();
  readonly #passes = new Set<Promise<void>>();
  #safetyTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(host: QueueRunnerHost) {
    this.#host = host;
  }

  /** The queues as last read. */
  get queues(): ReadonlyMap<string, QueueRow> {
    return this.#queues;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#safetyTimer = setInterval(() => void this.refresh().then(() => this.wakeAll(), (error) => this.#warn('could not read the queues', error)), this.#host.safetyPollIntervalMs);
    this.#safetyTimer.unref();
    this.wakeAll();
  }

  /** Stops claiming and waits for claims in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#safetyTimer);
    for (const pump of this.#pumps.values()) clearTimeout(pump.timer);
    await Promise.allSettled([...this.#passes]);
  }

  /** Re-reads `strata.queues` (after a change here or in another process). */
  async refresh(): Promise<void> {
    const rows = await listQueues(this.#host.db);
    this.#queues.clear();
    for (const row of rows) this.#queues.set(row.name, row);
  }

  wakeAll(): void {
    for (const name of this.#queues.keys()) this.wake(name);
  }

  /** Runs a pass over `queue` now, or right after the one in flight. */
  wake(queue: string): void {
    if (this.#stopped) return;
    let pump = this.#pumps.get(queue);
    if (!pump) this.#pumps.set(queue, (pump = { running: false, again: false, heldBack: false, timer: undefined, timerAt: Infinity }));
    if (pump.running) {
      pump.again = true;
      return;
    }
    pump.running = true;
    const pass = this.#pass(queue, pump).finally(() => {
      this.#passes.delete(pass);
      pump.running = false;
    });
    this.#passes.add(pass);
  }

  /**
   * A workflow of `queue` ended in this process: a pass, when a concurrency limit can have held
   * work back (a global or partition limit, or this executor's worker concurrency reached on its
   * last pass). A queue that was not held back had everything startable claimed already, so a
   * pass would find nothing; a lost notification is the safety poll's.
   */
  slotFreed(queue: string): void {
    const limits = this.#queues.get(queue);
    const limited = limits === undefined || limits.concurrency !== null || limits.partition_concurrency !== null;
    if (limited || this.#pumps.get(queue)?.heldBack !== false) this.wake(queue);
  }

  async #pass(name: string, pump: Pump): Promise<void> {
    do {
      pump.again = false;
      if (this.#stopped) return;
      let queue = this.#queues.get(name);
      if (!queue) {
        await this.refresh().catch((error: unknown) => this.#warn('could not read the queues', error));
        queue = this.#queues.get(name);
        if (!queue) return;
      }
      const local = queue.worker_concurrency === null ? Infinity : queue.worker_concurrency - this.#host.localRunning(name);
      const max = Math.min(DEQUEUE_BATCH, local);
      pump.heldBack = max <= 0;
      if (max <= 0) return; // woken again when a local workflow of this queue ends
      let result;
      try {
        result = await this.#host.claiming(async () => {
          const claim = await claimQueued(this.#host.db, queue, {
            queueName: name,
            executorId: this.#host.executorId,
            epoch: this.#host.epoch(),
            appVersion: this.#host.appVersion,
            workflowNames: this.#host.workflowNames,
            max,
          });
          // Claimed while stopping: they are PENDING on this executor and resume with its recovery.
          if (claim.claimed.length > 0 && !this.#stopped) await this.#host.run(name, claim.claimed);
          return claim;
        });
      } catch (error) {
        this.#warn(`could not claim from queue "${name}"`, error);
        return; // the safety poll tries again
      }
      if (this.#stopped) return;
      if (result.claimed.length === max) {
        // A full batch: there may be more. At the worker concurrency: held back until one ends.
        pump.heldBack = max === local;
        if (max < local) pump.again = true;
        continue;
      }
      if (result.rateLimitedUntil) this.#wakeAt(name, pump, result.rateLimitedUntil.getTime());
      else {
        const due = result.nextNotBefore !== undefined ? result.nextNotBefore : await nextNotBefore(this.#host.db, name).catch(() => undefined);
        if (due) this.#wakeAt(name, pump, due.getTime());
      }
    } while (pump.again);
  }

  /** Wakes the queue at `atMs` (keeping an earlier timer). */
  #wakeAt(name: string, pump: Pump, atMs: number): void {
    if (this.#stopped || (pump.timer && pump.timerAt <= atMs)) return;
    clearTimeout(pump.timer);
    pump.timerAt = atMs;
    pump.timer = setTimeout(() => {
      pump.timer = undefined;
      pump.timerAt = Infinity;
      this.wake(name);
    }, Math.min(Math.max(0, atMs - Date.now() + 1), this.#host.safetyPollIntervalMs));
    pump.timer.unref();
  }

  #warn(message: string, error: unknown): void {
    if (this.#stopped) return;
    // A lost database is reported once by the engine's availability monitor, not at every poll.
    if (isConnectionError(error)) this.#host.connectionLost(error);
    else this.#host.logger.warn(`strata: ${message}`, error);
  }
}
