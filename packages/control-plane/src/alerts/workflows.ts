// The alert workflows: an evaluation on a schedule (every 10 s by default), and the delivery of one
// event to its tenant's webhook, retried with backoff, each attempt recorded.
import type { Database } from '@strata/store';
import type { Strata, StrataClient, WorkflowContext } from '@strata/transact';
import { evaluateAlerts } from './evaluate.js';
import { getEvent, getWebhook, recordDelivery } from './sql.js';
import { postWebhook } from './webhook.js';

/** The queue of evaluations and deliveries. */
export const ALERTS_QUEUE = 'cloud.alerts';
/** Deliveries one control-plane process runs at once (each mostly waits on a receiver). */
export const ALERTS_WORKER_CONCURRENCY = 8;
export const ALERT_WORKFLOWS = { evaluate: 'cloud.alerts.evaluate', deliver: 'cloud.alerts.deliver' } as const;
/** The schedule of evaluations (declared in code). */
export const ALERTS_SCHEDULE = 'cloud.alerts';
/** Every 10 s: a one-minute rule fires within 10 s of its minute. */
export const DEFAULT_ALERTS_CRON = '*/10 * * * * *';
/** A receiver down for a while: six tries over ~31 s (1, 2, 4, 8, 16 s apart), each recorded. */
export const DEFAULT_DELIVERY_RETRY = { maxAttempts: 6, intervalMs: 1_000, backoffFactor: 2 } as const;

/** How the alert workflows run. */
export interface AlertOptions {
  /** When evaluations run. Default {@link DEFAULT_ALERTS_CRON}. */
  readonly evaluateCron?: string;
  /** How long built-in rules must hold (default: each rule's own; tests shorten it); a tenant's own setting of a rule wins. */
  readonly builtinDurationSeconds?: number;
  /** Let webhooks reach loopback and private addresses (a receiver on this machine, in development and tests). Default false. */
  readonly allowPrivateWebhooks?: boolean;
  /** Tries of one delivery. Default {@link DEFAULT_DELIVERY_RETRY}. */
  readonly deliveryRetry?: { readonly maxAttempts: number; readonly intervalMs: number; readonly backoffFactor: number };
}

/** What the alert workflows need. */
export interface AlertDeps {
  readonly db: Database;
  readonly client: StrataClient;
}

const registered = new WeakSet<Strata>();

/**
 * Registers the evaluation (a schedule) and the delivery workflow on the control plane's engine,
 * before `launch()`; a second call for the same engine does nothing.
 *
 * @example
 * registerAlertOperations(strata, { db, client }, { evaluateCron: '*\/10 * * * * *' });
 */
export function registerAlertOperations(strata: Strata, deps: AlertDeps, options: AlertOptions = {}): void {
  if (registered.has(strata)) return;
  registered.add(strata);
  strata.queue(ALERTS_QUEUE, { workerConcurrency: ALERTS_WORKER_CONCURRENCY });
  const evaluate = strata.workflow(ALERT_WORKFLOWS.evaluate, async (ctx: WorkflowContext, tickAt: Date) =>
    ctx.step('evaluate', async () => {
      const events = await deps.db.transaction((tx) =>
        evaluateAlerts(tx, new Date(tickAt), { client: deps.client, deliver: { workflow: ALERT_WORKFLOWS.deliver, queue: ALERTS_QUEUE }, ...(options.builtinDurationSeconds === undefined ? {} : { builtinDurationSeconds: options.builtinDurationSeconds }) }),
      );
      return events.length;
    }),
  );
  strata.schedule(ALERTS_SCHEDULE, evaluate, { cron: options.evaluateCron ?? DEFAULT_ALERTS_CRON, queue: ALERTS_QUEUE });
  strata.workflow(ALERT_WORKFLOWS.deliver, (ctx: WorkflowContext, input: { eventId: string }) => deliver(ctx, deps, input.eventId, options));
}

/** One event to its tenant's webhook (as set now); each attempt recorded; a failure is retried with backoff. */
async function deliver(ctx: WorkflowContext, deps: AlertDeps, eventId: string, options: AlertOptions): Promise<string> {
  return ctx.step(
    'deliver',
    async () => {
      const event = await getEvent(deps.db, eventId);
      if (event === undefined) return 'event gone';
      const webhook = await getWebhook(deps.db, event.tenantId);
      if (webhook === undefined) return 'no webhook';
      const body = JSON.stringify({
        event: { id: event.eventId, kind: event.kind, at: event.at.toISOString() },
        rule: { key: event.ruleKey, name: event.ruleName, metric: event.metric, threshold: event.threshold },
        instance: { id: event.instanceId },
        value: event.value,
      });
      let status: number;
      try {
        status = await postWebhook(webhook.url, webhook.secret, eventId, body, options.allowPrivateWebhooks === true);
      } catch (error) {
        const attempt = await recordDelivery(deps.db, { eventId, url: webhook.url, ok: false, httpStatus: null, error: (error as Error).message });
        throw new Error(`delivery ${attempt} of alert event ${eventId} to ${webhook.url} failed: ${(error as Error).message}`);
      }
      const ok = status >= 200 && status < 300;
      const attempt = await recordDelivery(deps.db, { eventId, url: webhook.url, ok, httpStatus: status, error: ok ? null : `HTTP ${status}` });
      if (!ok) throw new Error(`delivery ${attempt} of alert event ${eventId} to ${webhook.url} answered HTTP ${status}`);
      return 'delivered';
    },
    { retry: options.deliveryRetry ?? DEFAULT_DELIVERY_RETRY },
  );
}
