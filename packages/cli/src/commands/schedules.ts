/**
 * `strata schedules …`: list, inspect, create, change, pause, resume and delete cron schedules
 * through `client.schedules`.
 */
import type { Command } from 'commander';
import type { ScheduleInfo } from '@strata/transact';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { formatTime, visible } from '../format.js';
import type { Host } from '../host.js';
import type { Session } from '../session.js';
import { renderFields, renderTable } from '../table.js';

interface RawScheduleOptions {
  readonly workflow?: string;
  readonly cron?: string;
  readonly timezone?: string;
  readonly catchUp?: boolean;
  readonly queue?: string;
}

export function registerScheduleCommands(program: Command, host: Host): void {
  const schedules = program.command('schedules').description('list, create, change, pause, resume and delete cron schedules');

  schedules
    .command('list', { isDefault: true })
    .alias('ls')
    .description('every schedule with its workflow, cron expression and next tick')
    .action(
      host.run(async (session) => {
        const list = await (await session.client()).schedules.list();
        if (session.json) return session.printJson(list);
        session.print(
          renderTable(
            [{ header: 'NAME' }, { header: 'WORKFLOW' }, { header: 'CRON' }, { header: 'TIMEZONE' }, { header: 'STATUS' }, { header: 'QUEUE' }, { header: 'LAST TICK' }, { header: 'NEXT TICK' }],
            list.map((s) => [s.name, s.workflowName, s.cron, s.timezone, s.status, s.queue ?? '-', formatTime(s.lastTickAt), formatTime(s.nextTickAt)]),
          ),
        );
      }),
    );

  schedules
    .command('get')
    .description('one schedule')
    .argument('<name>', 'schedule name')
    .action(
      host.run(async (session, name: string) => {
        const schedule = await (await session.client()).schedules.get(name);
        if (!schedule) throw new CliError(`no schedule named "${name}" exists`, ExitCode.notFound);
        printSchedule(session, schedule);
      }),
    );

  schedules
    .command('create')
    .description("create a schedule that starts a workflow on every tick (with the tick's time as its argument)")
    .argument('<name>', 'schedule name')
    .requiredOption('--workflow <name>', 'registered name of the workflow to start')
    .requiredOption('--cron <expression>', "5 fields (minute first) or 6 (seconds first), e.g. '0 3 * * *'")
    .option('--timezone <tz>', 'IANA time zone the expression is read in (default UTC)')
    .option('--catch-up', 'after downtime, start the missed ticks too')
    .option('--queue <queue>', "enqueue each tick's workflow on this queue")
    .action(
      host.run(async (session, name: string, options: RawScheduleOptions) => {
        const schedule = await (await session.client()).schedules.create(name, {
          workflow: options.workflow!,
          cron: options.cron!,
          ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
          ...(options.catchUp ? { catchUp: true } : {}),
          ...(options.queue !== undefined ? { queue: options.queue } : {}),
        });
        printSchedule(session, schedule);
      }),
    );

  schedules
    .command('update')
    .description('change a schedule')
    .argument('<name>', 'schedule name')
    .option('--workflow <name>', 'registered name of the workflow to start')
    .option('--cron <expression>', 'cron expression')
    .option('--timezone <tz>', 'IANA time zone')
    .option('--catch-up', 'start missed ticks after downtime')
    .option('--no-catch-up', 'only future ticks')
    .option('--queue <queue>', "enqueue each tick's workflow on this queue (none: start at once)")
    .action(
      host.run(async (session, name: string, options: RawScheduleOptions) => {
        const change = {
          ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
          ...(options.cron !== undefined ? { cron: options.cron } : {}),
          ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
          ...(options.catchUp !== undefined ? { catchUp: options.catchUp } : {}),
          ...(options.queue !== undefined ? { queue: options.queue.toLowerCase() === 'none' ? null : options.queue } : {}),
        };
        if (Object.keys(change).length === 0) throw new UsageError('update needs at least one of --workflow, --cron, --timezone, --catch-up/--no-catch-up, --queue');
        printSchedule(session, await (await session.client()).schedules.update(name, change));
      }),
    );

  for (const [verb, done] of [['pause', 'paused'], ['resume', 'resumed']] as const) {
    schedules
      .command(verb)
      .description(verb === 'pause' ? 'stop starting workflows until resumed' : 'start workflows again from the next tick')
      .argument('<name>', 'schedule name')
      .action(
        host.run(async (session, name: string) => {
          const client = await session.client();
          const schedule = await (verb === 'pause' ? client.schedules.pause(name) : client.schedules.resume(name));
          if (session.json) return session.printJson(schedule);
          session.print(`${done} schedule ${visible(name)}\n`);
        }),
      );
  }

  schedules
    .command('delete')
    .description('delete a schedule (workflows it started stay)')
    .argument('<name>', 'schedule name')
    .action(
      host.run(async (session, name: string) => {
        await (await session.client()).schedules.delete(name);
        if (session.json) return session.printJson({ name, deleted: true });
        session.print(`deleted schedule ${visible(name)}\n`);
      }),
    );
}

function printSchedule(session: Session, s: ScheduleInfo): void {
  if (session.json) return session.printJson(s);
  session.print(
    renderFields([
      ['name', s.name],
      ['workflow', s.workflowName],
      ['cron', s.cron],
      ['timezone', s.timezone],
      ['catch up', s.catchUp ? 'yes' : 'no'],
      ['queue', s.queue ?? '-'],
      ['status', s.status],
      ['last tick', formatTime(s.lastTickAt)],
      ['next tick', formatTime(s.nextTickAt)],
      ['created', formatTime(s.createdAt)],
      ['updated', formatTime(s.updatedAt)],
    ]),
  );
}
