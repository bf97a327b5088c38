// Alerts over real HTTP: the agent samples every 300 ms, the control plane evaluates every second
// (built-in rules shortened to hold 1 s), and events go to a webhook receiver on this machine (a
// stand-in for the tenant's, which is outside it). A tenant's rule fires and resolves; a built-in
// rule catches a broken archive_command; a receiver that fails is retried with backoff and each
// attempt is recorded; signatures verify; webhooks into the platform's own network are refused
// unless allowed; other tenants and weaker keys are refused.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { NodeFiles, startAgent, type RunningAgent } from '@strata/agent';
import { ManagedCluster } from '@strata/postgres';
import { freshDatabaseUrl } from '@strata/testing';
import { createControlPlane, instancesModule, monitoringModule, type ControlPlane } from '../src/index.js';
import { alertsModuleWith, isPrivateAddress, signature, webhookUrlProblem } from '../src/alerts/index.js';
import { call, eventually, newKey, newTenant, quietLogger } from './harness.js';
import { destroyAll, nodeRoot, QUIET, sharedTemplate } from './instances/platform.js';

const PASSWORD = 'alerted-password-1';
let cp: ControlPlane;
let agent: RunningAgent;
let rootDir: string;
let tenant: { tenantId: string; key: string };
let instance: { id: string; port: number };
let receiver: Server;
let receiverUrl: string;
/** What the receiver got: each request's body, event header and signature. */
const received: Array<{ body: string; event: string; signature: string }> = [];
/** The receiver answers 500 to this many requests first. */
let failNext = 0;

before(async () => {
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk));
    request.on('end', () => {
      if (failNext > 0) {
        failNext -= 1;
        response.writeHead(500).end();
        return;
      }
      received.push({ body, event: String(request.headers['x-strata-event']), signature: String(request.headers['x-strata-signature']) });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/strata`;
  cp = await createControlPlane({
    database: await freshDatabaseUrl('pglite'),
    modules: [instancesModule, monitoringModule, alertsModuleWith({ evaluateCron: '* * * * * *', allowPrivateWebhooks: true, builtinDurationSeconds: 1, deliveryRetry: { maxAttempts: 5, intervalMs: 200, backoffFactor: 2 } })],
    logger: quietLogger(),
  });
  rootDir = await nodeRoot('alerts-node');
  agent = await startAgent({ database: cp.db, nodeId: 'node-alerts', rootDir, templateDir: await sharedTemplate(), capacity: { memoryMb: 4096, instances: 10 }, heartbeatIntervalMs: 200, metricsIntervalMs: 300, logger: QUIET });
  tenant = await newTenant(cp, cp.bootstrapKey!, 'alerted');
  await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body: { name: 'alerted', flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] } });
  const active = (await call(cp.url, 'GET', '/v1/instances/alerted/wait?timeoutMs=60000', { key: tenant.key })).json;
  assert.equal(active.status, 'ACTIVE', active.error);
  instance = { id: active.id, port: active.port };
});
after(async () => {
  await agent?.close();
  await cp?.close();
  receiver?.close();
  if (rootDir) {
    await destroyAll(new NodeFiles(rootDir));
    await rm(rootDir, { recursive: true, force: true });
  }
});


const deliveredOf = (kind: string, rule: string) => received.map((r) => ({ ...r, json: JSON.parse(r.body) })).find((r) => r.json.event.kind === kind && r.json.rule.name === rule);

let secret: string;

test('the built-in rules are listed; a tenant rule fires once its condition held, is delivered signed after the receiver failed twice, and resolves', async () => {
  const rules = (await call(cp.url, 'GET', '/v1/alerts/rules', { key: tenant.key })).json.rules;
  assert.deepEqual(rules.filter((r: { builtin: boolean }) => r.builtin).map((r: { name: string }) => r.name), ['archiving_failing', 'backup_too_old', 'disk_nearly_full', 'replica_lagging']);
  const hook = await call(cp.url, 'PUT', '/v1/alerts/webhook', { key: tenant.key, body: { url: receiverUrl } });
  assert.equal(hook.status, 200, hook.text);
  secret = hook.json.secret;
  assert.match(secret, /^whsec_/);
  assert.deepEqual((await call(cp.url, 'GET', '/v1/alerts/webhook', { key: tenant.key })).json, { url: receiverUrl }, 'the secret is shown once');
  const rule = await call(cp.url, 'POST', '/v1/alerts/rules', { key: tenant.key, body: { name: 'crowded', instance: 'alerted', metric: 'connections', comparison: '>', threshold: 2, durationSeconds: 1 } });
  assert.equal(rule.status, 201, rule.text);

  failNext = 2;
  const clients = Array.from({ length: 3 }, () => new pg.Client({ host: '127.0.0.1', port: instance.port, user: 'app', password: PASSWORD, database: 'app' }));
  await Promise.all(clients.map((c) => c.connect()));
  let firing: ReturnType<typeof deliveredOf>;
  try {
    firing = await eventually('the firing event at the receiver', () => deliveredOf('firing', 'crowded'));
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  assert.equal(firing!.signature, signature(secret, firing!.body), 'signed with the tenant\'s secret');
  assert.deepEqual([firing!.json.instance.id, firing!.json.rule.metric, firing!.json.rule.threshold], [instance.id, 'connections', 2]);
  assert.ok(firing!.json.value >= 3);
  const alerts = (await call(cp.url, 'GET', '/v1/alerts', { key: tenant.key })).json;
  const event = alerts.events.find((e: { id: string }) => e.id === firing!.event);
  assert.deepEqual(event.deliveries.map((d: { ok: boolean; httpStatus: number }) => [d.ok, d.httpStatus]), [[false, 500], [false, 500], [true, 204]], 'each attempt recorded');
  const resolved = await eventually('the resolved event', () => deliveredOf('resolved', 'crowded'));
  assert.equal(resolved.signature, signature(secret, resolved.body));
  assert.ok(!(await call(cp.url, 'GET', '/v1/alerts', { key: tenant.key })).json.firing.some((f: { instanceId: string; rule: string }) => f.rule === rule.json.id), 'no longer firing');
  assert.equal(received.filter((r) => JSON.parse(r.body).rule.name === 'crowded' && JSON.parse(r.body).event.kind === 'firing').length, 1, 'fired once while it held');
});

test('the built-in archiving rule fires when archive_command fails and resolves when it works again', async () => {
  const cluster = await ManagedCluster.open(new NodeFiles(rootDir).spec(instance.id, instance.port, {}));
  const [setting] = await cluster.query<{ command: string }>("select current_setting('archive_command') as command");
  await cluster.query("alter system set archive_command = '/bin/false'");
  await cluster.query('select pg_reload_conf()');
  try {
    await cluster.query('create table if not exists filler (id integer)');
    await cluster.query('insert into filler values (1)');
    await cluster.query('select pg_switch_wal()');
    const firing = await eventually('archiving_failing firing', () => deliveredOf('firing', 'archiving_failing'));
    assert.equal(firing.json.rule.key, 'builtin:archiving_failing');
  } finally {
    await cluster.query(`alter system set archive_command = '${setting!.command.replaceAll("'", "''")}'`);
    await cluster.query('select pg_reload_conf()');
  }
  await eventually('archiving_failing resolved', () => deliveredOf('resolved', 'archiving_failing'));
});

