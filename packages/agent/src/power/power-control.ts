// PowerControl: suspends idle instances of the node (frozen: memory kept, no CPU; stopped: memory
// freed) and wakes them fast, with holds that keep an instance awake, a bound on concurrent starts,
// and compute time per minute. A façade over the parts in this folder.
import { PgInstanceError, freezeInstance, freezerAvailable, thawInstance, type ManagedCluster } from '@strata/postgres';
import type { Logger } from '@strata/transact';
import { AgentError } from '../errors.js';
import { sealIfArchiving, type JobHost } from '../jobs/jobs.js';
import { addComputeTime } from '../sql/instance-compute.js';
import { listPowerRecords } from '../sql/instance-power.js';
import { getNodeInstance, listNodeInstances } from '../sql/node-instances.js';
import { ComputeMeter } from './compute-meter.js';
import { Holds } from './holds.js';
import type { InstanceTarget, PowerControlOptions, PowerState, PowerStats, Release, SuspendTier, WakeResult } from './interfaces.js';
import { PowerRecordWriter } from './record-writer.js';
import { SerialLanes } from './serial-lanes.js';
import { StartGate } from './start-gate.js';
import { suspendRefusal } from './suspendable.js';

/**
 * Servers started at once by a wake storm (every client of a node coming back together). A start
 * of a small instance is ~30 ms of mostly one core (shared memory, the startup process); eight
 * keep a 2-core node busy without making each start wait on the others, and queue the rest.
 */
export const MAX_CONCURRENT_STARTS = 8;
/**
 * Starts that may wait for a slot: one per instance of the node at most (concurrent wakes of one
 * instance share one start, and its operations run one at a time), and no node holds this many
 * instances — 100 times a default node's (DEFAULT_CAPACITY_INSTANCES).
 */
export const MAX_QUEUED_STARTS = 10_000;
/** Between two writes of compute time: a few seconds keeps the usage API current at one statement per node per interval. */
export const COMPUTE_FLUSH_INTERVAL_MS = 5_000;

/** What power control acts on: the node's system database, its ID, its instances' files and its backups. */
export type PowerHost = Pick<JobHost, 'db' | 'nodeId' | 'files' | 'backups'>;

/**
 * Suspends and wakes the PostgreSQL instances of one node. Every operation on an instance runs
 * after the earlier ones on it (a wake asked for during a suspend wakes it after); concurrent wakes
 * share one. State lives in memory for speed and in strata_cloud.instance_power for durability
 * (written in the background, in batches; the agent's reconcile corrects it from the machine after
 * a crash). Only primaries without standbys are suspended.
 *
 * @example
 * const power = await PowerControl.open(host);
 * await power.suspend('ins_abc', 'frozen');       // true: frozen
 * power.state('ins_abc');                         // 'frozen'
 * await power.wake('ins_abc');                    // thawed: accepts connections again
 * power.lastWake('ins_abc');                      // { from: 'frozen', wakeMs: 0.7, at }
 * const release = power.hold('ins_abc', 'backup'); // not suspended until released
 * await power.suspend('ins_abc', 'stopped');       // false: held
 * release();
 * await power.close();
 */
export class PowerControl {
  readonly #host: PowerHost;
  readonly #logger: Logger;
  readonly #states = new Map<string, PowerState>();
  /** Clusters of instances suspended by a stop here, kept so their wake starts them without reading the database. */
  readonly #stopped = new Map<string, ManagedCluster>();
  readonly #waking = new Map<string, Promise<void>>();
  readonly #lastWakes = new Map<string, WakeResult>();
  readonly #lanes = new SerialLanes();
  readonly #holds = new Holds();
  readonly #gate: StartGate;
  readonly #records: PowerRecordWriter;
  readonly #meter = new ComputeMeter();
  readonly #counts = { thaws: 0, starts: 0, frozen: 0, stopped: 0 };
  #lastFlushMs: number;
  #flushing: Promise<number> = Promise.resolve(0);
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(host: PowerHost, options: PowerControlOptions, states: ReadonlyMap<string, PowerState>) {
    this.#host = host;
    this.#logger = options.logger ?? console;
    this.#gate = new StartGate(options.maxConcurrentStarts ?? MAX_CONCURRENT_STARTS, MAX_QUEUED_STARTS);
    this.#records = new PowerRecordWriter(host.db, host.nodeId, this.#logger);
    for (const [instanceId, state] of states) if (state !== 'running') this.#states.set(instanceId, state);
    this.#lastFlushMs = Date.now();
  }

