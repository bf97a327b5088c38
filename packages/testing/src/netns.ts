// Network namespaces as "machines" on one host: each joined to the root namespace by a veth pair on
// a private /30 with no default route (nothing leaves the host), cut off and restored while its
// processes and their TCP connections live on, removed at the end or by the next run after a crash.

import { execFile as execFileCallback, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFile = promisify(execFileCallback);

/**
 * The addresses namespaces get: private (RFC 1918) and only ever routed on this host, through the
 * connected /30 of each veth pair. Every lab takes free /30 blocks of it.
 *
 * @example
 * ```ts
 * // pg_hba.conf of a server that admits every lab namespace:
 * const line = `host all all ${NETNS_SUBNET} trust`;
 * ```
 */
export const NETNS_SUBNET = '10.213.0.0/16';

/** /30 blocks in {@link NETNS_SUBNET}: 2^(32 - 16) / 4. */
const SUBNET_BLOCKS = 16_384;

/**
 * Most namespaces of one lab: each is a veth pair, a /30 and, in a test, a few processes; more is
 * a mistake (and the index must fit the interface names).
 *
 * @example
 * ```ts
 * await createNetnsLab({ prefix: 'ab', count: MAX_NAMESPACES_PER_LAB + 1 }); // throws NetnsError
 * ```
 */
export const MAX_NAMESPACES_PER_LAB = 16;

/** `ip` answers at once; one that does not within this long is stuck. */
const IP_COMMAND_TIMEOUT_MS = 10_000;

/**
 * Interface names may have at most 15 characters (IFNAMSIZ - 1): prefix (≤ 4) + pid (≤ 7) + a
 * role letter + the index (≤ 2) fits.
 */
const PREFIX_PATTERN = /^[a-z]{1,4}$/;

/** Namespaces one process may make over all its labs: the index in the names has two digits. */
const MAX_NAMESPACES_PER_PROCESS = 100;

/** The index of this process's next namespace (names stay unique over several labs). */
let nextIndex = 0;

/**
 * A failed `ip` command of the harness; the message has the command and its output.
 *
 * @example
 * ```ts
 * try {
 *   await createNetnsLab({ prefix: 'ab', count: 2 });
 * } catch (error) {
 *   if (error instanceof NetnsError) console.error(error.message); // `ip netns add ab123n0` failed: …
 * }
 * ```
 */
export class NetnsError extends Error {
  readonly code = 'STRATA_NETNS_FAILED';
  override readonly name = 'NetnsError';
}

/**
 * One network namespace of a {@link NetnsLab}: a "machine" that reaches the root namespace (and
 * nothing else) at {@link IsolatedNamespace.hostAddress}.
 *
 * @example
 * ```ts
 * const [machine] = lab.namespaces;
 * // A server in the root namespace listens on machine.hostAddress; a process inside connects to it.
 * const { file, args } = machine.command(process.execPath, ['client.js', machine.hostAddress]);
 * const child = spawn(file, args);
 * await machine.cut();     // partitioned: the child runs on, its packets are dropped
 * await machine.restore(); // its TCP connections deliver what they queued, late
 * ```
 */
export interface IsolatedNamespace {
  /** The namespace's name (`ip netns exec <name> …`). */
  readonly name: string;
  /** The veth end in the root namespace; {@link IsolatedNamespace.cut} sets it down. */
  readonly hostInterface: string;
  /** The veth end inside the namespace. */
  readonly innerInterface: string;
  /** The root namespace's address on the link: what processes inside connect to. */
  readonly hostAddress: string;
  /** The namespace's own address: where its connections come from (for pg_hba, pg_stat_activity.client_addr). */
  readonly address: string;
  /** True between {@link IsolatedNamespace.cut} and {@link IsolatedNamespace.restore}. */
  readonly isCut: boolean;
  /**
   * The file and arguments that run `file args` inside this namespace (`ip netns exec` execs the
   * command, so the spawned process's pid is the command's own), with the caller's environment.
   *
   * @example
   * ```ts
   * const { file, args } = machine.command(process.execPath, ['--import', 'tsx', 'worker.ts']);
   * const child = spawn(file, args, { stdio: 'pipe' });
   * ```
   */
  command(file: string, args: readonly string[]): { file: string; args: string[] };
  /**
   * Partitions the namespace: its link goes down, so every packet to or from it is dropped. Its
   * processes keep running and their TCP connections stay open on both sides (no FIN, no RST);
   * what they send meanwhile waits in the kernel and is retransmitted after
   * {@link IsolatedNamespace.restore}.
   *
   * @example
   * ```ts
   * await machine.cut();
   * ```
   */
  cut(): Promise<void>;
  /**
   * Ends the partition: the link comes back up with its addresses and route, and TCP's
   * retransmissions deliver what was queued (within its backoff, a second or a few).
   *
   * @example
   * ```ts
   * await machine.restore();
   * ```
   */
  restore(): Promise<void>;
  /**
   * The pids of the processes inside the namespace.
   *
   * @example
   * ```ts
   * assert.deepEqual(await machine.pids(), []); // everything there has exited
   * ```
   */
  pids(): Promise<number[]>;
}

/**
 * Namespaces made by {@link createNetnsLab}; {@link NetnsLab.destroy} removes them.
 *
 * @example
 * ```ts
 * const lab = await createNetnsLab({ prefix: 'part', count: 3 });
 * try {
 *   // lab.namespaces[0..2]
 * } finally {
 *   await lab.destroy();
 * }
 * ```
 */
export interface NetnsLab {
  readonly namespaces: readonly IsolatedNamespace[];
  /**
   * Deletes the veth pairs and the namespaces; safe to call more than once. Processes still
   * inside keep running (in a namespace without a name or a link): end them first.
   *
   * @example
   * ```ts
   * after(() => lab.destroy());
   * ```
   */
  destroy(): Promise<void>;
}

/**
 * Options of {@link createNetnsLab}.
 *
 * @example
 * ```ts
 * const options: NetnsLabOptions = { prefix: 'part', count: 3 };
 * const lab = await createNetnsLab(options);
 * ```
 */
export interface NetnsLabOptions {
  /**
   * 1-4 lowercase letters that start every name the lab makes (`<prefix><pid>n<i>` namespaces,
   * `<prefix><pid>h<i>` / `<prefix><pid>g<i>` interfaces), so {@link removeStaleNamespaces} can
   * find a crashed run's leftovers.
   */
  readonly prefix: string;
  /** How many namespaces, 1 to {@link MAX_NAMESPACES_PER_LAB}. */
  readonly count: number;
}

/** Labs of this process not destroyed yet, removed synchronously at exit. */
const liveLabs = new Set<LabState>();
let exitHookInstalled = false;

interface LabState {
  readonly names: readonly { readonly namespace: string; readonly hostInterface: string }[];
  destroyed: boolean;
}

/**
 * Why network namespaces cannot be made here, or `undefined` when they can: not Linux, not root,
 * no `ip` (iproute2), or `ip netns add` refused (a container without CAP_SYS_ADMIN). For a test's
 * `skip` option, so a machine that cannot run it says so instead of passing.
 *
 * @example
 * ```ts
 * const skip = (await netnsUnavailableReason()) ?? false;
 * describe('executors on many machines', { skip }, () => { ... });
 * ```
 */
export async function netnsUnavailableReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add); run as root';
  try {
    await ip(['-V']);
  } catch (error) {
    return `iproute2's ip command is not usable: ${firstLine(error)}`;
  }
  const probe = `snp${process.pid}p`;
  try {
    await ip(['netns', 'add', probe]);
  } catch (error) {
    return `ip netns add is refused here (no CAP_SYS_ADMIN?): ${firstLine(error)}`;
  }
  await ip(['netns', 'del', probe]).catch(() => {});
  return undefined;
}

