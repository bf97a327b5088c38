// Monitoring over real HTTP: a node agent samples its running instances every 300 ms into
// strata_cloud.instance_metrics; the control plane serves them per instance over a time range and
// as Prometheus gauges. Connections, a long transaction, a load, a broken archive_command and a
// completed backup each show in the samples; another tenant sees none of it; old samples go.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { NodeFiles } from '@strata/agent';
import { ManagedCluster } from '@strata/postgres';
import { backupsModule, findFlavor, instancesModule, monitoringModule, type ControlPlane } from '../src/index.js';
import { call, eventually, newTenant } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

const PASSWORD = 'watched-password-1';
/** Samples older than this are deleted by the agent as it goes. */
const RETENTION_MS = 4_000;
let cp: ControlPlane;
let node: HttpNode | undefined;
let rootDir: string;
let tenant: { tenantId: string; key: string };
let instance: { id: string; port: number };

before(async () => {
  node = await startHttpNode({
    rootName: 'monitoring-node',
    nodeId: 'node-watch',
    modules: [instancesModule, backupsModule, monitoringModule],
    backups: true,
    agent: { metricsIntervalMs: 300, metricsRetentionMs: RETENTION_MS },
  });
  cp = node.cp;
  rootDir = node.rootDir;
  tenant = await newTenant(cp, cp.bootstrapKey!, 'watchers');
  const created = await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body: { name: 'watched', flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] } });
  assert.equal(created.status, 202, created.text);
  const active = (await call(cp.url, 'GET', '/v1/instances/watched/wait?timeoutMs=60000', { key: tenant.key })).json;
  assert.equal(active.status, 'ACTIVE', active.error);
  instance = { id: active.id, port: active.port };
});
after(() => node?.close());


async function samples(query = ''): Promise<any[]> {
  const reply = await call(cp.url, 'GET', `/v1/instances/watched/metrics${query}`, { key: tenant.key });
  assert.equal(reply.status, 200, reply.text);
  return reply.json.samples;
}

function client(): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: instance.port, user: 'app', password: PASSWORD, database: 'app' });
}