test('webhooks into the platform\'s own network are refused unless allowed; bad rules, other tenants and weaker keys are refused', async () => {
  for (const url of ['http://127.0.0.1:7070/v1/keys', 'http://[::1]/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]/x', 'http://localhost/x']) {
    assert.match((await webhookUrlProblem(url, false)) ?? 'allowed', /platform's own network/, url);
  }
  assert.equal(await webhookUrlProblem('http://93.184.216.34/hook', false), undefined, 'a public address is allowed');
  assert.match((await webhookUrlProblem('ftp://example.com/x', false)) ?? '', /scheme/);
  assert.match((await webhookUrlProblem('http://user:pw@93.184.216.34/x', false)) ?? '', /credentials/);
  assert.ok(isPrivateAddress('192.168.1.1') && !isPrivateAddress('8.8.8.8'));

  const bad = async (body: object, status: number, code: string) => {
    const reply = await call(cp.url, 'POST', '/v1/alerts/rules', { key: tenant.key, body });
    assert.equal(reply.status, status, `${JSON.stringify(body)}: ${reply.text}`);
    assert.equal(reply.json.error.code, code, JSON.stringify(body));
  };
  await bad({ name: 'x', metric: 'cpu_temperature', threshold: 1 }, 400, 'invalid_rule');
  await bad({ name: 'Bad Name', metric: 'connections', threshold: 1 }, 400, 'invalid_rule');
  await bad({ name: 'x', metric: 'connections', threshold: 1, durationSeconds: -1 }, 400, 'invalid_request');
  await bad({ name: 'x', metric: 'connections', threshold: 'many' }, 400, 'invalid_request');
  await bad({ name: 'crowded', metric: 'connections', threshold: 1 }, 409, 'rule_taken');
  await bad({ name: 'x', instance: 'nope', metric: 'connections', threshold: 1 }, 404, 'not_found');
  const webhook = await call(cp.url, 'PUT', '/v1/alerts/webhook', { key: tenant.key, body: { url: 'gopher://x' } });
  assert.deepEqual([webhook.status, webhook.json.error.code], [400, 'webhook_not_allowed']);
  assert.deepEqual((await call(cp.url, 'GET', '/v1/alerts/webhook', { key: tenant.key })).json, { url: receiverUrl }, 'the webhook did not change');
  assert.equal((await call(cp.url, 'DELETE', '/v1/alerts/rules/builtin:archiving_failing', { key: tenant.key })).status, 404, 'built-in rules stay');

  const other = await newTenant(cp, cp.bootstrapKey!, 'neighbours');
  assert.equal((await call(cp.url, 'DELETE', '/v1/alerts/rules/crowded', { key: other.key })).status, 404);
  assert.ok(!(await call(cp.url, 'GET', '/v1/alerts/rules', { key: other.key })).json.rules.some((r: { name: string }) => r.name === 'crowded'));
  assert.deepEqual((await call(cp.url, 'GET', '/v1/alerts', { key: other.key })).json.events, []);
  assert.equal((await call(cp.url, 'POST', '/v1/alerts/rules', { key: other.key, body: { name: 'spy', instance: instance.id, metric: 'connections', threshold: 0 } })).status, 404, 'not on another tenant\'s instance');
  const member = await newKey(cp, tenant.key, 'member');
  const reader = await newKey(cp, tenant.key, 'read-only');
  assert.equal((await call(cp.url, 'POST', '/v1/alerts/rules', { key: reader.key, body: { name: 'y', metric: 'connections', threshold: 1 } })).status, 403);
  assert.equal((await call(cp.url, 'PUT', '/v1/alerts/webhook', { key: member.key, body: { url: receiverUrl } })).status, 403, 'only an admin moves the webhook');
  assert.equal((await call(cp.url, 'DELETE', '/v1/alerts/rules/crowded', { key: tenant.key })).status, 204);
  assert.ok(!(await call(cp.url, 'GET', '/v1/alerts/rules', { key: tenant.key })).json.rules.some((r: { name: string }) => r.name === 'crowded'));
});
