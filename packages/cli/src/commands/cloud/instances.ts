/**
 * `strata instances …`: create, list, show, rename, resize, stop, start, restart and delete
 * managed PostgreSQL instances through the control plane's API, and list their operations.
 */
import type { Command } from 'commander';
import { parseWholeNumber } from '../../options.js';
import { UsageError } from '../../errors.js';
import { formatDuration, formatTime, visible } from '../../format.js';
import type { Host } from '../../host.js';
import type { Session } from '../../session.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions, type CloudContext } from './context.js';
import { collect, parseParameters } from './flags.js';
import { readPassword, type PasswordOptions } from './password.js';
import { itemOf, listOf, type Flavor, type Instance, type InstancePower, type Operation } from './types.js';
import { parseWaitTimeout, waitForInstance } from './wait.js';

/** The `--wait` flags of every long operation. */
export interface WaitOptions {
  readonly wait?: boolean;
  readonly waitTimeout?: string;
}

interface CreateOptions extends WaitOptions, PasswordOptions {
  readonly flavor?: string;
  readonly db?: string[];
  readonly user?: string;
  readonly param?: string[];
  readonly replicas?: string;
  readonly synchronous?: boolean;
}

export function registerInstanceCommands(program: Command, host: Host): void {
  const instances = withApiOptions(program.command('instances').description('managed PostgreSQL instances: create, list, show, resize, stop, start, restart, rename, delete'));

  withWait(
    instances
      .command('create')
      .description('create an instance (status BUILD, then ACTIVE once it accepts connections); --wait waits for ACTIVE')
      .argument('<name>', 'instance name: a DNS label (lower-case letters, digits, hyphens; starts with a letter)')
      .requiredOption('--flavor <flavor>', 'size: tiny, small, medium or large (strata instances flavors lists them)')
      .option('--db <name>', 'a database to create in it (repeatable)', collect)
      .option('--user <name>', 'a user to create, with all privileges on every --db; its password is asked for, or read with --password-stdin')
      .option('--param <name=value>', 'a PostgreSQL parameter, e.g. statement_timeout=30s (repeatable)', collect)
      .option('--replicas <n>', 'streaming read replicas, made once it is ACTIVE (0 to 5)')
      .option('--synchronous', 'commits wait until one replica has them on disk (needs --replicas)'),
  )
    .option('--password-stdin', "read the --user's password from the first line of stdin")
    .option('--password <password>', "the --user's password on the command line (shows in the process list; prefer --password-stdin)")
    .action(
      cloudAction(host, async (session, cloud, name: string, options: CreateOptions) => {
        const timeoutMs = parseWaitTimeout(options.waitTimeout);
        const parameters = parseParameters(options.param);
        const databases = options.db ?? [];
        if (options.user === undefined && (options.passwordStdin || options.password !== undefined)) {
          throw new UsageError('--password-stdin and --password set the password of --user; give --user <name> too');
        }
        const users =
          options.user === undefined
            ? []
            : [{ name: options.user, password: await readPassword(options, options.user), grants: databases.map((database) => ({ database, privilege: 'all' })) }];
        const body = {
          name,
          flavor: options.flavor,
          ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
          ...(databases.length > 0 ? { databases } : {}),
          ...(users.length > 0 ? { users } : {}),
          ...(options.replicas !== undefined ? { replicas: parseWholeNumber(options.replicas, '--replicas', 0, 5) } : {}),
          ...(options.synchronous ? { synchronous: true } : {}),
        };
        const api = cloud.api();
        const created = itemOf<Instance>(await api.post('/v1/instances', body), 'instance');
        await finish(session, cloud, created, options, { until: 'settled', timeoutMs });
      }),
    );

  instances
    .command('list', { isDefault: true })
    .alias('ls')
    .description('every instance of your tenant with its status, flavor, power state (frozen or stopped while idle) and address')
    .action(
      cloudAction(host, async (session, cloud) => {
        const list = listOf<Instance>(await cloud.api().get('/v1/instances'), 'instances');
        if (session.json) return session.printJson(list);
        session.print(
          renderTable(
            [{ header: 'ID' }, { header: 'NAME' }, { header: 'STATUS' }, { header: 'FLAVOR' }, { header: 'POWER' }, { header: 'ADDRESS' }, { header: 'OPERATION' }, { header: 'CREATED' }],
            list.map((i) => [i.id, i.name, i.status, i.flavor, i.power?.state ?? '-', address(i), i.currentOperation?.kind ?? '-', formatTime(date(i.createdAt))]),
          ),
        );
      }),
    );

  instances
    .command('show')
    .alias('get')
    .description('one instance: status, flavor, connection string, databases, power state, current operation')
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        printInstance(session, itemOf<Instance>(await cloud.api().get(`/v1/instances/${segment(instance)}`), 'instance'));
      }),
    );

  withWait(instances.command('delete').alias('rm').description('delete an instance and its data; --wait waits until it is gone').argument('<instance>', 'instance ID or name')).action(
    cloudAction(host, async (session, cloud, instance: string, options: WaitOptions) => {
      const timeoutMs = parseWaitTimeout(options.waitTimeout);
      const answer = await cloud.api().delete<unknown>(`/v1/instances/${segment(instance)}`);
      const deleting = answer === undefined ? undefined : itemOf<Instance>(answer, 'instance');
      if (options.wait) {
        await waitForInstance(cloud.api(), cloud, { instance, until: 'gone', timeoutMs });
        if (session.json) return session.printJson({ instance, deleted: true });
        return session.print(`deleted ${visible(instance)}\n`);
      }
      if (session.json) return session.printJson(deleting ?? { instance, deleting: true });
      session.print(`deleting ${visible(instance)} (strata instances show ${visible(instance)} follows it; --wait waits)\n`);
    }),
  );

  for (const [verb, description, success] of [
    ['stop', 'stop the instance (its data stays); --wait waits for STOPPED', ['STOPPED']],
    ['start', 'start a stopped instance; --wait waits for ACTIVE', ['ACTIVE']],
    ['restart', 'restart PostgreSQL (applies settings that need a restart); --wait waits for ACTIVE', ['ACTIVE']],
  ] as const) {
    withWait(instances.command(verb).description(description).argument('<instance>', 'instance ID or name')).action(
      cloudAction(host, async (session, cloud, instance: string, options: WaitOptions) => {
        const timeoutMs = parseWaitTimeout(options.waitTimeout);
        const answer = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(instance)}/${verb}`), 'instance');
        await finish(session, cloud, answer, options, { until: 'settled', timeoutMs, success, instance });
      }),
    );
  }

  withWait(
    instances
      .command('resize')
      .description("change an instance's flavor (memory, connections, CPU); --wait waits for ACTIVE")
      .argument('<instance>', 'instance ID or name')
      .requiredOption('--flavor <flavor>', 'the new size: tiny, small, medium or large'),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, options: WaitOptions & { flavor: string }) => {
      const timeoutMs = parseWaitTimeout(options.waitTimeout);
      const answer = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(instance)}/resize`, { flavor: options.flavor }), 'instance');
      await finish(session, cloud, answer, options, { until: 'settled', timeoutMs, success: ['ACTIVE', 'RESTART_REQUIRED'], instance });
    }),
  );

  instances
    .command('rename')
    .description('give an instance a new name (its ID, address and data stay)')
    .argument('<instance>', 'instance ID or name')
    .argument('<new-name>', 'the new name: a DNS label')
    .action(
      cloudAction(host, async (session, cloud, instance: string, newName: string) => {
        printInstance(session, itemOf<Instance>(await cloud.api().patch(`/v1/instances/${segment(instance)}`, { name: newName }), 'instance'));
      }),
    );

  instances
    .command('operations')
    .alias('ops')
    .description("an instance's operations, newest first: each is a durable workflow (strata workflows steps <ID> shows its steps)")
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        const operations = listOf<Operation>(await cloud.api().get(`/v1/instances/${segment(instance)}/operations`), 'operations');
        if (session.json) return session.printJson(operations);
        session.print(
          renderTable(
            [{ header: 'WORKFLOW ID' }, { header: 'KIND' }, { header: 'STATUS' }, { header: 'CREATED' }, { header: 'UPDATED' }],
            operations.map((o) => [o.workflowId, o.kind, o.status ?? '-', formatTime(date(o.createdAt)), formatTime(date(o.updatedAt))]),
          ),
        );
      }),
    );

  instances
    .command('flavors')
    .description('the sizes an instance can have: memory, connections, CPU share')
    .action(
      cloudAction(host, async (session, cloud) => {
        const flavors = listOf<Flavor>(await cloud.api().get('/v1/flavors'), 'flavors');
        if (session.json) return session.printJson(flavors);
        session.print(
          renderTable(
            [{ header: 'NAME' }, { header: 'MEMORY MB', align: 'right' }, { header: 'CONNECTIONS', align: 'right' }, { header: 'CPU', align: 'right' }],
            flavors.map((f) => [f.name, String(f.memoryMb), String(f.maxConnections ?? f.connections ?? '-'), String(f.cpu ?? '-')]),
          ),
        );
      }),
    );
}

