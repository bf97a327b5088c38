// The orders demo survives a SIGKILL: the restarted process resumes the unfinished orders and
// finishes them, and no committed step or transaction runs twice. Its console answers meanwhile.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@strata/store';
import { ORDERS } from '../src/orders.js';

const EXAMPLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
/** First run creates the PGlite database (several seconds on a busy 2-core machine). */
const FIRST_PROGRESS_TIMEOUT_MS = 90_000;
/** The resumed run opens the database and finishes the orders (charges ≤ 0.8 s, courier 2 s). */
const RESUMED_RUN_TIMEOUT_MS = 90_000;
/** The demo enqueues its orders right after printing the console's URL: a few ms, a few polls at most. */
const CONSOLE_POLL_INTERVAL_MS = 100;
const CONSOLE_POLLS_MAX = 50;
/**
 * Bound on the demo's peak resident memory on a new database: ~330 MB measured (see the README's
 * Memory section); 900 MB before initdb ran apart and shared_buffers came down to 32 MB.
 */
const PEAK_RSS_BOUND_KB = 600 * 1024;

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * Starts the demo as `npm start` does (node --import tsx src/main.ts in the example's folder) on
 * `dataDir`; with `exit`, as `npm start -- --exit`: no console, and it exits once the orders are
 * done. The console takes a free port.
 */
function startDemo(dataDir: string, { exit }: { exit: boolean }) {
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', 'src/main.ts', ...(exit ? ['--exit'] : [])], {
    cwd: EXAMPLE_DIR,
    env: { ...process.env, STRATA_DATA_DIR: dataDir, STRATA_RESET: '', npm_config_reset: '', STRATA_CONSOLE_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: string) => {
    output += chunk;
    for (const waiter of waiters) waiter();
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    exited,
    output: () => output,
    /** Resolves when the output matches `pattern`; rejects on timeout or exit first. */
    waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} in the demo's output within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exited.then(() => {
          if (!waiters.has(check)) return;
          done();
          reject(new Error(`the demo exited before printing ${pattern}:\n${output}`));
        });
        check();
      });
    },
  };
}

test('a SIGKILLed demo resumes on restart and finishes every order exactly once', { timeout: 240_000 }, async (t) => {
  const scratch = await mkdtemp(join(tmpdir(), 'strata-orders-'));
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const dataDir = join(scratch, 'data');

  // First run: killed without warning once the first payment went through, mid-way. Meanwhile
  // its console, on the demo's own embedded database, lists the order workflows.
  const first = startDemo(dataDir, { exit: false });
  await first.waitFor(/^console: http:\/\/127\.0\.0\.1:\d+/m, FIRST_PROGRESS_TIMEOUT_MS);
  const consoleUrl = /^console: (http:\/\/127\.0\.0\.1:\d+)/m.exec(first.output())![1]!;
  // The URL is printed before the orders are enqueued: ask until all five are listed.
  let listed: string[] = [];
  for (let attempt = 1; attempt <= CONSOLE_POLLS_MAX && listed.length < ORDERS.length; attempt += 1) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, CONSOLE_POLL_INTERVAL_MS));
    const response = await fetch(`${consoleUrl}/api/workflows?name=order`);
    assert.equal(response.status, 200);
    listed = ((await response.json()) as { workflows: Array<{ workflowId: string }> }).workflows.map((w) => w.workflowId).sort();
  }
  assert.deepEqual(listed, ORDERS.map((order) => order.orderId), 'the console lists the orders while the demo runs');
  await first.waitFor(/\[order-\d+\] charge\s+executed/, FIRST_PROGRESS_TIMEOUT_MS);
  const peakRssKb = peakResidentKb(first.child.pid!);
  if (peakRssKb !== undefined) {
    t.diagnostic(`peak RSS of the first run: ${Math.round(peakRssKb / 1024)} MB`);
    assert.ok(peakRssKb < PEAK_RSS_BOUND_KB, `the demo's peak RSS on a new database is ${Math.round(peakRssKb / 1024)} MB`);
  }
  first.child.kill('SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');
  assert.doesNotMatch(first.output(), /Summary/, 'the kill landed before the demo finished');

  // Second run, with --exit: resumes what was left and exits 0.
  const second = startDemo(dataDir, { exit: true });
  const timer = setTimeout(() => second.child.kill('SIGKILL'), RESUMED_RUN_TIMEOUT_MS);
  const { code } = await second.exited;
  clearTimeout(timer);
  const output = second.output();
  assert.equal(code, 0, `the resumed run exits 0:\n${output}`);
  assert.match(output, /resumed [1-5] unfinished workflow\(s\)/, 'the resumed run says it resumed the unfinished orders');
  assert.doesNotMatch(output, /http:\/\//, 'with --exit no console URL is printed: nothing would serve it once the orders are done');
  assert.match(output, /npx strata --database \S+ workflows list/, 'the banner says how to inspect the database with the CLI');
  assert.match(output, /\[order-\d+\] reserve\s+replayed/, 'reservations committed before the kill are replayed, not run again');
  const progressLines = (text: string, how: string) => text.split('\n').filter((line) => new RegExp(`\\] \\w+\\s+${how} `).test(line)).length;
  t.diagnostic(
    `killed run: ${progressLines(first.output(), 'executed')} steps executed; resumed run: ${progressLines(output, 'replayed')} replayed, ${progressLines(output, 'executed')} executed`,
  );

  const db = await openDatabase(dataDir);
  try {
    const orderIds = ORDERS.map((order) => order.orderId);
    const { rows: workflows } = await db.query<{ workflow_id: string; status: string }>(
      `select workflow_id, status from strata.workflows where name = 'order' order by workflow_id`,
    );
    assert.deepEqual(workflows, orderIds.map((workflow_id) => ({ workflow_id, status: 'SUCCESS' })), 'every order workflow succeeded');

    // The ledger has no unique constraint: a reservation or shipment that ran twice would show.
    const { rows: events } = await db.query<{ order_id: string; kind: string; n: number }>(
      `select order_id, kind, count(*)::int as n from order_events group by order_id, kind order by order_id, kind`,
    );
    assert.deepEqual(
      events,
      orderIds.flatMap((order_id) => [
        { order_id, kind: 'reserved', n: 1 },
        { order_id, kind: 'shipped', n: 1 },
      ]),
      'each order was reserved once and shipped once',
    );
    const { rows: orders } = await db.query<{ order_id: string; status: string }>('select order_id, status from orders order by order_id');
    assert.deepEqual(orders, orderIds.map((order_id) => ({ order_id, status: 'shipped' })));

    // Stock went down by each order's quantity exactly once.
    const { rows: stock } = await db.query<{ item: string; available: number }>('select item, available from stock order by item');
    assert.deepEqual(stock, [
      { item: 'espresso beans', available: 7 },
      { item: 'grinder', available: 2 },
      { item: 'milk jug', available: 3 },
    ]);

    const { rows: charges } = await db.query<{ workflow_id: string; n: number }>(
      `select workflow_id, count(*)::int as n from strata.steps where name = 'charge' group by workflow_id order by workflow_id`,
    );
    assert.deepEqual(charges, orderIds.map((workflow_id) => ({ workflow_id, n: 1 })), 'one charge checkpoint per order');
  } finally {
    await db.close();
  }
});

/** The process's peak resident set (VmHWM) in kB, from Linux's /proc; undefined elsewhere. */
function peakResidentKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
