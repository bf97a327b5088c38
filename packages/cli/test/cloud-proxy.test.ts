// `strata instances proxy`, `cache-rules` and `cache-invalidate` against a real control plane (its
// proxy-settings module, on embedded PGlite) over HTTP: settings shown and changed (as text and
// JSON, 'default' back to the proxy's own), rules set from JSON and a file and cleared, invalidations
// recorded; bad flags exit 2 before any call, the API's refusals with their exit codes, a read-only
// key 1 and another tenant's instance 3. The instance row is inserted as the instances module makes it.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createControlPlane, proxySettingsModule, type ControlPlane } from '@strata/control-plane';
import { freshDatabaseUrl } from '@strata/testing';
import { main } from '../src/main.js';

const QUIET = { info() {}, warn() {}, error: (...args: unknown[]) => console.error(...args) };

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('strata instances proxy|cache-rules|cache-invalidate against a real control plane', () => {
  let cp: ControlPlane;
  let acme: { tenantId: string; key: string };
  let globex: { tenantId: string; key: string };
  let dir: string;

  /** The CLI's main() in this process, with the API and `key` given as flags. */
  async function strata(key: string, ...args: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await main([...args, '--api-url', cp.url, '--api-key', key], { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, {});
    return { code, stdout, stderr };
  }

  function assertRefused(run: Run, code: number, ...parts: string[]): void {
    assert.equal(run.code, code, `exit ${run.code}, expected ${code}; stderr: ${run.stderr}`);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^strata: [^\n]+\n$/);
    for (const part of parts) assert.ok(run.stderr.includes(part), `stderr ${JSON.stringify(run.stderr)} should mention ${JSON.stringify(part)}`);
  }

  async function api(method: string, path: string, key: string, body?: unknown): Promise<any> {
    const reply = await fetch(`${cp.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return reply.json();
  }

  const tenant = async (name: string) => {
    const created = await api('POST', '/v1/tenants', cp.bootstrapKey!, { name });
    return { tenantId: created.tenant.id as string, key: created.token as string };
  };

  before(async () => {
    cp = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: [proxySettingsModule], logger: QUIET });
    acme = await tenant('acme');
    globex = await tenant('globex');
    await cp.db.query(
      `insert into strata_cloud.instances (instance_id, tenant_id, name, status, flavor, memory_mb, max_connections, storage_mb, node_id) values ('ins_cli1', $1, 'shop', 'ACTIVE', 'tiny', 128, 20, 1024, 'node-1')`,
      [acme.tenantId],
    );
    dir = await mkdtemp(join(tmpdir(), 'strata-cli-proxy-'));
  });
  after(async () => {
    await cp?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('strata instances proxy shows the settings, changes what its flags name, and default puts a limit back', async () => {
    const shown = await strata(acme.key, 'instances', 'proxy', 'shop');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /pool mode\s+session\n/);
    assert.match(shown.stdout, /max clients\s+proxy default\n/);
    assert.match(shown.stdout, /max server connections\s+proxy default\n/);
    assert.match(shown.stdout, /cache rules\s+none\n/);

    const set = await strata(acme.key, 'instances', 'proxy', 'shop', '--pool-mode', 'transaction', '--max-clients', '50', '--max-server-connections', '10', '--json');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { poolMode: 'transaction', maxClients: 50, maxServerConnections: 10, cacheRules: [] });

    const reset = await strata(acme.key, 'instances', 'proxy', 'ins_cli1', '--max-clients', 'default');
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /pool mode\s+transaction\n/);
    assert.match(reset.stdout, /max clients\s+proxy default\n/);
    assert.match(reset.stdout, /max server connections\s+10\n/);
    await strata(acme.key, 'instances', 'proxy', 'shop', '--pool-mode', 'session', '--max-server-connections', 'default');
  });

  test('strata instances cache-rules sets rules from JSON or a file, shows them, and clears them', async () => {
    const rules = [{ tables: ['products', 'shop.*'], ttlMs: 30_000, swrMs: 60_000, tags: ['catalog'] }];
    const set = await strata(acme.key, 'instances', 'cache-rules', 'shop', '--set', JSON.stringify(rules));
    assert.equal(set.code, 0, set.stderr);
    const lines = set.stdout.trim().split('\n');
    assert.match(lines[0]!, /^#\s+TABLES\s+TTL\s+SWR\s+TAGS$/);
    assert.match(lines[1]!, /^1\s+products, shop\.\*\s+30s\s+1m0s\s+catalog$/);

    const one = await strata(acme.key, 'instances', 'cache-rules', 'shop', '--set', '{"tables":["*"],"ttlMs":1000,"swrMs":0}', '--json');
    assert.deepEqual(JSON.parse(one.stdout), [{ tables: ['*'], ttlMs: 1000, swrMs: 0 }], 'one rule object is a list of one');

    const file = join(dir, 'rules.json');
    await writeFile(file, JSON.stringify(rules));
    const fromFile = await strata(acme.key, 'instances', 'cache-rules', 'shop', '--file', file, '--json');
    assert.deepEqual(JSON.parse(fromFile.stdout), rules);
    assert.deepEqual((await api('GET', '/v1/instances/shop/proxy', acme.key)).cacheRules, rules);
    assert.match((await strata(acme.key, 'instances', 'proxy', 'shop')).stdout, /cache rules\s+1 \(strata instances cache-rules shop\)/);

    const cleared = await strata(acme.key, 'instances', 'cache-rules', 'shop', '--clear');
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /shop has no cache rules/);
    assert.deepEqual((await api('GET', '/v1/instances/shop/proxy', acme.key)).cacheRules, []);
  });

  test('strata instances cache-invalidate records an invalidation with its tags', async () => {
    const run = await strata(acme.key, 'instances', 'cache-invalidate', 'shop', '--tag', 'catalog', '--tag', 'home');
    assert.equal(run.code, 0, run.stderr);
    const id = /^invalidation (\d+) recorded: proxies drop the cached results of shop tagged catalog, home within a second\n$/.exec(run.stdout)?.[1];
    assert.ok(id, run.stdout);
    const { rows } = await cp.db.query<{ instance_id: string; tags: string[] }>(`select instance_id, tags from strata_cloud.cache_invalidations where id = $1::bigint`, [id]);
    assert.deepEqual(rows, [{ instance_id: 'ins_cli1', tags: ['catalog', 'home'] }]);
    const json = await strata(acme.key, 'instances', 'cache-invalidate', 'shop', '--tag', 'orders:42', '--json');
    assert.ok(BigInt(JSON.parse(json.stdout).invalidationId) > BigInt(id));
  });

  test('bad flags exit 2 before any call; the API refuses bad rules and limits with exit 2, naming what to fix', async () => {
    assertRefused(await strata(acme.key, 'instances', 'proxy', 'shop', '--pool-mode', 'statement'), 2, '--pool-mode "statement"', 'session, transaction');
    assertRefused(await strata(acme.key, 'instances', 'proxy', 'shop', '--max-clients', '0'), 2, '--max-clients');
    assertRefused(await strata(acme.key, 'instances', 'proxy', 'shop', '--max-clients', 'lots'), 2, '--max-clients');
    assertRefused(await strata(acme.key, 'instances', 'cache-rules', 'shop', '--set', '[{'), 2, '--set is not JSON');
    assertRefused(await strata(acme.key, 'instances', 'cache-rules', 'shop', '--set', '5'), 2, 'JSON array of rules');
    assertRefused(await strata(acme.key, 'instances', 'cache-rules', 'shop', '--set', '[]', '--clear'), 2, 'one of --set, --file and --clear');
    assertRefused(await strata(acme.key, 'instances', 'cache-rules', 'shop', '--file', join(dir, 'missing.json')), 2, 'ENOENT');
    assertRefused(await strata(acme.key, 'instances', 'cache-invalidate', 'shop'), 2, '--tag');
    assertRefused(await strata(acme.key, 'instances', 'cache-rules', 'shop', '--set', '[{"tables":[],"ttlMs":1000,"swrMs":0}]'), 2, 'body.cacheRules.0.tables', 'at least one table');
    assertRefused(await strata(acme.key, 'instances', 'proxy', 'shop', '--max-server-connections', '21'), 2, 'at most 20');
    assertRefused(await strata(acme.key, 'instances', 'cache-invalidate', 'shop', '--tag', 'Not A Tag'), 2, 'body.tags.0');
  });

  test("a read-only key reads but cannot change (exit 1); another tenant's instance is not found (exit 3)", async () => {
    const reader = await api('POST', '/v1/keys', acme.key, { name: 'reader', role: 'read-only' });
    assert.equal((await strata(reader.token, 'instances', 'proxy', 'shop')).code, 0);
    assertRefused(await strata(reader.token, 'instances', 'proxy', 'shop', '--pool-mode', 'transaction'), 1, 'member');
    assertRefused(await strata(reader.token, 'instances', 'cache-invalidate', 'shop', '--tag', 'catalog'), 1, 'member');
    assertRefused(await strata(globex.key, 'instances', 'proxy', 'shop'), 3, 'no instance "shop"');
    assertRefused(await strata(globex.key, 'instances', 'cache-invalidate', 'ins_cli1', '--tag', 'catalog'), 3);
  });
});
