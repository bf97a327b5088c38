// The benchmark itself runs end to end: every workload of every system (Strata in both profiles,
// native and portable; DBOS; the floor), on PostgreSQL and PGlite, at a tiny scale, and reports
// every metric. Performance is not asserted here (bench/README.md);
// this keeps `npm run bench` from breaking unnoticed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { engines } from '@strata/testing';

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Report {
  readonly measurements: Array<{ system: string; engine: string; workload: string; metrics: Record<string, number>; profile?: { name: string; notificationMode: string } }>;
  readonly table: Array<{ engine: string; metric: string; strata?: number; portable?: number; portableOverNative?: number; dbos?: number; floor?: number }>;
  readonly warmUp: number;
  readonly postgresSettings: Record<string, string>;
  readonly versions: Record<string, string>;
  readonly machineLoad: { loadAverageBefore: number[]; loadAverageAfter: number[]; foreignShare: number; busy: boolean; verdict: string };
}

/** The metrics each workload must report (lib/protocol.ts), at the scale's in-flight widths. */
const EXPECTED: Record<string, readonly string[]> = {
  floor: ['floor.seq.p50', 'floor.seq.p99', 'floor.seq.cps'],
  sequential: ['seq.wf0.p50', 'seq.wf0.p99', 'seq.wf3.p50', 'seq.wf3.p99', 'seq.step.p50', 'seq.step.p99'],
  throughput: ['tput.64.wfps', 'tput.64.stepsps', 'tput.64.p50', 'tput.64.p99', 'tput.256.wfps', 'tput.256.stepsps', 'tput.256.p50', 'tput.256.p99'],
  transactions: ['tx.p50', 'tx.p99', 'tx.rowsps'],
  queue: ['queue.drain.ms', 'queue.drain.wfps', 'queue.idle.p50', 'queue.idle.p99'],
  messages: ['msg.p50', 'msg.p99'],
  recovery: ['recovery.ms', 'recovery.launch.ms'],
};
/** Reported only by Strata (both profiles) on PostgreSQL: the idle-queue start enqueued by a StrataClient. */
const STRATA_POSTGRES_QUEUE = ['queue.client.p50', 'queue.client.p99'];

/**
 * Time for the recovery workload to park its 20 sleepers before their wake-up time, counted from
 * when the child is launched and warmed up (a slow process start on a loaded machine, which once
 * used up a budget counted from the spawn, no longer counts); the run waits it out per system.
 */
const PARK_BUDGET_MS = 5_000;

/**
 * Sequential warm-up runs per child instead of the bench's 500 (WARM_UP): the warm-up makes the
 * figures steady, and a smoke run checks the code paths, not the figures.
 */
const SMOKE_WARM_UP = 5;

/**
 * The workloads the portable profile runs here: not all of them, so the portable system does not
 * slow this test down by a third. One run on a busy 2-core machine took 160 s with portable on
 * every workload, 41 s of it in portable's nine children (three on PGlite, each starting the
 * engine); these four — and on PGlite `queue` only — took 24 s of them. Left out are
 * `sequential` and `throughput`, which run the same 0- and 3-step workflows as every child's
 * warm-up (20 at once, then one after another), so each portable child below runs their code paths
 * anyway. On PGlite that leaves `queue`: polled notifications and claims without SKIP LOCKED on
 * the embedded engine.
 */
const PORTABLE_WORKLOADS = ['transactions', 'queue', 'messages', 'recovery'];

/**
 * A child at this scale ends within seconds; one that hangs (a workflow the engine left PENDING)
 * fails the run after this long, with the engine's warnings, instead of running into the test's
 * timeout.
 */
const CHILD_TIMEOUT_S = 120;

/**
 * The smallest run through every code path: one round at the smallest scale, a short warm-up, and
 * Strata's PGlite children on copies of one initdb'd directory (initdb is not measured, and cost
 * seconds of WebAssembly per child).
 */
const SMOKE_ARGS = [
  '--rounds',
  '1',
  '--scale',
  '0.01',
  '--park-budget-ms',
  String(PARK_BUDGET_MS),
  '--warm-up',
  String(SMOKE_WARM_UP),
  '--reuse-initdb',
  '--portable-workloads',
  PORTABLE_WORKLOADS.join(','),
  '--child-timeout-s',
  String(CHILD_TIMEOUT_S),
];

