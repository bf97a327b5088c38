// `strata usage`, `strata usage cap` and `strata tenants suspend|resume` against a real control
// plane (its usage module, on embedded PGlite) over HTTP: the report as a table and as JSON, caps
// shown and set (admins only), bad flags and bad ranges refused with the exit codes scripts branch
// on, and suspension by platform admins only. The usage rows are written as the proxy's meter
// writes them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createControlPlane, usageModuleWith, type ControlPlane } from '@strata/control-plane';
import { freshDatabaseUrl } from '@strata/testing';
import { main } from '../src/main.js';

const QUIET = { info() {}, warn() {}, error: (...args: unknown[]) => console.error(...args) };

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('strata usage and strata tenants against a real control plane', () => {
  let cp: ControlPlane;
  let adminKey: string;
  let acme: { tenantId: string; key: string };

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

  before(async () => {
    cp = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: [usageModuleWith({ evaluateCron: '0 0 0 1 1 *' })], logger: QUIET });
    adminKey = cp.bootstrapKey!;
    const created = await api('POST', '/v1/tenants', adminKey, { name: 'acme' });
    acme = { tenantId: created.tenant.id, key: created.token };
    await cp.db.query(
      `insert into strata_cloud.instances (instance_id, tenant_id, name, status, flavor, memory_mb, max_connections, storage_mb, node_id) values ('ins_cli1', $1, 'shop', 'ACTIVE', 'tiny', 128, 20, 1024, 'node-1')`,
      [acme.tenantId],
    );
    for (const [minute, operations, bytesOut] of [['2025-03-10T10:05:00Z', 1_200, 2_500_000], ['2025-03-10T11:30:00Z', 300, 0], ['2025-03-11T08:00:00Z', 45, 1_000]] as const) {
      await cp.db.query(`insert into strata_cloud.usage (instance_id, tenant_id, minute, operations, bytes_out, connection_ms) values ('ins_cli1', $1, $2, $3, $4, 90000)`, [acme.tenantId, minute, operations, bytesOut]);
    }
  });
  after(() => cp?.close());

  test('strata usage prints the groups and a total, as a table and as JSON', async () => {
    const range = ['--from', '2025-03-10', '--to', '2025-03-12'];
    const byDay = await strata(acme.key, 'usage', ...range);
    assert.equal(byDay.code, 0, byDay.stderr);
    const lines = byDay.stdout.trim().split('\n');
    assert.match(lines[0]!, /^DAY\s+OPERATIONS\s+BYTES IN\s+BYTES OUT\s+CONNECTED\s+COMPUTE\s+STORAGE$/);
    assert.match(lines[1]!, /^2025-03-10\s+1,500\s+0 B\s+2\.5 MB\s+3m0s\s+0ms\s+-$/);
    assert.match(lines[2]!, /^2025-03-11\s+45\s+0 B\s+1\.0 kB\s+1m30s\s+0ms\s+-$/);
    assert.match(lines[3]!, /^total\s+1,545\s/);
    assert.match(lines[4]!, /^2025-03-10T00:00:00Z to 2025-03-12T00:00:00Z$/);

    const byInstance = await strata(acme.key, 'usage', ...range, '--group', 'instance', '--json');
    assert.equal(byInstance.code, 0, byInstance.stderr);
    const report = JSON.parse(byInstance.stdout);
    assert.deepEqual(report.groups.map((g: { instanceName: string; operations: number }) => [g.instanceName, g.operations]), [['shop', 1_545]]);

    const byHour = await strata(acme.key, 'usage', 'show', ...range, '--group', 'hour', '--json');
    assert.deepEqual(JSON.parse(byHour.stdout).groups.map((g: { start: string }) => g.start), ['2025-03-10T10:00:00Z', '2025-03-10T11:00:00Z', '2025-03-11T08:00:00Z']);

    const otherTenant = await strata(adminKey, 'usage', ...range, '--json');
    assert.deepEqual(JSON.parse(otherTenant.stdout).groups, [], "the platform tenant does not see acme's usage");
  });

  test('bad flags exit 2 before any call; a range the API refuses exits 2 with its message', async () => {
    assertRefused(await strata(acme.key, 'usage', '--group', 'week'), 2, '--group "week"', 'instance, hour, day');
    assertRefused(await strata(acme.key, 'usage', '--from', 'last tuesday'), 2, '--from');
    assertRefused(await strata(acme.key, 'usage', '--from', '2025-01-01', '--to', '2025-03-10', '--group', 'hour'), 2, 'at most 31 days');
    assertRefused(await strata(acme.key, 'usage', 'cap', '--operations', 'lots'), 2, '--operations');
    assertRefused(await strata(acme.key, 'usage', 'cap', '--operations', '0'), 2, '--operations');
    assertRefused(await strata(adminKey, 'usage', 'cap', '--tenant', acme.tenantId), 2, '--tenant');
  });

  test('strata usage cap shows the caps, admins set them, members are refused', async () => {
    const shown = await strata(acme.key, 'usage', 'cap');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /operations\s+0 \(no cap\)/);
    assert.match(shown.stdout, /state\s+ok/);

    const set = await strata(acme.key, 'usage', 'cap', '--operations', '1_000_000', '--bytes-out', '5000000000', '--json');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout).cap, { operationsPerMonth: 1_000_000, bytesOutPerMonth: 5_000_000_000 });
    const removed = await strata(acme.key, 'usage', 'cap', '--bytes-out', 'none');
    assert.match(removed.stdout, /operations\s+0 of 1,000,000/);
    assert.match(removed.stdout, /bytes out\s+0 B \(no cap\)/);

    const member = await api('POST', '/v1/keys', acme.key, { name: 'dev', role: 'member' });
    assertRefused(await strata(member.token, 'usage', 'cap', '--operations', '5'), 1, 'admin');

    const byPlatform = await strata(adminKey, 'usage', 'cap', '--tenant', acme.tenantId, '--operations', '2000000', '--json');
    assert.equal(byPlatform.code, 0, byPlatform.stderr);
    assert.equal(JSON.parse(byPlatform.stdout).cap.operationsPerMonth, 2_000_000);
  });

  test('strata tenants suspend and resume: platform admins only', async () => {
    assertRefused(await strata(acme.key, 'tenants', 'suspend', acme.tenantId), 1, 'platform');
    const suspended = await strata(adminKey, 'tenants', 'suspend', acme.tenantId);
    assert.equal(suspended.code, 0, suspended.stderr);
    assert.equal(suspended.stdout, `acme (${acme.tenantId}) is suspended\n`);
    const resumed = await strata(adminKey, 'tenants', 'resume', acme.tenantId, '--json');
    assert.equal(JSON.parse(resumed.stdout).status, 'active');
    assertRefused(await strata(adminKey, 'tenants', 'resume', 'ten_nosuchtenant'), 3);
  });
});
