// Strata orders demo: durable order processing on the embedded database, with the Strata console.
//
//   npm start                  run (or resume) the five demo orders; the console serves until Ctrl-C
//   npm start -- --exit        exit once the orders are done (as a script or a test would; no console)
//   npm start -- --reset       delete the demo's data directory first and start over
//
// Kill it at any moment (Ctrl-C, or `kill -9`) and run `npm start` again: the unfinished orders
// resume from their last committed step, and no committed step runs twice. It exits with the
// `npm start` that launched it, so a `kill -9` of npm leaves no app behind holding the database.
// While it runs, `npx strata --database <its data dir> workflows list` reads the same database.
//
// Env: STRATA_DATA_DIR overrides the data directory (default examples/orders/.strata);
// STRATA_RESET=1 is the same as --reset, STRATA_EXIT=1 the same as --exit;
// STRATA_CONSOLE_PORT sets the console's port (default 4000, or a free one if 4000 is taken; 0: a free one).

import { existsSync, rmSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsole, type RunningConsole } from '@strata/console';
import { DatabaseLockedError, openDatabase, watchLauncher, type Database } from '@strata/store';
import { Strata, type WorkflowHandle } from '@strata/transact';
import { ORDERS, createAppTables, registerOrderWorkflow, type Progress, type Receipt } from './orders.js';

/** A stable place for the demo's data: the package folder, whatever the working directory. */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.strata', import.meta.url));
/** Exit codes a shell reports for these signals (128 + signal number). */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
/** The demo's orders finish in a few seconds; this long means something is stuck. */
const RESULT_TIMEOUT_MS = 120_000;
/** Where the console listens unless STRATA_CONSOLE_PORT says otherwise; a free port if it is taken. */
const DEFAULT_CONSOLE_PORT = 4000;

const dataDir = process.env.STRATA_DATA_DIR || DEFAULT_DATA_DIR;
const reset = process.argv.slice(2).includes('--reset') || process.env.STRATA_RESET === '1';
const exitWhenDone = process.argv.slice(2).includes('--exit') || process.env.STRATA_EXIT === '1';
const startedAtMs = Date.now();

function elapsed(): string {
  return `${((Date.now() - startedAtMs) / 1000).toFixed(1).padStart(5)}s`;
}

function printProgress({ orderId, step, how, detail }: Progress): void {
  if (stopping) return; // step bodies still finishing during shutdown: their results are not recorded
  console.log(`${elapsed()}  [${orderId}] ${step.padEnd(8)} ${how.padEnd(9)} ${detail}`);
}

if (reset) {
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`reset: deleted ${dataDir}`);
}
console.log(`Strata orders demo — embedded database in ${dataDir}`);
console.log(`Inspect it from another terminal while it runs: ${cliCommand(dataDir)} workflows list`);
console.log('Kill it at any moment (Ctrl-C or kill -9) and run it again: unfinished orders resume, committed steps are not repeated.\n');

console.log(existsSync(dataDir) ? 'opening the embedded database…' : 'creating the embedded database (first run; this takes a few seconds)…');
let db: Database;
try {
  // Another process could share a running demo's database through its socket, but a second demo
  // would run the same orders as a second executor: one demo per directory.
  db = await openDatabase({ url: dataDir, ifLocked: 'fail' });
} catch (error) {
  if (error instanceof DatabaseLockedError) {
    console.error(`${error.message}\n(is another "npm start" still running? Ctrl-C it, or run the kill command above)`);
    process.exit(1);
  }
  throw error;
}

// The app's tables go in before launch(): recovered orders run their transactions right away.
await createAppTables(db);
const unfinishedBefore = await unfinishedOrders(db);
const queuedBefore = await queuedOrders(db);
const finishedBefore = await finishedOrders(db);

// npm passes no SIGKILL on: when the npm that launched us dies, stop as a SIGTERM would.
watchLauncher((pid) => {
  console.log(`\nthe process that launched the demo (pid ${pid}) is gone.`);
  process.kill(process.pid, 'SIGTERM');
});

