// Offline replay: strata.replay and strata.checkDeploy run recorded histories against the registered code, writing nothing.
import type { Database } from '@strata/store';
import { WorkflowNotFoundError } from '../errors.js';
import type { CheckDeployReport, Logger, WorkflowContext } from '../interfaces.js';
import type { Serializer } from '../serialization.js';
import { getWorkflow, loadSteps, unfinishedWithHistory } from '../sql/index.js';
import { replayWorkflow, type ReplayReport } from '../workflow/replay.js';
import type { Registration, Registry } from './registry.js';

/** What offline replay needs from its engine: the registered code and how to decode inputs. */
export interface OfflineReplayHost {
  readonly registry: Registry;
  readonly serializer: Serializer;
  readonly logger: Logger;
  readonly appVersion: string;
}

/** Replays the recorded workflow `workflowId` of `db` with the registered code (see `Strata.replay`). */
export async function replayById(host: OfflineReplayHost, db: Database, workflowId: string): Promise<ReplayReport> {
  const row = await getWorkflow(db, workflowId);
  if (!row) throw new WorkflowNotFoundError(workflowId);
  const registration = host.registry.require(row.name);
  return replayRow(host, db, row.workflow_id, row.name, row.status, row.inputs, row.deadline_at, registration);
}

/** Replays every unfinished workflow with history (of this version, or all) against the registered code (see `Strata.checkDeploy`). */
export async function checkDeploy(host: OfflineReplayHost, db: Database, allVersions: boolean): Promise<CheckDeployReport> {
  const reports: ReplayReport[] = [];
  const unregistered: Array<{ workflowId: string; name: string }> = [];
  for (const row of await unfinishedWithHistory(db, allVersions ? null : host.appVersion)) {
    const registration = host.registry.get(row.name);
    if (!registration) {
      unregistered.push({ workflowId: row.workflow_id, name: row.name });
      continue;
    }
    reports.push(await replayRow(host, db, row.workflow_id, row.name, row.status, row.inputs, row.deadline_at, registration));
  }
  return { checked: reports.length + unregistered.length, reports, diverged: reports.filter((r) => r.diverged), unregistered };
}

async function replayRow(
  host: OfflineReplayHost,
  db: Database,
  workflowId: string,
  name: string,
  status: string,
  inputs: string,
  deadlineAt: Date | null,
  registration: Registration,
): Promise<ReplayReport> {
  return replayWorkflow({
    workflowId,
    name,
    recordedStatus: status,
    fn: registration.fn as (ctx: WorkflowContext, ...args: unknown[]) => Promise<unknown>,
    args: host.serializer.deserialize<unknown[]>(inputs),
    history: await loadSteps(db, workflowId),
    serializer: host.serializer,
    deadlineAt,
    logger: host.logger,
  });
}
