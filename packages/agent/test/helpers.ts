// Shared by the agent's tests: a temp root, a system database with a client, tenant logins over TCP.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ensureTemplate } from '@strata/postgres';
import { openDatabase, type Database } from '@strata/store';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { StrataClient } from '@strata/transact';
import { AGENT_JOBS, agentQueue, agentVersion } from '../src/index.js';

/** Logs nothing: the tests assert outcomes, the agent's info lines are noise here. */
export const QUIET = { info: () => {}, warn: () => {}, error: (...args: unknown[]) => console.error(...args) };

/** A fresh temp directory for a node's root, passable by the unprivileged server user (mkdtemp makes 0700); `remove()` deletes it. */
export async function tempRoot(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `strata-agent-${name}-`));
  await chmod(dir, 0o755);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** One template for the agent tests of every run (initdb once; ensureTemplate reuses a complete one). */
export const TEST_TEMPLATE_DIR = join(tmpdir(), 'strata-agent-test-template');

/** Makes the shared template before agents use it (so two agents never initdb it at once). */
export async function sharedTemplate(): Promise<string> {
  await ensureTemplate(TEST_TEMPLATE_DIR);
  return TEST_TEMPLATE_DIR;
}

/** A fresh system database (PostgreSQL when the suite runs it, else PGlite) and a client on it. */
export async function systemDatabase(): Promise<{ db: Database; client: StrataClient; close: () => Promise<void> }> {
  const kind = engines().includes('postgres') ? 'postgres' : 'pglite';
  const db = await openDatabase({ url: await freshDatabaseUrl(kind) });
  const client = await StrataClient.connect({ database: db });
  return { db, client, close: async () => { await client.close(); await db.close(); } };
}

/** Runs one agent job the way the control plane does (pinned to the node) and waits for its output. */
export async function runJob<O>(client: StrataClient, nodeId: string, job: string, input: unknown, workflowId?: string): Promise<O> {
  const handle = await client.enqueue<O>({ workflow: job, queue: agentQueue(nodeId), appVersion: agentVersion(nodeId), ...(workflowId ? { workflowId } : {}) }, input);
  return handle.result({ timeoutMs: 120_000 });
}

/** Connects to 127.0.0.1:port as `user` and runs `sql`; the rows, or the SQLSTATE of the refusal. */
export async function asTenant(port: number, user: string, password: string, database: string, sql: string): Promise<{ rows: Record<string, unknown>[] } | { error: string }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query(sql);
    return { rows: result.rows as Record<string, unknown>[] };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? (error as Error).message };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether a postgres server's postmaster.pid exists in the data directory. */
export function hasPostmasterPid(dataDir: string): boolean {
  return existsSync(join(dataDir, 'postmaster.pid'));
}

export { AGENT_JOBS };
