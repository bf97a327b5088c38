// bench:proxy's throughput and latency section: pgbench (select-only and TPC-B-like) against one
// instance directly, through Strata's proxy in session and in transaction mode, and through
// PgBouncer in both modes — each cell a fresh proxy or PgBouncer, the tables vacuumed before it.

import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { percentile } from './lib/measure.js';
import { startPgBouncer } from './pgbouncer.js';
import type { Host } from './proxy-host.js';

const run = promisify(execFile);

/** pgbench is killed when a cell runs this much past its -T: something hangs (a proxy that lost a client). */
const PGBENCH_GRACE_MS = 60_000;
/** The proxy's server connections are sampled this often during a cell (how many it holds). */
const STATS_SAMPLE_MS = 250;
/** Lines of pgbench's output kept as a failed cell's error. */
const ERROR_TAIL_LINES = 12;

export const SCRIPTS = ['select-only', 'tpcb'] as const;
export type Script = (typeof SCRIPTS)[number];
export const TARGETS = ['direct', 'strata-session', 'strata-transaction', 'pgbouncer-session', 'pgbouncer-transaction'] as const;
export type Target = (typeof TARGETS)[number];
export const TARGET_LABELS: Readonly<Record<Target, string>> = {
  direct: 'direct',
  'strata-session': 'Strata session',
  'strata-transaction': 'Strata transaction',
  'pgbouncer-session': 'PgBouncer session',
  'pgbouncer-transaction': 'PgBouncer transaction',
};

/** One pgbench run of the matrix. */
export interface CellSpec {
  readonly script: Script;
  readonly protocol: 'simple' | 'prepared';
  readonly clients: number;
  readonly target: Target;
}

/** What one cell measured, or why it failed. */
export interface CellResult extends CellSpec {
  readonly ok: boolean;
  readonly error?: string;
  readonly seconds: number;
  readonly tps?: number;
  /** pgbench's own average (per transaction, client side). */
  readonly latencyAvgMs?: number;
  /** From pgbench's per-transaction log (-l): every transaction of the cell. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly transactions?: number;
  readonly failedTransactions?: number;
  readonly initialConnectionMs?: number;
  /** Strata's proxy only: the most server connections it held for the instance, sampled every STATS_SAMPLE_MS. */
  readonly serverConnectionsMax?: number;
}

/** What the section needs of the bench. */
export interface PgbenchContext {
  readonly host: Host;
  readonly pgbench: string;
  readonly instance: { readonly id: string; readonly host: string; readonly port: number };
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly workDir: string;
  /** Server connections of a transaction pool (Strata's per-instance limit, PgBouncer's default_pool_size). */
  readonly transactionPoolSize: number;
  /** Server connections of a session pool: one per client, so above the most clients of any cell. */
  readonly sessionPoolSize: number;
  /** Counts a started PgBouncer as the bench's own CPU. */
  readonly onPgBouncer: (pid: number) => void;
}

