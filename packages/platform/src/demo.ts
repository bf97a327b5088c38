// The demo instance of `npm start`: made through the real HTTP API on the first start (a demo
// tenant, its admin key, an instance `demo` with a database and a user), found again on every
// later start through the state file that keeps its password (mode 0600).
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { getInstance, type InstanceStatus } from '@strata/control-plane';
import { PlatformError } from './errors.js';
import type { RunningPlatform } from './platform.js';

/** The demo's names: instance, tenant, database and user. */
export const DEMO_INSTANCE = 'demo';
export const DEMO_TENANT = 'demo';
export const DEMO_DATABASE = 'app';
export const DEMO_USER = 'app';
/** The demo's flavor: the smallest, 128 MB. */
export const DEMO_FLAVOR = 'tiny';

/**
 * How long a start waits for the demo instance to answer. The first start initdb's the template
 * (seconds on a quiet machine, much longer on a loaded one); later starts wait for the agent's
 * reconcile and the node's liveness to mark it ACTIVE again.
 */
export const DEMO_READY_TIMEOUT_MS = 180_000;
/** Between two looks at the instance's status while waiting. */
const POLL_INTERVAL_MS = 100;
/** Random bytes of the demo password (24 base64url characters). */
const PASSWORD_BYTES = 18;

/** What `demo.json` holds: enough to show the connection line again. Written step by step on the first start. */
interface DemoState {
  readonly password: string;
  readonly tenantId?: string;
  readonly instanceId?: string;
}

/** The demo instance as the banner shows it. */
export interface DemoInstance {
  readonly instanceId: string;
  readonly name: string;
  readonly status: InstanceStatus;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** `postgres://app:<password>@127.0.0.1:<port>/app`, ready for psql. */
  readonly connectionString: string;
  /** Suspended by the proxy for being idle (`frozen` or `stopped`): the first connection through the proxy wakes it. */
  readonly asleep?: 'frozen' | 'stopped';
}

/** What {@link ensureDemo} found or made. */
export type DemoOutcome =
  | { readonly kind: 'created'; readonly instance: DemoInstance; /** The demo tenant's admin key (shown once). */ readonly apiKey: string }
  | { readonly kind: 'existing'; readonly instance: DemoInstance }
  /** The demo is gone (deleted, stopped, failed) or was never finished; `reason` says what to do. */
  | { readonly kind: 'unavailable'; readonly reason: string };

/**
 * Makes the demo instance on the first start of a platform (`platform.bootstrapKey` is set):
 * a tenant `demo` and its admin key through `POST /v1/tenants`, then `POST /v1/instances`
 * (`demo`, flavor `tiny`, database `app`, user `app` with a generated password), and waits until it
 * is ACTIVE and answers `select 1` as `app`. On a later start it finds the instance again through
 * `<dataDir>/demo.json` and waits for the same. Gives up after {@link DEMO_READY_TIMEOUT_MS}.
 *
 * @throws {PlatformError} `STRATA_PLATFORM_DEMO_FAILED` when an API call is refused or the instance does not answer in time.
 *
 * @example
 * const platform = await startPlatform({ dataDir });
 * const demo = await ensureDemo(platform);
 * if (demo.kind !== 'unavailable') console.log(`psql "${demo.instance.connectionString}"`);
 */
