/**
 * `strata queues …`: list, inspect, create, change and delete queues through `client.queues`,
 * with queued and running counts from `client.queueCounts()` (the one implementation, in transact).
 */
import type { Command } from 'commander';
import type { QueueCounts, QueueInfo } from '@strata/transact';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { formatTime, visible } from '../format.js';
import type { Host } from '../host.js';
import { parseQueueConfig, type RawQueueOptions } from '../options.js';
import type { Session } from '../session.js';
import { renderFields, renderTable } from '../table.js';

const NO_COUNTS: QueueCounts = { queued: 0, running: 0 };

export function registerQueueCommands(program: Command, host: Host): void {
  const queues = program.command('queues').description('list, inspect, create, change and delete queues');

  queues
    .command('list', { isDefault: true })
    .alias('ls')
    .description('every queue with its limits and how many workflows are queued and running')
    .action(
      host.run(async (session) => {
        const client = await session.client();
        const [list, counts] = await Promise.all([client.queues.list(), client.queueCounts()]);
        const rows = list.map((queue) => ({ ...queue, ...(counts.get(queue.name) ?? NO_COUNTS) }));
        if (session.json) return session.printJson(rows);
        session.print(
          renderTable(
            [
              { header: 'NAME' },
              { header: 'CONCURRENCY', align: 'right' },
              { header: 'WORKER', align: 'right' },
              { header: 'PARTITION', align: 'right' },
              { header: 'RATE LIMIT' },
              { header: 'QUEUED', align: 'right' },
              { header: 'RUNNING', align: 'right' },
            ],
            rows.map((q) => [q.name, limit(q.concurrency), limit(q.workerConcurrency), limit(q.partitionConcurrency), rate(q), String(q.queued), String(q.running)]),
          ),
        );
      }),
    );

  queues
    .command('get')
    .description("a queue's limits and how many workflows are queued and running")
    .argument('<name>', 'queue name')
    .action(
      host.run(async (session, name: string) => {
        const client = await session.client();
        const queue = await client.queues.get(name);
        if (!queue) throw await unknownQueue(session, name);
        printQueue(session, queue, (await client.queueCounts([name])).get(name) ?? NO_COUNTS);
      }),
    );

  withLimitOptions(queues.command('create').description('create a queue (no flags: no limits)').argument('<name>', 'queue name')).action(
    host.run(async (session, name: string, options: RawQueueOptions) => {
      const config = parseQueueConfig(options);
      const queue = await (await session.client()).queues.create(name, config);
      printQueue(session, queue, NO_COUNTS);
    }),
  );

  withLimitOptions(queues.command('update').description("change a queue's limits (none removes one)").argument('<name>', 'queue name')).action(
    host.run(async (session, name: string, options: RawQueueOptions) => {
      const config = parseQueueConfig(options);
      if (Object.keys(config).length === 0) {
        throw new UsageError('update needs at least one of --concurrency, --worker-concurrency, --partition-concurrency, --rate-limit');
      }
      const client = await session.client();
      const queue = await client.queues.update(name, config);
      printQueue(session, queue, (await client.queueCounts([name])).get(name) ?? NO_COUNTS);
    }),
  );

  queues
    .command('delete')
    .description('delete a queue that has no queued or running workflows')
    .argument('<name>', 'queue name')
    .action(
      host.run(async (session, name: string) => {
        await (await session.client()).queues.delete(name);
        if (session.json) return session.printJson({ name, deleted: true });
        session.print(`deleted queue ${visible(name)}\n`);
      }),
    );
}

function withLimitOptions(command: Command): Command {
  return command
    .option('--concurrency <n>', 'most workflows of the queue running at once over all executors (none: no limit)')
    .option('--worker-concurrency <n>', 'most running at once in one executor (none: no limit)')
    .option('--partition-concurrency <n>', 'most running at once per partition key (none: no limit)')
    .option('--rate-limit <count/period>', 'at most COUNT starts per PERIOD: 100/1000 (ms), 100/1s, 5/1m (none: no limit)');
}

async function unknownQueue(session: Session, name: string): Promise<CliError> {
  const known = (await (await session.client()).queues.list()).map((q) => q.name);
  return new CliError(`no queue named "${name}" exists; known queues: ${known.length > 0 ? known.join(', ') : 'none'}`, ExitCode.notFound);
}

function printQueue(session: Session, queue: QueueInfo, counts: QueueCounts): void {
  if (session.json) return session.printJson({ ...queue, ...counts });
  const fields: [string, string][] = [
    ['name', queue.name],
    ['concurrency', limit(queue.concurrency)],
    ['worker concurrency', limit(queue.workerConcurrency)],
    ['partition concurrency', limit(queue.partitionConcurrency)],
    ['rate limit', rate(queue)],
    ['queued', String(counts.queued)],
    ['running', String(counts.running)],
    ['created', formatTime(queue.createdAt)],
    ['updated', formatTime(queue.updatedAt)],
  ];
  session.print(renderFields(fields));
}

function limit(value: number | null): string {
  return value === null ? '-' : String(value);
}

function rate(queue: QueueInfo): string {
  return queue.rateLimit ? `${queue.rateLimit.limit}/${queue.rateLimit.periodMs}ms` : '-';
}