test('npm run bench runs every workload for Strata (native and portable), DBOS and the floor and reports every metric', { skip: !engines().includes('postgres') && 'needs PostgreSQL', timeout: 900_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'strata-bench-'));
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', 'run.ts', ...SMOKE_ARGS, '--out', out], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (c: Buffer) => (stdout += c));
      proc.stderr.on('data', (c: Buffer) => (stderr += c));
      proc.once('error', reject);
      proc.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(code, 0, `the bench failed:\n${stderr.slice(-5000)}`);
    // Columns: Strata, portable, portable/native, DBOS, Strata/DBOS, floor, Strata/floor.
    assert.match(stdout, /\| workload +\| unit \| +Strata \| +portable \| +portable\/native \| +DBOS \| +Strata\/DBOS \|/);
    assert.match(
      stdout,
      /\| 5\. send\/recv round trip p50 +\| ms +\| +[\d.]+ \| +[\d.]+ \| +[\d.]+ \(\d+\.\d× (better|worse)\) \| +[\d.]+ \| +[\d.]+ \(/,
      'the table has Strata, portable (with portable/native) and DBOS figures for the message round trip',
    );
    assert.match(stdout, /\| 1\. per step p50 +\| ms +\| +[\d.]+ \| +– \| +\| +[\d.]+ \|/, 'a workload the portable profile did not run shows – for it');

    const files = (await readdir(out)).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 1);
    const report = JSON.parse(await readFile(join(out, files[0]!), 'utf8')) as Report;
    assert.equal(report.warmUp, SMOKE_WARM_UP, 'the report says the figures are from a shortened warm-up');
    assert.equal(report.postgresSettings.fsync, 'on');
    assert.equal(report.postgresSettings.synchronous_commit, 'on');
    assert.ok(report.versions['@dbos-inc/dbos-sdk'], 'the DBOS version is recorded');
    // The machine's load is recorded, and a busy run's table says it is not for the README.
    assert.equal(report.machineLoad.loadAverageBefore.length, 3);
    assert.equal(report.machineLoad.loadAverageAfter.length, 3);
    assert.ok(report.machineLoad.foreignShare >= 0 && report.machineLoad.foreignShare <= 1);
    assert.ok(stdout.includes(`Machine load: ${report.machineLoad.verdict}`));
    assert.equal(/PostgreSQL — MACHINE BUSY during the run: not for the README/.test(stdout), report.machineLoad.busy);

    const expectRun = (system: string, engine: string, workload: string) => {
      const run = report.measurements.find((m) => m.system === system && m.engine === engine && m.workload === workload);
      assert.ok(run, `${system} ${workload} on ${engine} ran`);
      // Each Strata child reports the profile its system database ran with (run.ts checks it too).
      if (system === 'strata') assert.deepEqual(run.profile, { name: 'native', notificationMode: 'listen' }, `${workload} on ${engine}`);
      if (system === 'portable') assert.deepEqual(run.profile, { name: 'portable', notificationMode: 'poll' }, `${workload} on ${engine}`);
      const strataOnPostgres = (system === 'strata' || system === 'portable') && engine === 'postgres';
      const names =
        workload === 'floor' && engine === 'postgres'
          ? [...EXPECTED.floor!, 'floor.par.cps']
          : workload === 'queue' && strataOnPostgres
            ? [...EXPECTED.queue!, ...STRATA_POSTGRES_QUEUE]
            : EXPECTED[workload]!;
      for (const name of names) {
        const value = run.metrics[name];
        assert.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${system} ${workload} on ${engine}: ${name} = ${value}`);
      }
    };
    expectRun('floor', 'postgres', 'floor');
    for (const workload of ['sequential', 'throughput', 'transactions', 'queue', 'messages', 'recovery']) {
      expectRun('strata', 'postgres', workload);
      if (PORTABLE_WORKLOADS.includes(workload)) expectRun('portable', 'postgres', workload);
      expectRun('dbos', 'postgres', workload);
    }
    expectRun('floor', 'pglite', 'floor');
    for (const workload of ['sequential', 'throughput', 'queue']) {
      expectRun('strata', 'pglite', workload);
      if (PORTABLE_WORKLOADS.includes(workload)) expectRun('portable', 'pglite', workload);
    }
    assert.ok(!report.measurements.some((m) => m.system === 'portable' && !PORTABLE_WORKLOADS.includes(m.workload)), '--portable-workloads narrows the portable system');
    // The JSON's table has the portable medians and their ratio to native beside Strata's.
    const client = report.table.find((r) => r.engine === 'postgres' && r.metric === 'queue.client.p50');
    assert.ok(client?.strata && client.portable && client.portableOverNative, 'the JSON table has the portable figure and portable/native');
    assert.ok(Math.abs(client.portableOverNative - client.portable / client.strata) < 1e-9);
    assert.ok(!report.measurements.some((m) => m.system === 'dbos' && m.engine === 'pglite'), 'DBOS does not run on PGlite');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
