// How busy the machine was while the bench ran, so a table measured on a busy machine is not
// mistaken for one measured on an idle machine: the load average before and after, and the CPU
// time the machine spent on processes that are not the bench's (its own process, its children
// and its PostgreSQL server) sampled from /proc during the run.

import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * The run counts as "machine busy" when other processes used more than this share of the
 * machine's CPU time on average over the run. An idle VM here spends 1–3% on its background
 * (systemd, the agent that hosts it); 10% of two cores is a fifth of one core, enough to move a
 * sub-millisecond p50 by more than the differences the table is read for.
 */
export const BUSY_FOREIGN_CPU_SHARE = 0.1;

/**
 * …or when, in any one sampling window, other processes used more than this share: a burst of a
 * few seconds on both cores (another test suite, a compile) lands in one workload's figures and
 * is hidden by the run's average.
 */
export const BUSY_FOREIGN_CPU_SHARE_WINDOW = 0.5;

/** One CPU sample a second: fine enough to see a burst, cheap enough (a /proc walk) not to be one. */
export const SAMPLE_INTERVAL_MS = 1_000;

/** /proc counts CPU time in USER_HZ ticks, which Linux fixes at 100 a second for user space. */
const TICKS_PER_SECOND = 100;

/** What the results JSON records under `machineLoad`. */
export interface MachineLoad {
  readonly cores: number;
  /** `os.loadavg()` (1, 5, 15 min) when the run started and when it ended. */
  readonly loadAverageBefore: readonly number[];
  readonly loadAverageAfter: readonly number[];
  /** Share of all cores' time that was busy (not idle or iowait), over the run. */
  readonly busyShare: number;
  /** Share of all cores' time spent by processes other than the bench's, over the run. */
  readonly foreignShare: number;
  /** CPU time of the bench's processes (itself, its children, its server) and of all others, over the run. */
  readonly ownCpuMs: number;
  readonly foreignCpuMs: number;
  /** The largest foreign share of one sampling window. */
  readonly foreignShareWindowMax: number;
  readonly samples: number;
  /** True when /proc could not be read (not Linux): the shares are then unknown (NaN). */
  readonly unmeasured: boolean;
  /** The verdict: see {@link BUSY_FOREIGN_CPU_SHARE} and {@link BUSY_FOREIGN_CPU_SHARE_WINDOW}. */
  readonly busy: boolean;
  /** Why `busy` is what it is, in words, for the printed table. */
  readonly verdict: string;
}

interface Sample {
  /** All cores' time in clock ticks since boot, and the part of it that was busy. */
  readonly totalTicks: number;
  readonly busyTicks: number;
  /** CPU ticks used so far by the bench's processes (dead children included). */
  readonly ownTicks: number;
}

/**
 * Samples the machine's CPU while the bench runs, from construction to {@link finish}.
 *
 * @example
 * ```ts
 * const monitor = new MachineLoadMonitor();
 * monitor.addRoot(postmasterPid); // the server is the bench's too
 * // ... the run ...
 * const load = monitor.finish();
 * if (load.busy) console.log(load.verdict);
 * ```
 */
export class MachineLoadMonitor {
  readonly #loadAverageBefore = os.loadavg();
  /** Process trees that are the bench's besides this process's own, with their last-seen ticks. */
  readonly #roots = new Map<number, number>();
  readonly #first: Sample | undefined;
  #previous: Sample | undefined;
  #windowMax = 0;
  #samples = 0;
  readonly #timer: NodeJS.Timeout;

  /** Paths whose appearance in a detached process's command line makes it the bench's (e.g. a data directory). */
  readonly #ownPaths: readonly string[];
  /** Detached processes already looked at and found foreign. */
  readonly #foreign = new Set<number>();

