// Reconcile at start: what runs on this node versus strata_cloud.node_instances (and, for
// suspended instances, strata_cloud.instance_power).
import type { JobHost } from '../jobs/jobs.js';
import { removeInstanceFiles } from '../jobs/jobs.js';
import { actualPowerState } from '../power/actual-state.js';
import { deleteOrphanPowerRecords, listPowerRecords, savePowerChanges, type PowerChange, type PowerState } from '../sql/instance-power.js';
import { listNodeInstances } from '../sql/node-instances.js';

/** What one reconcile did, by instance ID. */
export interface ReconcileReport {
  /** Should run and was stopped: started. */
  readonly started: string[];
  /** Should be stopped and was running: stopped. */
  readonly stopped: string[];
  /** A directory of an instance this node no longer has: its server stopped and the files removed. */
  readonly removed: string[];
  /** Recorded but without a usable data directory (a provision or destroy a crash cut short: its job finishes it). */
  readonly incomplete: string[];
  /** Instances whose start or stop failed, with the reason (the next reconcile or job tries again). */
  readonly failed: Array<{ readonly instanceId: string; readonly reason: string }>;
  /** Should run, but suspended by power control (stopped): left stopped until a wake. */
  readonly suspended: string[];
  /** Power records that did not match the machine, corrected (a frozen instance whose processes are gone is stopped). */
  readonly powerCorrected: Array<{ readonly instanceId: string; readonly from: PowerState; readonly to: PowerState }>;
}

/**
 * Brings the node in line with what its rows say, before the agent takes jobs: starts instances
 * that should run, stops those that should not, and removes the directories (and servers) of
 * instances that no longer exist. Instances keep running while the agent is down, so after a
 * restart most are already as they should be and are left alone. An instance suspended by power
 * control to `stopped` is not started (its next wake does); power records are corrected from what
 * runs (a `frozen` one whose processes are gone — a reboot — is `stopped`).
 *
 * @example
 * const report = await reconcile({ db, nodeId, files });
 * console.log(`started ${report.started.length}, removed ${report.removed.length}`);
 */
export async function reconcile(host: JobHost): Promise<ReconcileReport> {
  const report: ReconcileReport = { started: [], stopped: [], removed: [], incomplete: [], failed: [], suspended: [], powerCorrected: [] };
  const rows = await listNodeInstances(host.db, host.nodeId);
  const recordedPower = new Map((await listPowerRecords(host.db, host.nodeId)).map((record) => [record.instanceId, record.state]));
  const corrections: PowerChange[] = [];
  const recorded = new Set(rows.map((row) => row.instanceId));
  for (const instanceId of await host.files.instanceIdsOnDisk()) {
    if (recorded.has(instanceId)) continue;
    try {
      if (await removeInstanceFiles(host, instanceId)) report.removed.push(instanceId);
    } catch (error) {
      report.failed.push({ instanceId, reason: (error as Error).message });
    }
  }
  const onDisk = new Set(await host.files.instanceIdsOnDisk());
  for (const row of rows) {
    if (!onDisk.has(row.instanceId)) {
      report.incomplete.push(row.instanceId);
      continue;
    }
    try {
      const cluster = await host.files.open(row.instanceId, row.port, row.spec.settings).catch(() => undefined);
      if (!cluster) {
        report.incomplete.push(row.instanceId);
        continue;
      }
      const running = await cluster.isRunning();
      const recorded = recordedPower.get(row.instanceId) ?? 'running';
      const power = await actualPowerState(host.files.dataDir(row.instanceId), running, recorded);
      if (power !== recorded) {
        corrections.push({ instanceId: row.instanceId, state: power, changedAt: new Date(), wakes: 0, lastWakeMs: null, lastWakeFrom: null });
        report.powerCorrected.push({ instanceId: row.instanceId, from: recorded, to: power });
      }
      if (row.desired === 'running' && !running) {
        if (power === 'stopped') {
          report.suspended.push(row.instanceId);
          continue;
        }
        await cluster.start();
        report.started.push(row.instanceId);
      } else if (row.desired === 'stopped' && running) {
        await cluster.stop('fast');
        report.stopped.push(row.instanceId);
      }
    } catch (error) {
      report.failed.push({ instanceId: row.instanceId, reason: (error as Error).message });
    }
  }
  await savePowerChanges(host.db, host.nodeId, corrections);
  await deleteOrphanPowerRecords(host.db, host.nodeId);
  return report;
}
