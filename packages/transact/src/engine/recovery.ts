// Recovery: resuming this executor's unfinished workflows at launch, taking over dead executors', adopting orphans, and dequeued starts.
import { isConnectionError, type Database } from '@strata/store';
import { EngineStateError, ExecutorConflictError, MaxRecoveryAttemptsError } from '../errors.js';
import type { Logger } from '../interfaces.js';
import type { Serializer } from '../serialization.js';
import {
  claimPendingWorkflows,
  countOtherVersionPending,
  executorsToTakeOver,
  loadSteps,
  loadStepsOf,
  ownedPendingWorkflows,
  RECOVERY_PAGE_SIZE,
  takeOverWorkflows,
  type ClaimedWorkflow,
  type DequeuedWorkflow,
  type StepRow,
} from '../sql/index.js';
import { assert } from '../assert.js';
import type { ClaimGuard } from './claim-guard.js';
import type { Executions } from './executions.js';
import type { Lease } from './lease.js';
import type { Registry } from './registry.js';

/** What recovery needs from its engine. */
export interface RecoveryHost {
  readonly db: Database;
  readonly registry: Registry;
  readonly executions: Executions;
  readonly lease: Lease;
  readonly claimGuard: ClaimGuard;
  readonly serializer: Serializer;
  readonly logger: Logger;
  readonly executorId: string;
  readonly appVersion: string;
  readonly maxRecoveryAttempts: number;
  readonly executorTimeoutMs: number;
  isRunning(): boolean;
  /** A workflow of `queue` ended here (or could not start): its slot is free. */
  queueSlotFreed(queue: string): void;
  /** A background pass (takeover, orphan search) failed. */
  onFailure(what: string, error: unknown): void;
}

/**
 * Finds workflows that should run here and runs them: this executor's own at launch (and after a
 * lapsed lease), those of executors that stopped heartbeating, orphans of an outage (a start or
 * dequeue whose commit's answer was lost), and those the queue runner claimed.
 */
export class Recovery {
  readonly #host: RecoveryHost;
  /** The takeover of dead executors' workflows in progress, if any. */
  #takeoverPass: Promise<void> | undefined;
  /** The search for orphans in progress, if any. */
  #adoption: Promise<void> | undefined;
  /** Another search was asked for while one ran: it runs once that one ends. */
  #adoptAgain = false;

  constructor(host: RecoveryHost) {
    this.#host = host;
  }

  /** The takeover pass in progress, if any (a shutdown waits for it). */
  get takeoverPass(): Promise<void> | undefined {
    return this.#takeoverPass;
  }

  /**
   * Claims this executor's PENDING workflows of this application version for its current epoch, a
   * page at a time; `countRecovery` adds one to their recovery counts (a restarted process).
   */
  async claimUnfinished(countRecovery = true): Promise<ClaimedWorkflow[]> {
    const host = this.#host;
    const claimed: ClaimedWorkflow[] = [];
    for (let after = ''; ; ) {
      const page = await claimPendingWorkflows(host.db, host.executorId, host.lease.epoch, host.appVersion, after, countRecovery);
      claimed.push(...page);
      if (page.length < RECOVERY_PAGE_SIZE) return claimed;
      after = page.at(-1)!.workflow_id;
    }
  }

  /** Resumes the claimed workflows and reports what it could not resume. */
  async recover(claimed: readonly ClaimedWorkflow[]): Promise<void> {
    const host = this.#host;
    const resumed = await this.#resumeAll(claimed);
    if (resumed > 0) host.logger.info(`strata: resumed ${resumed} unfinished workflow(s) of executor "${host.executorId}"`);
    for (const other of await countOtherVersionPending(host.db, host.executorId, host.appVersion)) {
      host.logger.warn(
        `strata: ${other.count} PENDING workflow(s) of executor "${host.executorId}" belong to application version "${other.app_version}" and are not resumed by version "${host.appVersion}"; run that version to finish them`,
      );
    }
  }

  /** Resumes claimed workflows, loading the histories of a page of them in one query; returns how many run. */
  async #resumeAll(claimed: readonly ClaimedWorkflow[]): Promise<number> {
    let resumed = 0;
    for (let i = 0; i < claimed.length; i += RECOVERY_PAGE_SIZE) {
      const page = claimed.slice(i, i + RECOVERY_PAGE_SIZE);
      const histories = await loadStepsOf(this.#host.db, page.map((row) => row.workflow_id));
      for (const row of page) if (await this.#resume(row, histories.get(row.workflow_id) ?? [])) resumed++;
    }
    return resumed;
  }

  async #resume(row: ClaimedWorkflow, history: StepRow[]): Promise<boolean> {
    const host = this.#host;
    const registration = host.registry.get(row.name);
    if (!registration) {
      host.logger.error(`strata: cannot resume workflow "${row.workflow_id}": no workflow named "${row.name}" is registered in this version`);
      return false;
    }
    if (row.recovery_attempts > host.maxRecoveryAttempts) {
      const error = new MaxRecoveryAttemptsError(row.workflow_id, row.recovery_attempts - 1, host.maxRecoveryAttempts);
      await host.executions.finish(row.workflow_id, 'ERROR', null, host.serializer.serialize(error, 'error'));
      return false;
    }
    if (row.deadline_at && row.deadline_at.getTime() <= Date.now()) {
      await host.executions.expire(row.workflow_id, row.deadline_at);
      return false;
    }
    if (host.executions.has(row.workflow_id)) return false;
    // Claimed PENDING just now; a cancel since then stops it at its first checkpoint.
    const args = host.serializer.deserialize<unknown[]>(row.inputs);
    host.executions.execute(row.workflow_id, registration, args, row.deadline_at, history, row.queue_name, row.trace_parent, row.recovery_attempts);
    return true;
  }