/**
 * Makes `count` network namespaces, each joined to the root namespace by a veth pair on a free
 * /30 of {@link NETNS_SUBNET} (the root side `.1`, the namespace `.2` of the block), with `lo` up
 * and no default route: a process inside reaches the root namespace's address on its link and
 * nothing else, so no traffic leaves the host. Removed by {@link NetnsLab.destroy}, or at the
 * latest when the process exits; a run killed before either leaves names that
 * {@link removeStaleNamespaces} removes. Needs root (see {@link netnsUnavailableReason}).
 *
 * @throws {NetnsError} when an `ip` command fails; what was made so far is removed.
 *
 * @example
 * ```ts
 * const lab = await createNetnsLab({ prefix: 'part', count: 2 });
 * const [a, b] = lab.namespaces;
 * console.log(a.name, a.hostAddress, a.address); // part4242n0 10.213.16.133 10.213.16.134
 * ```
 */
export async function createNetnsLab(options: NetnsLabOptions): Promise<NetnsLab> {
  const { prefix, count } = options;
  if (!PREFIX_PATTERN.test(prefix)) throw new NetnsError(`the prefix must be 1-4 lowercase letters (interface names are short), got ${JSON.stringify(prefix)}`);
  if (!Number.isInteger(count) || count < 1 || count > MAX_NAMESPACES_PER_LAB) {
    throw new NetnsError(`count must be a whole number from 1 to ${MAX_NAMESPACES_PER_LAB}, got ${count}`);
  }
  if (nextIndex + count > MAX_NAMESPACES_PER_PROCESS) throw new NetnsError(`one process may make at most ${MAX_NAMESPACES_PER_PROCESS} namespaces`);
  const blocks = await freeBlocks(count);
  const stem = `${prefix}${process.pid}`;
  const specs = blocks.map((block) => {
    const index = nextIndex++;
    const third = block >> 6;
    const base = (block & 63) << 2;
    return {
      namespace: `${stem}n${index}`,
      hostInterface: `${stem}h${index}`,
      innerInterface: `${stem}g${index}`,
      hostAddress: `10.213.${third}.${base + 1}`,
      address: `10.213.${third}.${base + 2}`,
    };
  });
  const state: LabState = { names: specs.map(({ namespace, hostInterface }) => ({ namespace, hostInterface })), destroyed: false };
  liveLabs.add(state);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const lab of liveLabs) destroySync(lab);
    });
  }
  try {
    for (const spec of specs) {
      await ip(['netns', 'add', spec.namespace]);
      await ip(['-n', spec.namespace, 'link', 'set', 'lo', 'up']);
      await ip(['link', 'add', spec.hostInterface, 'type', 'veth', 'peer', 'name', spec.innerInterface, 'netns', spec.namespace]);
      await ip(['addr', 'add', `${spec.hostAddress}/30`, 'dev', spec.hostInterface]);
      await ip(['link', 'set', spec.hostInterface, 'up']);
      await ip(['-n', spec.namespace, 'addr', 'add', `${spec.address}/30`, 'dev', spec.innerInterface]);
      await ip(['-n', spec.namespace, 'link', 'set', spec.innerInterface, 'up']);
    }
  } catch (error) {
    await destroy(state);
    throw error;
  }
  const namespaces = specs.map((spec): IsolatedNamespace => {
    let isCut = false;
    return {
      name: spec.namespace,
      hostInterface: spec.hostInterface,
      innerInterface: spec.innerInterface,
      hostAddress: spec.hostAddress,
      address: spec.address,
      get isCut() {
        return isCut;
      },
      command: (file, args) => ({ file: 'ip', args: ['netns', 'exec', spec.namespace, file, ...args] }),
      cut: async () => {
        await ip(['link', 'set', spec.hostInterface, 'down']);
        isCut = true;
      },
      restore: async () => {
        await ip(['link', 'set', spec.hostInterface, 'up']);
        isCut = false;
      },
      pids: async () => {
        const { stdout } = await ip(['netns', 'pids', spec.namespace]);
        return stdout.split('\n').filter((line) => line.trim() !== '').map(Number);
      },
    };
  });
  return { namespaces, destroy: () => destroy(state) };
}

