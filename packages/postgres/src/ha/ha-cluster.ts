// A highly available PostgreSQL cluster on loopback for tests and benchmarks: one etcd and three
// Patroni nodes (each with its own PostgreSQL data directory and ports), synchronous replication
// on, and the faults a test needs: SIGKILL of the primary's postmaster, a planned switchover.

import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELPER_COMMAND_TIMEOUT_MS, readLogTail, run } from '../commands.js';
import { freePort } from '../free-port.js';
import { HaClusterError } from './errors.js';
import { ensureHaToolsInstalled } from './install.js';
import {
  exited,
  killAllSync,
  killGroup,
  killPostmasterSync,
  postmasterPid,
  resolveRunAs,
  spawnDaemon,
  trackForExit,
  type Daemon,
} from './processes.js';

/** Nodes in the cluster: a leader and two replicas, so a failover still leaves a synchronous standby to pick. */
const NODE_COUNT = 3;
/** Superuser of every node; trust auth on loopback, so URLs need no password. */
const SUPERUSER = 'strata';
/** Bootstrap (initdb, two base backups) and elections on a loaded 2-core machine stay well under this. */
const READY_TIMEOUT_MS = 90_000;
/** How often the REST API is polled while waiting for a role change: fine enough to time a failover. */
const POLL_INTERVAL_MS = 100;
/** A REST call that takes longer than this means the Patroni process is stuck or gone. */
const REST_TIMEOUT_MS = 2_000;
/** Patroni's shutdown of its PostgreSQL (fast mode) plus its own exit. */
const STOP_GRACE_MS = 15_000;
/**
 * Patroni's timing: `ttl` 20 s is the smallest it accepts; `loop_wait` 1 s makes a dead postmaster
 * seen within a second; `primary_start_timeout` 0 fails over at once instead of restarting the
 * crashed primary in place (the default waits 300 s).
 */
const PATRONI_DCS = { ttl: 20, loop_wait: 1, retry_timeout: 5, primary_start_timeout: 0, master_start_timeout: 0 } as const;

/** One Patroni-managed PostgreSQL node. */
export interface HaNode {
  /** Patroni member name: `node1` … `node3`. */
  readonly name: string;
  /** PostgreSQL's port on 127.0.0.1. */
  readonly port: number;
  /** Patroni's REST API port on 127.0.0.1. */
  readonly restPort: number;
  readonly dataDir: string;
  /** Single-host URL of this node's `postgres` database. */
  readonly url: string;
}

/** A member as Patroni's `GET /cluster` reports it. */
export interface HaMember {
  readonly name: string;
  /** `'leader'`, `'sync_standby'` or `'replica'`. */
  readonly role: string;
  /** `'running'` for a leader, `'streaming'` for a replica following it, else a transitional state. */
  readonly state: string;
}

/** Options of {@link startHaCluster}. */
export interface StartHaClusterOptions {
  /** Print one progress line per step to stderr. */
  readonly log?: boolean;
}

/** Options of {@link HaCluster.waitForLeader}. */
export interface WaitForLeaderOptions {
  /** Wait for a leader other than this node (after killing it). */
  readonly notName?: string;
  /** Also wait until a synchronous standby streams from it. Default true. */
  readonly withSyncStandby?: boolean;
  /** Default 90,000 ms. */
  readonly timeoutMs?: number;
}

/**
 * A running three-node Patroni + etcd cluster started by {@link startHaCluster}.
 *
 * @example
 * ```ts
 * const ha = await startHaCluster();
 * const db = await openDatabase(ha.url); // multi-host URL, target_session_attrs=read-write
 * const { node } = await ha.killPrimary();
 * const next = await ha.waitForLeader({ notName: node.name });
 * await ha.stop();
 * ```
 */
