// Alerts over real HTTP: the agent samples every 300 ms, the control plane evaluates every second
// (built-in rules shortened to hold 1 s), and events go to a webhook receiver on this machine (a
// stand-in for the tenant's, which is outside it). A tenant's rule fires and resolves; a built-in
// rule catches a broken archive_command; a tenant tunes a built-in rule and turns it off (for its
// own instances only); instance_down catches a server killed under an ACTIVE row and resolves when
// it runs again; a receiver that fails is retried with backoff and each attempt is recorded;
// signatures verify; webhooks into the platform's own network are refused unless allowed; other
// tenants and weaker keys are refused.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { NodeFiles, reconcile } from '@strata/agent';
import { ManagedCluster } from '@strata/postgres';
import type { Queryable } from '@strata/store';
import { instancesModule, monitoringModule, type ControlPlane } from '../src/index.js';
import { ALERT_WORKFLOWS, ALERTS_QUEUE, alertsModuleWith, evaluateAlerts, isPrivateAddress, signature, webhookUrlProblem } from '../src/alerts/index.js';
import { call, eventually, newKey, newTenant } from './harness.js';
import { startHttpNode, type HttpNode } from './instances/platform.js';

const PASSWORD = 'alerted-password-1';
const NODE_ID = 'node-alerts';
let cp: ControlPlane;
let node: HttpNode | undefined;
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
  node = await startHttpNode({
    rootName: 'alerts-node',
    nodeId: NODE_ID,
    modules: [instancesModule, monitoringModule, alertsModuleWith({ evaluateCron: '* * * * * *', allowPrivateWebhooks: true, builtinDurationSeconds: 1, deliveryRetry: { maxAttempts: 5, intervalMs: 200, backoffFactor: 2 } })],
    agent: { metricsIntervalMs: 300 },
  });
  cp = node.cp;
  rootDir = node.rootDir;
  tenant = await newTenant(cp, cp.bootstrapKey!, 'alerted');
  await call(cp.url, 'POST', '/v1/instances', { key: tenant.key, body: { name: 'alerted', flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password: PASSWORD }] } });
  const active = (await call(cp.url, 'GET', '/v1/instances/alerted/wait?timeoutMs=60000', { key: tenant.key })).json;
  assert.equal(active.status, 'ACTIVE', active.error);
  instance = { id: active.id, port: active.port };
});
after(async () => {
  receiver?.close();
  await node?.close();
});


const deliveredOf = (kind: string, rule: string, from = 0) => received.slice(from).map((r) => ({ ...r, json: JSON.parse(r.body) })).find((r) => r.json.event.kind === kind && r.json.rule.name === rule);

interface RuleJson { id: string; name: string; builtin: boolean; threshold: number; durationSeconds: number; enabled: boolean; defaults: { threshold: number; durationSeconds: number } | null; isDefault: boolean | null }
const rulesOf = async (key: string): Promise<RuleJson[]> => (await call(cp.url, 'GET', '/v1/alerts/rules', { key })).json.rules;
const eventsOf = async (rule: string): Promise<Array<{ kind: string; instanceId: string; threshold: number }>> =>
  (await call(cp.url, 'GET', '/v1/alerts?limit=500', { key: tenant.key })).json.events.filter((e: { ruleName: string }) => e.ruleName === rule);

let probes = 0;
/** Returns once an evaluation has run after the call: a rule of ours that holds at once has fired (then it is deleted). */
async function anEvaluationRan(): Promise<void> {
  const name = `probe-${++probes}`;
  const created = await call(cp.url, 'POST', '/v1/alerts/rules', { key: tenant.key, body: { name, instance: instance.id, metric: 'connections', comparison: '>', threshold: -1, durationSeconds: 0 } });
  assert.equal(created.status, 201, created.text);
  await eventually(`${name} firing`, async () => ((await eventsOf(name)).some((e) => e.kind === 'firing') ? true : undefined));
  assert.equal((await call(cp.url, 'DELETE', `/v1/alerts/rules/${name}`, { key: tenant.key })).status, 204);
}

let secret: string;

