/**
 * `strata replicas …`: an instance's streaming read replicas — list them with their lag, add
 * some (optionally making commits wait for one), promote one in place of its primary (which is
 * fenced), detach one into a primary of its own.
 */
import type { Command } from 'commander';
import { parseWholeNumber } from '../../options.js';
import { UsageError } from '../../errors.js';
import type { Host } from '../../host.js';
import { renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions, type CloudContext } from './context.js';
import { finish, withWait, type WaitOptions } from './instances.js';
import { itemOf, listOf, type Instance } from './types.js';
import { parseWaitTimeout } from './wait.js';

/** Most replicas of one primary (the API's bound). */
const MAX_REPLICAS = 5;

export function registerReplicaCommands(program: Command, host: Host): void {
  const replicas = withApiOptions(program.command('replicas').description("an instance's streaming read replicas: list, add, promote, detach"));

  replicas
    .command('list', { isDefault: true })
    .alias('ls')
    .description("an instance's replicas with their status, address and replication lag")
    .argument('<instance>', 'the primary: instance ID or name')
    .action(
      cloudAction(host, async (session, cloud, instance: string) => {
        const list = listOf<Instance>(await cloud.api().get(`/v1/instances/${segment(instance)}/replicas`), 'replicas');
        const lags = await Promise.all(list.map((replica) => lagOf(cloud, replica.id)));
        if (session.json) return session.printJson({ replicas: list.map((replica, i) => ({ ...replica, replicationLagSeconds: lags[i] })) });
        session.print(
          renderTable(
            [{ header: 'ID' }, { header: 'NAME' }, { header: 'STATUS' }, { header: 'ADDRESS' }, { header: 'LAG', align: 'right' }],
            list.map((replica, i) => [replica.id, replica.name, replica.status, replica.host && replica.port ? `${replica.host}:${replica.port}` : '-', lags[i] === null ? '-' : `${(lags[i]! * 1000).toFixed(0)} ms`]),
          ),
        );
      }),
    );

  withWait(
    replicas
      .command('add')
      .description('add streaming read replicas (BUILD, then ACTIVE once streaming); --wait waits for them')
      .argument('<instance>', 'the primary: instance ID or name')
      .option('--count <n>', `how many (1 to ${MAX_REPLICAS}, default 1)`)
      .option('--synchronous', "from now on the primary's commits wait until one replica has them on disk")
      .option('--asynchronous', "from now on the primary's commits wait for no replica"),
  ).action(
    cloudAction(host, async (session, cloud, instance: string, options: WaitOptions & { count?: string; synchronous?: boolean; asynchronous?: boolean }) => {
      if (options.synchronous && options.asynchronous) throw new UsageError('give --synchronous or --asynchronous, not both');
      const timeoutMs = parseWaitTimeout(options.waitTimeout);
      const body = {
        ...(options.count !== undefined ? { count: parseWholeNumber(options.count, '--count', 1, MAX_REPLICAS) } : {}),
        ...(options.synchronous ? { synchronous: true } : options.asynchronous ? { synchronous: false } : {}),
      };
      const added = listOf<Instance>(await cloud.api().post(`/v1/instances/${segment(instance)}/replicas`, body), 'replicas');
      for (const replica of added) await finish(session, cloud, replica, options, { until: 'settled', timeoutMs });
    }),
  );

  for (const [action, description] of [
    ['promote', 'promote a replica in place of its primary: the primary is fenced (stopped, FENCED, never started again); the other replicas follow'],
    ['detach', 'detach a replica: it becomes a primary of its own; its old primary runs on'],
  ] as const) {
    withWait(replicas.command(action).description(description).argument('<replica>', 'the replica: instance ID or name')).action(
      cloudAction(host, async (session, cloud, replica: string, options: WaitOptions) => {
        const timeoutMs = parseWaitTimeout(options.waitTimeout);
        const answer = itemOf<Instance>(await cloud.api().post(`/v1/instances/${segment(replica)}/${action}`, {}), 'instance');
        await finish(session, cloud, answer, options, { until: 'settled', timeoutMs });
      }),
    );
  }
}

/** A replica's newest sampled replication lag in seconds, or null when none was sampled yet. */
async function lagOf(cloud: CloudContext, instanceId: string): Promise<number | null> {
  const body = (await cloud.api().get(`/v1/instances/${segment(instanceId)}/metrics?limit=1`).catch(() => ({ samples: [] }))) as { samples?: Array<{ replicationLagSeconds?: number | null }> };
  return body.samples?.at(-1)?.replicationLagSeconds ?? null;
}
