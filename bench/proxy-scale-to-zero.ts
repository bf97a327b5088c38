// bench:proxy's scale-to-zero sections: how long a client waits when its instance was suspended
// (frozen, or stopped) — connect to first result of `select 1` through the proxy — and how much
// memory a host of many instances uses when the proxy suspends the idle ones, against all running.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { childrenByPid, kibField } from './lib/instances.js';
import { percentile } from './lib/measure.js';
import type { Host } from './proxy-host.js';

/** Idle time before the wake section's proxy suspends its instance: short, so rounds are quick. */
const WAKE_IDLE_MS = 200;
/** After the suspension returned, before the timed connect: the host settles (the stop's last writes). */
const WAKE_SETTLE_MS = 100;
/** A suspension that has not happened this long after the last client left is not going to. */
const SUSPEND_TIMEOUT_MS = 30_000;
/** Instances kept busy during the density section, as the issue says. */
export const DENSITY_ACTIVE = 10;
/** Each busy instance runs `select 1`, then waits this long: steady traffic, far from saturating two cores. */
const ACTIVE_PAUSE_MS = 100;
/** Idle time before the density proxy stops an instance (no freezing first: the figure is the stopped tier's). */
const DENSITY_STOP_AFTER_MS = 2_000;
/** Connections through the proxy at once while every idle instance is visited once. */
const TOUCH_CONCURRENCY = 8;
/** Idle servers settle (checkpointer, autovacuum launcher) before their memory is read; as bench:cloud does. */
const MEMORY_SETTLE_MS = 5_000;

/** An instance as the API reports it. */
export interface BenchInstance {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** p50/p99 of a list of ms, or undefined when empty. */
export interface Spread {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly n: number;
}

function spread(samples: readonly number[]): Spread | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), n: sorted.length };
}

/** One wake tier's figures. */
export interface WakeResult {
  readonly tier: 'frozen' | 'stopped';
  /** Connect → first result of `select 1` through the proxy, the instance suspended in `tier` before each. */
  readonly suspended?: Spread;
  /** The same on the same instance, running (a proxy that never suspends it). */
  readonly running?: Spread;
  /** The same straight to the instance's port, running. */
  readonly direct?: Spread;
  /** The power control's own wake calls (inside the proxy's host): thaw, or start until it accepts connections. */
  readonly powerWake?: Spread;
  readonly samples: readonly number[];
  readonly errors: readonly string[];
}

/** What the scale-to-zero sections need of the bench. */
export interface ScaleContext {
  readonly host: Host;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly nodeRootDir: string;
}

