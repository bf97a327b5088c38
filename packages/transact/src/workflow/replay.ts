// Time travel: runs a workflow's current code against its recorded history, in this process,
// without side effects. The engine (`strata.replay`, `strata.checkDeploy`) loads the workflow row
// and its steps and calls replayWorkflow(); the CLI prints formatReplayReport().

import { Context, currentContext, type ReplayObserver } from './context.js';
import { HistoryEndError, NonDeterminismError, ReplayIsolationError } from '../errors.js';
import type { Logger, ReplayError, ReplayReport, ReplayStepEvent, UnreachedStep, WorkflowContext } from '../interfaces.js';
import type { Runtime } from './runtime.js';
import type { Serializer } from '../serialization.js';
import type { StepKind, StepRow } from '../sql/types.js';

export { HistoryEndError, ReplayIsolationError } from '../errors.js';
export type { ReplayObserver } from './context.js';

export type { ReplayError, ReplayReport, ReplayStepEvent, UnreachedStep } from '../interfaces.js';


/** What {@link replayWorkflow} needs: the workflow row's fields, its recorded steps and its current code. */
export interface ReplayInput {
  readonly workflowId: string;
  readonly name: string;
  /** `strata.workflows.status`, shown in the report. */
  readonly recordedStatus: string;
  /** The workflow function as registered now (the code about to be deployed). */
  readonly fn: (ctx: WorkflowContext, ...args: unknown[]) => Promise<unknown>;
  /** The workflow's inputs, deserialized. */
  readonly args: readonly unknown[];
  /** `loadSteps()` of the workflow. */
  readonly history: readonly StepRow[];
  readonly serializer: Serializer;
  readonly deadlineAt: Date | null;
  /** Where a replay's own warnings go (none today); default: dropped. */
  readonly logger?: Logger;
}

/** Unreached steps listed by name in a report; the count covers the rest. */
export const MAX_UNREACHED_LISTED = 10;

/** A value preview in the printed timeline is cut here: a timeline line should fit a terminal, not a document. */
const MAX_PREVIEW_CHARS = 200;

/** Kinds whose recorded name is the kind itself, so the timeline shows the kind alone. */
const UNNAMED_KINDS: ReadonlySet<string> = new Set<StepKind>(['sleep', 'deadline', 'now', 'random', 'uuid']);
/** Kinds whose recorded output is an epoch-ms time, shown with its date too. */
const TIME_KINDS: ReadonlySet<string> = new Set<StepKind>(['sleep', 'deadline', 'now']);


/**
 * Runs `input.fn` — the workflow's current code — against its recorded history, in this process.
 * Every recorded step, transaction, message, event, sleep and child returns its recorded outcome
 * without running, waiting or writing anything; the replay stops at the first operation the code
 * calls differently (a divergence) or that the history does not hold yet. A debugger attached to
 * the process stops at breakpoints in the workflow code with the recorded values.
 *
 * Code outside steps (plain statements in the workflow function) does run, as it does on every
 * recovery.
 *
 * @example
 * const row = await getWorkflow(db, 'order-42');
 * const report = await replayWorkflow({
 *   workflowId: row.workflow_id, name: row.name, recordedStatus: row.status,
 *   fn: checkoutFunction, args: serializer.deserialize(row.inputs), history: await loadSteps(db, 'order-42'),
 *   serializer, deadlineAt: row.deadline_at,
 * });
 * console.log(formatReplayReport(report)); // exit 1 when report.diverged
 */
