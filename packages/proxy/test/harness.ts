// Test harness of the proxy: a real control plane (instances over its HTTP API) and a real node
// agent with PostgreSQL instances, on a fresh embedded system database, and the proxy in front.

import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NodeFiles, startAgent, type RunningAgent } from '@strata/agent';
import { createControlPlane, instanceAdminModule, instancesModule, proxySettingsModule, usageModule, type ControlPlane } from '@strata/control-plane';
import { ensureTemplate, ManagedCluster } from '@strata/postgres';
import { freshDatabaseUrl } from '@strata/testing';
import { startProxy, type ProxyOptions, type RunningProxy } from '../src/index.js';

const QUIET = { info: () => {}, warn: () => {}, error: (...args: unknown[]) => console.error(...args) };

/** The template every instance test of a run shares (the control-plane tests use the same). */
const TEMPLATE_DIR = join(tmpdir(), 'strata-cloud-test-template');

/** A JSON call to the control plane. */
export async function call(cp: ControlPlane, method: string, path: string, key: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const reply = await fetch(`${cp.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await reply.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: reply.status, json, text };
}

/** A control plane, an agent and the instances the tests made. */
export interface ProxyPlatform {
  readonly cp: ControlPlane;
  readonly agent: RunningAgent;
  readonly adminKey: string;
  /** A new tenant and its admin key. */
  tenant(name: string): Promise<{ tenantId: string; key: string }>;
  /** Creates an instance with one database `app` and user `app` (password `password`) and waits for ACTIVE. */
  instance(key: string, name: string, password: string): Promise<{ id: string; port: number }>;
  /** Starts a proxy on the platform's system database (closed with the platform). */
  proxy(options?: Partial<ProxyOptions>): Promise<RunningProxy>;
  close(): Promise<void>;
}

/**
 * @example
 * const platform = await startProxyPlatform('proxy-basic');
 * const { key } = await platform.tenant('acme');
 * const { id } = await platform.instance(key, 'db', 'secret-password-1');
 */
export async function startProxyPlatform(name: string): Promise<ProxyPlatform> {
  const cp = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: [instancesModule, instanceAdminModule, usageModule, proxySettingsModule], logger: QUIET });
  const rootDir = await mkdtemp(join(tmpdir(), `strata-${name}-`));
  await chmod(rootDir, 0o755);
  await ensureTemplate(TEMPLATE_DIR);
  const agent = await startAgent({ database: cp.db, nodeId: `node-${name}`.slice(0, 60), rootDir, templateDir: TEMPLATE_DIR, capacity: { memoryMb: 8192, instances: 40 }, heartbeatIntervalMs: 200, logger: QUIET });
  const proxies: RunningProxy[] = [];
  const adminKey = cp.bootstrapKey!;
  return {
    cp,
    agent,
    adminKey,
    async tenant(tenantName) {
      const reply = await call(cp, 'POST', '/v1/tenants', adminKey, { name: tenantName });
      if (reply.status !== 201) throw new Error(`creating tenant ${tenantName}: ${reply.status} ${reply.text}`);
      return { tenantId: reply.json.tenant.id, key: reply.json.token };
    },
    async instance(key, instanceName, password) {
      const created = await call(cp, 'POST', '/v1/instances', key, { name: instanceName, flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password }] });
      if (created.status !== 202) throw new Error(`creating instance ${instanceName}: ${created.status} ${created.text}`);
      let waited = await call(cp, 'GET', `/v1/instances/${created.json.id}/wait?timeoutMs=60000`, key);
      if (waited.json?.status === 'BUILD') waited = await call(cp, 'GET', `/v1/instances/${created.json.id}/wait?timeoutMs=60000`, key);
      if (waited.json?.status !== 'ACTIVE') throw new Error(`instance ${instanceName} is ${waited.json?.status}: ${waited.text}`);
      const made = { id: waited.json.id as string, port: waited.json.port as number };
      return made;
    },
    async proxy(options = {}) {
      const proxy = await startProxy({ database: cp.db, logger: QUIET, ...options });
      proxies.push(proxy);
      return proxy;
    },
    async close() {
      for (const proxy of proxies) await proxy.close();
      await agent.close();
      await cp.close();
      await destroyInstances(rootDir);
      await rm(rootDir, { recursive: true, force: true });
    },
  };
}

/** Stops and removes every instance under a node's root (instances outlive their agent by design). */
async function destroyInstances(rootDir: string): Promise<void> {
  const files = new NodeFiles(rootDir, TEMPLATE_DIR);
  for (const id of await files.instanceIdsOnDisk()) await ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(() => {});
}

/** A pg client through the proxy as `user.<instance>` (the first routing form). */
export function proxyClient(proxy: RunningProxy, instanceId: string, password: string, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: proxy.host, port: proxy.port, user: `app.${instanceId}`, database: 'app', password, ...extra });
}

/** Connects, runs `sql`, and ends; returns the rows or the error (code and message). */
export async function tryQuery(client: pg.Client, sql: string): Promise<{ rows?: unknown[]; code?: string; message?: string }> {
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query(sql);
    return { rows: result.rows };
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { code: e.code, message: e.message };
  } finally {
    await client.end().catch(() => {});
  }
}

/** A raw TCP connection to the proxy, and everything it receives until closed. */
export function rawConnection(proxy: RunningProxy): { socket: Socket; received: Promise<Buffer> } {
  const socket = connectTcp({ host: proxy.host, port: proxy.port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk) => chunks.push(chunk));
  const received = new Promise<Buffer>((resolve) => {
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', () => {});
  });
  return { socket, received };
}

/** The SQLSTATE and message of an ErrorResponse at the start of `data`, if there is one. */
export function errorIn(data: Buffer): { sqlstate?: string; message?: string } | undefined {
  const at = data.indexOf(0x45); // 'E'
  if (at < 0) return undefined;
  const fields: Record<string, string> = {};
  let offset = at + 5;
  while (offset < data.length && data[offset] !== 0) {
    const code = String.fromCharCode(data[offset]!);
    const end = data.indexOf(0, offset + 1);
    if (end < 0) break;
    fields[code] = data.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return { sqlstate: fields.C, message: fields.M };
}