/** Connect → first result of `select 1`, in ms; the connection is closed after (untimed). */
async function probe(context: ScaleContext, endpoint: { host: string; port: number; user: string }): Promise<number> {
  const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: context.password, database: context.database });
  client.on('error', () => {});
  const startedAt = performance.now();
  try {
    await client.connect();
    await client.query('select 1');
    return performance.now() - startedAt;
  } finally {
    await client.end().catch(() => {});
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Wake latency of one tier: a proxy with the agent's power control that suspends the instance
 * WAKE_IDLE_MS after its last client left; each round waits until the suspension is done, then
 * times a new client's connect → first result. Beside it, the same probe with the instance running,
 * through a proxy that never suspends it and straight to its port.
 *
 * @example
 * const frozen = await measureWake(context, instance, 'frozen', 30);
 */
export async function measureWake(context: ScaleContext, instance: BenchInstance, tier: 'frozen' | 'stopped', rounds: number): Promise<WakeResult> {
  const { host } = context;
  const through = (port: number, proxyHost: string) => ({ host: proxyHost, port, user: `${context.user}.${instance.id}` });
  const errors: string[] = [];
  const samples: number[] = [];
  const idle = tier === 'frozen' ? { freezeAfterMs: WAKE_IDLE_MS, stopAfterMs: 0 } : { freezeAfterMs: 0, stopAfterMs: WAKE_IDLE_MS };
  const suspending = await host.call('startProxy', { power: true, idle });
  try {
    // Untimed: the proxy's idle tracker learns the instance from its first client.
    await probe(context, through(suspending.port, suspending.host));
    await host.call('takePowerTimings', undefined as never);
    for (let round = 0; round < rounds; round++) {
      const { missing } = await host.call('untilSuspended', { instanceIds: [instance.id], tier, timeoutMs: SUSPEND_TIMEOUT_MS });
      if (missing.length > 0) {
        errors.push(`round ${round + 1}: the instance was not ${tier} ${SUSPEND_TIMEOUT_MS / 1000} s after its last client left`);
        break;
      }
      await sleep(WAKE_SETTLE_MS);
      try {
        samples.push(await probe(context, through(suspending.port, suspending.host)));
      } catch (error) {
        errors.push(`round ${round + 1}: ${(error as Error).message}`);
      }
    }
  } finally {
    await host.call('closeProxy', { handle: suspending.handle }).catch(() => {});
  }
  const timings = await host.call('takePowerTimings', undefined as never);
  errors.push(...timings.errors);
  const powerWake = spread(timings.wakes.filter((wake) => wake.tier === tier).map((wake) => wake.ms));

  // The same probe, the instance running: through a proxy that never suspends it, and direct.
  const running: number[] = [];
  const direct: number[] = [];
  const steady = await host.call('startProxy', { power: true, idle: { freezeAfterMs: 0, stopAfterMs: 0 } });
  try {
    await probe(context, through(steady.port, steady.host));
    for (let round = 0; round < rounds; round++) {
      await sleep(WAKE_SETTLE_MS);
      running.push(await probe(context, through(steady.port, steady.host)));
      direct.push(await probe(context, { host: instance.host, port: instance.port, user: context.user }));
    }
  } catch (error) {
    errors.push(`running baseline: ${(error as Error).message}`);
  } finally {
    await host.call('closeProxy', { handle: steady.handle }).catch(() => {});
  }
  return { tier, suspended: spread(samples), running: spread(running), direct: spread(direct), powerWake, samples, errors };
}

/** Memory of a set of instances' servers, read from /proc. */
export interface InstancesMemory {
  /** Instances with a live postmaster. */
  readonly running: number;
  readonly processes: number;
  /** Sum of VmRSS of every process of those servers (shared memory counted in each process that touched it). */
  readonly rssMib: number;
  /** Sum of PSS (shared pages split between the processes that map them): what the servers cost together. */
  readonly pssMib: number;
}

/** The machine's used memory: MemTotal − MemAvailable, in MiB. */
export function machineUsedMib(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(info)?.[1]) / 1024;
  return field('MemTotal') - field('MemAvailable');
}

/**
 * RSS and PSS of every server process of `ids` (the postmaster of `<nodeRootDir>/instances/<id>/data`
 * and every process under it), one /proc walk for all.
 *
 * @example
 * const memory = instancesMemory(nodeRootDir, ids); // { running: 1000, processes: 6000, rssMib: …, pssMib: … }
 */
