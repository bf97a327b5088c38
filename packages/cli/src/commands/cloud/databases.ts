/**
 * `strata databases …` and `strata users …`: the databases and users inside an instance, with
 * passwords read from stdin or a prompt (never echoed, never in argv unless asked) and per-database grants.
 */
import type { Command } from 'commander';
import { visible } from '../../format.js';
import type { Host } from '../../host.js';
import { renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions } from './context.js';
import { parsePrivilege } from './flags.js';
import { readPassword, type PasswordOptions } from './password.js';
import { listOf, type DatabaseUser, type InstanceDatabase } from './types.js';

export function registerDatabaseCommands(program: Command, host: Host): void {
  const databases = withApiOptions(program.command('databases').description("the databases inside an instance: list, create, delete"));
  const base = (instance: string) => `/v1/instances/${segment(instance)}/databases`;

  databases
    .command('list', { isDefault: true })
    .alias('ls')
    .description("an instance's databases")
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        const list = listOf<InstanceDatabase>(await cloud.api().get(base(instance)), 'databases');
        if (session.json) return session.printJson(list);
        session.print(
          renderTable(
            [{ header: 'DATABASE' }, { header: 'OWNER' }, { header: 'SIZE', align: 'right' }],
            list.map((d) => [d.name, d.owner ?? '-', d.sizeBytes === undefined ? '-' : formatBytes(d.sizeBytes)]),
          ),
        );
      }),
    );

  databases
    .command('create')
    .description('create a database in an instance')
    .argument('<instance>', 'instance ID or name')
    .argument('<database>', 'database name')
    .action(
      cloudAction(host, async (session, cloud, instance: string, database: string) => {
        const answer = await cloud.api().post(base(instance), { name: database });
        if (session.json) return session.printJson(answer ?? { instance, database, created: true });
        session.print(`created database ${visible(database)} in ${visible(instance)}\n`);
      }),
    );

  databases
    .command('delete')
    .alias('rm')
    .description('delete a database and everything in it')
    .argument('<instance>', 'instance ID or name')
    .argument('<database>', 'database name')
    .action(
      cloudAction(host, async (session, cloud, instance: string, database: string) => {
        const answer = await cloud.api().delete(`${base(instance)}/${segment(database)}`);
        if (session.json) return session.printJson(answer ?? { instance, database, deleted: true });
        session.print(`deleted database ${visible(database)} from ${visible(instance)}\n`);
      }),
    );
}

export function registerUserCommands(program: Command, host: Host): void {
  const users = withApiOptions(program.command('users').description('the users (roles) of an instance: list, create, delete, password, grant, revoke'));
  const base = (instance: string) => `/v1/instances/${segment(instance)}/users`;
  const withPassword = (command: Command) =>
    command
      .option('--password-stdin', 'read the password from the first line of stdin')
      .option('--password <password>', 'the password on the command line (shows in the process list; prefer --password-stdin)');

  users
    .command('list', { isDefault: true })
    .alias('ls')
    .description("an instance's users and their grants")
    .argument('<instance>', 'instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        const list = listOf<DatabaseUser>(await cloud.api().get(base(instance)), 'users');
        if (session.json) return session.printJson(list);
        session.print(
          renderTable(
            [{ header: 'USER' }, { header: 'GRANTS' }],
            list.map((u) => [u.name, (u.grants ?? []).map((g) => `${g.database}:${g.privilege}`).join(', ') || '-']),
          ),
        );
      }),
    );

  withPassword(
    users
      .command('create')
      .description('create a user; the password is asked for (not echoed) or read with --password-stdin')
      .argument('<instance>', 'instance ID or name')
      .argument('<user>', 'user name')
      .option('--grant <database>', 'give the user a privilege on this database (repeatable)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
      .option('--privilege <privilege>', 'the privilege --grant gives: all (default) or read'),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, user: string, options: PasswordOptions & { grant?: string[]; privilege?: string }) => {
      const privilege = parsePrivilege(options.privilege);
      const password = await readPassword(options, user);
      const grants = (options.grant ?? []).map((database) => ({ database, privilege }));
      const answer = await cloud.api().post(base(instance), { name: user, password, ...(grants.length > 0 ? { grants } : {}) });
      if (session.json) return session.printJson(answer ?? { instance, user, created: true });
      session.print(`created user ${visible(user)} in ${visible(instance)}\n`);
    }),
  );

  users
    .command('delete')
    .alias('rm')
    .description('drop a user')
    .argument('<instance>', 'instance ID or name')
    .argument('<user>', 'user name')
    .action(
      cloudAction(host, async (session, cloud, instance: string, user: string) => {
        const answer = await cloud.api().delete(`${base(instance)}/${segment(user)}`);
        if (session.json) return session.printJson(answer ?? { instance, user, deleted: true });
        session.print(`deleted user ${visible(user)} from ${visible(instance)}\n`);
      }),
    );

  withPassword(
    users
      .command('password')
      .description("set a user's password; asked for (not echoed) or read with --password-stdin")
      .argument('<instance>', 'instance ID or name')
      .argument('<user>', 'user name'),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, user: string, options: PasswordOptions) => {
      const password = await readPassword(options, user);
      const answer = await cloud.api().post(`${base(instance)}/${segment(user)}/password`, { password });
      if (session.json) return session.printJson(answer ?? { instance, user, passwordChanged: true });
      session.print(`changed the password of ${visible(user)} in ${visible(instance)}\n`);
    }),
  );

  users
    .command('grant')
    .description('give a user a privilege on a database: all (read and write, default) or read')
    .argument('<instance>', 'instance ID or name')
    .argument('<user>', 'user name')
    .argument('<database>', 'database name')
    .option('--privilege <privilege>', 'all (default) or read')
    .action(
      cloudAction(host, async (session, cloud, instance: string, user: string, database: string, options: { privilege?: string }) => {
        const privilege = parsePrivilege(options.privilege);
        const answer = await cloud.api().post(`${base(instance)}/${segment(user)}/grants`, { database, privilege });
        if (session.json) return session.printJson(answer ?? { instance, user, database, privilege, granted: true });
        session.print(`granted ${privilege} on ${visible(database)} to ${visible(user)} in ${visible(instance)}\n`);
      }),
    );

  users
    .command('revoke')
    .description("take away a user's privileges on a database")
    .argument('<instance>', 'instance ID or name')
    .argument('<user>', 'user name')
    .argument('<database>', 'database name')
    .action(
      cloudAction(host, async (session, cloud, instance: string, user: string, database: string) => {
        const answer = await cloud.api().delete(`${base(instance)}/${segment(user)}/grants?database=${segment(database)}`);
        if (session.json) return session.printJson(answer ?? { instance, user, database, revoked: true });
        session.print(`revoked ${visible(user)}'s privileges on ${visible(database)} in ${visible(instance)}\n`);
      }),
    );
}

/** `8.2 MB`, `512 kB`: sizes as PostgreSQL's pg_size_pretty shows them (1024-based). */
function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
