/**
 * `strata config …`: configuration groups — named sets of PostgreSQL parameters, checked by the
 * server against PostgreSQL's own catalogue (pg_settings) — and attaching them to instances.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { formatTime, visible } from '../../format.js';
import type { Host } from '../../host.js';
import type { Session } from '../../session.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions } from './context.js';
import { collect, parseParameters } from './flags.js';
import { itemOf, listOf, type ConfigGroup, type Instance } from './types.js';

export function registerConfigCommands(program: Command, host: Host): void {
  const config = withApiOptions(program.command('config').description('configuration groups: named PostgreSQL parameter sets, attached to instances'));

  config
    .command('list', { isDefault: true })
    .alias('ls')
    .description("your tenant's configuration groups")
    .action(
      cloudAction(host, async (session, cloud) => {
        const groups = listOf<ConfigGroup>(await cloud.api().get('/v1/config-groups'), 'configGroups');
        if (session.json) return session.printJson(groups);
        session.print(
          renderTable(
            [{ header: 'NAME' }, { header: 'PARAMETERS' }, { header: 'CREATED' }],
            groups.map((g) => [g.name, formatParameters(parametersOf(g)), formatTime(g.createdAt ? new Date(g.createdAt) : null)]),
          ),
        );
      }),
    );

  config
    .command('create')
    .description('create a configuration group; each parameter is checked against pg_settings (type, range, allowed values)')
    .argument('<name>', 'group name')
    .requiredOption('--param <name=value>', 'a PostgreSQL parameter, e.g. work_mem=8MB (repeatable)', collect)
    .option('--description <text>', 'what the group is for')
    .action(
      cloudAction(host, async (session, cloud, name: string, options: { param: string[]; description?: string }) => {
        const parameters = parseParameters(options.param);
        if (Object.keys(parameters).length === 0) throw new UsageError('create needs at least one --param name=value');
        const body = { name, parameters, ...(options.description !== undefined ? { description: options.description } : {}) };
        printGroup(session, itemOf<ConfigGroup>(await cloud.api().post('/v1/config-groups', body), 'configGroup'));
      }),
    );

  config
    .command('show')
    .alias('get')
    .description('one configuration group: its parameters, which need a restart, and the instances it is attached to')
    .argument('<group>', 'group name or ID')
    .action(
      cloudAction(host, async (session, cloud, group: string) => {
        printGroup(session, itemOf<ConfigGroup>(await cloud.api().get(`/v1/config-groups/${segment(group)}`), 'configGroup'));
      }),
    );

  config
    .command('delete')
    .alias('rm')
    .description('delete a configuration group that no instance uses')
    .argument('<group>', 'group name or ID')
    .action(
      cloudAction(host, async (session, cloud, group: string) => {
        const answer = await cloud.api().delete(`/v1/config-groups/${segment(group)}`);
        if (session.json) return session.printJson(answer ?? { group, deleted: true });
        session.print(`deleted configuration group ${visible(group)}\n`);
      }),
    );

  config
    .command('attach')
    .description('apply a configuration group to an instance; one with a parameter that needs a restart leaves it RESTART_REQUIRED (strata instances restart applies it)')
    .argument('<group>', 'group name or ID')
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, group: string, instance: string) => {
        const answer = await cloud.api().put(`/v1/instances/${segment(instance)}/config-group`, { group });
        printAttachment(session, answer, `attached ${visible(group)} to ${visible(instance)}`, instance);
      }),
    );

  config
    .command('detach')
    .description("remove an instance's configuration group (its parameters go back to the flavor's defaults)")
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        const answer = await cloud.api().delete(`/v1/instances/${segment(instance)}/config-group`);
        printAttachment(session, answer, `detached the configuration group of ${visible(instance)}`, instance);
      }),
    );
}

function parametersOf(group: ConfigGroup): Readonly<Record<string, string>> {
  return group.parameters ?? group.values ?? {};
}

function formatParameters(parameters: Readonly<Record<string, string>>): string {
  return Object.entries(parameters).map(([name, value]) => `${name}=${value}`).join(' ') || '-';
}

function printGroup(session: Session, group: ConfigGroup): void {
  if (session.json) return session.printJson(group);
  const fields: [string, string][] = [['name', group.name]];
  if (group.id !== undefined) fields.push(['id', group.id]);
  for (const [name, value] of Object.entries(parametersOf(group))) fields.push([name, value]);
  if (group.restartRequired && group.restartRequired.length > 0) fields.push(['needs restart', group.restartRequired.join(', ')]);
  if (group.instances) fields.push(['instances', group.instances.join(', ') || '-']);
  session.print(renderFields(fields));
}

function printAttachment(session: Session, answer: unknown, done: string, instance: string): void {
  if (session.json) return session.printJson(answer ?? { instance, done: true });
  const status = answer === undefined ? undefined : itemOf<Instance>(answer, 'instance').status;
  const hint = status === 'RESTART_REQUIRED' ? `; it is RESTART_REQUIRED: strata instances restart ${visible(instance)} applies the rest` : '';
  session.print(`${done}${status !== undefined ? ` (status ${status})` : ''}${hint}\n`);
}