/**
 * Removes the namespaces and root-side interfaces named with `prefix` (see
 * {@link NetnsLabOptions.prefix}) whose creating process is gone: what a run killed before its
 * cleanup left behind. Returns the names removed.
 *
 * @example
 * ```ts
 * before(async () => {
 *   await removeStaleNamespaces('part');
 *   lab = await createNetnsLab({ prefix: 'part', count: 3 });
 * });
 * ```
 */
export async function removeStaleNamespaces(prefix: string): Promise<string[]> {
  if (!PREFIX_PATTERN.test(prefix)) throw new NetnsError(`the prefix must be 1-4 lowercase letters, got ${JSON.stringify(prefix)}`);
  const pattern = new RegExp(`^${prefix}(\\d+)[nhg]\\d+$`);
  const stale = (name: string) => {
    const match = pattern.exec(name);
    return match !== null && !processIsAlive(Number(match[1]));
  };
  const removed: string[] = [];
  const { stdout: links } = await ip(['-o', 'link', 'show']);
  for (const line of links.split('\n')) {
    // "12: part42h0@if11: <BROADCAST,…" — the name ends at "@" or ":".
    const name = /^\d+:\s+([^@:\s]+)/.exec(line)?.[1];
    if (name !== undefined && stale(name)) {
      await ip(['link', 'del', name]).catch(() => {}); // gone already with its peer
      removed.push(name);
    }
  }
  const { stdout: namespaces } = await ip(['netns', 'list']);
  for (const line of namespaces.split('\n')) {
    const name = line.split(' ')[0];
    if (name !== undefined && stale(name)) {
      await ip(['netns', 'del', name]);
      removed.push(name);
    }
  }
  return removed;
}

