// An instance's power state as the machine shows it, against what was recorded: the agent's
// reconcile trusts the machine (a record is written after the act, so a crash can leave it behind).
import { isFrozen } from '@strata/postgres';
import type { PowerState } from '../sql/instance-power.js';

/**
 * The power state of the instance in `dataDir` given whether its server runs and what was
 * recorded: a running server is `frozen` or `running` as its freezer group says; with no server
 * a suspension stays one — `stopped` (a record of `frozen` whose processes are gone: a reboot, or
 * the server killed) — and an instance never suspended stays `running` (reconcile starts it when
 * it should run).
 *
 * @example
 * await actualPowerState(files.dataDir('ins_abc'), false, 'frozen'); // 'stopped'
 */
export async function actualPowerState(dataDir: string, running: boolean, recorded: PowerState): Promise<PowerState> {
  if (running) return (await isFrozen(dataDir)) ? 'frozen' : 'running';
  return recorded === 'running' ? 'running' : 'stopped';
}
