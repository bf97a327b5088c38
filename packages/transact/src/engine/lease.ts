// This executor's registration and lease: registering in strata.executors, heartbeats, and the lease steps wait on after a pause.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessAlive, type Database } from '@strata/store';
import { CapacityExceededError, ExecutorConflictError } from '../errors.js';
import { heartbeat, registerExecutor } from '../sql/index.js';
import { abortable } from '../timers.js';
import type { Owner } from '../workflow/runtime.js';

/** Identifies this process among processes that had its pid (see `strata.executors.process_instance`). */
const PROCESS_INSTANCE = randomUUID();

/**
 * Most executions that may wait at once for a heartbeat to renew a lapsed lease: one per running
 * execution at most, so this is far above any real process; reaching it means executions leak,
 * and the next waiter fails (CapacityExceededError) instead of memory growing.
 */
export const MAX_LEASE_WAITERS = 100_000;

/** What the lease needs from its engine. */
export interface LeaseHost {
  readonly executorId: string;
  readonly appVersion: string;
  readonly workflowNames: readonly string[];
  readonly executorTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Where heartbeats are written: a one-connection pool of their own on a server, else the system database. */
  readonly heartbeatDb: Database;
  /** True while heartbeats go on (running or draining). */
  beating(): boolean;
  /** True while the engine runs (takeovers and lapse handling only then). */
  isRunning(): boolean;
  /** A heartbeat succeeded: look for dead executors' workflows to take over. */
  onHeartbeat(): void;
  /** The heartbeat found this executor lapsed or its row missing: stop, re-register, recover. */
  onLapsed(state: 'lapsed' | 'missing'): Promise<void>;
  /** A heartbeat failed. */
  onFailure(error: unknown): void;
}

/**
 * The registration of this executor and its lease: the `performance.now()` until which no other
 * executor can have taken this one's workflows over (the last successful heartbeat's send time
 * plus executorTimeoutMs). The monotonic clock keeps running while the process is paused, so a
 * pause lapses it, and a step then waits for a heartbeat before it runs.
 */
export class Lease {
  readonly #host: LeaseHost;
  #leaseUntil = 0;
  /** Executions waiting for a heartbeat to renew the lapsed lease. */
  #waiters: (() => void)[] = [];
  #epoch = 0;
  /** The database this executor registered in, once it did. */
  #registered: Database | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | undefined;
  readonly #maxWaiters: number;

  constructor(host: LeaseHost, maxWaiters = MAX_LEASE_WAITERS) {
    this.#host = host;
    this.#maxWaiters = maxWaiters;
  }

  /** The epoch of this executor's current registration: the fencing token of its writes. */
  get epoch(): number {
    return this.#epoch;
  }

  /** This executor's current registration, the owner its new executions write as. */
  owner(): Owner {
    return { executorId: this.#host.executorId, epoch: this.#epoch };
  }

  /** The database this executor registered in, if it did (to mark it stopped). */
  get registered(): Database | undefined {
    return this.#registered;
  }

  /** Registers this executor in `strata.executors`, refusing an ID a live process holds. */
  async register(db: Database): Promise<void> {
    const host = this.#host;
    const self = hostname();
    const sentAt = performance.now();
    const registration = await registerExecutor(
      db,
      { executorId: host.executorId, appVersion: host.appVersion, hostname: self, pid: process.pid, processInstance: PROCESS_INSTANCE, workflowNames: host.workflowNames },
      host.executorTimeoutMs,
      // On this machine the process table says whether the holder runs; our own pid is another
      // engine of this process only if the row is this process's (a restarted container reuses
      // pids). Elsewhere the holder's fresh heartbeat must do.
      (row) => row.hostname !== self || (row.pid === process.pid ? row.process_instance === PROCESS_INSTANCE : isProcessAlive(row.pid)),
    );
    if ('holder' in registration) throw new ExecutorConflictError(host.executorId, `pid ${registration.holder.pid} on ${registration.holder.hostname}`);
    this.#epoch = registration.epoch;
    this.#registered = db;
    this.#renewed(sentAt);
  }

  /** Starts heartbeating every heartbeatIntervalMs. */
  start(): void {
    this.#timer = setInterval(() => this.beat(), this.#host.heartbeatIntervalMs);
    this.#timer.unref();
  }

  /** Stops heartbeating and waits for a heartbeat in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pass;
  }

  /**
   * `null` while the lease holds; else a promise that resolves once a heartbeat renewed it (see
   * {@link Runtime.holdLease}).
   */
  hold(signal: AbortSignal): Promise<void> | null {
    return performance.now() < this.#leaseUntil ? null : this.#renew(signal);
  }

  /** One heartbeat, then (by the host) a takeover of dead executors' workflows; never two at once. */
  beat(): void {
    const host = this.#host;
    const db = host.heartbeatDb;
    if (this.#pass || !host.beating()) return;
    this.#pass = (async () => {
      const sentAt = performance.now();
      const state = await heartbeat(db, host.executorId, host.executorTimeoutMs);
      if (state === 'ok') this.#renewed(sentAt);
      if (!host.isRunning()) return; // draining: only keep the executor alive
      if (state !== 'ok') await host.onLapsed(state);
      // Not awaited: a takeover (on the busy main pool) must not hold back the next heartbeat.
      else host.onHeartbeat();
    })()
      .catch((error: unknown) => host.onFailure(error))
      .finally(() => {
        this.#pass = undefined;
      });
  }

  /** The heartbeat or registration sent at `sentAt` (performance.now()) succeeded. */
  #renewed(sentAt: number): void {
    this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.#host.executorTimeoutMs);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Waits for a heartbeat to renew the lapsed lease, asking for one now rather than at the next
   * interval. If the heartbeat finds the executor lapsed, the executions are aborted, `signal`
   * among them, and this rejects with the reason.
   */
  async #renew(signal: AbortSignal): Promise<void> {
    this.beat();
    while (performance.now() >= this.#leaseUntil) {
      if (this.#waiters.length >= this.#maxWaiters) throw new CapacityExceededError('the lease waiters', this.#maxWaiters, 'MAX_LEASE_WAITERS');
      await abortable(new Promise<void>((resolve) => this.#waiters.push(resolve)), signal);
    }
  }
}
