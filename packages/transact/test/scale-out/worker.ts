// One executor process of the scale-out tests (scale-out.test.ts runs several of them against one
// PostgreSQL database and SIGKILLs some).
//
//   node --import tsx worker.ts <databaseUrl> <executorId>
//
// Env: SCALE_HEARTBEAT_INTERVAL_MS, SCALE_EXECUTOR_TIMEOUT_MS (defaults in shape.ts).
//
// Declares queues 'drain' and 'parts', registers 'scale-wf' and 'hold-wf' (see shape.ts), launches
// and then obeys commands on stdin, one per line:
//   ENQUEUE drain <from> <to> <stepMs>                 enqueue drain-<from>..drain-<to - 1>
//   ENQUEUE parts <from> <to> <stepMs> <partitions>    enqueue parts-<i> with partition key p<i % partitions>
//   START <prefix> <count> <sleepMs>                   start hold-wf <prefix>-0..<prefix>-<count - 1> directly
//   SHUTDOWN <timeoutMs>                               graceful shutdown, then exit 0
// stdout lines the test reads: LAUNCHED, LAUNCH_FAILED <error code>, ENQUEUED <n>, STARTED <n>, STOPPED.
// The worker exits when its stdin closes, so a test that dies leaves no executor behind.

import { openDatabase } from '@strata/store';
import { obeyCommands } from '../worker-commands.js';
import { Strata, type WorkflowContext } from '@strata/transact';
import {
  DRAIN_CONCURRENCY,
  EXECUTOR_TIMEOUT_ENV,
  EXECUTOR_TIMEOUT_MS,
  HEARTBEAT_ENV,
  HEARTBEAT_INTERVAL_MS,
  HOLD_WORKFLOW,
  LAUNCH_FAILED_EXIT_CODE,
  PARTS_CONCURRENCY,
  PARTS_PARTITION_CONCURRENCY,
  SCALE_WORKFLOW,
  type Runner,
} from './shape.js';

/** Enqueues or starts in flight at once: enough to be quick, few enough not to drain the pool. */
const SUBMIT_BATCH_SIZE = 20;
/** Connections for the test's own log writes, beside the engine's pool. */
const LOG_POOL_SIZE = 8;

const [databaseUrl, executorId] = process.argv.slice(2);
if (databaseUrl === undefined || executorId === undefined) {
  process.stderr.write('usage: worker.ts <databaseUrl> <executorId>\n');
  process.exit(2);
}

function envMs(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number of ms, got ${raw}`);
  return value;
}

const me: Runner = { executorId, pid: process.pid };
const logDb = await openDatabase({ url: databaseUrl, poolSize: LOG_POOL_SIZE });

async function log(workflowId: string, step: string): Promise<void> {
  await logDb.query('insert into scale_log (workflow_id, step, executor_id, pid) values ($1, $2, $3, $4)', [workflowId, step, executorId, process.pid]);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const strata = new Strata({
  database: databaseUrl,
  executorId,
  heartbeatIntervalMs: envMs(HEARTBEAT_ENV, HEARTBEAT_INTERVAL_MS),
  executorTimeoutMs: envMs(EXECUTOR_TIMEOUT_ENV, EXECUTOR_TIMEOUT_MS),
  logger: { info() {}, warn: (...args: unknown[]) => console.warn(...args), error: (...args: unknown[]) => console.error(...args) },
});

const drain = strata.queue('drain', { concurrency: DRAIN_CONCURRENCY });
const parts = strata.queue('parts', { concurrency: PARTS_CONCURRENCY, partitionConcurrency: PARTS_PARTITION_CONCURRENCY });

const effect = (ctx: WorkflowContext) =>
  ctx.transaction('effect', async (tx) => {
    await tx.query('insert into scale_effects (workflow_id, step, executor_id, pid) values ($1, $2, $3, $4)', [ctx.workflowId, 'effect', executorId, process.pid]);
    return me;
  });

const scaleWorkflow = strata.workflow(SCALE_WORKFLOW, async (ctx, stepMs: number) => {
  await log(ctx.workflowId, 'body');
  const a = await ctx.step('a', async () => {
    await log(ctx.workflowId, 'a');
    await delay(stepMs);
    return me;
  });
  const t = await effect(ctx);
  const b = await ctx.step('b', async () => {
    await delay(stepMs);
    await log(ctx.workflowId, 'b');
    return me;
  });
  return [a, t, b];
});

const holdWorkflow = strata.workflow(HOLD_WORKFLOW, async (ctx, sleepMs: number) => {
  await log(ctx.workflowId, 'body');
  const ready = await ctx.step('ready', async () => {
    await log(ctx.workflowId, 'ready');
    return me;
  });
  await ctx.sleep(sleepMs);
  // The step comes straight after the sleep: an executor woken from a pause reaches it at once,
  // before any heartbeat of its own has told it that it lapsed.
  const after = await ctx.step('after', async () => {
    await log(ctx.workflowId, 'after');
    return me;
  });
  const t = await effect(ctx);
  return [ready, after, t];
});

try {
  await strata.launch();
} catch (error) {
  process.stdout.write(`LAUNCH_FAILED ${(error as { code?: string }).code ?? 'unknown'}\n`);
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  await logDb.close();
  process.exit(LAUNCH_FAILED_EXIT_CODE);
}
process.stdout.write('LAUNCHED\n');

async function inBatches(count: number, submit: (index: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += SUBMIT_BATCH_SIZE) {
    await Promise.all(Array.from({ length: Math.min(SUBMIT_BATCH_SIZE, count - start) }, (_, offset) => submit(start + offset)));
  }
}

async function obey(line: string): Promise<void> {
  const [command, ...args] = line.trim().split(/\s+/);
  if (command === 'ENQUEUE') {
    const [queue, fromText, toText, stepMsText, partitionsText] = args;
    const from = Number(fromText);
    const to = Number(toText);
    const stepMs = Number(stepMsText);
    if (queue === 'drain') {
      await inBatches(to - from, (offset) => drain.enqueue(scaleWorkflow.with({ workflowId: `drain-${from + offset}` }), stepMs));
    } else if (queue === 'parts') {
      const partitions = Number(partitionsText);
      await inBatches(to - from, (offset) => {
        const index = from + offset;
        // `queue` is bound too: with() refuses queue options without it (see the report on with()).
        return parts.enqueue(scaleWorkflow.with({ workflowId: `parts-${index}`, queue: 'parts', partitionKey: `p${index % partitions}` }), stepMs);
      });
    } else {
      throw new Error(`unknown queue ${queue}`);
    }
    process.stdout.write(`ENQUEUED ${to - from}\n`);
  } else if (command === 'START') {
    const [prefix, countText, sleepMsText] = args;
    const count = Number(countText);
    await inBatches(count, (index) => holdWorkflow.with({ workflowId: `${prefix}-${index}` }).start(Number(sleepMsText)));
    process.stdout.write(`STARTED ${count}\n`);
  } else if (command === 'SHUTDOWN') {
    await strata.shutdown({ timeoutMs: Number(args[0] ?? 5_000) });
    await logDb.close();
    process.stdout.write('STOPPED\n');
    process.exit(0);
  } else {
    throw new Error(`unknown command ${JSON.stringify(line)}`);
  }
}

obeyCommands(executorId, obey);