export async function ensureDemo(platform: RunningPlatform, options: { readonly timeoutMs?: number } = {}): Promise<DemoOutcome> {
  const deadline = Date.now() + (options.timeoutMs ?? DEMO_READY_TIMEOUT_MS);
  const file = platform.layout.demoFile;
  if (platform.bootstrapKey !== undefined) {
    // A fresh system database: whatever demo.json says belongs to an earlier, reset platform.
    let state: DemoState = { password: randomBytes(PASSWORD_BYTES).toString('base64url') };
    await writeState(file, state);
    const tenant = await api<{ tenant: { id: string }; token: string }>(platform.apiUrl, platform.bootstrapKey, 'POST', '/v1/tenants', { name: DEMO_TENANT });
    state = { ...state, tenantId: tenant.tenant.id };
    await writeState(file, state);
    const created = await api<{ id: string }>(platform.apiUrl, tenant.token, 'POST', '/v1/instances', {
      name: DEMO_INSTANCE,
      flavor: DEMO_FLAVOR,
      databases: [DEMO_DATABASE],
      users: [{ name: DEMO_USER, password: state.password }],
    });
    state = { ...state, instanceId: created.id };
    await writeState(file, state);
    const instance = await waitUntilAnswering(platform, created.id, state.password, deadline);
    if (typeof instance === 'string') throw new PlatformError('STRATA_PLATFORM_DEMO_FAILED', `the demo instance ${created.id} did not become ready: ${instance}`);
    return { kind: 'created', instance, apiKey: tenant.token };
  }
  const state = await readState(file);
  if (state?.instanceId === undefined) {
    return { kind: 'unavailable', reason: `there is no demo instance recorded in ${file} (the first start stopped before it was made, or the file was removed); start over with --reset` };
  }
  const instance = await waitUntilAnswering(platform, state.instanceId, state.password, deadline);
  return typeof instance === 'string' ? { kind: 'unavailable', reason: instance } : { kind: 'existing', instance };
}

/**
 * Waits until the instance is ACTIVE and answers `select 1` as the demo user; returns why not
 * (in words) when it is in a status it will not leave by itself, or at the deadline.
 */
async function waitUntilAnswering(platform: RunningPlatform, instanceId: string, password: string, deadline: number): Promise<DemoInstance | string> {
  let last = 'not looked at yet';
  while (Date.now() < deadline) {
    const row = await getInstance(platform.db, instanceId);
    if (row === undefined) return `the demo instance ${instanceId} is not in this platform's database; start over with --reset`;
    if (row.status === 'DELETED') return `the demo instance ${row.name} (${instanceId}) was deleted; start over with --reset`;
    if (row.status === 'STOPPED') return `the demo instance ${row.name} is STOPPED: start it with "strata instances start ${row.name}"`;
    if (row.status === 'ERROR') return `the demo instance ${row.name} is in ERROR (${row.error ?? 'no reason recorded'}); delete it, or start over with --reset`;
    if (row.status === 'ACTIVE' && row.host !== null && row.port !== null) {
      const instance: DemoInstance = {
        instanceId,
        name: row.name,
        status: row.status,
        host: row.host,
        port: row.port,
        database: DEMO_DATABASE,
        user: DEMO_USER,
        password,
        connectionString: `postgres://${DEMO_USER}:${encodeURIComponent(password)}@${row.host}:${row.port}/${DEMO_DATABASE}`,
      };
      // Asleep (suspended by the proxy): a direct connection would not answer; the proxy wakes it on connect.
      if (row.power !== null && row.power.state !== 'running') return { ...instance, asleep: row.power.state };
      const answer = await selectOne(instance.connectionString);
      if (answer === undefined) return instance;
      last = `ACTIVE but not answering yet: ${answer}`;
    } else {
      last = `status ${row.status}`;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  return `it was still not answering when the wait ended (${last})`;
}

/** Runs `select 1` over TCP as the tenant's user; undefined when it answered, else the error message. */
async function selectOne(connectionString: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

/** One call of the platform's own API with a key; a refusal becomes a PlatformError with the API's code and message. */
async function api<T>(apiUrl: string, key: string, method: 'POST', path: string, body: unknown): Promise<T> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!response.ok) {
    throw new PlatformError('STRATA_PLATFORM_DEMO_FAILED', `${method} ${path} answered ${response.status} ${json.error?.code ?? ''}: ${json.error?.message ?? 'no message'}`);
  }
  return json as T;
}

/** Writes the state file whole (a temporary file renamed over it), readable by its owner only. */
async function writeState(file: string, state: DemoState): Promise<void> {
  const temporary = `${file}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600); // a leftover temporary file keeps its old mode through writeFile
  await rename(temporary, file);
}

async function readState(file: string): Promise<DemoState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<DemoState>;
  if (typeof parsed.password !== 'string') {
    throw new PlatformError('STRATA_PLATFORM_DEMO_UNRECOVERABLE', `${file} is not a demo state file (no password): start over with --reset`);
  }
  return { password: parsed.password, ...(typeof parsed.tenantId === 'string' ? { tenantId: parsed.tenantId } : {}), ...(typeof parsed.instanceId === 'string' ? { instanceId: parsed.instanceId } : {}) };
}