/** Where a cell connects, and what to close after it. */
interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Server connections the proxy holds for the instance now (Strata only). */
  serverConnections?(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `pgbench -i -q -s <scale>` straight to the instance, as its user; returns the seconds it took.
 *
 * @example
 * await initPgbench(context, 10);
 */
export async function initPgbench(context: PgbenchContext, scale: number): Promise<number> {
  const startedAt = performance.now();
  await run(context.pgbench, ['-i', '-q', '-s', String(scale), '-h', context.instance.host, '-p', String(context.instance.port), '-U', context.user, context.database], { env: pgEnv(context.password), maxBuffer: 64 * 1024 * 1024 });
  return (performance.now() - startedAt) / 1000;
}

/** Opens the endpoint of a target: nothing for direct, a fresh Strata proxy (pool mode set first) or a fresh PgBouncer. */
async function open(context: PgbenchContext, target: Target, maxClients: number): Promise<Endpoint> {
  const { host, instance } = context;
  if (target === 'direct') return { host: instance.host, port: instance.port, user: context.user, close: async () => {} };
  if (target === 'strata-session' || target === 'strata-transaction') {
    const mode = target === 'strata-session' ? 'session' : 'transaction';
    await host.call('setPoolMode', { instanceId: instance.id, mode });
    const serverLimit = mode === 'session' ? context.sessionPoolSize : context.transactionPoolSize;
    const proxy = await host.call('startProxy', { power: false, limits: { maxServerConnectionsPerInstance: serverLimit, maxClientsPerInstance: Math.max(maxClients, context.sessionPoolSize) } });
    return {
      host: proxy.host,
      port: proxy.port,
      user: `${context.user}.${instance.id}`,
      serverConnections: async () => (await host.call('proxyStats', { handle: proxy.handle })).instances[instance.id]?.serverConnections ?? 0,
      close: () => host.call('closeProxy', { handle: proxy.handle }),
    };
  }
  const mode = target === 'pgbouncer-session' ? 'session' : 'transaction';
  const verifier = await host.call('verifier', { instanceId: instance.id, user: context.user });
  const bouncer = await startPgBouncer({
    dir: join(context.workDir, `pgbouncer-${mode}`),
    server: { host: instance.host, port: instance.port },
    database: context.database,
    user: context.user,
    verifier,
    poolMode: mode,
    poolSize: mode === 'session' ? context.sessionPoolSize : context.transactionPoolSize,
    maxClients: Math.max(maxClients, context.sessionPoolSize) * 2,
  });
  context.onPgBouncer(bouncer.pid);
  return { host: bouncer.host, port: bouncer.port, user: context.user, close: () => bouncer.close() };
}

/**
 * Whether a target shares server connections between clients (transaction pooling in effect):
 * client A runs `select pg_backend_pid()` and stays connected, idle; then client B does. A pool
 * hands B the server connection A left idle; one server connection per client gives B its own.
 *
 * @example
 * await sharesServerConnections(context, 'pgbouncer-transaction'); // true
 */
export async function sharesServerConnections(context: PgbenchContext, target: Target): Promise<{ shared?: boolean; error?: string }> {
  let endpoint: Endpoint | undefined;
  const clients: pg.Client[] = [];
  try {
    endpoint = await open(context, target, 2);
    const pids: number[] = [];
    for (let i = 0; i < 2; i++) {
      const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: context.password, database: context.database });
      client.on('error', () => {});
      clients.push(client);
      await client.connect();
      pids.push(Number((await client.query('select pg_backend_pid() as pid')).rows[0]?.pid));
    }
    return { shared: pids[0] === pids[1] };
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    for (const client of clients) await client.end().catch(() => {});
    await endpoint?.close().catch(() => {});
  }
}

/**
 * Runs one cell: vacuums the tables (as pgbench's own prelude does, but straight to the instance),
 * opens the target, runs pgbench with a per-transaction log, closes the target.
 *
 * @example
 * const cell = await runCell(context, { script: 'select-only', protocol: 'simple', clients: 1, target: 'strata-session' }, 10);
 */
export async function runCell(context: PgbenchContext, spec: CellSpec, seconds: number): Promise<CellResult> {
  await vacuum(context);
  let endpoint: Endpoint;
  try {
    endpoint = await open(context, spec.target, spec.clients);
  } catch (error) {
    return { ...spec, seconds, ok: false, error: `could not start the target: ${(error as Error).message.split('\n').slice(0, ERROR_TAIL_LINES).join('\n')}` };
  }
  let serverConnectionsMax: number | undefined;
  let sampling = endpoint.serverConnections !== undefined;
  const sampler = (async () => {
    while (sampling) {
      const held = await endpoint.serverConnections!().catch(() => 0);
      serverConnectionsMax = Math.max(serverConnectionsMax ?? 0, held);
      await new Promise((resolve) => setTimeout(resolve, STATS_SAMPLE_MS));
    }
  })();
  const logPrefix = join(context.workDir, 'logs', `${spec.protocol}-${spec.script}-${spec.clients}-${spec.target}`);
  const args = [
    '-n', '-M', spec.protocol, ...(spec.script === 'select-only' ? ['-S'] : []),
    '-c', String(spec.clients), '-j', String(Math.min(spec.clients, 2)), '-T', String(seconds),
    '-l', '--log-prefix', logPrefix,
    '-h', endpoint.host, '-p', String(endpoint.port), '-U', endpoint.user, context.database,
  ];
  try {
    const { stdout } = await run(context.pgbench, args, { env: pgEnv(context.password), maxBuffer: 64 * 1024 * 1024, timeout: seconds * 1000 + PGBENCH_GRACE_MS, killSignal: 'SIGKILL' });
    const sorted = Array.from((await transactionLatenciesMs(logPrefix)).sort());
    return {
      ...spec,
      seconds,
      ok: true,
      tps: number(/tps = ([\d.]+) \(without initial connection time\)/, stdout),
      latencyAvgMs: number(/latency average = ([\d.]+) ms/, stdout),
      p50Ms: sorted.length > 0 ? percentile(sorted, 50) : undefined,
      p99Ms: sorted.length > 0 ? percentile(sorted, 99) : undefined,
      transactions: number(/number of transactions actually processed: (\d+)/, stdout),
      failedTransactions: number(/number of failed transactions: (\d+)/, stdout) ?? 0,
      initialConnectionMs: number(/initial connection time = ([\d.]+) ms/, stdout),
      ...(serverConnectionsMax === undefined ? {} : { serverConnectionsMax }),
    };
  } catch (error) {
    const failure = error as Error & { stdout?: string; stderr?: string; killed?: boolean; code?: number | string };
    const how = failure.killed ? `pgbench killed ${PGBENCH_GRACE_MS / 1000} s past its -T (hung)` : `pgbench exited with ${failure.code ?? 'an error'}`;
    return { ...spec, seconds, ok: false, error: `${how}: ${pgbenchProblems(failure.stderr ?? '', failure.stdout ?? '')}` };
  } finally {
    sampling = false;
    await sampler;
    await endpoint.close().catch(() => {});
    await removeLogs(logPrefix);
  }
}

