/**
 * `strata workflows …`: list, inspect and steer workflows through `client.workflows`.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { OperatorAction, StepAttempt, StepRecord, WorkflowDetails, WorkflowFilter, WorkflowStatus } from '@strata/transact';
import { UsageError } from '../errors.js';
import { formatDuration, formatTime, formatValue, visible, workflowDurationMs } from '../format.js';
import type { Host } from '../host.js';
import { WORKFLOW_STATUSES, parseListOptions, parseWholeNumber, parseWorkflowFilter, type RawFilterOptions, type RawListOptions } from '../options.js';
import type { Session } from '../session.js';
import { abbreviate, renderFields, renderTable } from '../table.js';

/** Characters of a step's output or error shown in the steps table; `--json` has it whole. */
const STEP_OUTPUT_WIDTH_MAX = 60;
/** Characters of an operator action's detail shown in a table; `--json` has it whole. */
const ACTION_DETAIL_WIDTH_MAX = 100;

/**
 * Who the CLI's cancel, resume, restart, fork and delete are recorded as (strata.operator_actions):
 * `cli:<os user>`, or `cli` when the user has no name (no passwd entry in a container).
 */
export function cliActor(): string {
  try {
    const name = userInfo().username;
    return name ? `cli:${name}` : 'cli';
  } catch {
    return 'cli';
  }
}

export function registerWorkflowCommands(program: Command, host: Host): void {
  const workflows = program
    .command('workflows')
    .alias('wf')
    .description('list, inspect, cancel, resume, restart, fork and delete workflows');

  withFilterOptions(
    workflows
      .command('list', { isDefault: true })
      .alias('ls')
      .description('list workflows, newest first, one page at a time')
      .option('--limit <n>', 'rows per page, 1–1000', '100')
      .option('--cursor <cursor>', 'the page after the one that printed this cursor')
      .option('--oldest', 'oldest first'),
  ).action(
    host.run(async (session, options: RawListOptions) => {
      const listOptions = parseListOptions(options);
      const page = await (await session.client()).workflows.list(listOptions);
      if (session.json) return session.printJson(page);
      session.print(workflowTable(page.workflows));
      if (page.nextCursor !== null) session.print(`next: --cursor ${page.nextCursor}\n`);
    }),
  );

  workflows
    .command('get')
    .description('show one workflow: status, inputs, output or error, and who cancelled, resumed, restarted, forked it')
    .argument('<id>', 'workflow ID')
    .action(
      host.run(async (session, id: string) => {
        const client = await session.client();
        const details = await client.workflows.get(id);
        const actions = await client.workflows.operatorActions(id);
        if (session.json) return session.printJson({ ...details, operatorActions: actions });
        session.print(detailsText(details));
        session.print(actions.length === 0 ? 'operator actions: none\n' : `\noperator actions:\n${actionTable(actions)}`);
      }),
    );

  workflows
    .command('actions')
    .description('list who cancelled, resumed, restarted, forked or deleted a workflow, and when (kept after a delete)')
    .argument('<id>', 'workflow ID')
    .action(
      host.run(async (session, id: string) => {
        const actions = await (await session.client()).workflows.operatorActions(id);
        if (session.json) return session.printJson(actions);
        session.print(actions.length === 0 ? `no operator actions recorded for ${visible(id)}\n` : actionTable(actions));
      }),
    );

  workflows
    .command('steps')
    .description("list a workflow's recorded steps in order, with a line per failed attempt of a retried step")
    .argument('<id>', 'workflow ID')
    .action(
      host.run(async (session, id: string) => {
        const client = await session.client();
        const steps = await client.workflows.steps(id);
        if (session.json) return session.printJson(steps);
        // Attempts of a step still retrying (no outcome yet) are only in failedAttempts.
        const recorded = new Set(steps.map((step) => step.stepId));
        const retrying = (await client.workflows.failedAttempts(id)).filter((attempt) => !recorded.has(attempt.stepId));
        session.print(stepTable(steps, retrying));
      }),
    );

  bulkCommand(workflows, host, {
    name: 'cancel',
    description: 'cancel a PENDING or ENQUEUED workflow and its unfinished children, or every unfinished workflow matching filters',
    done: 'cancelled',
    one: (session, id) => session.client().then((c) => c.workflows.cancel(id, { actor: cliActor() })),
    many: (session, filter) => session.client().then((c) => c.workflows.cancelMany(filter, { actor: cliActor() })),
  });
  bulkCommand(workflows, host, {
    name: 'resume',
    description: 'run a CANCELLED or ERROR workflow again from its last checkpoint (same ID), or every one matching filters',
    done: 'resumed',
    one: (session, id) => session.client().then((c) => c.workflows.resume(id, { actor: cliActor() })),
    many: (session, filter) => session.client().then((c) => c.workflows.resumeMany(filter, { actor: cliActor() })),
  });
  bulkCommand(workflows, host, {
    name: 'delete',
    description: 'delete a finished workflow with its steps, messages, events and streams, or every finished one matching filters',
    done: 'deleted',
    one: (session, id) => session.client().then((c) => c.workflows.delete(id, { actor: cliActor() })),
    many: (session, filter) => session.client().then((c) => c.workflows.deleteMany(filter, { actor: cliActor() })),
  });

  workflows
    .command('restart')
    .description('start a new workflow with the same name and inputs, from scratch; prints its ID')
    .argument('<id>', 'workflow ID to restart')
    .option('--new-id <id>', 'ID of the new workflow (default: a random UUID)')
    .action(
      host.run(async (session, id: string, options: { newId?: string }) => {
        const client = await session.client();
        const newId = await client.workflows.restart(id, { actor: cliActor(), ...(options.newId !== undefined ? { workflowId: options.newId } : {}) });
        printNewWorkflow(session, id, newId);
      }),
    );

  workflows
    .command('fork')
    .description('start a new workflow that reuses steps 0 to N−1 of this one and runs the rest with the code executors run today; prints its ID')
    .argument('<id>', 'workflow ID to fork')
    .requiredOption('--from-step <n>', 'first step to run again (0 to the number of recorded steps)')
    .option('--new-id <id>', 'ID of the new workflow (default: a random UUID)')
    .action(
      host.run(async (session, id: string, options: { fromStep: string; newId?: string }) => {
        const fromStep = parseWholeNumber(options.fromStep, '--from-step', 0);
        const client = await session.client();
        const newId = await client.workflows.fork(id, fromStep, { actor: cliActor(), ...(options.newId !== undefined ? { workflowId: options.newId } : {}) });
        printNewWorkflow(session, id, newId);
      }),
    );
}

