// Compute time: how long each instance ran (not suspended) in each minute, gathered in memory and
// taken out in batches by the power control's flusher.
import type { ComputeRow } from '../sql/instance-compute.js';

const MINUTE_MS = 60_000;

/**
 * Minutes of running time kept when the system database refuses the writes: a node's 100
 * instances for 100 minutes. Past it further minutes are dropped (and counted), so a long outage of
 * the database cannot grow the agent's memory without bound.
 */
export const MAX_PENDING_COMPUTE_ROWS = 10_000;

/**
 * Running time per instance and minute, not yet written. `resume` and `pause` follow an
 * instance's wakes and suspensions; `sync` catches up with which instances should run now.
 *
 * @example
 * const meter = new ComputeMeter();
 * meter.resume('ins_a', Date.now());
 * meter.pause('ins_a', Date.now() + 90_000);
 * meter.take(); // [{ instanceId: 'ins_a', minute, runningMs }, …] split at minute boundaries
 */
export class ComputeMeter {
  /** Instances running now, since when (ms) their time is not yet counted. */
  readonly #runningSince = new Map<string, number>();
  /** Counted time not yet taken: instance → minute start (ms) → ms. */
  readonly #pending = new Map<string, Map<number, number>>();
  #pendingRows = 0;
  #dropped = 0;

  /** The instance runs from `atMs` on (nothing changes when it already runs). */
  resume(instanceId: string, atMs: number): void {
    if (!this.#runningSince.has(instanceId)) this.#runningSince.set(instanceId, atMs);
  }

  /** The instance stopped running at `atMs`: its time until then is counted. */
  pause(instanceId: string, atMs: number): void {
    const since = this.#runningSince.get(instanceId);
    if (since === undefined) return;
    this.#runningSince.delete(instanceId);
    this.#count(instanceId, since, atMs);
  }

  /**
   * Counts every running instance's time up to `nowMs`. `running` is what should run now: one
   * that is not in it stopped (an owner's stop, a delete) and is paused at `nowMs`; one new to the
   * meter (provisioned or started since) counts from `sinceMs`, the previous sync.
   */
  sync(running: ReadonlySet<string>, nowMs: number, sinceMs: number): void {
    for (const instanceId of [...this.#runningSince.keys()]) {
      if (!running.has(instanceId)) this.pause(instanceId, nowMs);
    }
    for (const instanceId of running) {
      const since = this.#runningSince.get(instanceId) ?? Math.min(sinceMs, nowMs);
      this.#count(instanceId, since, nowMs);
      this.#runningSince.set(instanceId, nowMs);
    }
  }

  /** Takes the counted time out, one row per instance and minute. */
  take(): ComputeRow[] {
    const rows: ComputeRow[] = [];
    for (const [instanceId, minutes] of this.#pending) {
      for (const [minuteMs, runningMs] of minutes) if (runningMs > 0) rows.push({ instanceId, minute: new Date(minuteMs), runningMs });
    }
    this.#pending.clear();
    this.#pendingRows = 0;
    return rows;
  }

  /** Puts rows back that could not be written (they are added to what was counted since). */
  restore(rows: readonly ComputeRow[]): void {
    for (const row of rows) this.#add(row.instanceId, row.minute.getTime(), row.runningMs);
  }

  /** Rows dropped so far because {@link MAX_PENDING_COMPUTE_ROWS} were already waiting. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Splits [fromMs, toMs) at minute boundaries. */
  #count(instanceId: string, fromMs: number, toMs: number): void {
    for (let at = fromMs; at < toMs; ) {
      const minuteMs = Math.floor(at / MINUTE_MS) * MINUTE_MS;
      const end = Math.min(toMs, minuteMs + MINUTE_MS);
      this.#add(instanceId, minuteMs, end - at);
      at = end;
    }
  }

  #add(instanceId: string, minuteMs: number, ms: number): void {
    let minutes = this.#pending.get(instanceId);
    if (minutes === undefined) {
      minutes = new Map();
      this.#pending.set(instanceId, minutes);
    }
    const before = minutes.get(minuteMs);
    if (before === undefined) {
      if (this.#pendingRows >= MAX_PENDING_COMPUTE_ROWS) {
        this.#dropped += 1;
        return;
      }
      this.#pendingRows += 1;
    }
    minutes.set(minuteMs, (before ?? 0) + ms);
  }
}
