// The side of bench:proxy that is measured, in a process of its own: a control plane and a node
// agent on a throwaway PostgreSQL system database, and Strata's proxies in front of the agent's
// instances, as a host runs them. The bench (bench/proxy.ts) is only its client — pgbench, the
// wake probe and the density query loops never share an event loop with the proxy.
//
// The bench forks this file (startHost) and calls it over Node's IPC channel: `{ id, method,
// params }` in, `{ id, result }` or `{ id, error }` out; `{ ready }` once it serves.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type RunningAgent } from '@strata/agent';
import { createControlPlane, instancesModule } from '@strata/control-plane';
import { startCluster } from '@strata/postgres';
import { startProxy, type IdleOptions, type InstancePower, type PowerTarget, type ProxyLimits, type ProxyStats, type RunningProxy } from '@strata/proxy';
import { openDatabase } from '@strata/store';

/** What the bench passes on the command line (JSON). */
export interface HostOptions {
  readonly rootDir: string;
  /** The agent's started spares and ready template copies: what makes a burst of creates fast. */
  readonly spares: number;
  readonly warmCopies: number;
}

/** What the host says once it serves. */
export interface HostReady {
  readonly apiUrl: string;
  readonly bootstrapKey: string;
  readonly nodeId: string;
  /** The system database's postmaster (its CPU is the bench's own, its memory is not an instance's). */
  readonly systemPostmasterPid: number;
  readonly systemDataDir: string;
  /** Whether the agent has a power control (`RunningAgent.power`): without it nothing can be suspended or woken. */
  readonly power: boolean;
}

/** The calls the bench makes, with their parameters and results. */
export interface HostMethods {
  setPoolMode(params: { instanceId: string; mode: 'session' | 'transaction' }): void;
  verifier(params: { instanceId: string; user: string }): string;
  startProxy(params: { limits?: ProxyLimits; idle?: IdleOptions; power: boolean }): { handle: number; host: string; port: number };
  proxyStats(params: { handle: number }): ProxyStats;
  closeProxy(params: { handle: number }): void;
  /** Resolves once every instance is suspended in `tier` (as the proxy's suspend returned), or at the timeout with those missing. */
  untilSuspended(params: { instanceIds: string[]; tier: 'frozen' | 'stopped'; timeoutMs: number }): { missing: string[]; elapsedMs: number };
  /** The power control's own time of each wake of a suspended instance since the last call (ms), and of its suspends. */
  takePowerTimings(): { wakes: Array<{ tier: 'frozen' | 'stopped'; ms: number }>; suspends: Array<{ tier: 'frozen' | 'stopped'; ms: number; done: boolean }>; errors: string[] };
  /** Closes the proxies, wakes what is suspended (a frozen server cannot be stopped), closes the agent, the control plane and the system database. */
  close(): void;
}

export type HostRequest = { [M in keyof HostMethods]: { id: number; method: M; params: Parameters<HostMethods[M]>[0] } }[keyof HostMethods];
export type HostReply = { id: number; result: unknown } | { id: number; error: string } | { ready: HostReady } | { failed: string };

/**
 * The agent's power control seen from the bench: it forwards to the real one and remembers which
 * instance was left suspended in which tier, and how long each call took.
 */
class ObservedPower implements InstancePower {
  readonly #suspended = new Map<string, { target: PowerTarget; tier: 'frozen' | 'stopped' }>();
  readonly #waiters = new Set<() => void>();
  wakes: Array<{ tier: 'frozen' | 'stopped'; ms: number }> = [];
  suspends: Array<{ tier: 'frozen' | 'stopped'; ms: number; done: boolean }> = [];
  errors: string[] = [];

  constructor(private readonly inner: InstancePower) {}

  async wake(target: PowerTarget): Promise<void> {
    const was = this.#suspended.get(target.instanceId);
    const startedAt = performance.now();
    await this.inner.wake(target);
    if (was) {
      this.wakes.push({ tier: was.tier, ms: performance.now() - startedAt });
      this.#suspended.delete(target.instanceId);
    }
  }