  /**
   * The database is back after an outage, or the LISTEN connection was re-established:
   * workflows this executor owns that run nowhere (a start or dequeue whose commit's answer was
   * lost) are adopted.
   */
  adoptOrphansSoon(): void {
    // A search under way may have read its list before this request's orphan committed: another
    // search follows it (however many requests came meanwhile), else that orphan would wait for
    // the next outage.
    if (this.#adoption) {
      this.#adoptAgain = true;
      return;
    }
    const host = this.#host;
    this.#adoption = (async () => {
      do {
        this.#adoptAgain = false;
        const seen = host.executions.startAdopting();
        assert(seen, 'one search for orphans at a time (this.#adoption)');
        try {
          await host.claimGuard.exclusive(() => this.#adoptOrphans(seen));
        } catch (error) {
          if (host.isRunning()) host.logger.warn('strata: could not look for workflows left without an execution after the outage', error);
        } finally {
          host.executions.stopAdopting();
        }
      } while (this.#adoptAgain && host.isRunning());
    })().finally(() => {
      this.#adoption = undefined;
    });
  }

  /**
   * Runs the PENDING workflows this registration owns that no execution here runs. `seen` holds
   * every workflow that ran here at any moment of the search (executions add to it), so a workflow
   * that finished meanwhile is never run again.
   */
  async #adoptOrphans(seen: Set<string>): Promise<void> {
    const host = this.#host;
    const owned = await ownedPendingWorkflows(host.db, host.executorId, host.lease.epoch, host.appVersion);
    const orphans = owned.filter((row) => !seen.has(row.workflow_id));
    if (orphans.length === 0) return;
    const histories = await loadStepsOf(host.db, orphans.map((row) => row.workflow_id));
    let adopted = 0;
    for (const row of orphans) {
      if (seen.has(row.workflow_id) || !host.isRunning()) continue;
      if (await this.#resume(row, histories.get(row.workflow_id) ?? [])) adopted++;
    }
    if (adopted > 0) host.logger.info(`strata: resumed ${adopted} workflow(s) whose start or dequeue committed while the database connection was lost`);
  }

  /** Takes over the workflows of dead executors; one pass at a time, beside the heartbeats. */
  takeOverDead(): void {
    if (this.#takeoverPass) return;
    const host = this.#host;
    this.#takeoverPass = (async () => {
      for (const dead of await executorsToTakeOver(host.db, host.executorId, host.executorTimeoutMs)) {
        if (!host.isRunning()) return;
        await host.claimGuard.shared(async () => {
          const claimed = await takeOverWorkflows(host.db, dead, host.executorId, host.lease.epoch, host.executorTimeoutMs, host.appVersion, host.registry.names());
          if (claimed.length === 0) return;
          host.logger.info(`strata: executor "${dead}" stopped heartbeating; taking over ${claimed.length} unfinished workflow(s)`);
          await this.#resumeAll(claimed);
        });
      }
    })()
      .catch((error: unknown) => host.onFailure('takeover', error))
      .finally(() => {
        this.#takeoverPass = undefined;
      });
  }

  /**
   * This executor missed its heartbeats for longer than the timeout (a long pause, a lost
   * database): others may have taken its workflows over. Stop running them here, register again
   * and recover what is still ours.
   */
  async afterLapse(state: 'lapsed' | 'missing'): Promise<void> {
    const host = this.#host;
    host.logger.error(
      `strata: executor "${host.executorId}" ${state === 'lapsed' ? `missed its heartbeats for over ${host.executorTimeoutMs} ms` : 'lost its row in strata.executors'}; other executors may have taken over its workflows, so it stops them here and recovers what is still its own`,
    );
    await host.executions.abortAll(new EngineStateError(`executor "${host.executorId}" lost its heartbeat; the workflow continues from its last checkpoint`));
    await host.lease.register(host.db).catch((error: unknown) => {
      if (!(error instanceof ExecutorConflictError)) throw error;
      // Our own stale row (this process): take it back.
    });
    // Not a recovery of the workflows' own doing (this process lived on): their counts stay.
    await host.claimGuard.shared(async () => this.recover(await this.claimUnfinished(false)));
  }

  /** Starts a dequeued workflow's execution; resolves once it began (or could not). */
  async runDequeued(queue: string, row: DequeuedWorkflow): Promise<void> {
    const host = this.#host;
    const registration = host.registry.get(row.name);
    assert(registration, "a claimed workflow's name is registered here (the claim takes only names registered here)");
    let args: unknown[];
    try {
      args = host.serializer.deserialize<unknown[]>(row.inputs);
    } catch (error) {
      void host.executions.finish(row.workflow_id, 'ERROR', null, host.serializer.serializeError(error)).then(() => host.queueSlotFreed(queue));
      return;
    }
    if (!row.has_steps) {
      host.executions.execute(row.workflow_id, registration, args, row.deadline_at, [], queue, row.trace_parent);
      return;
    }
    // Resumed or forked: it continues from its recorded steps.
    await loadSteps(host.db, row.workflow_id).then(
      (history) => host.executions.execute(row.workflow_id, registration, args, row.deadline_at, history, queue, row.trace_parent),
      (error: unknown) => {
        // PENDING here without an execution: after a lost connection the monitor's resync adopts it.
        if (isConnectionError(error)) host.onFailure('loading the steps of a dequeued workflow', error);
        else host.logger.warn(`strata: could not load the steps of "${row.workflow_id}"; it stays PENDING and resumes on recovery`, error);
      },
    );
  }
}