test('connections, a long transaction and a load show in the samples', async () => {
  const clients = [client(), client(), client()];
  await Promise.all(clients.map((c) => c.connect()));
  try {
    const [first, second] = clients as [pg.Client, pg.Client, pg.Client];
    await first.query('begin');
    await first.query('select txid_current()');
    await second.query('create table if not exists load (id serial primary key)');
    const seen = await eventually('a sample with the three connections, the open transaction and the load', async () => {
      for (let i = 0; i < 20; i++) await second.query('insert into load default values');
      return (await samples()).find((s) => s.connections >= 3 && s.longestTransactionSeconds >= 1 && s.transactionsPerSecond > 0);
    });
    assert.ok(seen.databaseBytes > 1_000_000, 'the size of its databases');
    assert.ok(seen.cacheHitRatio > 0 && seen.cacheHitRatio <= 1);
    assert.equal(seen.replicationLagSeconds, null, 'no replicas');
    await first.query('commit');
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const later = await eventually('the connections gone', async () => (await samples()).at(-1)?.connections === 0 ? true : undefined);
  assert.ok(later);
});

test('a failing archive_command shows as archive failing, and a completed backup as its last backup', async () => {
  const backup = await eventually('the first backup', async () => {
    const list = (await call(cp.url, 'GET', '/v1/instances/watched/backups', { key: tenant.key })).json.backups;
    return list.find((b: { status: string }) => b.status === 'COMPLETED');
  });
  const files = new NodeFiles(rootDir);
  const row = await ManagedCluster.open(files.spec(instance.id, instance.port, {}));
  const [setting] = await row.query<{ command: string }>("select current_setting('archive_command') as command");
  await row.query("alter system set archive_command = '/bin/false'");
  await row.query('select pg_reload_conf()');
  try {
    const c = client();
    await c.connect();
    await c.query('create table if not exists filler (id integer)');
    await c.query('insert into filler values (1)');
    await c.end();
    await row.query('select pg_switch_wal()');
    await eventually('archiving failing', async () => ((await samples()).at(-1)?.archiveFailing === true ? true : undefined));
  } finally {
    await row.query(`alter system set archive_command = '${setting!.command.replaceAll("'", "''")}'`);
    await row.query('select pg_reload_conf()');
  }
  await eventually('archiving back', async () => ((await samples()).at(-1)?.archiveFailing === false ? true : undefined));
  const metrics = (await call(cp.url, 'GET', '/v1/instances/watched/metrics', { key: tenant.key })).json;
  assert.equal(metrics.lastBackupAt, backup.stoppedAt);
  assert.equal(metrics.storageBytes, findFlavor('tiny')!.storageMb * 1024 * 1024, 'what the flavor allows');
});

test('the Prometheus exposition has each gauge of the tenant\'s instances, and nothing of another tenant', async () => {
  const reply = await fetch(`${cp.url}/v1/metrics`, { headers: { Authorization: `Bearer ${tenant.key}` } });
  assert.equal(reply.status, 200);
  assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await reply.text();
  const labels = `instance_id="${instance.id}",name="watched",tenant_id="${tenant.tenantId}"`;
  for (const gauge of ['connections', 'transactions_per_second', 'cache_hit_ratio', 'database_bytes', 'storage_bytes', 'longest_transaction_seconds', 'archive_failing', 'last_backup_age_seconds', 'sample_age_seconds']) {
    assert.match(text, new RegExp(`^strata_instance_${gauge}\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} [0-9.e+-]+$`, 'm'), `strata_instance_${gauge}`);
  }
  assert.ok(!/strata_instance_replication_lag_seconds\{/.test(text), 'no series without replicas');
  const escaped = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(text, new RegExp(`^strata_instance_suspended\\{${escaped}\\} 0$`, 'm'), 'running: 0');
  // Frozen by its agent (as the proxy does when it is idle), then woken: the gauges follow (the
  // agent writes power records in batches, and its sampler's short holds may refuse a suspend).
  const target = { instanceId: instance.id, nodeId: node!.agent.nodeId };
  const exposition = async () => (await fetch(`${cp.url}/v1/metrics`, { headers: { Authorization: `Bearer ${tenant.key}` } })).text();
  await eventually('the instance frozen', async () => ((await node!.agent.power.suspend(target, 'frozen')) ? true : undefined));
  await eventually('the frozen gauge', async () => (new RegExp(`^strata_instance_suspended\\{${escaped}\\} 1$`, 'm').test(await exposition()) ? true : undefined));
  await node!.agent.power.wake(target);
  const woken = await eventually('the woken gauges', async () => {
    const text = await exposition();
    return new RegExp(`^strata_instance_suspended\\{${escaped}\\} 0$`, 'm').test(text) && new RegExp(`^strata_instance_wakes\\{${escaped}\\} 1$`, 'm').test(text) ? text : undefined;
  });
  assert.match(woken, new RegExp(`^strata_instance_last_wake_milliseconds\\{${escaped}\\} [0-9.e+-]+$`, 'm'));

  const other = await newTenant(cp, cp.bootstrapKey!, 'strangers');
  const theirs = await (await fetch(`${cp.url}/v1/metrics`, { headers: { Authorization: `Bearer ${other.key}` } })).text();
  assert.ok(!theirs.includes(instance.id), 'another tenant sees no series of it');
  assert.equal((await call(cp.url, 'GET', `/v1/instances/${instance.id}/metrics`, { key: other.key })).status, 404);
  assert.equal((await fetch(`${cp.url}/v1/metrics`)).status, 401, 'a scrape needs a key');
  const admin = await (await fetch(`${cp.url}/v1/metrics`, { headers: { Authorization: `Bearer ${cp.bootstrapKey}` } })).text();
  assert.ok(admin.includes(instance.id), 'the platform admin sees every tenant\'s');
});

test('a time range, its bounds and bad ranges; samples past the retention are deleted', async () => {
  const now = Date.now();
  const recent = await samples(`?from=${new Date(now - 2_000).toISOString()}&to=${new Date(now).toISOString()}`);
  assert.ok(recent.length > 0 && recent.every((s) => Date.parse(s.at) >= now - 2_000 && Date.parse(s.at) <= now));
  assert.ok(recent.every((s, i) => i === 0 || Date.parse(s.at) >= Date.parse(recent[i - 1].at)), 'oldest first');
  assert.equal((await samples('?limit=2')).length, 2);
  for (const query of ['?from=yesterday', '?limit=0', `?from=${new Date(now).toISOString()}&to=${new Date(now - 1_000).toISOString()}`]) {
    const reply = await call(cp.url, 'GET', `/v1/instances/watched/metrics${query}`, { key: tenant.key });
    assert.equal(reply.status, 400, query);
    assert.equal(reply.json.error.code, 'invalid_request', query);
  }
  const all = await samples('?from=2000-01-01T00:00:00Z&limit=2000');
  assert.ok(Date.now() - Date.parse(all[0].at) < RETENTION_MS + 3_000, `the oldest sample (${all[0].at}) is within the retention`);
});