  /**
   * Loads the node's power states (after the agent's reconcile corrected them) and starts the
   * compute-time flusher.
   *
   * @throws {AgentError} `STRATA_AGENT_INVALID_CONFIG` for a bad option.
   *
   * @example
   * const power = await PowerControl.open({ db, nodeId: 'node-1', files }, { maxConcurrentStarts: 8 });
   */
  static async open(host: PowerHost, options: PowerControlOptions = {}): Promise<PowerControl> {
    const maxStarts = options.maxConcurrentStarts ?? MAX_CONCURRENT_STARTS;
    if (!Number.isInteger(maxStarts) || maxStarts < 1 || maxStarts > MAX_QUEUED_STARTS) {
      throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `maxConcurrentStarts must be a whole number from 1 to ${MAX_QUEUED_STARTS}, got ${String(maxStarts)}`);
    }
    const flushMs = options.computeFlushIntervalMs ?? COMPUTE_FLUSH_INTERVAL_MS;
    if (!Number.isInteger(flushMs) || flushMs < 0) {
      throw new AgentError('STRATA_AGENT_INVALID_CONFIG', `computeFlushIntervalMs must be a whole number of ms ≥ 0 (0: flush only when asked), got ${String(flushMs)}`);
    }
    const records = await listPowerRecords(host.db, host.nodeId);
    const power = new PowerControl(host, options, new Map(records.map((record) => [record.instanceId, record.state])));
    if (flushMs > 0) power.#scheduleFlush(flushMs);
    return power;
  }

  /**
   * The instance's power state: `running` unless power control suspended it (an instance its
   * owner stopped is `running` here too: it is not suspended, and a wake does not start it).
   *
   * @example
   * if (power.state('ins_abc') !== 'running') await power.wake('ins_abc');
   */
  state(target: InstanceTarget): PowerState {
    return this.#states.get(this.#id(target)) ?? 'running';
  }

  /**
   * Suspends the instance: `frozen` freezes its processes (memory kept, no CPU; a wake is a thaw),
   * `stopped` archives what it committed (when it archives) and stops it fast (memory freed; a wake
   * is a start). Where the cgroup freezer is unavailable (not root, not Linux) `frozen` stops it
   * instead. An instance already suspended as deep stays as it is; a frozen one can be stopped.
   *
   * @returns false, changing nothing, while the instance is held ({@link PowerControl.hold}), when
   * its owner stopped it or it does not run, and for a replica or a primary with standbys (only
   * primaries without any are suspended); true once it is suspended.
   * @throws {AgentError} `STRATA_AGENT_UNKNOWN_INSTANCE` for an instance not on this node.
   *
   * @example
   * const suspended = await power.suspend('ins_abc', 'frozen');
   */
  suspend(target: InstanceTarget, tier: SuspendTier): Promise<boolean> {
    let instanceId: string;
    try {
      instanceId = this.#id(target);
    } catch (error) {
      return Promise.reject(error);
    }
    if (tier !== 'frozen' && tier !== 'stopped') {
      return Promise.reject(new AgentError('STRATA_AGENT_INVALID_INPUT', `the suspend tier must be 'frozen' or 'stopped', got ${JSON.stringify(tier)}`));
    }
    if (this.#closed || this.#holds.held(instanceId)) return Promise.resolve(false);
    // A wake asked for from now on runs after this suspend, not merged into an earlier one.
    this.#waking.delete(instanceId);
    return this.#lanes.run(instanceId, () => this.#suspend(instanceId, tier));
  }

  /**
   * Wakes a suspended instance and resolves once its server accepts connections: a frozen one is
   * thawed (about a millisecond), a stopped one started — at most `maxConcurrentStarts` at once
   * on the node, the others waiting in order (thaws never wait behind starts). Concurrent wakes
   * of one instance share one. An instance that is not suspended is left as it is (resolves at
   * once): a wake never starts a server its owner stopped. Call it before connecting;
   * {@link PowerControl.hold} keeps the instance awake while a client uses it. What the wake did
   * is {@link PowerControl.lastWake}.
   *
   * @throws whatever the start throws (`PgInstanceError` `PG_INSTANCE_START_FAILED` with the
   * server's log); the instance stays suspended and a later wake tries again.
   *
   * @example
   * await power.wake('ins_abc');
   * await power.wake({ instanceId: 'ins_abc', nodeId: 'node-1' }); // a proxy's target, as it is
   */
  wake(target: InstanceTarget): Promise<void> {
    let instanceId: string;
    try {
      instanceId = this.#id(target);
    } catch (error) {
      return Promise.reject(error);
    }
    const shared = this.#waking.get(instanceId);
    if (shared !== undefined) return shared;
    const waking = this.#lanes.run(instanceId, () => this.#wake(instanceId));
    this.#waking.set(instanceId, waking);
    const forget = () => {
      if (this.#waking.get(instanceId) === waking) this.#waking.delete(instanceId);
    };
    waking.then(forget, forget);
    return waking;
  }

  /**
   * Holds the instance: while any hold lasts, {@link PowerControl.suspend} refuses it. Agent jobs
   * and the metrics sampler hold the instances they work on (jobs also wake them: see `withAwake`
   * in src/jobs/); a proxy holds an instance while it has clients. A hold does not wake.
   *
   * @returns the release; calling it again does nothing.
   *
   * @example
   * const release = power.hold('ins_abc', 'backup');
   * try { await power.wake('ins_abc'); await backUp(); } finally { release(); }
   */
  hold(target: InstanceTarget, purpose: string): Release {
    return this.#holds.take(this.#id(target), purpose);
  }

  /**
   * The instance's last wake from a suspension by this power control (since the agent started;
   * strata_cloud.instance_power keeps it across restarts), or undefined.
   *
   * @example
   * await power.wake('ins_abc');
   * power.lastWake('ins_abc'); // { from: 'stopped', wakeMs: 38.5, at: 2026-… }
   */
  lastWake(target: InstanceTarget): WakeResult | undefined {
    return this.#lastWakes.get(this.#id(target));
  }

  /**
   * What the instance's holds are for (empty: not held).
   *
   * @example
   * power.holders('ins_abc'); // ['agent.backup', 'metrics sample']
   */
  holders(target: InstanceTarget): string[] {
    return this.#holds.purposes(this.#id(target));
  }

  /**
   * The instance's state once the suspends and wakes asked for so far have ended. With a hold
   * taken first, it stays so (no suspend starts while held): how the metrics sampler learns
   * whether it may query an instance without waking it.
   *
   * @example
   * const release = power.hold('ins_abc', 'metrics sample');
   * if ((await power.settled('ins_abc')) === 'running') await sample();
   * release();
   */
  async settled(target: InstanceTarget): Promise<PowerState> {
    const instanceId = this.#id(target);
    await this.#lanes.idle(instanceId);
    return this.state(instanceId);
  }

  /**
   * Counters: starts in flight and queued (now and at most), thaws, starts and suspensions so far.
   *
   * @example
   * power.stats().peakStartsInFlight; // never above maxConcurrentStarts
   */
  stats(): PowerStats {
    const gate = this.#gate.stats();
    return { startsInFlight: gate.inFlight, peakStartsInFlight: gate.peakInFlight, startsQueued: gate.queued, peakStartsQueued: gate.peakQueued, ...this.#counts };
  }

  /**
   * Writes the compute time counted since the last flush into strata_cloud.instance_compute (one
   * statement): each instance that should run here and is not suspended ran until now. Runs every
   * `computeFlushIntervalMs` by itself; a failed write is kept and written with the next. Also
   * waits for the power records changed so far to be written (they are written right after each
   * change, in the background).
   *
   * @returns how many (instance, minute) rows were written.
   *
   * @example
   * await power.flush(); // 3
   */
  flush(): Promise<number> {
    const next = this.#flushing.catch(() => 0).then(() => this.#flushOnce());
    this.#flushing = next;
    return next;
  }

  /**
   * Forgets a destroyed instance: its state and unwritten records, after its suspends and wakes in
   * flight (the destroy job deletes its row after).
   *
   * @example
   * await power.forget('ins_abc');
   */
  async forget(target: InstanceTarget): Promise<void> {
    const instanceId = this.#id(target);
    await this.#lanes.idle(instanceId);
    this.#states.delete(instanceId);
    this.#stopped.delete(instanceId);
    this.#lastWakes.delete(instanceId);
    this.#records.discard(instanceId);
    this.#meter.pause(instanceId, Date.now());
    await this.#records.drain();
  }

  /**
   * Stops the flusher after a last flush, lets suspends and wakes in flight end and writes what is
   * left. Suspended instances stay suspended (the next agent start finds them so).
   *
   * @example
   * await power.close();
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#lanes.drain();
    await this.flush().catch((error: unknown) => this.#logger.warn(`strata agent ${this.#host.nodeId}: the last compute-time write failed (${(error as Error).message})`));
    await this.#records.drain();
  }

  async #suspend(instanceId: string, tier: SuspendTier): Promise<boolean> {
    const current = this.state(instanceId);
    if (current === 'stopped' || current === tier) return true;
    if (this.#holds.held(instanceId)) return false;
    const row = await getNodeInstance(this.#host.db, this.#host.nodeId, instanceId);
    if (row === undefined) throw new AgentError('STRATA_AGENT_UNKNOWN_INSTANCE', `instance ${instanceId} is not on node ${this.#host.nodeId}; nothing to suspend`);
    if (row.desired !== 'running') return false;
    const dataDir = this.#host.files.dataDir(instanceId);
    if ((await suspendRefusal(dataDir)) !== undefined) return false;
    // Held while the checks above ran: the holder wants it awake now.
    if (this.#holds.held(instanceId)) return false;
    if (tier === 'frozen' && (await freezerAvailable())) {
      try {
        await freezeInstance(dataDir);
      } catch (error) {
        // Not running (stopped meanwhile, or crashed): nothing to suspend.
        if (error instanceof PgInstanceError && error.code === 'PG_INSTANCE_UNAVAILABLE') return false;
        throw error;
      }
      this.#suspended(instanceId, 'frozen');
      return true;
    }
    const cluster = await this.#host.files.open(instanceId, row.port, row.spec.settings);
    // Frozen: thawed to archive and stop (a stop thaws anyway; the seal needs it running).
    if (current === 'frozen' && !(await thawInstance(dataDir))) {
      this.#stopped.set(instanceId, cluster);
      this.#suspended(instanceId, 'stopped');
      return true;
    }
    if (!(await cluster.isRunning())) return false;
    // Its backups reach its last commit before it stops, as at an owner's stop.
    await sealIfArchiving(this.#host, cluster, instanceId);
    await cluster.stop('fast');
    this.#stopped.set(instanceId, cluster);
    this.#suspended(instanceId, 'stopped');
    return true;
  }

  #suspended(instanceId: string, state: 'frozen' | 'stopped'): void {
    this.#states.set(instanceId, state);
    this.#meter.pause(instanceId, Date.now());
    this.#records.changed(instanceId, state);
    this.#counts[state] += 1;
  }

  async #wake(instanceId: string): Promise<void> {
    const from = this.state(instanceId);
    if (from === 'running') return;
    const startedMs = performance.now();
    if (from === 'frozen') {
      this.#counts.thaws += 1;
      // False: killed while frozen (it died at the thaw), so it is started like a stopped one.
      if (!(await thawInstance(this.#host.files.dataDir(instanceId)))) await this.#start(instanceId);
    } else {
      await this.#start(instanceId);
    }
    const wakeMs = performance.now() - startedMs;
    this.#states.delete(instanceId);
    this.#meter.resume(instanceId, Date.now());
    this.#records.woke(instanceId, from, wakeMs);
    this.#lastWakes.set(instanceId, { from, wakeMs, at: new Date() });
  }

  /** The instance ID of a target, which must be of this node. */
  #id(target: InstanceTarget): string {
    if (typeof target === 'string') return target;
    if (target === null || typeof target !== 'object' || typeof target.instanceId !== 'string') {
      throw new AgentError('STRATA_AGENT_INVALID_INPUT', `an instance is named by its ID or { instanceId, nodeId? }, got ${JSON.stringify(target)}`);
    }
    if (target.nodeId !== undefined && target.nodeId !== this.#host.nodeId) {
      throw new AgentError('STRATA_AGENT_UNKNOWN_INSTANCE', `instance ${target.instanceId} is on node ${target.nodeId}, not ${this.#host.nodeId}: ask that node's agent`);
    }
    return target.instanceId;
  }

  async #start(instanceId: string): Promise<void> {
    const cluster = this.#stopped.get(instanceId) ?? (await this.#open(instanceId));
    this.#counts.starts += 1;
    await this.#gate.run(() => cluster.start());
    this.#stopped.delete(instanceId);
  }

  async #open(instanceId: string): Promise<ManagedCluster> {
    const row = await getNodeInstance(this.#host.db, this.#host.nodeId, instanceId);
    if (row === undefined) throw new AgentError('STRATA_AGENT_UNKNOWN_INSTANCE', `instance ${instanceId} is not on node ${this.#host.nodeId}; nothing to wake`);
    return this.#host.files.open(instanceId, row.port, row.spec.settings);
  }

  async #flushOnce(): Promise<number> {
    const nowMs = Date.now();
    const rows = await listNodeInstances(this.#host.db, this.#host.nodeId);
    const running = new Set(rows.filter((row) => row.desired === 'running' && this.state(row.instanceId) === 'running').map((row) => row.instanceId));
    this.#meter.sync(running, nowMs, this.#lastFlushMs);
    this.#lastFlushMs = nowMs;
    const batch = this.#meter.take();
    try {
      await addComputeTime(this.#host.db, batch);
    } catch (error) {
      this.#meter.restore(batch);
      throw error;
    }
    await this.#records.drain();
    return batch.length;
  }

  #scheduleFlush(intervalMs: number): void {
    this.#timer = setTimeout(() => {
      void this.flush()
        .catch((error: unknown) => this.#logger.warn(`strata agent ${this.#host.nodeId}: compute-time write failed (${(error as Error).message}); it is written with the next`))
        .finally(() => {
          if (!this.#closed) this.#scheduleFlush(intervalMs);
        });
    }, intervalMs).unref();
  }
}