/** Indexes of `count` /30 blocks of NETNS_SUBNET that no address or route of the root namespace touches. */
/** Blocks between the starts of two processes whose pids differ by one (odd, so every block is a start). */
const PID_STRIDE = 1021;

async function freeBlocks(count: number): Promise<number[]> {
  const used = new Set<number>();
  const { stdout: addresses } = await ip(['-o', '-4', 'addr', 'show']);
  const { stdout: routes } = await ip(['-4', 'route', 'show', 'table', 'all']);
  for (const match of `${addresses}\n${routes}`.matchAll(/\b10\.213\.(\d+)\.(\d+)/g)) {
    used.add((Number(match[1]) << 6) | (Number(match[2]) >> 2));
  }
  const blocks: number[] = [];
  // Start where this pid points, so labs of processes running side by side rarely look at the same
  // blocks. Scattered (a stride coprime to the block count), not pid % blocks: two test files
  // started one after the other have nearly the same pid, and both read the addresses in use
  // before either adds its own, so adjacent starts took the same block and one lab's namespace
  // became unreachable.
  const start = (process.pid * PID_STRIDE) % SUBNET_BLOCKS;
  for (let offset = 0; offset < SUBNET_BLOCKS && blocks.length < count; offset++) {
    const block = (start + offset) % SUBNET_BLOCKS;
    if (!used.has(block)) blocks.push(block);
  }
  if (blocks.length < count) throw new NetnsError(`no ${count} free /30 blocks left in ${NETNS_SUBNET}`);
  return blocks;
}

async function destroy(state: LabState): Promise<void> {
  if (state.destroyed) return;
  state.destroyed = true;
  liveLabs.delete(state);
  for (const { namespace, hostInterface } of state.names) {
    // Deleting one end of a veth pair deletes both; either may not exist (a failed creation).
    await ip(['link', 'del', hostInterface]).catch(() => {});
    await ip(['netns', 'del', namespace]).catch(() => {});
  }
}

/** destroy() for the process's 'exit' hook, where nothing asynchronous runs. */
function destroySync(state: LabState): void {
  if (state.destroyed) return;
  state.destroyed = true;
  for (const { namespace, hostInterface } of state.names) {
    for (const args of [['link', 'del', hostInterface], ['netns', 'del', namespace]]) {
      try {
        execFileSync('ip', args, { stdio: 'ignore', timeout: IP_COMMAND_TIMEOUT_MS });
      } catch {
        // Best effort at exit: the next run's removeStaleNamespaces() finds what is left.
      }
    }
  }
}

async function ip(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFile('ip', [...args], { timeout: IP_COMMAND_TIMEOUT_MS, encoding: 'utf8' });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    throw new NetnsError(`\`ip ${args.join(' ')}\` failed: ${(failure.stderr ?? '').trim() || failure.message}`, { cause: error });
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
