/**
 * `strata executors`: the processes recorded in `strata.executors` and whether each is alive.
 */
import type { Command } from 'commander';
import { formatDuration, formatTime } from '../format.js';
import type { Host } from '../host.js';
import { renderTable } from '../table.js';

export function registerExecutorCommands(program: Command, host: Host): void {
  program
    .command('executors')
    .description('executors with host, pid, version, whether alive, and last heartbeat')
    .action(
      host.run(async (session) => {
        const executors = await (await session.client()).listExecutors();
        if (session.json) return session.printJson(executors);
        const nowMs = Date.now();
        session.print(
          renderTable(
            [{ header: 'ID' }, { header: 'HOST' }, { header: 'PID', align: 'right' }, { header: 'VERSION' }, { header: 'ALIVE' }, { header: 'LAST HEARTBEAT' }],
            executors.map((e) => [
              e.executorId,
              e.hostname,
              String(e.pid),
              e.appVersion,
              e.alive ? 'yes' : e.stoppedAt ? 'no (stopped)' : 'no',
              `${formatTime(e.heartbeatAt)} (${formatDuration(nowMs - e.heartbeatAt.getTime())} ago)`,
            ]),
          ),
        );
      }),
    );
}