export interface HaCluster {
  /**
   * `postgres://strata@127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/postgres?target_session_attrs=read-write`:
   * the URL a client uses to reach whichever node is the primary.
   */
  readonly url: string;
  readonly nodes: readonly HaNode[];
  /** Patroni's view of the members (`GET /cluster` of the first node that answers). */
  members(): Promise<readonly HaMember[]>;
  /**
   * Resolves with the leader once one runs (other than `notName`), with a synchronous standby
   * streaming from it unless `withSyncStandby` is false.
   *
   * @throws {HaClusterError} `HA_CLUSTER_NO_LEADER` after `timeoutMs`, with Patroni's log tails.
   */
  waitForLeader(options?: WaitForLeaderOptions): Promise<HaNode>;
  /**
   * SIGKILLs the current primary's postmaster (its Patroni keeps running, as on a host whose
   * database crashed): Patroni releases the leader key and promotes the synchronous standby.
   *
   * @returns the killed node and `Date.now()` just before the kill.
   *
   * @example
   * ```ts
   * const { node, killedAtMs } = await ha.killPrimary();
   * ```
   */
  killPrimary(): Promise<{ readonly node: HaNode; readonly killedAtMs: number }>;
  /**
   * A planned switchover through Patroni's REST API to the synchronous standby; resolves once it
   * leads with a synchronous standby of its own.
   *
   * @throws {HaClusterError} `HA_CLUSTER_SWITCHOVER_FAILED` when Patroni refuses it.
   *
   * @example
   * ```ts
   * const { from, to } = await ha.switchover();
   * ```
   */
  switchover(): Promise<{ readonly from: HaNode; readonly to: HaNode }>;
  /** Stops every Patroni (and its PostgreSQL) and etcd, and deletes their files. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts etcd and three Patroni nodes on loopback as the unprivileged server user (installing
 * Debian's `patroni` and `etcd-server` with apt-get first when missing and we are root), with
 * `synchronous_mode: true`, and resolves once a leader runs with a synchronous standby.
 * Everything is stopped and deleted by {@link HaCluster.stop}, or when the process exits.
 *
 * @throws {HaClusterError} `HA_TOOLS_NOT_INSTALLED` when Patroni or etcd cannot be installed;
 * `HA_CLUSTER_START_FAILED` / `HA_CLUSTER_NO_LEADER` when the cluster does not come up.
 *
 * @example
 * ```ts
 * const ha = await startHaCluster({ log: true });
 * try {
 *   console.log(ha.url, (await ha.waitForLeader()).name);
 * } finally {
 *   await ha.stop();
 * }
 * ```
 */
export async function startHaCluster(options: StartHaClusterOptions = {}): Promise<HaCluster> {
  const progress = options.log === true ? (line: string) => process.stderr.write(`[ha-cluster] ${line}\n`) : () => {};
  const tools = await ensureHaToolsInstalled();
  const runAs = await resolveRunAs();
  const rootDir = await mkdtemp(join(tmpdir(), 'strata-ha-'));
  const daemons: Daemon[] = [];
  const dataDirs: string[] = [];
  const entry = { rootDir, daemons, dataDirs };
  const untrack = trackForExit(entry);
  const startedAtMs = Date.now();

  try {
    await chmod(rootDir, 0o755);
    const etcdClientPort = await freePort();
    const etcdPeerPort = await freePort();
    const etcdDir = join(rootDir, 'etcd');
    await mkdir(etcdDir);
    const nodes: HaNode[] = [];
    for (let index = 1; index <= NODE_COUNT; index++) {
      const port = await freePort();
      const restPort = await freePort();
      const dir = join(rootDir, `node${index}`);
      await mkdir(dir);
      const dataDir = join(dir, 'data');
      dataDirs.push(dataDir);
      nodes.push({ name: `node${index}`, port, restPort, dataDir, url: `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres` });
      await writeFile(join(dir, 'patroni.yml'), patroniConfig(nodes[index - 1] as HaNode, dir, etcdClientPort, tools.postgresBinDir, rootDir));
    }
    if (runAs.user !== undefined) await run('chown', ['-R', `${runAs.user}:`, rootDir], { timeoutMs: HELPER_COMMAND_TIMEOUT_MS });

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    daemons.push(
      spawnDaemon(tools.etcdBin, [
        '--name', 'etcd1', '--data-dir', join(etcdDir, 'data'),
        '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `etcd1=${peerUrl}`, '--initial-cluster-state', 'new',
      ], runAs, join(etcdDir, 'log'), etcdDir),
    );
    await waitFor(async () => (await fetchJson(`${etcdUrl}/health`)) !== undefined, READY_TIMEOUT_MS, 'etcd to answer', daemons);
    progress(`etcd on ${etcdUrl} in ${Date.now() - startedAtMs}ms`);

    for (const node of nodes) {
      const dir = join(rootDir, node.name);
      daemons.push(spawnDaemon(tools.patroniBin, [join(dir, 'patroni.yml')], runAs, join(dir, 'patroni.log'), dir));
    }
    const cluster = makeCluster(nodes, daemons, dataDirs, rootDir, untrack, progress);
    // Every node streaming, so the first failover already has a synchronous standby to promote.
    await waitFor(
      async () => {
        const members = await cluster.members().catch(() => []);
        return members.length === NODE_COUNT && members.every(isUp)
          && members.some((m) => m.role === 'sync_standby');
      },
      READY_TIMEOUT_MS,
      'three Patroni members running with a synchronous standby',
      daemons,
    );
    progress(`3 Patroni nodes up (leader ${(await cluster.waitForLeader()).name}) in ${Date.now() - startedAtMs}ms`);
    return cluster;
  } catch (error) {
    killAllSync(entry);
    untrack();
    if (error instanceof HaClusterError) throw error;
    throw new HaClusterError('HA_CLUSTER_START_FAILED', `starting the Patroni cluster failed: ${(error as Error).message}`, { cause: error });
  }
}

function makeCluster(
  nodes: readonly HaNode[],
  daemons: Daemon[],
  dataDirs: string[],
  rootDir: string,
  untrack: () => void,
  progress: (line: string) => void,
): HaCluster {
  let stopping: Promise<void> | undefined;
  const byName = (name: string): HaNode => {
    const node = nodes.find((n) => n.name === name);
    if (node === undefined) throw new HaClusterError('HA_CLUSTER_NO_LEADER', `Patroni reported an unknown member ${JSON.stringify(name)}`);
    return node;
  };
  const members = async (): Promise<readonly HaMember[]> => {
    for (const node of nodes) {
      const body = (await fetchJson(`http://127.0.0.1:${node.restPort}/cluster`)) as { members?: HaMember[] } | undefined;
      if (body?.members !== undefined) return body.members;
    }
    throw new HaClusterError('HA_CLUSTER_NO_LEADER', 'no Patroni REST API answered GET /cluster');
  };
  const waitForLeader = async (options: WaitForLeaderOptions = {}): Promise<HaNode> => {
    let leader: HaNode | undefined;
    await waitFor(
      async () => {
        const current = await members().catch(() => []);
        const found = current.find((m) => m.role === 'leader' && m.state === 'running' && m.name !== options.notName);
        const synced = options.withSyncStandby === false || current.some((m) => m.role === 'sync_standby' && isUp(m));
        leader = found !== undefined && synced ? byName(found.name) : undefined;
        return leader !== undefined;
      },
      options.timeoutMs ?? READY_TIMEOUT_MS,
      `a leader${options.notName === undefined ? '' : ` other than ${options.notName}`}`,
      daemons,
    );
    if (leader === undefined) throw new HaClusterError('HA_CLUSTER_NO_LEADER', 'waitFor returned without a leader');
    return leader;
  };
  return {
    url: `postgres://${SUPERUSER}@${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}/postgres?target_session_attrs=read-write`,
    nodes,
    members,
    waitForLeader,
    async killPrimary() {
      const node = await waitForLeader({ withSyncStandby: false });
      const killedAtMs = Date.now();
      if (killPostmasterSync(node.dataDir) === undefined) {
        throw new HaClusterError('HA_CLUSTER_NO_LEADER', `the leader ${node.name} has no running postmaster (${node.dataDir}/postmaster.pid)`);
      }
      progress(`SIGKILLed the postmaster of ${node.name}`);
      return { node, killedAtMs };
    },
    async switchover() {
      const from = await waitForLeader();
      const standby = (await members()).find((m) => m.role === 'sync_standby');
      if (standby === undefined) throw new HaClusterError('HA_CLUSTER_SWITCHOVER_FAILED', 'no synchronous standby to switch over to');
      const response = await fetch(`http://127.0.0.1:${from.restPort}/switchover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ leader: from.name, candidate: standby.name }),
        signal: AbortSignal.timeout(READY_TIMEOUT_MS),
      });
      const text = await response.text();
      if (!response.ok) {
        throw new HaClusterError('HA_CLUSTER_SWITCHOVER_FAILED', `Patroni refused the switchover ${from.name} -> ${standby.name}: HTTP ${response.status} ${text}`);
      }
      const to = byName(standby.name);
      await waitFor(async () => (await waitForLeader({ notName: from.name, timeoutMs: REST_TIMEOUT_MS }).catch(() => undefined))?.name === to.name, READY_TIMEOUT_MS, `${to.name} to lead`, daemons);
      progress(`switched over ${from.name} -> ${to.name}`);
      return { from, to };
    },
    stop() {
      stopping ??= (async () => {
        const patronis = daemons.slice(1);
        for (const daemon of patronis) killGroup(daemon.child, 'SIGTERM'); // Patroni stops its PostgreSQL, then exits
        await Promise.all(patronis.map((daemon) => exited(daemon.child, STOP_GRACE_MS)));
        for (const dataDir of dataDirs) if (postmasterPid(dataDir) !== undefined) killPostmasterSync(dataDir);
        killAllSync({ rootDir, daemons, dataDirs });
        await rm(rootDir, { recursive: true, force: true });
        untrack();
        progress(`stopped and removed ${rootDir}`);
      })();
      return stopping;
    },
  };
}

/** Patroni's YAML (JSON is YAML) for one node: loopback ports, trust auth, synchronous mode. */
function patroniConfig(node: HaNode, dir: string, etcdClientPort: number, binDir: string, rootDir: string): string {
  const hba = ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust'];
  return JSON.stringify({
    scope: `strata-ha-${rootDir.split('-').at(-1)}`,
    name: node.name,
    restapi: { listen: `127.0.0.1:${node.restPort}`, connect_address: `127.0.0.1:${node.restPort}` },
    etcd3: { hosts: [`127.0.0.1:${etcdClientPort}`] },
    bootstrap: {
      dcs: {
        ...PATRONI_DCS,
        synchronous_mode: true,
        postgresql: {
          use_pg_rewind: true,
          parameters: { wal_log_hints: 'on', max_connections: 200, max_wal_senders: 10, max_replication_slots: 10, hot_standby: 'on' },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, 'no-sync'],
      pg_hba: hba,
    },
    postgresql: {
      listen: `127.0.0.1:${node.port}`,
      connect_address: `127.0.0.1:${node.port}`,
      data_dir: node.dataDir,
      bin_dir: binDir,
      pgpass: join(dir, 'pgpass'),
      pg_hba: hba,
      authentication: {
        superuser: { username: SUPERUSER },
        replication: { username: SUPERUSER },
        rewind: { username: SUPERUSER },
      },
      // fsync off: a SIGKILLed postmaster is a process crash, whose writes the OS cache keeps.
      parameters: { unix_socket_directories: dir, fsync: 'off', synchronous_commit: 'on' },
    },
  }, null, 2);
}

/** Patroni 3.0 reports a healthy replica as `running`; later versions as `streaming`. */
function isUp(member: HaMember): boolean {
  return member.state === 'running' || member.state === 'streaming';
}

async function fetchJson(url: string): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(REST_TIMEOUT_MS) });
    return await response.json();
  } catch {
    return undefined;
  }
}

/** Polls `check` until true; on timeout throws with each daemon's log tail. */
async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, daemons: readonly Daemon[]): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (Date.now() < deadlineMs) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  const tails = await Promise.all(daemons.map(async (d) => `--- ${d.logFile} ---\n${await readLogTail(d.logFile)}`));
  throw new HaClusterError('HA_CLUSTER_NO_LEADER', `timed out after ${timeoutMs}ms waiting for ${what}; see the logs:\n${tails.join('\n')}`);
}