/** Adds `--wait` and `--wait-timeout`. */
export function withWait(command: Command): Command {
  return command
    .option('--wait', 'wait until the operation finishes, printing each status change to stderr')
    .option('--wait-timeout <duration>', 'bound on --wait: 90s, 5m (default 10m)');
}

/**
 * After a long operation was accepted: print it, or with `--wait` follow it until it settles and
 * print the instance as it ended.
 */
export async function finish(
  session: Session,
  cloud: CloudContext,
  answer: Instance,
  options: WaitOptions,
  goal: { until: 'settled'; timeoutMs: number; success?: readonly string[]; instance?: string },
): Promise<void> {
  const instance = goal.instance ?? answer.id ?? answer.name;
  if (!options.wait) {
    printInstance(session, answer);
    if (!session.json) session.print(`(follow it with strata instances show ${visible(instance)}, or add --wait)\n`);
    return;
  }
  if (answer.currentOperation) cloud.progress(`${instance}: ${answer.currentOperation.kind} started (workflow ${answer.currentOperation.workflowId})`);
  const done = await waitForInstance(cloud.api(), cloud, {
    instance: answer.id ?? instance,
    until: goal.until,
    operationId: answer.currentOperation?.workflowId,
    ...(goal.success !== undefined ? { success: goal.success } : {}),
    timeoutMs: goal.timeoutMs,
  });
  printInstance(session, done ?? answer);
}

