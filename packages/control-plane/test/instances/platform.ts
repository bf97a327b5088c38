// Test harness of the instance tests: a control-plane engine with the instance operations and real node agents on one system database.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NodeFiles, startAgent, type AgentOptions, type RunningAgent } from '@strata/agent';
import { ManagedCluster, ensureTemplate, scramVerifier } from '@strata/postgres';
import { loadMigrations, migrate, openDatabase, type Database } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { Strata, StrataClient } from '@strata/transact';
import { registerInstanceOperations, getInstance, type InstanceRow, type InstanceServiceDeps, type InstanceStatus } from '../../src/instances/index.js';
import { createControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/index.js';
import { checkQuota, DEFAULT_QUOTAS } from '../../src/tenancy/quotas.js';
import { quietLogger } from '../harness.js';
import { insertTenant } from '../../src/tenancy/sql/tenants.js';

/** Logs only errors. */
export const QUIET = { info: () => {}, warn: () => {}, error: (...args: unknown[]) => console.error(...args) };

/** Control-plane migrations, as the platform applies them. */
export const CONTROL_PLANE_MIGRATIONS = new URL('../../migrations/', import.meta.url);

/** The engine to run on: PostgreSQL when the suite has it, else the embedded default. */
export function systemEngine(): 'postgres' | 'pglite' {
  return engines().includes('postgres') ? 'postgres' : 'pglite';
}

/** One template for the instance tests of every run (initdb once; ensureTemplate reuses a complete one). */
export const TEST_TEMPLATE_DIR = join(tmpdir(), 'strata-cloud-test-template');

/** Makes the shared template before agents use it (so two agents never initdb it at once). */
export async function sharedTemplate(): Promise<string> {
  await ensureTemplate(TEST_TEMPLATE_DIR);
  return TEST_TEMPLATE_DIR;
}

/** A fresh node root the unprivileged server user can pass through (mkdtemp makes 0700). */
export async function nodeRoot(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `strata-${name}-`));
  await chmod(dir, 0o755);
  return dir;
}

/** One node of the test platform. */
export interface TestNode {
  readonly nodeId: string;
  readonly rootDir: string;
  readonly files: NodeFiles;
  agent: RunningAgent | undefined;
}

/** A running test platform. */
export interface TestPlatform {
  readonly db: Database;
  readonly client: StrataClient;
  readonly strata: Strata;
  readonly deps: InstanceServiceDeps;
  readonly nodes: TestNode[];
  /** Starts a node's agent (again). */
  startNode(node: TestNode): Promise<void>;
  /** Waits until the instance reaches one of `statuses` (or fails with its last status). */
  waitForStatus(instanceId: string, statuses: readonly InstanceStatus[], timeoutMs?: number): Promise<InstanceRow>;
  close(): Promise<void>;
}

/** Tenants of the tests, with the default quotas. */
export const TENANTS = ['ten_a', 'ten_b'] as const;

/**
 * Starts a control plane (its engine with the instance operations) and one agent per node ID,
 * all on one fresh system database, with tenants ten_a and ten_b.
 */
export async function startPlatform(nodeIds: readonly string[], options: { readonly nodeStaleAfterMs?: number; readonly heartbeatIntervalMs?: number } = {}): Promise<TestPlatform> {
  const db = await openDatabase({ url: await freshDatabaseUrl(systemEngine()) });
  await migrate(db, 'control-plane', loadMigrations(CONTROL_PLANE_MIGRATIONS));
  for (const tenantId of TENANTS) await db.transaction((tx) => insertTenant(tx, { tenantId, name: tenantId, platform: false, quotas: DEFAULT_QUOTAS }));
  const client = await StrataClient.connect({ database: db });
  const nodes: TestNode[] = [];
  const templateDir = await sharedTemplate();
  const startNode = async (node: TestNode) => {
    node.agent = await startAgent({ database: db, nodeId: node.nodeId, rootDir: node.rootDir, templateDir, capacity: { memoryMb: 4096, instances: 20 }, heartbeatIntervalMs: options.heartbeatIntervalMs ?? 200, logger: QUIET });
  };
  for (const nodeId of nodeIds) {
    const rootDir = await nodeRoot(nodeId);
    const node: TestNode = { nodeId, rootDir, files: new NodeFiles(rootDir, templateDir), agent: undefined };
    nodes.push(node);
    await startNode(node);
  }
  const strata = new Strata({ database: db, executorId: 'control-plane', appVersion: 'control-plane', logger: QUIET });
  registerInstanceOperations(strata, { db, client });
  await strata.launch();
  const deps: InstanceServiceDeps = { db, client, checkQuota, scramVerifier, ...(options.nodeStaleAfterMs ? { nodeStaleAfterMs: options.nodeStaleAfterMs } : {}) };
  return {
    db,
    client,
    strata,
    deps,
    nodes,
    startNode,
    waitForStatus: (instanceId, statuses, timeoutMs = 120_000) => waitForStatus(db, instanceId, statuses, timeoutMs),
    close: async () => {
      await strata.shutdown();
      for (const node of nodes) {
        await node.agent?.close();
        await destroyAll(node.files);
        await rm(node.rootDir, { recursive: true, force: true });
      }
      await client.close();
      await db.close();
    },
  };
}