  async suspend(target: PowerTarget, tier: 'frozen' | 'stopped'): Promise<boolean> {
    const startedAt = performance.now();
    try {
      const done = await this.inner.suspend(target, tier);
      this.suspends.push({ tier, ms: performance.now() - startedAt, done });
      if (done) {
        this.#suspended.set(target.instanceId, { target, tier });
        for (const wake of this.#waiters) wake();
      }
      return done;
    } catch (error) {
      if (this.errors.length < 100) this.errors.push(`${target.instanceId} ${tier}: ${(error as Error)?.message ?? String(error)}`);
      throw error;
    }
  }

  tierOf(instanceId: string): 'frozen' | 'stopped' | undefined {
    return this.#suspended.get(instanceId)?.tier;
  }

  /** Resolves when `ready()` holds, checked after each suspension, or after `timeoutMs`. */
  async until(ready: () => boolean, timeoutMs: number): Promise<void> {
    if (ready()) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!ready()) return;
        finish();
      };
      const timer = setTimeout(() => finish(), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  /** Wakes every instance left suspended (thaws the frozen ones, starts the stopped). */
  async wakeAll(): Promise<void> {
    for (const { target } of [...this.#suspended.values()]) await this.wake(target).catch(() => {});
  }
}

async function main(options: HostOptions): Promise<void> {
  const quiet = { info() {}, warn: (message: string) => console.warn(message), error: (message: string, ...details: unknown[]) => console.error(message, ...details) };
  const system = await startCluster();
  const db = await openDatabase({ url: system.url });
  const cp = await createControlPlane({ database: db, modules: [instancesModule], logger: { info() {}, warn: quiet.warn } });
  const nodeId = 'bench-proxy';
  const agent: RunningAgent & { readonly power?: InstancePower } = await startAgent({
    database: db,
    nodeId,
    rootDir: options.rootDir,
    // Placement must not be the limit: density asks for far more than the default capacity.
    capacity: { memoryMb: 1_000_000, instances: 10_000 },
    spares: options.spares,
    warmCopies: options.warmCopies,
    // The sampler would connect to every instance every 15 s: load on the host that is not the proxy's.
    metricsIntervalMs: 0,
    logger: quiet,
  });
  if (cp.bootstrapKey === undefined) throw new Error('invariant: a new system database gives a bootstrap key');
  const power = agent.power ? new ObservedPower(agent.power) : undefined;
  const proxies = new Map<number, RunningProxy>();
  let nextHandle = 1;
  let closing: Promise<void> | undefined;

  const proxyOf = (handle: number): RunningProxy => {
    const proxy = proxies.get(handle);
    if (!proxy) throw new Error(`no proxy ${handle} (closed already?)`);
    return proxy;
  };
  const methods: { [M in keyof HostMethods]: (params: Parameters<HostMethods[M]>[0]) => Promise<ReturnType<HostMethods[M]>> } = {
    async setPoolMode({ instanceId, mode }) {
      const { rowCount } = await db.query('update strata_cloud.instances set pool_mode = $2 where instance_id = $1', [instanceId, mode]);
      if (rowCount !== 1) throw new Error(`no instance ${instanceId} to set the pool mode of`);
    },
    async verifier({ instanceId, user }) {
      const { rows } = await db.query('select verifier from strata_cloud.instance_users where instance_id = $1 and name = $2', [instanceId, user]);
      const verifier = rows[0]?.verifier;
      if (typeof verifier !== 'string') throw new Error(`no verifier of ${user} in ${instanceId}`);
      return verifier;
    },
    async startProxy({ limits, idle, power: withPower }) {
      if (withPower && !power) throw new Error('the agent has no power control (RunningAgent.power): nothing can be suspended or woken');
      const proxy = await startProxy({ database: db, logger: quiet, ...(limits ? { limits } : {}), ...(idle ? { idle } : {}), ...(withPower && power ? { power } : {}) });
      const handle = nextHandle++;
      proxies.set(handle, proxy);
      return { handle, host: proxy.host, port: proxy.port };
    },
    async proxyStats({ handle }) {
      return proxyOf(handle).stats();
    },
    async closeProxy({ handle }) {
      await proxyOf(handle).close();
      proxies.delete(handle);
    },
    async untilSuspended({ instanceIds, tier, timeoutMs }) {
      if (!power) throw new Error('the agent has no power control');
      const startedAt = performance.now();
      const missing = () => instanceIds.filter((id) => power.tierOf(id) !== tier);
      await power.until(() => missing().length === 0, timeoutMs);
      return { missing: missing(), elapsedMs: performance.now() - startedAt };
    },
    async takePowerTimings() {
      if (!power) return { wakes: [], suspends: [], errors: [] };
      const taken = { wakes: power.wakes, suspends: power.suspends, errors: power.errors };
      power.wakes = [];
      power.suspends = [];
      power.errors = [];
      return taken;
    },
    close() {
      closing ??= (async () => {
        for (const proxy of proxies.values()) await proxy.close();
        proxies.clear();
        await power?.wakeAll();
        await agent.close();
        await cp.close();
        await db.close();
        await system.stop();
      })();
      return closing;
    },
  };

  process.on('message', (message: HostRequest) => {
    void (async () => {
      try {
        const result = await (methods[message.method] as (params: unknown) => Promise<unknown>)(message.params);
        process.send!({ id: message.id, result: result ?? null } satisfies HostReply);
        if (message.method === 'close') process.disconnect();
      } catch (error) {
        process.send!({ id: message.id, error: (error as Error)?.stack ?? String(error) } satisfies HostReply);
      }
    })();
  });
  // The bench gone (killed, crashed): close what we opened, so no system database outlives it.
  process.on('disconnect', () => {
    void methods.close(undefined as never).catch(() => {}).finally(() => process.exit(0));
  });
  const systemPostmasterPid = Number(readFileSync(join(system.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.send!({ ready: { apiUrl: cp.url, bootstrapKey: cp.bootstrapKey, nodeId, systemPostmasterPid, systemDataDir: system.dataDir, power: power !== undefined } } satisfies HostReply);
}

/** The host as the bench sees it: its ready figures, and its methods called over IPC. */
export interface Host extends HostReady {
  readonly pid: number;
  call<M extends keyof HostMethods>(method: M, params: Parameters<HostMethods[M]>[0]): Promise<ReturnType<HostMethods[M]>>;
  /** Asks it to close, and waits for it to exit (SIGKILL after CLOSE_TIMEOUT_MS). */
  close(): Promise<void>;
}

/** Closing waits for every proxy, the agent and the system database; far more is a hang. */
const CLOSE_TIMEOUT_MS = 120_000;

/**
 * Forks the host (this file) with `options` and resolves once it serves.
 *
 * @example
 * const host = await startHost({ rootDir, spares: 2, warmCopies: 2 });
 * const { port } = await host.call('startProxy', { power: false });
 * await host.close();
 */
export async function startHost(options: HostOptions): Promise<Host> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextId = 1;
  const ready = await new Promise<HostReady>((resolve, reject) => {
    child.on('message', (message: HostReply) => {
      if ('ready' in message) resolve(message.ready);
      else if ('failed' in message) reject(new Error(`the proxy host failed to start: ${message.failed}`));
      else {
        const call = pending.get(message.id);
        pending.delete(message.id);
        if ('error' in message) call?.reject(new Error(message.error));
        else call?.resolve(message.result);
      }
    });
    child.once('exit', (code, signal) => {
      const error = new Error(`the proxy host exited (${signal ?? `code ${code}`})`);
      reject(error);
      for (const call of pending.values()) call.reject(error);
      pending.clear();
    });
  });
  const call: Host['call'] = (method, params) => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, method, params } as HostRequest);
    });
  };
  return {
    ...ready,
    pid: child.pid!,
    call,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const killer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      await call('close', undefined).catch(() => {});
      await exited;
      clearTimeout(killer);
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.send === undefined) throw new Error('bench/proxy-host.ts is forked by bench/proxy.ts (it needs the IPC channel)');
  main(JSON.parse(process.argv[2] ?? '{}') as HostOptions).catch((error: unknown) => {
    process.send?.({ failed: (error as Error)?.stack ?? String(error) } satisfies HostReply);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100);
  });
}
