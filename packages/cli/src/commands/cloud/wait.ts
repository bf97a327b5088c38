/**
 * Following a long operation (create, delete, resize, restart, stop, start): print each status
 * the instance passes through, and with `--wait` keep going until it settles, within a bound.
 */
import { CliError, ExitCode, UsageError } from '../../errors.js';
import { formatDuration } from '../../format.js';
import { ApiCallError, REQUEST_TIMEOUT_MS, segment, type ApiClient } from './api-client.js';
import type { CloudContext } from './context.js';
import { itemOf, type Instance } from './types.js';

/**
 * Least time between two reads of the instance while waiting. Each read after the first is a
 * long-poll (`GET /v1/instances/{instance}/wait`) that the control plane answers when the
 * operation ends, so this only bounds a read that answers at once without the goal reached.
 */
export const POLL_INTERVAL_MS = 250;

/** Longest one long-poll holds: well inside the client's request timeout (the API allows up to 60 s). */
const MAX_LONG_POLL_MS = REQUEST_TIMEOUT_MS - 10_000;

/**
 * Default bound of `--wait`: a create takes well under a second here, a resize or restart a few;
 * ten minutes covers a loaded machine and a slow disk without hanging a script forever.
 */
export const DEFAULT_WAIT_TIMEOUT_MS = 10 * 60_000;

/** Statuses an operation ends in; the instance stays in them until the next operation. */
const SETTLED: ReadonlySet<string> = new Set(['ACTIVE', 'STOPPED', 'RESTART_REQUIRED', 'ERROR', 'DELETED']);

/** The `--wait-timeout` flag: seconds (`90`, `90s`), minutes (`5m`), default {@link DEFAULT_WAIT_TIMEOUT_MS}. */
export function parseWaitTimeout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_WAIT_TIMEOUT_MS;
  const match = /^(\d+)(s|m)?$/.exec(raw.trim());
  const ms = match ? Number(match[1]) * (match[2] === 'm' ? 60_000 : 1_000) : 0;
  if (!match || ms < 1_000 || !Number.isSafeInteger(ms)) {
    throw new UsageError(`--wait-timeout ${JSON.stringify(raw)} is not valid; valid: seconds or minutes ≥ 1s, e.g. 90s, 5m`);
  }
  return ms;
}

/** What to wait for. */
export interface WaitGoal {
  /** The instance ID or name. */
  readonly instance: string;
  /** `gone`: until the instance is deleted (404 or DELETED); else until it settles. */
  readonly until: 'settled' | 'gone';
  /** The operation started: waiting ends only once it is no longer the instance's current one. */
  readonly operationId?: string | undefined;
  /** Statuses that mean success once settled (default ACTIVE). */
  readonly success?: readonly string[];
  readonly timeoutMs: number;
}

/**
 * Reads the instance, then long-polls it (the control plane answers when the operation ends),
 * printing each status change (`my-db: BUILD`, `my-db: ACTIVE after 1.2s`), until the goal is
 * reached. Ends with the final instance (or undefined once gone); an instance that settles in
 * another status than a success one (ERROR) or a timeout throws with exit 1.
 *
 * @example
 * const done = await waitForInstance(api, cloud, { instance: 'my-db', until: 'settled', timeoutMs: 60_000 });
 */
export async function waitForInstance(api: ApiClient, cloud: CloudContext, goal: WaitGoal): Promise<Instance | undefined> {
  const success = goal.success ?? ['ACTIVE'];
  const startedMs = Date.now();
  const deadlineMs = startedMs + goal.timeoutMs;
  let last: string | undefined;
  for (;;) {
    let instance: Instance | undefined;
    const readAtMs = Date.now();
    const longPollMs = Math.min(MAX_LONG_POLL_MS, Math.max(1, deadlineMs - readAtMs));
    try {
      const path = `/v1/instances/${segment(goal.instance)}`;
      instance = itemOf<Instance>(await api.get(last === undefined ? path : `${path}/wait?timeoutMs=${longPollMs}`), 'instance');
    } catch (error) {
      if (!(error instanceof ApiCallError && error.status === 404)) throw error;
      instance = undefined;
    }
    const status = instance?.status ?? 'DELETED';
    const elapsed = formatDuration(Date.now() - startedMs);
    if (status !== last) {
      cloud.progress(`${goal.instance}: ${status}${last === undefined ? '' : ` after ${elapsed}`}`);
      last = status;
    }
    if (goal.until === 'gone') {
      if (instance === undefined || status === 'DELETED') return undefined;
      if (status === 'ERROR' && !instance.currentOperation) throw failed(goal, instance);
    } else if (instance === undefined) {
      throw new CliError(`${goal.instance} disappeared while waiting (deleted by another call?)`, ExitCode.notFound);
    } else if (SETTLED.has(status) && !stillRunning(instance, goal.operationId)) {
      if (success.includes(status)) return instance;
      throw failed(goal, instance);
    }
    if (Date.now() >= deadlineMs) {
      throw new CliError(
        `${goal.instance} is still ${status} after ${formatDuration(goal.timeoutMs)}; the operation goes on in the control plane: follow it with strata instances operations ${goal.instance}, or wait longer with --wait-timeout`,
        ExitCode.failed,
      );
    }
    const soonMs = readAtMs + POLL_INTERVAL_MS - Date.now();
    if (soonMs > 0) await new Promise((resolve) => setTimeout(resolve, soonMs));
  }
}

/** Whether the operation we started (or, not knowing it, any operation) is still the instance's current one. */
function stillRunning(instance: Instance, operationId: string | undefined): boolean {
  const current = instance.currentOperation;
  if (!current) return false;
  return operationId === undefined || current.workflowId === operationId;
}

function failed(goal: WaitGoal, instance: Instance): CliError {
  return new CliError(
    `${goal.instance} ended ${instance.status}; see what happened with strata instances operations ${goal.instance} (each operation is a workflow: strata workflows steps <workflow ID>)`,
    ExitCode.failed,
  );
}