const strata = new Strata({
  database: db,
  // Engine info lines ("resumed N workflows") are summed up below in the demo's own words.
  logger: { info: () => {}, warn: (message, ...details) => console.warn(message, ...details), error: (message, ...details) => console.error(message, ...details) },
});
const orderWorkflow = registerOrderWorkflow(strata, printProgress);
/** Orders wait in a durable queue; two are processed at a time (over all processes sharing the database). */
const orderQueue = strata.queue('orders', { concurrency: 2 });

/** The console, once it serves; closed on the way out. */
let strataConsole: RunningConsole | undefined;
/** Set once every order has an outcome: the exit code a Ctrl-C while the console serves ends with. */
let finishedExitCode: number | undefined;
/** Set by a signal: the shutdown in progress, which ends the process. */
let stopping: Promise<never> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    console.log(
      finishedExitCode === undefined
        ? `\n${signal}: stopping. Unfinished orders stay PENDING in ${dataDir}; run "npm start" again to resume them.`
        : `\n${signal}: stopping the console and Strata.`,
    );
    stopping = (strataConsole?.close() ?? Promise.resolve())
      .then(() => strata.shutdown())
      .then(() => db.close())
      .catch((error: unknown) => console.error('shutdown:', error))
      .then(() => process.exit(finishedExitCode ?? SIGNAL_EXIT_CODES[signal]));
  });
}

// launch() resumes this executor's unfinished workflows, so say so first.
if (unfinishedBefore.length > 0) {
  console.log(`resumed ${unfinishedBefore.length} unfinished workflow(s) from an earlier run: ${unfinishedBefore.join(', ')}`);
  console.log('  steps committed before the restart are replayed from the database ("replayed"); the rest run now ("executed").');
}
if (queuedBefore.length > 0) console.log(`${queuedBefore.length} order(s) are still waiting in the "orders" queue: ${queuedBefore.join(', ')}`);
const notStarted = ORDERS.length - unfinishedBefore.length - queuedBefore.length - finishedBefore.length;
if (finishedBefore.length > 0) console.log(`${finishedBefore.length} order(s) finished in an earlier run; they do not run again (use --reset to start over).`);
if (notStarted > 0) console.log(`enqueuing ${notStarted} new order workflow(s) on the "orders" queue (2 at a time)`);
console.log('');
await strata.launch();
if (exitWhenDone) {
  // The process ends with the orders: a console URL printed now would be dead by the time it is opened.
  console.log('no console with --exit; run "npm start" without it to browse the orders in the console.\n');
} else {
  // The console reads the same embedded database object, so it shows every step as it commits.
  strataConsole = await startConsoleOnFreePort(db);
  console.log(`console: ${strataConsole.url}   (the orders' workflows and steps, live; it serves until Ctrl-C)\n`);
}

// Enqueuing an existing ID returns its handle and runs nothing, so this line is safe on every run.
const handles: Array<WorkflowHandle<Receipt>> = [];
for (const order of ORDERS) handles.push(await orderQueue.enqueue(orderWorkflow.with({ workflowId: order.orderId }), order));
const outcomes = await Promise.allSettled(handles.map((handle) => handle.result({ timeoutMs: RESULT_TIMEOUT_MS })));
if (stopping) await stopping; // interrupted: the results above are the shutdown's, not the orders'

await printSummary(db, outcomes);
const failed = outcomes.filter((outcome) => outcome.status === 'rejected').length;
finishedExitCode = failed === 0 ? 0 : 1;
if (exitWhenDone || strataConsole === undefined) {
  await strata.shutdown();
  await db.close();
  process.exit(finishedExitCode);
}
// Strata keeps running too, so workflows resumed, restarted or forked in the console run here.
console.log(`\nThe console is still serving at ${strataConsole.url} — press Ctrl-C to stop (or run with --exit to stop when the orders are done).`);