export function instancesMemory(nodeRootDir: string, ids: readonly string[]): InstancesMemory {
  const children = childrenByPid();
  let running = 0;
  let processes = 0;
  let rssKib = 0;
  let pssKib = 0;
  for (const id of ids) {
    let postmaster: number;
    try {
      postmaster = Number(readFileSync(join(nodeRootDir, 'instances', id, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      continue; // stopped: no postmaster.pid
    }
    if (!existsProcess(postmaster)) continue;
    running += 1;
    const tree = [postmaster];
    for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
    for (const pid of tree) {
      processes += 1;
      rssKib += kibField(`/proc/${pid}/status`, 'VmRSS');
      pssKib += kibField(`/proc/${pid}/smaps_rollup`, 'Pss');
    }
  }
  return { running, processes, rssMib: rssKib / 1024, pssMib: pssKib / 1024 };
}

function existsProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One memory reading: the instances' servers, the process of the control plane, agent and proxy, and the machine. */
export interface MemoryReading extends InstancesMemory {
  readonly hostRssMib: number;
  readonly machineUsedMib: number;
}

function reading(context: ScaleContext, ids: readonly string[]): MemoryReading {
  return { ...instancesMemory(context.nodeRootDir, ids), hostRssMib: kibField(`/proc/${context.host.pid}/status`, 'VmRSS') / 1024, machineUsedMib: machineUsedMib() };
}

/** What the density section measured. */
export interface DensityResult {
  readonly instances: number;
  readonly active: number;
  readonly machineUsedBeforeMib: number;
  readonly allRunning: MemoryReading;
  readonly suspending?: MemoryReading & {
    /** From the last idle instance's visit until every idle one was stopped. */
    readonly suspendMs: number;
    readonly notSuspended: number;
    /** The busy instances' `select 1` latency meanwhile, and their errors. */
    readonly activeQueries: number;
    readonly activeLatency?: Spread;
    readonly activeErrors: readonly string[];
    readonly touchErrors: readonly string[];
    readonly suspendErrors: readonly string[];
  };
  readonly suspendingSkipped?: string;
}

/**
 * Density: the memory of `instances` all running; then a proxy that stops each instance
 * DENSITY_STOP_AFTER_MS after its last client, DENSITY_ACTIVE of them kept busy with a query loop
 * through it and every other visited once (so the proxy knows it), and the memory again once
 * every idle one is stopped.
 *
 * @example
 * const density = await measureDensity(context, instances, machineUsedBefore, true);
 */
export async function measureDensity(context: ScaleContext, instances: readonly BenchInstance[], machineUsedBeforeMib: number, power: boolean): Promise<DensityResult> {
  const ids = instances.map((instance) => instance.id);
  await sleep(MEMORY_SETTLE_MS);
  const allRunning = reading(context, ids);
  const base = { instances: instances.length, active: Math.min(DENSITY_ACTIVE, instances.length), machineUsedBeforeMib, allRunning };
  if (!power) return { ...base, suspendingSkipped: 'the agent has no power control (RunningAgent.power) yet: nothing can be suspended' };

  const { host } = context;
  const proxy = await host.call('startProxy', { power: true, idle: { freezeAfterMs: 0, stopAfterMs: DENSITY_STOP_AFTER_MS } });
  const endpoint = (instance: BenchInstance) => ({ host: proxy.host, port: proxy.port, user: `${context.user}.${instance.id}`, password: context.password, database: context.database });
  const active = instances.slice(0, base.active);
  const idle = instances.slice(base.active);
  const activeLatencies: number[] = [];
  const activeErrors: string[] = [];
  const touchErrors: string[] = [];
  let looping = true;
  const loops = active.map(async (instance) => {
    const client = new pg.Client(endpoint(instance));
    client.on('error', (error) => activeErrors.push(error.message));
    try {
      await client.connect();
      while (looping) {
        const startedAt = performance.now();
        await client.query('select 1');
        activeLatencies.push(performance.now() - startedAt);
        await sleep(ACTIVE_PAUSE_MS);
      }
    } catch (error) {
      if (activeErrors.length < 100) activeErrors.push(`${instance.id}: ${(error as Error).message}`);
    } finally {
      await client.end().catch(() => {});
    }
  });
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: TOUCH_CONCURRENCY }, async () => {
        while (next < idle.length) {
          const instance = idle[next++]!;
          try {
            await probe(context, endpoint(instance));
          } catch (error) {
            if (touchErrors.length < 100) touchErrors.push(`${instance.id}: ${(error as Error).message}`);
          }
        }
      }),
    );
    const timeoutMs = 60_000 + 500 * idle.length;
    const { missing, elapsedMs } = await host.call('untilSuspended', { instanceIds: idle.map((instance) => instance.id), tier: 'stopped', timeoutMs });
    await sleep(MEMORY_SETTLE_MS);
    const suspended = reading(context, ids);
    looping = false;
    await Promise.all(loops);
    const timings = await host.call('takePowerTimings', undefined as never);
    return {
      ...base,
      suspending: {
        ...suspended,
        suspendMs: elapsedMs,
        notSuspended: missing.length,
        activeQueries: activeLatencies.length,
        activeLatency: spread(activeLatencies),
        activeErrors,
        touchErrors,
        suspendErrors: timings.errors,
      },
    };
  } finally {
    looping = false;
    await Promise.all(loops);
    await host.call('closeProxy', { handle: proxy.handle }).catch(() => {});
  }
}