export async function replayWorkflow(input: ReplayInput): Promise<ReplayReport> {
  const { workflowId, serializer } = input;
  const timeline: ReplayStepEvent[] = [];
  const reached = new Set<number>();
  const observer: ReplayObserver = {
    replayed(row) {
      reached.add(row.step_id);
      timeline.push({ stepId: row.step_id, kind: row.kind, name: row.name, outcome: 'replayed', recorded: recordedOutcome(row, serializer) });
    },
    diverged(row, current) {
      reached.add(row.step_id);
      timeline.push({ stepId: row.step_id, kind: row.kind, name: row.name, outcome: 'diverged', recorded: recordedOutcome(row, serializer), current });
    },
    notRecorded(stepId, kind, name) {
      timeline.push({ stepId, kind, name, outcome: 'not-recorded' });
    },
  };
  const isolation = isolatedRuntime(serializer, input.logger ?? silent);
  const never = new AbortController(); // a replay is neither cancelled nor timed out
  const context = new Context(isolation.runtime, workflowId, never.signal, input.history, input.deadlineAt, { replay: observer });

  let settled: { kind: 'completed'; output: unknown } | { kind: 'failed'; error: ReplayError };
  try {
    // Inside currentContext, so a workflow started from workflow code is seen as a child of this replay.
    const output = await Promise.resolve().then(() => currentContext.run(context, () => input.fn(context, ...input.args)));
    settled = { kind: 'completed', output };
  } catch (error) {
    settled = { kind: 'failed', error: describeError(error) };
  }
  if (isolation.violation) throw isolation.violation;

  // A divergence or the end of the history wins over whatever the code did after catching it.
  const fatal = context.fatalError;
  let end: ReplayReport['end'];
  const divergence = timeline.find((event) => event.outcome === 'diverged');
  if (fatal instanceof NonDeterminismError) {
    end = divergence
      ? { kind: 'diverged', stepId: divergence.stepId, recorded: label(divergence.kind, divergence.name), current: label(divergence.current!.kind, divergence.current!.name) }
      : { kind: 'diverged', stepId: fatal.stepId, recorded: fatal.recorded, current: fatal.called };
  }
  else if (fatal instanceof HistoryEndError) end = { kind: 'history-end', stepId: fatal.stepId, next: label(fatal.stepKind, fatal.stepName) };
  else if (fatal) end = { kind: 'failed', error: describeError(fatal) };
  else end = settled;

  const unreachedRows = input.history.filter((row) => !reached.has(row.step_id)).sort((a, b) => a.step_id - b.step_id);
  const finished = end.kind === 'completed' || end.kind === 'failed';
  return {
    workflowId,
    name: input.name,
    recordedStatus: input.recordedStatus,
    timeline,
    end,
    unreached: unreachedRows.length,
    unreachedSteps: unreachedRows.slice(0, MAX_UNREACHED_LISTED).map((row) => ({ stepId: row.step_id, kind: row.kind, name: row.name })),
    diverged: end.kind === 'diverged' || (finished && unreachedRows.length > 0),
  };
}

/**
 * The report as text for a terminal: a header, one line per operation, and why the replay stopped.
 *
 * @example
 * replay of workflow "order-42" (checkout), recorded status PENDING
 *   #0 step "reserve" ✓ replayed → {"id":"r_1"}
 *   #1 step "charge" ✗ diverged
 *        recorded: step "charge"
 *        current:  step "refund"
 * DIVERGED at step #1: the current code calls step "refund" where the history recorded step "charge"
 */
export function formatReplayReport(report: ReplayReport): string {
  const lines = [`replay of workflow "${report.workflowId}" (${report.name}), recorded status ${report.recordedStatus}`];
  if (report.timeline.length === 0 && report.end.kind !== 'history-end') lines.push('  (no durable operation called)');
  for (const event of report.timeline) {
    const head = `  #${event.stepId} ${label(event.kind, event.name)}`;
    if (event.outcome === 'replayed') {
      lines.push(`${head} ✓ replayed → ${showOutcome(event.kind, event.recorded)}`);
    } else if (event.outcome === 'diverged') {
      lines.push(`${head} ✗ diverged`, `       recorded: ${label(event.kind, event.name)}`, `       current:  ${label(event.current!.kind, event.current!.name)}`);
    } else {
      lines.push(`${head} … not recorded: the history ends here`);
    }
  }
  const finishedWith = report.end.kind === 'completed' ? 'returned' : 'threw';
  if (report.end.kind === 'completed' || report.end.kind === 'failed') {
    report.unreachedSteps.forEach((step, index) => {
      lines.push(`  #${step.stepId} ${label(step.kind, step.name)} ✗ never reached`);
      if (index === 0) lines.push(`       recorded: ${label(step.kind, step.name)}`, `       current:  (the workflow ${finishedWith})`);
    });
    if (report.unreached > report.unreachedSteps.length) lines.push(`  … and ${report.unreached - report.unreachedSteps.length} more recorded operations never reached`);
  } else if (report.unreached > 0) {
    lines.push(`  (${report.unreached} later recorded operation${report.unreached === 1 ? '' : 's'} not replayed)`);
  }

  const end = report.end;
  switch (end.kind) {
    case 'diverged':
      lines.push(`DIVERGED at step #${end.stepId}: the current code calls ${end.current} where the history recorded ${end.recorded}`);
      break;
    case 'history-end': {
      const note =
        report.recordedStatus === 'SUCCESS'
          ? 'the recorded run returned before this point, so the current code would do more than it did'
          : 'not a divergence: the workflow has not got further yet';
      // A wait with a timeout first records its deadline, so "deadline" stands for the recv or getEvent that follows.
      const next = end.next === 'deadline' ? 'deadline (the timeout of a recv or getEvent)' : end.next;
      lines.push(`history ends at step #${end.stepId}: the live workflow would run ${next} next (${note})`);
      break;
    }
    case 'completed':
    case 'failed': {
      const outcome = end.kind === 'completed' ? `completed → ${preview(end.output)}` : `failed: ${end.error.name}: ${end.error.message}`;
      if (report.unreached > 0) {
        const first = report.unreachedSteps[0]!;
        lines.push(
          `${outcome}`,
          `DIVERGED: the workflow ${finishedWith} without reaching ${report.unreached} recorded operation${report.unreached === 1 ? '' : 's'}, from #${first.stepId} ${label(first.kind, first.name)}`,
        );
      } else {
        lines.push(`${outcome}; no divergence: the current code follows the recorded history`);
      }
      break;
    }
  }
  return lines.join('\n');
}