/** Adds the filter flags shared by `list` and the bulk commands. */
function withFilterOptions(command: Command): Command {
  return command
    .option('--status <statuses>', `only these statuses, comma-separated: ${WORKFLOW_STATUSES.join(', ')}`)
    .option('--name <name>', 'only workflows of this registered name')
    .option('--queue <queue>', 'only workflows of this queue')
    .option('--executor <id>', 'only workflows of this executor')
    .option('--app-version <version>', 'only workflows of this application version')
    .option('--since <time>', 'created at or after: ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z) or an age (30m, 2h, 7d)')
    .option('--until <time>', 'created before: ISO 8601 or an age')
    .option('--prefix <prefix>', 'only workflow IDs starting with this')
    .option('--attr <key=value>', 'only workflows with this attribute (repeat for several)', collect, [] as string[])
    .option('--parent <id>', 'only children of this workflow');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `cancel|resume|delete [id]`: one workflow by ID, or every workflow matching filters (or `--all`). */
function bulkCommand(
  workflows: Command,
  host: Host,
  spec: {
    readonly name: string;
    readonly description: string;
    readonly done: string;
    readonly one: (session: Session, id: string) => Promise<void>;
    readonly many: (session: Session, filter: WorkflowFilter) => Promise<number>;
  },
): void {
  withFilterOptions(
    workflows
      .command(spec.name)
      .description(spec.description)
      .argument('[id]', 'workflow ID; leave out and give filters or --all for many')
      .option('--all', 'every workflow the filters match (all of them without filters)'),
  ).action(
    host.run(async (session, id: string | undefined, options: RawFilterOptions & { all?: boolean }) => {
      const { filter, narrowed } = parseWorkflowFilter(options);
      if (id !== undefined) {
        if (narrowed || options.all) throw new UsageError(`${spec.name} takes a workflow ID or filters (with --all), not both`);
        await spec.one(session, id);
        if (session.json) return session.printJson({ workflowId: id, [spec.done]: true });
        return session.print(`${spec.done} ${visible(id)}\n`);
      }
      if (!narrowed && !options.all) {
        throw new UsageError(`${spec.name} needs a workflow ID, or filters (--status, --name, --queue, --since, …), or --all for every workflow`);
      }
      const count = await spec.many(session, options.all ? ({ ...filter, all: true } as WorkflowFilter) : filter);
      if (session.json) return session.printJson({ [spec.done]: count });
      session.print(`${spec.done} ${count} workflow${count === 1 ? '' : 's'}\n`);
    }),
  );
}

function printNewWorkflow(session: Session, sourceId: string, newId: string): void {
  if (session.json) return session.printJson({ workflowId: newId, sourceWorkflowId: sourceId });
  session.print(`${visible(newId)}\n`);
}

function workflowTable(workflows: readonly WorkflowStatus[]): string {
  return renderTable(
    [{ header: 'ID' }, { header: 'NAME' }, { header: 'STATUS' }, { header: 'QUEUE' }, { header: 'EXECUTOR' }, { header: 'CREATED' }, { header: 'DURATION', align: 'right' }],
    workflows.map((w) => [w.workflowId, w.name, w.status, w.queueName ?? '-', w.executorId ?? '-', formatTime(w.createdAt), formatDuration(workflowDurationMs(w))]),
  );
}

function detailsText(w: WorkflowDetails): string {
  const attributes = Object.entries(w.attributes).map(([key, value]) => `${key}=${value}`);
  const fields: [string, string][] = [
    ['ID', w.workflowId],
    ['name', w.name],
    ['status', w.status],
    ['queue', w.queueName ?? '-'],
    ['executor', w.executorId ?? '-'],
    ['app version', w.appVersion ?? '-'],
    ['attributes', attributes.length > 0 ? attributes.join(' ') : '-'],
    ['parent', w.parentWorkflowId ?? '-'],
    ['created', formatTime(w.createdAt)],
    ['started', formatTime(w.startedAt)],
    ['completed', formatTime(w.completedAt)],
    ['duration', formatDuration(workflowDurationMs(w))],
    ['deadline', formatTime(w.deadlineAt)],
    ['recoveries', String(w.recoveryAttempts)],
    ['inputs', formatValue(w.inputs)],
    ['output', w.status === 'SUCCESS' ? formatValue(w.output) : '-'],
    ['error', w.error ? `${w.error.name}: ${w.error.message}` : '-'],
  ];
  return renderFields(fields);
}

/**
 * The steps table: a row per step, under it a row per failed attempt of a retried step; then the
 * failed attempts of steps still retrying (`retrying`, no outcome yet). Every cell is escaped.
 */
function stepTable(steps: readonly StepRecord[], retrying: readonly StepAttempt[] = []): string {
  const rows: string[][] = [];
  for (const s of steps) {
    rows.push([
      String(s.stepId),
      s.kind,
      s.name,
      String(s.attempts),
      String(Math.round(s.durationMs)),
      abbreviate(s.error ? `${s.error.name}: ${s.error.message}` : stepOutput(s), STEP_OUTPUT_WIDTH_MAX),
    ]);
    for (const attempt of s.failedAttempts) rows.push(attemptRow(attempt));
  }
  let last: number | undefined;
  for (const attempt of retrying) {
    if (attempt.stepId !== last) rows.push([String(attempt.stepId), 'step', attempt.stepName, '-', '-', 'retrying: no outcome yet']);
    last = attempt.stepId;
    rows.push(attemptRow(attempt));
  }
  return renderTable(
    [{ header: '#', align: 'right' }, { header: 'KIND' }, { header: 'NAME' }, { header: 'ATTEMPTS', align: 'right' }, { header: 'DURATION MS', align: 'right' }, { header: 'OUTPUT/ERROR' }],
    rows,
  );
}

/** A failed attempt as a row under its step: `attempt N failed` and its error. */
function attemptRow(attempt: StepAttempt): string[] {
  const error = `${attempt.error.name}${attempt.error.code ? ` [${attempt.error.code}]` : ''}: ${attempt.error.message}`;
  return ['', '', `  attempt ${attempt.attempt} failed`, '', '', abbreviate(`${formatTime(attempt.failedAt)} ${error}`, STEP_OUTPUT_WIDTH_MAX)];
}

/** Operator actions, oldest first: when, who, what, and what it changed. */
function actionTable(actions: readonly OperatorAction[]): string {
  return renderTable(
    [{ header: 'WHEN' }, { header: 'WHO' }, { header: 'ACTION' }, { header: 'DETAIL' }],
    actions.map((a) => [formatTime(a.at), a.actor, a.action, abbreviate(actionDetail(a), ACTION_DETAIL_WIDTH_MAX)]),
  );
}

/** An action's detail as `key=value` pairs (a resume's forgotten error spelled out). */
function actionDetail(action: OperatorAction): string {
  const { forgottenStep, forgottenAttempts, ...rest } = action.detail as Record<string, unknown> & {
    forgottenStep?: { stepId: number; name: string; error?: { name?: string; message?: string } };
    forgottenAttempts?: unknown[];
  };
  const parts = Object.entries(rest).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  if (forgottenStep) parts.push(`forgot step ${forgottenStep.stepId} "${forgottenStep.name}": ${forgottenStep.error?.name ?? 'Error'}: ${forgottenStep.error?.message ?? ''}`);
  if (forgottenAttempts?.length) parts.push(`and ${forgottenAttempts.length} failed attempt(s) before it (--json has them)`);
  return parts.join(' ');
}

/** A step's output for the table; a durable sleep records its wake-up time in epoch ms, shown as a time. */
function stepOutput(step: StepRecord): string {
  if (step.kind === 'sleep' && typeof step.output === 'number' && Number.isFinite(step.output)) return `wakes at ${new Date(step.output).toISOString()}`;
  return formatValue(step.output);
}
