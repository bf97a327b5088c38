/**
 * `strata workflows …`: list, inspect and steer workflows through `client.workflows`.
 */
import type { Command } from 'commander';
import type { StepRecord, WorkflowDetails, WorkflowFilter, WorkflowStatus } from '@strata/transact';
import { UsageError } from '../errors.js';
import { formatDuration, formatTime, formatValue, visible, workflowDurationMs } from '../format.js';
import type { Host } from '../host.js';
import { WORKFLOW_STATUSES, parseListOptions, parseWholeNumber, parseWorkflowFilter, type RawFilterOptions, type RawListOptions } from '../options.js';
import type { Session } from '../session.js';
import { abbreviate, renderFields, renderTable } from '../table.js';

/** Characters of a step's output or error shown in the steps table; `--json` has it whole. */
const STEP_OUTPUT_WIDTH_MAX = 60;

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
    .description('show one workflow: status, inputs, output or error')
    .argument('<id>', 'workflow ID')
    .action(
      host.run(async (session, id: string) => {
        const details = await (await session.client()).workflows.get(id);
        if (session.json) return session.printJson(details);
        session.print(detailsText(details));
      }),
    );

  workflows
    .command('steps')
    .description("list a workflow's recorded steps in order")
    .argument('<id>', 'workflow ID')
    .action(
      host.run(async (session, id: string) => {
        const steps = await (await session.client()).workflows.steps(id);
        if (session.json) return session.printJson(steps);
        session.print(stepTable(steps));
      }),
    );

  bulkCommand(workflows, host, {
    name: 'cancel',
    description: 'cancel a PENDING or ENQUEUED workflow and its unfinished children, or every unfinished workflow matching filters',
    done: 'cancelled',
    one: (session, id) => session.client().then((c) => c.workflows.cancel(id)),
    many: (session, filter) => session.client().then((c) => c.workflows.cancelMany(filter)),
  });
  bulkCommand(workflows, host, {
    name: 'resume',
    description: 'run a CANCELLED or ERROR workflow again from its last checkpoint (same ID), or every one matching filters',
    done: 'resumed',
    one: (session, id) => session.client().then((c) => c.workflows.resume(id)),
    many: (session, filter) => session.client().then((c) => c.workflows.resumeMany(filter)),
  });
  bulkCommand(workflows, host, {
    name: 'delete',
    description: 'delete a finished workflow with its steps, messages, events and streams, or every finished one matching filters',
    done: 'deleted',
    one: (session, id) => session.client().then((c) => c.workflows.delete(id)),
    many: (session, filter) => session.client().then((c) => c.workflows.deleteMany(filter)),
  });

  workflows
    .command('restart')
    .description('start a new workflow with the same name and inputs, from scratch; prints its ID')
    .argument('<id>', 'workflow ID to restart')
    .option('--new-id <id>', 'ID of the new workflow (default: a random UUID)')
    .action(
      host.run(async (session, id: string, options: { newId?: string }) => {
        const client = await session.client();
        const newId = await client.workflows.restart(id, options.newId !== undefined ? { workflowId: options.newId } : undefined);
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
        const newId = await client.workflows.fork(id, fromStep, options.newId !== undefined ? { workflowId: options.newId } : undefined);
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

function stepTable(steps: readonly StepRecord[]): string {
  return renderTable(
    [{ header: '#', align: 'right' }, { header: 'KIND' }, { header: 'NAME' }, { header: 'ATTEMPTS', align: 'right' }, { header: 'DURATION MS', align: 'right' }, { header: 'OUTPUT/ERROR' }],
    steps.map((s) => [
      String(s.stepId),
      s.kind,
      s.name,
      String(s.attempts),
      String(Math.round(s.durationMs)),
      abbreviate(s.error ? `${s.error.name}: ${s.error.message}` : stepOutput(s), STEP_OUTPUT_WIDTH_MAX),
    ]),
  );
}

/** A step's output for the table; a durable sleep records its wake-up time in epoch ms, shown as a time. */
function stepOutput(step: StepRecord): string {
  if (step.kind === 'sleep' && typeof step.output === 'number' && Number.isFinite(step.output)) return `wakes at ${new Date(step.output).toISOString()}`;
  return formatValue(step.output);
}