/** The CLI command that reads `dir`, as typed in the folder `npm start` was run from. */
function cliCommand(dir: string): string {
  const from = process.env.INIT_CWD || process.cwd();
  const nearby = relative(from, dir) || '.';
  const shown = nearby.startsWith('..') ? dir : nearby;
  return `npx strata --database ${/^[\w./-]+$/.test(shown) ? shown : JSON.stringify(shown)}`;
}

/** The console on STRATA_CONSOLE_PORT, or on DEFAULT_CONSOLE_PORT, or on a free port if that one is taken. */
async function startConsoleOnFreePort(database: Database): Promise<RunningConsole> {
  const fromEnv = process.env.STRATA_CONSOLE_PORT;
  if (fromEnv !== undefined && fromEnv !== '') return startConsole({ database, port: Number(fromEnv) });
  try {
    return await startConsole({ database, port: DEFAULT_CONSOLE_PORT });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return startConsole({ database, port: 0 });
  }
}

/** IDs of order workflows left PENDING by an earlier run (they resume on launch). */
async function unfinishedOrders(database: Database): Promise<string[]> {
  return ordersWithStatus(database, `status = 'PENDING'`);
}

/** IDs of order workflows still waiting in the queue (they start when the queue allows). */
async function queuedOrders(database: Database): Promise<string[]> {
  return ordersWithStatus(database, `status = 'ENQUEUED'`);
}

async function finishedOrders(database: Database): Promise<string[]> {
  return ordersWithStatus(database, `status not in ('PENDING', 'ENQUEUED')`);
}

async function ordersWithStatus(database: Database, condition: string): Promise<string[]> {
  const { rows: exists } = await database.query<{ present: boolean }>(`select to_regclass('strata.workflows') is not null as present`);
  if (!exists[0]?.present) return []; // first run: Strata creates its tables on launch
  // Only the demo's own IDs: orders restarted or forked in the console are workflows of their own.
  const { rows } = await database.query<{ workflow_id: string }>(
    `select workflow_id from strata.workflows where workflow_id = any($1::text[]) and ${condition} order by workflow_id`,
    [ORDERS.map((order) => order.orderId)],
  );
  return rows.map((row) => row.workflow_id);
}

async function printSummary(database: Database, results: Array<PromiseSettledResult<Receipt>>): Promise<void> {
  const { rows } = await database.query<{ order_id: string; item: string; quantity: number; status: string; tracking_number: string | null; workflow: string; charge_attempts: number | null }>(
    `select o.order_id, o.item, o.quantity, o.status, o.tracking_number, w.status as workflow, s.attempts as charge_attempts
       from orders o
       join strata.workflows w on w.workflow_id = o.order_id
       left join strata.steps s on s.workflow_id = o.order_id and s.name = 'charge'
      order by o.order_id`,
  );
  const { rows: stock } = await database.query<{ item: string; available: number }>('select item, available from stock order by item');
  const header = ['order', 'item', 'qty', 'workflow', 'order status', 'charge attempts', 'tracking'];
  const table = [
    header,
    ...rows.map((row) => [row.order_id, row.item, String(row.quantity), row.workflow, row.status, String(row.charge_attempts ?? '-'), row.tracking_number ?? '-']),
  ];
  const widths = header.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  console.log('\nSummary');
  for (const [index, line] of table.entries()) {
    console.log('  ' + line.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
    if (index === 0) console.log('  ' + widths.map((width) => '-'.repeat(width)).join('  '));
  }
  console.log(`  stock left: ${stock.map((row) => `${row.item} ${row.available}`).join(', ')}`);
  for (const [index, result] of results.entries()) {
    if (result.status === 'rejected') console.log(`  ${ORDERS[index]!.orderId} FAILED: ${String((result.reason as Error)?.message ?? result.reason)}`);
  }
  console.log(`\nDone in ${elapsed().trim()}. Run "npm start" again: finished orders are not processed twice.`);
}