  /**
   * @param options.ownPaths processes detached from the bench (parent: init) whose command line
   *   contains one of these paths are counted as the bench's from the first sample that sees them
   *   (the servers a platform starts in the background, e.g. spares, under the bench's data directory).
   */
  constructor(options: { readonly ownPaths?: readonly string[] } = {}) {
    this.#ownPaths = options.ownPaths ?? [];
    this.#first = this.#sample();
    this.#previous = this.#first;
    this.#timer = setInterval(() => this.#tick(), SAMPLE_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Counts the process tree under `pid` as the bench's (the PostgreSQL postmaster, which pg_ctl
   * detaches from us). Once it ends, its last-seen CPU time stays counted.
   */
  addRoot(pid: number): void {
    this.#tick();
    if (!this.#roots.has(pid)) this.#roots.set(pid, 0);
  }

  /** Takes a last sample, stops sampling and judges the run. */
  finish(): MachineLoad {
    clearInterval(this.#timer);
    this.#tick();
    // The average covers the whole run, up to now (the last window may still be open).
    const last = this.#sample() ?? this.#previous;
    const first = this.#first;
    const cores = os.cpus().length;
    const loadAverageAfter = os.loadavg();
    if (first === undefined || last === undefined || last.totalTicks <= first.totalTicks) {
      return { cores, loadAverageBefore: this.#loadAverageBefore, loadAverageAfter, busyShare: NaN, foreignShare: NaN, ownCpuMs: NaN, foreignCpuMs: NaN, foreignShareWindowMax: NaN, samples: 0, unmeasured: true, busy: false, verdict: 'machine load not measured (no /proc)' };
    }
    const total = last.totalTicks - first.totalTicks;
    const busyShare = (last.busyTicks - first.busyTicks) / total;
    const foreignShare = foreignOf(first, last);
    const ownCpuMs = ((last.ownTicks - first.ownTicks) * 1000) / TICKS_PER_SECOND;
    const foreignCpuMs = (foreignShare * total * 1000) / TICKS_PER_SECOND;
    const pct = (share: number) => `${(100 * share).toFixed(1)}%`;
    const busy = foreignShare > BUSY_FOREIGN_CPU_SHARE || this.#windowMax > BUSY_FOREIGN_CPU_SHARE_WINDOW;
    const verdict = busy
      ? `MACHINE BUSY: other processes used ${pct(foreignShare)} of the CPU on average (limit ${pct(BUSY_FOREIGN_CPU_SHARE)}) and up to ${pct(this.#windowMax)} in one second (limit ${pct(BUSY_FOREIGN_CPU_SHARE_WINDOW)}): not for the README`
      : `machine quiet: other processes used ${pct(foreignShare)} of the CPU on average, at most ${pct(this.#windowMax)} in one second`;
    return { cores, loadAverageBefore: this.#loadAverageBefore, loadAverageAfter, busyShare, foreignShare, ownCpuMs, foreignCpuMs, foreignShareWindowMax: this.#windowMax, samples: this.#samples, unmeasured: false, busy, verdict };
  }

  #tick(): void {
    const next = this.#sample();
    if (next === undefined || this.#previous === undefined) return;
    // A window closes once it spans half a sampling interval of every core: addRoot() also takes
    // samples, and a window of a few ticks would make one foreign tick look like a burst.
    const minTicks = (os.cpus().length * SAMPLE_INTERVAL_MS * TICKS_PER_SECOND) / 2_000;
    if (next.totalTicks - this.#previous.totalTicks >= minTicks) {
      this.#windowMax = Math.max(this.#windowMax, foreignOf(this.#previous, next));
      this.#samples += 1;
      this.#previous = next;
    }
  }

  #adoptDetached(processes: Processes): void {
    for (const [pid, { ppid }] of processes) {
      if (ppid !== 1 || this.#roots.has(pid) || this.#foreign.has(pid)) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (this.#ownPaths.some((path) => cmdline.includes(path))) this.#roots.set(pid, 0);
      else this.#foreign.add(pid);
    }
  }

  #sample(): Sample | undefined {
    try {
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
      // user nice system idle iowait irq softirq steal (guest time is already in user).
      const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
      const busyTicks = user + nice + system + irq + softirq + steal;
      const processes = readProcesses();
      if (this.#ownPaths.length > 0) this.#adoptDetached(processes);
      let own = treeTicks(processes, process.pid);
      for (const [root, lastTicks] of this.#roots) {
        // A root that ended (and was reaped by init, not by us) keeps its last-seen time.
        const ticks = processes.has(root) ? treeTicks(processes, root) : lastTicks;
        this.#roots.set(root, ticks);
        own += ticks;
      }
      return { totalTicks: busyTicks + idle + iowait, busyTicks, ownTicks: own };
    } catch {
      return undefined;
    }
  }
}

/** Foreign share of the interval: busy ticks that were not the bench's, over all ticks. */
function foreignOf(from: Sample, to: Sample): number {
  const total = to.totalTicks - from.totalTicks;
  const foreign = to.busyTicks - from.busyTicks - (to.ownTicks - from.ownTicks);
  return Math.min(1, Math.max(0, foreign / total));
}

type Processes = Map<number, { ppid: number; ticks: number }>;

/** Every live process's parent and CPU ticks (its own, plus its reaped children's). */
function readProcesses(): Processes {
  const stats: Processes = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended while we looked
    }
    // Fields after the parenthesised name: state ppid … utime(14) stime cutime cstime (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    stats.set(Number(entry), { ppid, ticks });
  }
  return stats;
}

/**
 * CPU ticks of the process tree under `root`: for every live process in it, its own time plus
 * the time of its children that exited and were reaped (`cutime`, `cstime`), so a child that
 * ended between two samples is still counted.
 */
function treeTicks(stats: Processes, root: number): number {
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of stats) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let sum = 0;
  const seen = new Set<number>();
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    sum += stats.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}
