// The usage workflows: the caps' evaluation on a schedule (every 10 s by default), and the delivery
// of a cap event to its tenant's webhook (the alerts' webhook and signature), retried with backoff.
import type { Database } from '@strata/store';
import type { Strata, StrataClient, WorkflowContext } from '@strata/transact';
import { getWebhook } from '../alerts/sql.js';
import { postWebhook } from '../alerts/webhook.js';
import { DEFAULT_DELIVERY_RETRY } from '../alerts/workflows.js';
import { evaluateCaps } from './evaluate.js';

/** The queue of evaluations and deliveries. */
export const USAGE_QUEUE = 'cloud.usage';
/** Deliveries one control-plane process runs at once (each mostly waits on a receiver). */
export const USAGE_WORKER_CONCURRENCY = 4;
export const USAGE_WORKFLOWS = { evaluate: 'cloud.usage.evaluate-caps', deliver: 'cloud.usage.deliver' } as const;
/** The schedule of evaluations (declared in code). */
export const USAGE_SCHEDULE = 'cloud.usage.caps';
/**
 * Every 10 s: a tenant that reaches its cap is refused within ~10 s plus the proxy's flush (1 s)
 * and cap refresh (1 s); each evaluation sums the month of the capped tenants only.
 */
export const DEFAULT_USAGE_CRON = '*/10 * * * * *';

/** How the usage workflows run. */
export interface UsageOptions {
  /** When evaluations run. Default {@link DEFAULT_USAGE_CRON}. */
  readonly evaluateCron?: string;
  /** Let webhooks reach loopback and private addresses (a receiver on this machine, in development and tests). Default false. */
  readonly allowPrivateWebhooks?: boolean;
  /** Tries of one delivery. Default the alerts' (six over ~31 s). */
  readonly deliveryRetry?: { readonly maxAttempts: number; readonly intervalMs: number; readonly backoffFactor: number };
}

/** What the usage workflows need. */
export interface UsageDeps {
  readonly db: Database;
  readonly client: StrataClient;
}

/** A delivery's input: the event's ID and its body, made in the evaluation that raised it. */
interface DeliveryInput {
  readonly tenantId: string;
  readonly eventId: string;
  readonly body: string;
}

const registered = new WeakSet<Strata>();

/**
 * Registers the caps' evaluation (a schedule) and the delivery workflow on the control plane's
 * engine, before `launch()`; a second call for the same engine does nothing.
 *
 * @example
 * registerUsageOperations(strata, { db, client }, { evaluateCron: '* * * * * *' });
 */
export function registerUsageOperations(strata: Strata, deps: UsageDeps, options: UsageOptions = {}): void {
  if (registered.has(strata)) return;
  registered.add(strata);
  strata.queue(USAGE_QUEUE, { workerConcurrency: USAGE_WORKER_CONCURRENCY });
  const evaluate = strata.workflow(USAGE_WORKFLOWS.evaluate, async (ctx: WorkflowContext, tickAt: Date) =>
    ctx.step('evaluate', async () => {
      const events = await deps.db.transaction((tx) =>
        evaluateCaps(tx, new Date(tickAt), { requestId: ctx.workflowId, deliver: { client: deps.client, workflow: USAGE_WORKFLOWS.deliver, queue: USAGE_QUEUE } }),
      );
      return events.length;
    }),
  );
  strata.schedule(USAGE_SCHEDULE, evaluate, { cron: options.evaluateCron ?? DEFAULT_USAGE_CRON, queue: USAGE_QUEUE });
  strata.workflow(USAGE_WORKFLOWS.deliver, (ctx: WorkflowContext, input: DeliveryInput) =>
    ctx.step(
      'deliver',
      async () => {
        // The webhook as it is now: one removed since the event is not called.
        const webhook = await getWebhook(deps.db, input.tenantId);
        if (webhook === undefined) return 'no webhook';
        const status = await postWebhook(webhook.url, webhook.secret, input.eventId, input.body, options.allowPrivateWebhooks === true);
        if (status < 200 || status >= 300) throw new Error(`delivery of usage event ${input.eventId} to ${webhook.url} answered HTTP ${status}`);
        return 'delivered';
      },
      { retry: options.deliveryRetry ?? DEFAULT_DELIVERY_RETRY },
    ),
  );
}