test('the built-in rules are listed; a tenant rule fires once its condition held, is delivered signed after the receiver failed twice, and resolves', async () => {
  const builtins = (await rulesOf(tenant.key)).filter((r) => r.builtin);
  assert.deepEqual(builtins.map((r) => r.name), ['archiving_failing', 'backup_too_old', 'disk_nearly_full', 'replica_lagging', 'instance_down']);
  assert.ok(builtins.every((r) => r.enabled && r.isDefault === true && r.threshold === r.defaults?.threshold), 'on, with their defaults');
  assert.deepEqual(builtins.find((r) => r.name === 'instance_down')?.defaults, { threshold: 60, durationSeconds: 1 }, '60 s without a sample; the test platform shortens durations to 1 s');
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

test('a tenant tunes a built-in rule and turns it off for its own instances only: a lowered threshold fires, turning it off resolves (delivered), bad settings are refused', async () => {
  // Another tenant's settings, which no instance of ours may see: a disk threshold any instance breaks, and instance_down off.
  const strangers = await newTenant(cp, cp.bootstrapKey!, 'strangers');
  const theirs = await call(cp.url, 'PUT', '/v1/alerts/rules/disk_nearly_full', { key: strangers.key, body: { threshold: 1e-9 } });
  assert.equal(theirs.status, 200, theirs.text);
  assert.deepEqual([theirs.json.id, theirs.json.threshold, theirs.json.enabled, theirs.json.isDefault], ['builtin:disk_nearly_full', 1e-9, true, false]);
  assert.equal((await call(cp.url, 'PUT', '/v1/alerts/rules/builtin:instance_down', { key: strangers.key, body: { enabled: false } })).json.enabled, false);
  const ours = (await rulesOf(tenant.key)).find((r) => r.name === 'disk_nearly_full');
  assert.deepEqual([ours?.threshold, ours?.isDefault], [0.9, true], 'our rules keep their defaults');
  await anEvaluationRan();
  assert.deepEqual(await eventsOf('disk_nearly_full'), [], "the other tenant's threshold does not apply to our instance");

  const tuned = await call(cp.url, 'PUT', '/v1/alerts/rules/disk_nearly_full', { key: tenant.key, body: { threshold: 1e-9 } });
  assert.equal(tuned.status, 200, tuned.text);
  assert.deepEqual([tuned.json.threshold, tuned.json.durationSeconds, tuned.json.enabled, tuned.json.isDefault, tuned.json.defaults], [1e-9, 1, true, false, { threshold: 0.9, durationSeconds: 1 }]);
  const firing = await eventually('disk_nearly_full firing at the receiver', () => deliveredOf('firing', 'disk_nearly_full'));
  assert.deepEqual([firing.json.instance.id, firing.json.rule.key, firing.json.rule.threshold], [instance.id, 'builtin:disk_nearly_full', 1e-9]);

  const off = await call(cp.url, 'PUT', '/v1/alerts/rules/builtin:disk_nearly_full', { key: tenant.key, body: { enabled: false } });
  assert.deepEqual([off.status, off.json.enabled, off.json.threshold], [200, false, 1e-9], 'turned off; the threshold is kept');
  const resolved = await eventually('disk_nearly_full resolved at the receiver', () => deliveredOf('resolved', 'disk_nearly_full'));
  assert.equal(resolved.signature, signature(secret, resolved.body));
  await anEvaluationRan();
  assert.deepEqual((await eventsOf('disk_nearly_full')).map((e) => e.kind), ['resolved', 'firing'], 'off: it does not fire again although its condition holds');
  assert.ok(!(await call(cp.url, 'GET', '/v1/alerts', { key: tenant.key })).json.firing.some((f: { rule: string }) => f.rule === 'builtin:disk_nearly_full'));
  const back = await call(cp.url, 'PUT', '/v1/alerts/rules/disk_nearly_full', { key: tenant.key, body: { enabled: true, threshold: null, durationSeconds: null } });
  assert.deepEqual([back.status, back.json.enabled, back.json.threshold, back.json.isDefault], [200, true, 0.9, true], 'null returns a setting to its default');

  const bad = async (ref: string, body: unknown, status: number, code: string, key = tenant.key) => {
    const reply = await call(cp.url, 'PUT', `/v1/alerts/rules/${ref}`, { key, body });
    assert.equal(reply.status, status, `${ref} ${JSON.stringify(body)}: ${reply.text}`);
    assert.equal(reply.json.error.code, code, `${ref} ${JSON.stringify(body)}`);
  };
  await bad('cpu_too_hot', { enabled: false }, 404, 'rule_not_found');
  await bad('builtin:cpu_too_hot', { enabled: false }, 404, 'rule_not_found');
  await bad('disk_nearly_full', { threshold: 5 }, 400, 'invalid_setting');
  await bad('disk_nearly_full', { threshold: 0 }, 400, 'invalid_setting');
  await bad('disk_nearly_full', { threshold: 'high' }, 400, 'invalid_request');
  await bad('archiving_failing', { threshold: 1 }, 400, 'invalid_setting');
  await bad('instance_down', { threshold: -5 }, 400, 'invalid_setting');
  await bad('instance_down', { durationSeconds: -1 }, 400, 'invalid_request');
  await bad('instance_down', { durationSeconds: 1.5 }, 400, 'invalid_request');
  await bad('instance_down', { enabled: 'no' }, 400, 'invalid_request');
  await bad('instance_down', { forever: true }, 400, 'invalid_request');
  await bad('instance_down', {}, 400, 'invalid_setting');
  const mine = await call(cp.url, 'POST', '/v1/alerts/rules', { key: tenant.key, body: { name: 'mine', metric: 'connections', threshold: 1000 } });
  assert.equal(mine.status, 201, mine.text);
  await bad('mine', { enabled: false }, 400, 'not_builtin');
  await bad(mine.json.id, { threshold: 1 }, 400, 'not_builtin');
  const taken = await call(cp.url, 'POST', '/v1/alerts/rules', { key: tenant.key, body: { name: 'instance_down', metric: 'connections', threshold: 1 } });
  assert.deepEqual([taken.status, taken.json.error.code], [400, 'invalid_rule'], "a rule of one's own may not take a built-in name");
  await bad('backup_too_old', { enabled: false }, 403, 'forbidden', (await newKey(cp, tenant.key, 'member', 'builtin-member')).key);
  await bad('backup_too_old', { enabled: false }, 403, 'forbidden', (await newKey(cp, tenant.key, 'read-only', 'builtin-reader')).key);
  assert.ok((await rulesOf(tenant.key)).filter((r) => r.builtin).every((r) => r.enabled && r.isDefault === true), 'refused settings changed nothing');
  assert.equal((await call(cp.url, 'DELETE', '/v1/alerts/rules/mine', { key: tenant.key })).status, 204);
});

test("instance_down fires when an ACTIVE instance's server is killed, is delivered, and resolves when the agent's reconcile starts it again", async () => {
  const tuned = await call(cp.url, 'PUT', '/v1/alerts/rules/instance_down', { key: tenant.key, body: { threshold: 3 } });
  assert.deepEqual([tuned.status, tuned.json.threshold], [200, 3], tuned.text);
  const from = received.length;
  const cluster = await ManagedCluster.open(new NodeFiles(rootDir).spec(instance.id, instance.port, {}));
  await cluster.stop('immediate');
  const firing = await eventually('instance_down firing at the receiver', () => deliveredOf('firing', 'instance_down', from));
  assert.deepEqual([firing.json.instance.id, firing.json.rule.key, firing.json.rule.metric, firing.json.rule.threshold], [instance.id, 'builtin:instance_down', 'sample_age_seconds', 3]);
  assert.ok(firing.json.value > 3, `silent for ${firing.json.value} s`);
  assert.equal(firing.signature, signature(secret, firing.body));
  assert.equal((await call(cp.url, 'GET', `/v1/instances/${instance.id}`, { key: tenant.key })).json.status, 'ACTIVE', 'the platform still believes it runs');
  assert.ok((await call(cp.url, 'GET', '/v1/alerts', { key: tenant.key })).json.firing.some((f: { rule: string; instanceId: string }) => f.rule === 'builtin:instance_down' && f.instanceId === instance.id));

  const report = await reconcile({ db: cp.db, nodeId: NODE_ID, files: new NodeFiles(rootDir) });
  assert.deepEqual(report.started, [instance.id], "the agent's reconcile starts it again");
  const resolved = await eventually('instance_down resolved at the receiver', () => deliveredOf('resolved', 'instance_down', from));
  assert.equal(resolved.json.instance.id, instance.id);
  const samples = (await call(cp.url, 'GET', `/v1/instances/${instance.id}/metrics?from=${encodeURIComponent(firing.json.event.at)}`, { key: tenant.key })).json.samples;
  assert.ok(samples.length > 0, 'sampled again since it fired');
  assert.equal(received.slice(from).filter((r) => JSON.parse(r.body).rule.name === 'instance_down').length, 2, 'fired once, resolved once');
  const reset = await call(cp.url, 'PUT', '/v1/alerts/rules/instance_down', { key: tenant.key, body: { threshold: null } });
  assert.deepEqual([reset.json.threshold, reset.json.isDefault], [60, true]);
});

test('instance_down watches only instances meant to run (ACTIVE, RESTART_REQUIRED) on nodes that sample, counting from their last change when they have no sample', async () => {
  // Evaluations at chosen times, each in a transaction rolled back: the platform's state is not touched.
  class RolledBack extends Error {}
  const instanceDown = (tx: Queryable, now: Date) =>
    evaluateAlerts(tx, now, { client: cp.client, deliver: { workflow: ALERT_WORKFLOWS.deliver, queue: ALERTS_QUEUE } }).then((events) =>
      events.filter((e) => e.ruleName === 'instance_down' && e.instanceId === instance.id).map((e) => e.kind),
    );
  const rolledBack = async <T>(run: (tx: Queryable) => Promise<T>): Promise<T> => {
    let result: T | undefined;
    await cp.db
      .transaction(async (tx) => {
        result = await run(tx);
        throw new RolledBack();
      })
      .catch((error: unknown) => {
        if (!(error instanceof RolledBack)) throw error;
      });
    return result as T;
  };
  const setStatus = (tx: Queryable, status: string) => tx.query(`update strata_cloud.instances set status = $2 where instance_id = $1`, [instance.id, status]);
  const inAnHour = new Date(Date.now() + 3_600_000);

  for (const status of ['ACTIVE', 'RESTART_REQUIRED']) {
    assert.deepEqual(await rolledBack(async (tx) => (await setStatus(tx, status), instanceDown(tx, inAnHour))), ['firing'], `${status}: an hour without a sample`);
  }
  for (const status of ['STOPPED', 'FENCED', 'BUILD', 'RESTORING', 'RESIZE', 'ERROR', 'UNKNOWN', 'DELETED']) {
    assert.deepEqual(await rolledBack(async (tx) => (await setStatus(tx, status), instanceDown(tx, inAnHour))), [], `${status}: not meant to run`);
  }
  assert.deepEqual(
    await rolledBack(async (tx) => {
      await tx.query(`update strata_cloud.instances set operation_id = 'op_probe', operation_kind = 'restart' where instance_id = $1`, [instance.id]);
      return instanceDown(tx, inAnHour);
    }),
    [],
    'an operation runs on it: the platform is changing it',
  );
  assert.deepEqual(
    await rolledBack(async (tx) => {
      const fired = await instanceDown(tx, inAnHour);
      await setStatus(tx, 'STOPPED');
      return [...fired, ...(await instanceDown(tx, new Date(inAnHour.getTime() + 10_000)))];
    }),
    ['firing', 'resolved'],
    'stopped while it fires: it resolves',
  );
  assert.deepEqual(
    await rolledBack(async (tx) => {
      await tx.query(`delete from strata_cloud.instance_metrics where node_id = $1`, [NODE_ID]);
      return instanceDown(tx, inAnHour);
    }),
    [],
    'a node that never sampled says nothing about silence',
  );
  assert.deepEqual(
    await rolledBack(async (tx) => {
      // No sample of this instance, while its node samples others.
      await tx.query(`update strata_cloud.instance_metrics set instance_id = 'ins_elsewhere' where instance_id = $1`, [instance.id]);
      const { rows } = await tx.query<{ updated_at: Date | string }>(`select updated_at from strata_cloud.instances where instance_id = $1`, [instance.id]);
      const changedAtMs = new Date(rows[0]!.updated_at).getTime();
      return [...(await instanceDown(tx, new Date(changedAtMs + 30_000))), '|', ...(await instanceDown(tx, new Date(changedAtMs + 61_000)))];
    }),
    ['|', 'firing'],
    'no sample at all: quiet for the threshold (60 s) after it last changed, then it fires',
  );
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
