// The database service's commands (`strata instances|databases|users|audit|keys`), run as the real
// binary against a real control plane and node agent started in this process: real HTTP over a
// socket, real PostgreSQL instances, real connections with the users' passwords.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { engines, freshPostgresUrl } from '@strata/testing';
import { main } from '../src/main.js';
import { startPlatform, type TestPlatform } from './fixtures/cloud-platform.js';

const BIN = fileURLToPath(new URL('../bin/strata.js', import.meta.url));

/** One CLI run takes about a second (tsx start); a `--wait` create a few more on a loaded machine. */
const CLI_TIMEOUT_MS = 120_000;

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `strata <args>` as a child process, with `input` on its stdin. */
function cli(args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.STRATA_DEBUG;
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, ...args], { env: childEnv, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`strata ${args.join(' ')} did not exit normally (${error.message}); stderr:\n${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

/**
 * Runs the CLI's main() in this process (same code path as the binary, without a process start),
 * with the API given by flags; for the calls that need neither stdin nor the environment.
 */
async function inProcess(args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, {});
  return { code, stdout, stderr };
}

function assertExit(run: Run, code: number, what: string): void {
  assert.equal(run.code, code, `${what}: exit ${run.code}, expected ${code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

function parsed<T>(run: Run, what: string): T {
  assertExit(run, 0, what);
  return JSON.parse(run.stdout) as T;
}

/** Asserts a refused run: its exit code, nothing on stdout, one `strata: …` line naming every part. */
function assertRefused(run: Run, code: number, what: string, ...parts: string[]): void {
  assertExit(run, code, what);
  assert.equal(run.stdout, '', `${what}: nothing on stdout`);
  assert.match(run.stderr, /^strata: [^\n]+\n$/, `${what}: one line on stderr, got ${JSON.stringify(run.stderr)}`);
  for (const part of parts) assert.ok(run.stderr.includes(part), `${what}: stderr ${JSON.stringify(run.stderr)} should mention ${JSON.stringify(part)}`);
}

interface InstanceJson {
  id: string;
  name: string;
  status: string;
  flavor: string;
  host: string;
  port: number;
  connectionString: string;
  databases: string[];
  currentOperation: { workflowId: string; kind: string } | null;
}

/** Runs `SELECT current_user` on the instance as `user` with `password`. */
async function connectAs(instance: InstanceJson, user: string, password: string, database: string): Promise<string> {
  const client = new pg.Client({ host: instance.host, port: instance.port, user, password, database, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ who: string }>('select current_user as who');
    return rows[0]?.who ?? '';
  } finally {
    await client.end();
  }
}

/** Waits until the instance's newest backup has ended; returns it (COMPLETED, or the test fails). */
async function waitForCompleted(run: (args: readonly string[]) => Promise<Run>, instance: string): Promise<{ id: string; status: string; trigger: string; error: string | null }> {
  const deadline = Date.now() + CLI_TIMEOUT_MS;
  for (;;) {
    const listed = parsed<{ backups: { id: string; status: string; trigger: string; error: string | null }[] }>(await run(['backups', 'list', instance, '--json']), 'backups list');
    const newest = listed.backups[0];
    if (newest !== undefined && newest.status !== 'RUNNING') {
      assert.equal(newest.status, 'COMPLETED', newest.error ?? '');
      return newest;
    }
    assert.ok(Date.now() < deadline, `no completed backup of ${instance}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('strata instances, databases, users, audit against a real control plane', { skip, concurrency: 1 }, () => {
  let platform: TestPlatform;
  let rootDir: string;
  let env: NodeJS.ProcessEnv;
  /** The binary, with the API and key in the environment as a deployment sets them. */
  const strata = (args: readonly string[], input?: string) => cli(args, env, input);
  /** The same command in this process, the API and key given as flags. */
  const quick = (args: readonly string[]) => inProcess([...args, '--api-url', platform.apiUrl, '--api-key', platform.adminKey]);

  before(async () => {
    rootDir = mkdtempSync(join(tmpdir(), 'strata-cli-cloud-'));
    platform = await startPlatform({ database: await freshPostgresUrl(), rootDir, backups: true });
    env = { STRATA_API_URL: platform.apiUrl, STRATA_API_KEY: platform.adminKey };
  });

  after(async () => {
    await platform?.close();
    if (rootDir) rmSync(rootDir, { recursive: true, force: true });
  });

  test('create --wait → list shows ACTIVE → show has the connection string → the user connects with its password → delete --wait', async () => {
    const password = 'correct horse battery staple';
    const create = await strata(['instances', 'create', 'orders-db', '--flavor', 'tiny', '--db', 'app', '--user', 'alice', '--password-stdin', '--wait', '--json'], `${password}\n`);
    const created = parsed<InstanceJson>(create, 'instances create --wait');
    assert.equal(created.status, 'ACTIVE');
    assert.equal(created.name, 'orders-db');
    // Progress went to stderr, in order: the status it was built in, then ACTIVE.
    const build = create.stderr.indexOf('BUILD');
    const active = create.stderr.indexOf('ACTIVE');
    assert.ok(build >= 0 && active > build, `progress shows BUILD then ACTIVE on stderr: ${create.stderr}`);
    assert.ok(!create.stdout.includes(password) && !create.stderr.includes(password), 'the password is never printed');

    const list = parsed<InstanceJson[]>(await quick(['instances', 'list', '--json']), 'instances list');
    assert.deepEqual(list.map((i) => [i.name, i.status]), [['orders-db', 'ACTIVE']]);
    const table = await quick(['instances', 'list']);
    assertExit(table, 0, 'instances list (table)');
    assert.match(table.stdout, /^ID\s+NAME\s+STATUS\s+FLAVOR/);
    assert.match(table.stdout, /orders-db\s+ACTIVE\s+tiny/);

    const show = await quick(['instances', 'show', 'orders-db']);
    assertExit(show, 0, 'instances show');
    assert.match(show.stdout, /connection string\s+postgres:\/\/[^\s@]+@127\.0\.0\.1:\d+\/\S+/);
    assert.match(show.stdout, /power\s+- \(never suspended\)/);
    // Scale to zero: suspended by its node's agent (held meanwhile by a backup or a metrics sample: asked again), list and show say so; the wake ends it.
    const power = platform.agent.power;
    for (const deadline = Date.now() + 60_000; !(await power.suspend(created.id, 'stopped')); ) {
      assert.ok(Date.now() < deadline, `orders-db was never free to suspend (held for ${power.holders(created.id).join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await power.flush();
    assert.match((await quick(['instances', 'list'])).stdout, /orders-db\s+ACTIVE\s+tiny\s+stopped/);
    assert.match((await quick(['instances', 'show', 'orders-db'])).stdout, /power\s+stopped since \S+ \(its next client wakes it\)/);
    await power.wake(created.id);
    await power.flush();
    assert.match((await quick(['instances', 'show', 'orders-db'])).stdout, /power\s+running since \S+; 1 wake, the last \d/);
    const shown = parsed<InstanceJson>(await quick(['instances', 'show', created.id, '--json']), 'instances show by ID');
    assert.equal(shown.name, 'orders-db');
    assert.ok(shown.connectionString.startsWith('postgres://'), shown.connectionString);
    assert.ok(!shown.connectionString.includes(password), 'no password in the connection string');

    assert.equal(await connectAs(shown, 'alice', password, 'app'), 'alice');
    await assert.rejects(connectAs(shown, 'alice', 'wrong password', 'app'), /password authentication failed/);

    // A database and a second user, its password from stdin; then a new password replaces it.
    assertExit(await quick(['databases', 'create', 'orders-db', 'reports']), 0, 'databases create');
    const databases = parsed<{ name: string }[]>(await quick(['databases', 'list', 'orders-db', '--json']), 'databases list').map((d) => d.name);
    assert.ok(databases.includes('app') && databases.includes('reports'), `databases: ${databases.join(', ')}`);
    assertExit(await strata(['users', 'create', 'orders-db', 'bob', '--grant', 'reports', '--privilege', 'read', '--password-stdin'], 'bob-first-pass\n'), 0, 'users create');
    assert.equal(await connectAs(shown, 'bob', 'bob-first-pass', 'reports'), 'bob');
    assertExit(await strata(['users', 'password', 'orders-db', 'bob', '--password-stdin'], 'bob-second-pass\n'), 0, 'users password');
    await assert.rejects(connectAs(shown, 'bob', 'bob-first-pass', 'reports'), /password authentication failed/);
    assert.equal(await connectAs(shown, 'bob', 'bob-second-pass', 'reports'), 'bob');
    const users = parsed<{ name: string }[]>(await quick(['users', 'list', 'orders-db', '--json']), 'users list');
    assert.deepEqual(users.map((u) => u.name).sort(), ['alice', 'bob']);

    // Each operation is a workflow, listed with its ID.
    const operations = parsed<{ workflowId: string; kind: string }[]>(await quick(['instances', 'operations', 'orders-db', '--json']), 'instances operations');
    assert.ok(operations.some((o) => o.kind === 'create' && o.workflowId.length > 0), JSON.stringify(operations));

    const deleted = await strata(['instances', 'delete', 'orders-db', '--wait']);
    assertExit(deleted, 0, 'instances delete --wait');
    assert.match(deleted.stdout, /deleted orders-db/);
    assertRefused(await quick(['instances', 'show', 'orders-db']), 3, 'show after delete', 'not_found');
    assert.deepEqual(parsed<InstanceJson[]>(await quick(['instances', 'list', '--json']), 'list after delete'), []);
    await assert.rejects(connectAs(shown, 'alice', password, 'app'), /ECONNREFUSED|terminating|does not exist/);
  });

  test('backups: the first one is taken on its own; create --wait, policy, a restore point, restore --time, fork --wait and --in-place; metrics and alert rules', async () => {
    const password = 'ledger-password-1';
    const created = parsed<InstanceJson>(await strata(['instances', 'create', 'ledger', '--flavor', 'tiny', '--db', 'app', '--user', 'alice', '--password-stdin', '--wait', '--json'], `${password}\n`), 'instances create');
    const initial = await waitForCompleted(quick, 'ledger');
    assert.equal(initial.trigger, 'initial');
    const incr = parsed<{ id: string; status: string; type: string }>(await quick(['backups', 'create', 'ledger', '--type', 'incr', '--wait', '--json']), 'backups create --wait');
    assert.deepEqual([incr.status, incr.type], ['COMPLETED', 'incr']);
    const table = await quick(['backups', 'list', 'ledger']);
    assertExit(table, 0, 'backups list');
    assert.match(table.stdout, /^ID\s+TYPE\s+TRIGGER\s+STATUS/);
    assert.match(table.stdout, /restorable from: \d{4}-/);
    assert.match((await quick(['backups', 'show', incr.id])).stdout, /status\s+COMPLETED/);

    const policy = parsed<{ schedule: { cron: string } | null; retention: { fullBackups?: number } }>(await quick(['backups', 'policy', 'ledger', '--cron', '0 3 * * *', '--keep-full', '3', '--json']), 'backups policy');
    assert.deepEqual([policy.schedule?.cron, policy.retention.fullBackups], ['0 3 * * *', 3]);
    assertRefused(await quick(['backups', 'policy', 'ledger', '--cron', '61 * * * *']), 2, 'an invalid cron expression', 'invalid_schedule');
    assert.equal(parsed<{ schedule: { cron: string } | null }>(await quick(['backups', 'policy', 'ledger', '--json']), 'policy after refusal').schedule?.cron, '0 3 * * *', 'unchanged');

    // The restore window opens a second after the first backup's recorded end: the rows come after it.
    const opensAt = Date.parse(parsed<{ restorableFrom: string }>(await quick(['backups', 'list', 'ledger', '--json']), 'backups list').restorableFrom);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, opensAt - Date.now() + 10)));
    const client = new pg.Client({ host: created.host, port: created.port, user: 'alice', password, database: 'app' });
    await client.connect();
    let between: string;
    try {
      await client.query('create table notes (id integer primary key)');
      await client.query('insert into notes values (1)');
      between = (await client.query<{ at: string }>("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') as at")).rows[0]!.at;
      await new Promise((resolve) => setTimeout(resolve, 5));
      await client.query('insert into notes values (2)');
    } finally {
      await client.end();
    }
    assertExit(await quick(['restore-points', 'create', 'ledger', 'two-notes']), 0, 'restore-points create');
    const restored = parsed<InstanceJson>(await strata(['restore', 'ledger', '--name', 'ledger-one-note', '--time', between, '--wait', '--json']), 'restore --time --wait');
    assert.equal(restored.status, 'ACTIVE');
    const forked = parsed<InstanceJson>(await strata(['fork', 'ledger', '--name', 'ledger-fork', '--wait', '--json']), 'fork --wait');
    for (const [copy, expected] of [[restored, [1]], [forked, [1, 2]]] as const) {
      const reader = new pg.Client({ host: copy.host, port: copy.port, user: 'alice', password, database: 'app' });
      await reader.connect();
      try {
        assert.deepEqual((await reader.query<{ id: number }>('select id from notes order by id')).rows.map((row) => row.id), expected, copy.name);
      } finally {
        await reader.end();
      }
    }
    const points = parsed<{ name: string; status: string }[]>(await quick(['restore-points', 'list', 'ledger', '--json']), 'restore-points list');
    assert.deepEqual(points.map((p) => p.name), ['two-notes']);

    // Back in place to the restore point (both notes): the same address, RESTORING then ACTIVE.
    const restoring = await strata(['restore', 'ledger', '--in-place', '--restore-point', 'two-notes', '--wait', '--json']);
    const back = parsed<InstanceJson>(restoring, 'restore --in-place --wait');
    assert.deepEqual([back.status, back.port], ['ACTIVE', created.port]);
    assert.ok(restoring.stderr.includes('RESTORING'), restoring.stderr);
    assertRefused(await quick(['restore', 'ledger', '--in-place']), 2, 'in place without a target', '--in-place');
    assertRefused(await quick(['restore', 'ledger', '--name', 'x', '--time', '2001-01-01T00:00:00Z']), 2, 'a time before the first backup', 'before_first_backup');
    assertRefused(await quick(['restore', 'ledger', '--name', 'x', '--time', 'now', '--backup', incr.id]), 2, 'two targets', '--time');
    assertRefused(await quick(['backups', 'show', 'bak_nope']), 3, 'an unknown backup', 'backup_not_found');
    assertRefused(await quick(['backups', 'create', 'ledger', '--type', 'weekly']), 2, 'an unknown type', 'weekly');
    // Its metrics, and alert rules.
    const deadline = Date.now() + CLI_TIMEOUT_MS;
    let metrics = parsed<{ samples: { connections: number }[] }>(await quick(['metrics', 'ledger', '--json']), 'metrics');
    while (metrics.samples.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      metrics = parsed(await quick(['metrics', 'ledger', '--json']), 'metrics');
    }
    assert.ok(metrics.samples.length > 0, 'the agent sampled it');
    assert.match((await quick(['metrics', 'ledger'])).stdout, /^AT\s+CONN\s+TPS/);
    const rules = parsed<{ name: string; builtin: boolean }[]>(await quick(['alerts', 'rules', '--json']), 'alerts rules');
    assert.ok(rules.some((r) => r.name === 'archiving_failing' && r.builtin));
    const rule = parsed<{ name: string; metric: string; comparison: string }>(await quick(['alerts', 'create', 'busy', '--metric', 'connections', '--threshold', '50', '--instance', 'ledger', '--json']), 'alerts create');
    assert.deepEqual([rule.name, rule.metric, rule.comparison], ['busy', 'connections', '>']);
    assertRefused(await quick(['alerts', 'create', 'odd', '--metric', 'cpu_temperature', '--threshold', '1']), 2, 'an unknown metric', 'invalid_rule');
    assertRefused(await quick(['alerts', 'webhook', '--url', 'http://127.0.0.1:7070/v1/keys']), 2, 'a webhook into the platform', 'webhook_not_allowed');
    assertExit(await quick(['alerts', 'delete', 'busy']), 0, 'alerts delete');

    // Built-in rules: shown, tuned, turned off, and back to their defaults.
    type BuiltinRule = { name: string; enabled: boolean; threshold: number; durationSeconds: number; defaults: { threshold: number; durationSeconds: number }; isDefault: boolean };
    const diskRule = parsed<BuiltinRule>(await quick(['alerts', 'builtin', 'disk_nearly_full', '--json']), 'alerts builtin (show)');
    assert.deepEqual([diskRule.enabled, diskRule.isDefault, diskRule.threshold], [true, true, diskRule.defaults.threshold]);
    const tuned = parsed<BuiltinRule>(await quick(['alerts', 'builtin', 'disk_nearly_full', '--threshold', '0.93', '--for', '120', '--json']), 'alerts builtin --threshold --for');
    assert.deepEqual([tuned.enabled, tuned.isDefault, tuned.threshold, tuned.durationSeconds], [true, false, 0.93, 120]);
    assert.equal(parsed<BuiltinRule>(await quick(['alerts', 'builtin', 'backup_too_old', '--disable', '--json']), 'alerts builtin --disable').enabled, false);
    const listedRules = parsed<BuiltinRule[]>(await quick(['alerts', 'rules', '--json']), 'alerts rules after the changes');
    assert.equal(listedRules.find((r) => r.name === 'backup_too_old')?.enabled, false, 'the rule list shows it off');
    assert.equal(listedRules.find((r) => r.name === 'disk_nearly_full')?.threshold, 0.93, 'the rule list shows the new threshold');
    assert.match((await quick(['alerts', 'builtin', 'backup_too_old'])).stdout, /^on\s+no$/m, 'the human form says it is off');
    const reset = parsed<BuiltinRule>(await quick(['alerts', 'builtin', 'disk_nearly_full', '--reset', '--json']), 'alerts builtin --reset');
    assert.deepEqual([reset.enabled, reset.isDefault, reset.threshold, reset.durationSeconds], [true, true, reset.defaults.threshold, reset.defaults.durationSeconds]);
    assert.equal(parsed<BuiltinRule>(await quick(['alerts', 'builtin', 'backup_too_old', '--enable', '--json']), 'alerts builtin --enable').enabled, true);
    assertRefused(await quick(['alerts', 'builtin', 'disk_nearly_full', '--enable', '--disable']), 2, 'contradicting flags', '--enable and --disable');
    assertRefused(await quick(['alerts', 'builtin', 'disk_nearly_full', '--threshold', 'lots']), 2, 'a threshold that is not a number', '--threshold');
    assertRefused(await quick(['alerts', 'builtin', 'disk_nearly_full', '--for', '-5']), 2, 'a negative duration', '--for');
    assertRefused(await quick(['alerts', 'builtin', 'no_such_rule']), 3, 'an unknown built-in rule', 'no_such_rule', 'archiving_failing');
    assertRefused(await quick(['alerts', 'builtin', 'no_such_rule', '--disable']), 3, 'turning off an unknown built-in rule', 'rule_not_found');
    assert.deepEqual(parsed<{ firing: unknown[] }>(await quick(['alerts', '--json']), 'alerts').firing, []);
    for (const name of ['ledger-fork', 'ledger-one-note', 'ledger']) assertExit(await quick(['instances', 'delete', name, '--wait']), 0, `delete ${name}`);
  });

  test('replicas: create --replicas, list with lag, add --wait, promote --wait (the primary FENCED), detach; promote of a primary exits 4', async () => {
    parsed<InstanceJson>(await strata(['instances', 'create', 'feed', '--flavor', 'tiny', '--replicas', '1', '--wait', '--json']), 'instances create --replicas');
    const added = await strata(['replicas', 'add', 'feed', '--wait', '--json']);
    assertExit(added, 0, 'replicas add --wait');
    assert.equal(parsed<InstanceJson & { role: string }>(added, 'replicas add').role, 'replica');
    const deadline = Date.now() + CLI_TIMEOUT_MS;
    let listed = parsed<{ replicas: Array<InstanceJson & { replicationLagSeconds: number | null }> }>(await quick(['replicas', 'list', 'feed', '--json']), 'replicas list');
    while (listed.replicas.some((r) => r.status !== 'ACTIVE' || r.replicationLagSeconds === null) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      listed = parsed(await quick(['replicas', 'list', 'feed', '--json']), 'replicas list');
    }
    assert.deepEqual(listed.replicas.map((r) => [r.name, r.status]), [['feed-r1', 'ACTIVE'], ['feed-r2', 'ACTIVE']]);
    assert.ok(listed.replicas.every((r) => typeof r.replicationLagSeconds === 'number'), 'each replica has a sampled lag');
    assert.match((await quick(['replicas', 'list', 'feed'])).stdout, /^ID\s+NAME\s+STATUS\s+ADDRESS\s+LAG/);
    assertRefused(await quick(['replicas', 'promote', 'feed']), 4, 'promote of a primary', 'not_a_replica');
    assertRefused(await quick(['replicas', 'add', 'feed', '--count', '9']), 2, 'too many', '--count');
    const promoted = parsed<InstanceJson & { role: string }>(await strata(['replicas', 'promote', 'feed-r1', '--wait', '--json']), 'replicas promote --wait');
    assert.deepEqual([promoted.status, promoted.role], ['ACTIVE', 'primary']);
    assert.equal(parsed<InstanceJson>(await quick(['instances', 'show', 'feed', '--json']), 'the old primary').status, 'FENCED');
    assert.match((await quick(['instances', 'show', 'feed-r2'])).stdout, /role\s+replica of ins_/);
    const detached = parsed<InstanceJson & { role: string }>(await strata(['replicas', 'detach', 'feed-r2', '--wait', '--json']), 'replicas detach --wait');
    assert.deepEqual([detached.status, detached.role], ['ACTIVE', 'primary']);
    for (const name of ['feed', 'feed-r2', 'feed-r1']) assertExit(await quick(['instances', 'delete', name, '--wait']), 0, `delete ${name}`);
  });

  test('bad input exits 2 with the server message and creates nothing', async () => {
    assertRefused(await strata(['instances', 'create', 'Bad_Name', '--flavor', 'tiny']), 2, 'a name that is not a DNS label', 'invalid_name');
    assertRefused(await quick(['instances', 'create', 'fine-name', '--flavor', 'huge']), 2, 'an unknown flavor', 'unknown_flavor', 'huge');
    assertRefused(await quick(['instances', 'create', 'fine-name', '--flavor', 'tiny', '--param', 'work_mem']), 2, 'a parameter without a value', 'name=value');
    assertRefused(await quick(['instances', 'create', 'fine-name', '--flavor', 'tiny', '--wait-timeout', 'soon']), 2, 'a bad --wait-timeout', '--wait-timeout');
    assert.deepEqual(parsed<InstanceJson[]>(await quick(['instances', 'list', '--json']), 'list after refusals'), []);
  });

  test('a missing, wrong or read-only key, and an unreachable control plane, each say what to do', async () => {
    assertRefused(await cli(['instances', 'list'], { STRATA_API_URL: platform.apiUrl, STRATA_API_KEY: '' }), 2, 'no key', 'STRATA_API_KEY');
    assertRefused(await cli(['instances', 'list'], { STRATA_API_URL: platform.apiUrl, STRATA_API_KEY: 'sk_not_a_real_key' }), 1, 'a wrong key', 'unauthorized', '--api-key');
    const readOnly = await quick(['keys', 'create', '--role', 'read-only', '--name', 'viewer', '--json']);
    const token = parsed<{ token: string | null }>(readOnly, 'keys create').token;
    assert.ok(typeof token === 'string' && token.length > 10, `keys create prints the key once: ${readOnly.stdout}`);
    assert.equal((await quick(['keys', 'list', '--json'])).stdout.includes(token), false, 'keys list never shows a key');
    assert.ok(token !== null);
    const asViewer = (args: readonly string[], apiUrl = platform.apiUrl) => inProcess([...args, '--api-url', apiUrl, '--api-key', token]);
    assertExit(await asViewer(['instances', 'list']), 0, 'a read-only key reads');
    assertRefused(await asViewer(['instances', 'create', 'nope', '--flavor', 'tiny']), 1, 'a read-only key writing', 'forbidden', 'role');
    assertRefused(await asViewer(['instances', 'list'], 'http://127.0.0.1:1'), 5, 'nothing listening', 'does not answer', '--api-url');
  });

  test('the audit log lists the calls and its chain verifies', async () => {
    const rows = parsed<{ action: string; result: string }[]>(await quick(['audit', 'list', '--json']), 'audit list');
    assert.ok(rows.some((r) => r.action.includes('instances') && r.result === 'ok'), JSON.stringify(rows.slice(0, 5)));
    const verify = await quick(['audit', 'verify']);
    assertExit(verify, 0, 'audit verify');
    assert.match(verify.stdout, /chain\s+intact/);
  });
});