/** A control plane on a fresh PGlite database and one node agent beside it: what the HTTP suites run against. */
export interface HttpNode {
  readonly cp: ControlPlane;
  readonly agent: RunningAgent;
  readonly rootDir: string;
  /** Closes the agent and the control plane, then stops and removes the node's instances and root. */
  close(): Promise<void>;
}

/**
 * Starts an {@link HttpNode}: the control plane with `modules`, and agent `nodeId` under a fresh
 * root named after `rootName` (capacity 4 GiB / 10 instances, a heartbeat every 200 ms). With
 * `backups`, the agent archives into `<root>/backups`; `agent` adds or overrides its options.
 *
 * @example
 * const node = await startHttpNode({ rootName: 'forks-reset-node', nodeId: 'node-forks', modules: [instancesModule, backupsModule], backups: true });
 * after(() => node?.close());
 */
export async function startHttpNode(options: {
  readonly rootName: string;
  readonly nodeId: string;
  readonly modules: NonNullable<ControlPlaneOptions['modules']>;
  readonly backups?: boolean;
  readonly agent?: Partial<AgentOptions>;
}): Promise<HttpNode> {
  const cp = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: options.modules, logger: quietLogger() });
  const rootDir = await nodeRoot(options.rootName);
  let agent: RunningAgent;
  try {
    agent = await startAgent({
      database: cp.db, nodeId: options.nodeId, rootDir, templateDir: await sharedTemplate(), capacity: { memoryMb: 4096, instances: 10 },
      heartbeatIntervalMs: 200, ...(options.backups ? { backupRepository: join(rootDir, 'backups') } : {}), logger: QUIET, ...options.agent,
    });
  } catch (error) {
    await cp.close();
    await rm(rootDir, { recursive: true, force: true });
    throw error;
  }
  return {
    cp,
    agent,
    rootDir,
    close: async () => {
      await agent.close();
      await cp.close();
      await destroyAll(new NodeFiles(rootDir));
      await rm(rootDir, { recursive: true, force: true });
    },
  };
}

/** Stops and removes every instance under a node's root (instances outlive their agent by design). */
export async function destroyAll(files: NodeFiles): Promise<void> {
  for (const id of await files.instanceIdsOnDisk()) await ManagedCluster.destroyAt(files.spec(id, 5432, {})).catch(() => {});
}

/** Polls the instance row until its status is one of `statuses` and it runs no operation. */
export async function waitForStatus(db: Database, instanceId: string, statuses: readonly InstanceStatus[], timeoutMs: number): Promise<InstanceRow> {
  const deadline = Date.now() + timeoutMs;
  let row: InstanceRow | undefined;
  while (Date.now() < deadline) {
    row = await getInstance(db, instanceId);
    if (row && statuses.includes(row.status) && row.operationId === null) return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`instance ${instanceId} did not reach ${statuses.join('|')} in ${timeoutMs} ms; last: ${row?.status} (operation ${row?.operationKind}, error ${row?.error})`);
}

/** Connects as a tenant user over TCP and runs `sql`: the rows, or the SQLSTATE of the refusal. */
export async function asTenant(port: number, user: string, password: string, database: string, sql: string): Promise<{ rows: Record<string, unknown>[] } | { error: string }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return { rows: (await client.query(sql)).rows as Record<string, unknown>[] };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? (error as Error).message };
  } finally {
    await client.end().catch(() => {});
  }
}