export function printInstance(session: Session, instance: Instance): void {
  if (session.json) return session.printJson(instance);
  const fields: [string, string][] = [
    ['id', instance.id],
    ['name', instance.name],
    ['status', instance.status],
    ['flavor', instance.flavor],
    ['connection string', instance.connectionString ?? '-'],
    ['address', address(instance)],
    ['databases', (instance.databases ?? []).join(', ') || '-'],
    ['node', instance.nodeId ?? '-'],
    ['role', instance.role === 'replica' ? `replica of ${instance.replicaOf ?? '?'}` : `primary${instance.synchronous ? ' (synchronous: commits wait for a replica)' : ''}`],
    ['power', describePower(instance.power)],
    ...(instance.error ? ([['error', instance.error]] as [string, string][]) : []),
    ['operation', instance.currentOperation ? `${instance.currentOperation.kind} (workflow ${instance.currentOperation.workflowId})` : '-'],
    ['created', formatTime(date(instance.createdAt))],
    ['updated', formatTime(date(instance.updatedAt))],
  ];
  session.print(renderFields(fields));
}

/** `frozen since 2026-…Z (its next client wakes it); 3 wakes, the last 2ms`, or `- (never suspended)`. */
function describePower(power: InstancePower | null | undefined): string {
  if (!power) return '- (never suspended)';
  const suspended = power.state === 'frozen' || power.state === 'stopped' ? ' (its next client wakes it)' : '';
  const wakes = power.wakes === 0 ? '' : `; ${power.wakes} wake${power.wakes === 1 ? '' : 's'}, the last ${formatDuration(power.lastWakeMs)}`;
  return `${power.state} since ${formatTime(date(power.since))}${suspended}${wakes}`;
}

function address(instance: Instance): string {
  return instance.host && instance.port ? `${instance.host}:${instance.port}` : '-';
}

/** An ISO time from the API as a Date (null stays null). */
export function date(iso: string | null | undefined): Date | null {
  return iso ? new Date(iso) : null;
}