// ---- internals ----

const silent: Logger = { info() {}, warn() {}, error() {} };

/** `step "charge"`, or `sleep` for kinds named after themselves. */
function label(kind: string, name: string): string {
  return UNNAMED_KINDS.has(kind) && name === kind ? kind : `${kind} ${JSON.stringify(name)}`;
}

function recordedOutcome(row: StepRow, serializer: Serializer): ReplayStepEvent['recorded'] {
  if (row.error !== null) return { error: describeError(decode(serializer, row.error)) };
  if (row.kind === 'start_child') return { output: row.child_workflow_id }; // the handle's workflow ID is what was recorded
  return { output: row.output === null ? undefined : decode(serializer, row.output) };
}

/** A stored value, or a description of why it cannot be read (a report must not fail on one bad row). */
function decode(serializer: Serializer, text: string): unknown {
  try {
    return serializer.deserialize(text);
  } catch (error) {
    return `<unreadable: ${(error as Error)?.message ?? String(error)}>`;
  }
}

function describeError(error: unknown): ReplayError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: typeof error, message: preview(error) };
}

function showOutcome(kind: string, recorded: ReplayStepEvent['recorded']): string {
  if (recorded?.error) return `threw ${recorded.error.name}: ${recorded.error.message}`;
  const output = recorded?.output;
  if (TIME_KINDS.has(kind) && typeof output === 'number' && Number.isFinite(output)) return `${output} (${new Date(output).toISOString()})`;
  return preview(output);
}

/** Compact JSON-like text of a stored value (Date, BigInt, Map, Set, bytes and errors included), cut to MAX_PREVIEW_CHARS. */
function preview(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'undefined';
  else {
    try {
      text = JSON.stringify(value, (_key, item: unknown) => {
        if (typeof item === 'bigint') return `${item}n`;
        if (item instanceof Map) return Object.fromEntries([...item].map(([k, v]) => [String(k), v]));
        if (item instanceof Set) return [...item];
        if (item instanceof Uint8Array) return `<${item.byteLength} bytes>`;
        if (item instanceof Error) return { name: item.name, message: item.message };
        if (item === undefined) return null;
        return item;
      });
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_PREVIEW_CHARS ? `${text.slice(0, MAX_PREVIEW_CHARS - 1)}…` : text;
}

/**
 * A Runtime for a replay: the serializer and logger are real; the databases, the checkpoint
 * writer, the signals and the engine calls throw ReplayIsolationError and remember it, so a
 * replay that would touch anything is stopped however the workflow code handles the error.
 */
function isolatedRuntime(serializer: Serializer, logger: Logger): { runtime: Runtime; readonly violation: ReplayIsolationError | undefined } {
  let violation: ReplayIsolationError | undefined;
  const refuse = (what: string): never => {
    violation ??= new ReplayIsolationError(what);
    throw violation;
  };
  const forbidden = <T>(what: string): T =>
    new Proxy(
      {},
      {
        get(_target, property) {
          // Symbols and `then` are probes (inspection, await), not uses.
          if (typeof property === 'symbol' || property === 'then') return undefined;
          return refuse(`${what}.${property}`);
        },
      },
    ) as T;
  const runtime: Runtime = {
    db: forbidden('the system database'),
    appDb: forbidden('the application database'),
    serializer,
    writer: forbidden('the checkpoint writer'),
    starts: forbidden('the workflow start writer'),
    ends: forbidden('the workflow end writer'),
    enqueues: forbidden('the enqueue writer'),
    signals: forbidden('the signals'),
    logger,
    safetyPollIntervalMs: Infinity,
    holdLease: () => null, // a replay runs no step
    stepTransactions: {},
    startWorkflow: () => refuse('the engine to start a workflow'),
    awaitTerminal: () => refuse("the engine to wait for a workflow's result"),
    decodeTerminal: () => refuse("the engine to read a workflow's result"),
    durable: (_db, operation) => operation(), // reaches a forbidden database, which refuses
    owner: () => ({ executorId: 'replay', epoch: 0 }),
  };
  return {
    runtime,
    get violation() {
      return violation;
    },
  };
}
