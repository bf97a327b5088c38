// One executor process of the partition test, run inside a network namespace
// (partition.test.ts starts it with `ip netns exec <namespace> node --import tsx worker.ts …`).
//
//   node --import tsx worker.ts <databaseUrl> <executorId> [isolation]
//
// `isolation` is the transactions' isolation level ('read committed' when omitted).
// Env: PGAPPNAME=<executorId> (the test's audit trigger names each write's writer by it).
//
// Registers 'partition-wf' (see shape.ts), launches, then obeys commands on stdin, one per line:
//   START <count>          start <executorId>-0 … <executorId>-<count - 1> (this executor owns them)
//   MARK <label>           print `MARK <label>` (orders the test's events among this process's lines)
//   SHUTDOWN <timeoutMs>   graceful shutdown, then exit 0
// stdout lines the test reads:
//   LAUNCHED | LAUNCH_FAILED <code>     launch() returned or failed
//   STARTED <n>                         the START's workflows were started
//   RAN <workflowId> <name>             a step's or transaction's function began here
//   DONE <workflowId>                   the workflow's function returned here
//   ENDED <workflowId> <code>           the workflow's function threw here (a fenced write, a lapse)
//   MARK <label> | STOPPED
// The worker exits when its stdin closes, so a test that dies leaves no executor behind.

import type { IsolationLevel } from '@strata/store';
import { obeyCommands } from '../worker-commands.js';
import { Strata } from '@strata/transact';
import {
  EFFECTS_TABLE,
  EXECUTOR_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  LAUNCH_FAILED_EXIT_CODE,
  RECV_TIMEOUT_MS,
  ROUNDS,
  STEP_MS,
  TRANSACTION_HOLD_MS,
  WORKFLOW_NAME,
  messageOf,
  topicOf,
  workflowIdsOf,
  type Runner,
} from './shape.js';

const [databaseUrl, executorId, isolation] = process.argv.slice(2) as [string?, string?, IsolationLevel?];
if (databaseUrl === undefined || executorId === undefined) {
  process.stderr.write('usage: worker.ts <databaseUrl> <executorId> [isolation]\n');
  process.exit(2);
}

const me: Runner = { executorId, pid: process.pid };

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown';
}

const strata = new Strata({
  database: databaseUrl,
  executorId,
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  executorTimeoutMs: EXECUTOR_TIMEOUT_MS,
  logger: { info() {}, warn: (...args: unknown[]) => console.warn(...args), error: (...args: unknown[]) => console.error(...args) },
});

const work = strata.workflow(WORKFLOW_NAME, async (ctx) => {
  const workflowId = ctx.workflowId;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await ctx.step(`s${round}`, async () => {
        say(`RAN ${workflowId} s${round}`);
        await delay(STEP_MS);
        return me;
      });
      await ctx.transaction(`t${round}`, async (tx) => {
        say(`RAN ${workflowId} t${round}`);
        await tx.query(`insert into ${EFFECTS_TABLE} (workflow_id, step, executor_id, pid) values ($1, $2, $3, $4)`, [workflowId, `t${round}`, executorId, process.pid]);
        // The transaction stays open with its effect written: the test's cut lands here.
        await delay(TRANSACTION_HOLD_MS);
        return me;
      }, isolation === undefined ? {} : { isolation });
      await ctx.send(workflowId, messageOf(workflowId, round), topicOf(round));
      const received = await ctx.recv<string>(topicOf(round), { timeoutMs: RECV_TIMEOUT_MS });
      if (received !== messageOf(workflowId, round)) throw new Error(`${workflowId} round ${round} received ${JSON.stringify(received)}`);
    }
    say(`DONE ${workflowId}`);
    return `${workflowId} done`;
  } catch (error) {
    say(`ENDED ${workflowId} ${codeOf(error)}`);
    throw error;
  }
});

try {
  await strata.launch();
} catch (error) {
  say(`LAUNCH_FAILED ${codeOf(error)}`);
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(LAUNCH_FAILED_EXIT_CODE);
}
say('LAUNCHED');

async function obey(line: string): Promise<void> {
  const [command, ...args] = line.trim().split(/\s+/);
  if (command === 'START') {
    const ids = workflowIdsOf(executorId!, Number(args[0]));
    await Promise.all(ids.map((workflowId) => work.with({ workflowId }).start()));
    say(`STARTED ${ids.length}`);
  } else if (command === 'MARK') {
    say(`MARK ${args.join(' ')}`);
  } else if (command === 'SHUTDOWN') {
    await strata.shutdown({ timeoutMs: Number(args[0] ?? 5_000) });
    say('STOPPED');
    process.exit(0);
  } else {
    throw new Error(`unknown command ${JSON.stringify(line)}`);
  }
}

obeyCommands(executorId, obey);