/** Untimed: a short select-only run per target, so no cell measures a cold proxy (its JIT) or cold caches. */
export async function warmUp(context: PgbenchContext, targets: readonly Target[], seconds: number, clients: number): Promise<void> {
  for (const target of targets) await runCell(context, { script: 'select-only', protocol: 'simple', clients, target }, seconds);
}

/** What pgbench's prelude does without -n, straight to the instance: the small tables vacuumed, the history emptied. */
async function vacuum(context: PgbenchContext): Promise<void> {
  const client = new pg.Client({ host: context.instance.host, port: context.instance.port, user: context.user, password: context.password, database: context.database });
  await client.connect();
  try {
    await client.query('vacuum analyze pgbench_branches');
    await client.query('vacuum analyze pgbench_tellers');
    await client.query('truncate pgbench_history');
  } finally {
    await client.end();
  }
}

/** Every transaction's latency (ms) of pgbench's per-transaction logs `<prefix>.<pid>[.<thread>]`; failed ones (not a number) left out. */
async function transactionLatenciesMs(prefix: string): Promise<Float64Array> {
  const dir = dirname(prefix);
  const files = (await readdir(dir)).filter((name) => name.startsWith(`${basename(prefix)}.`));
  const values: number[] = [];
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const line of text.split('\n')) {
      // client_id transaction_no time script_no time_epoch time_us: time is the latency in µs.
      const us = Number(line.split(' ')[2]);
      if (line !== '' && Number.isFinite(us)) values.push(us / 1000);
    }
  }
  return Float64Array.from(values);
}

async function removeLogs(prefix: string): Promise<void> {
  const dir = dirname(prefix);
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((entry) => entry.startsWith(`${basename(prefix)}.`))) await rm(join(dir, name), { force: true });
}

/**
 * A failed run in a few lines: pgbench's distinct errors (the same abort of each client said once,
 * with how many said it), then what it got done before (transactions, tps of the clients left).
 */
function pgbenchProblems(stderr: string, stdout: string): string {
  const counts = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    if (line.trim() === '') continue;
    const shape = line.replace(/client \d+/g, 'client N').replace(/"P\d+_\d+"/g, '"P…"');
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  const problems = [...counts].slice(0, ERROR_TAIL_LINES).map(([shape, count]) => (count > 1 ? `${shape} (×${count})` : shape));
  const done = stdout.split('\n').filter((line) => /number of transactions actually processed|number of failed transactions|^tps =|aborted/.test(line));
  return [...problems, ...done].join('\n');
}

function number(pattern: RegExp, text: string): number | undefined {
  const match = pattern.exec(text)?.[1];
  return match === undefined ? undefined : Number(match);
}

/** libpq's environment: the password, and no TLS anywhere (the proxy and PgBouncer run without it here, so the direct runs do too). */
function pgEnv(password: string): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '15' };
}
