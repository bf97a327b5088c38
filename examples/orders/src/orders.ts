// The order workflow: reserve stock (exactly once), charge the card (at least once until its
// checkpoint commits, with retries), wait durably for the courier, ship (exactly once).

import type { Database } from '@strata/store';
import type { Strata, WorkflowContext } from '@strata/transact';

/** One order of the demo. */
export interface Order {
  readonly orderId: string;
  readonly item: string;
  readonly quantity: number;
  readonly amountCents: number;
}

/** What a finished order workflow returns. */
export interface Receipt {
  readonly orderId: string;
  readonly chargeId: string;
  readonly trackingNumber: string;
}

/** The demo's orders. IDs are stable, so a second run finds the same workflows instead of new ones. */
export const ORDERS: readonly Order[] = [
  { orderId: 'order-1', item: 'espresso beans', quantity: 2, amountCents: 2_400 },
  { orderId: 'order-2', item: 'grinder', quantity: 1, amountCents: 8_900 },
  { orderId: 'order-3', item: 'espresso beans', quantity: 1, amountCents: 1_200 },
  { orderId: 'order-4', item: 'milk jug', quantity: 3, amountCents: 4_500 },
  { orderId: 'order-5', item: 'grinder', quantity: 1, amountCents: 8_900 },
];

/** The order whose first payment attempt fails, to show the step's retry policy at work. */
export const FLAKY_PAYMENT_ORDER_ID = 'order-3';

/** Stock at the start; reservations take from it exactly once per order. */
const INITIAL_STOCK: ReadonlyArray<readonly [item: string, available: number]> = [
  ['espresso beans', 10],
  ['grinder', 4],
  ['milk jug', 6],
];

/** The simulated payment provider answers in this range. */
const PAYMENT_LATENCY_MS_MIN = 300;
const PAYMENT_LATENCY_MS_MAX = 800;
/** How long the courier takes to arrive: a durable sleep, so a restart keeps the original pickup time. */
export const COURIER_WAIT_MS = 2_000;
/** Timer slack when telling a full, a partly resumed and an already elapsed wait apart in the progress output. */
const SLEEP_SLACK_MS = 100;

/** One progress report from inside a workflow. */
export interface Progress {
  readonly orderId: string;
  readonly step: string;
  /**
   * `executed`: the step ran now; `replayed`: its result came from a checkpoint of an earlier
   * run; `resumed`: a wait that began in an earlier run finished here; `retrying`: an attempt failed.
   */
  readonly how: 'executed' | 'replayed' | 'resumed' | 'retrying';
  readonly detail: string;
}

/**
 * The app's tables, in the same database as Strata's so each `ctx.transaction` commits the
 * app's rows and the step's checkpoint together. `order_events` is an append-only ledger of
 * effects with no unique constraint: a duplicate reservation or shipment would show up there.
 */
export async function createAppTables(db: Database): Promise<void> {
  await db.exec(`
    create table if not exists stock (
      item text primary key,
      available integer not null check (available >= 0)
    );
    create table if not exists orders (
      order_id text primary key,
      item text not null,
      quantity integer not null,
      status text not null,
      tracking_number text,
      updated_at timestamptz not null default now()
    );
    create table if not exists order_events (
      event_id bigserial primary key,
      order_id text not null,
      kind text not null,
      at timestamptz not null default now()
    );
  `);
  await db.transaction(async (tx) => {
    for (const [item, available] of INITIAL_STOCK) {
      await tx.query('insert into stock (item, available) values ($1, $2) on conflict (item) do nothing', [item, available]);
    }
  });
}

/** Registers the `order` workflow on `strata`; `report` hears of every step. */
export function registerOrderWorkflow(strata: Strata, report: (progress: Progress) => void) {
  return strata.workflow('order', async (ctx: WorkflowContext, order: Order): Promise<Receipt> => {
    const { orderId } = order;

    let fresh = false;
    const reserved = await ctx.transaction('reserve', async (tx) => {
      fresh = true;
      const { rows } = await tx.query<{ available: number }>(
        'update stock set available = available - $2 where item = $1 and available >= $2 returning available',
        [order.item, order.quantity],
      );
      if (rows.length === 0) throw new Error(`not enough "${order.item}" in stock for ${orderId}`);
      await tx.query('insert into orders (order_id, item, quantity, status) values ($1, $2, $3, $4)', [orderId, order.item, order.quantity, 'reserved']);
      await tx.query('insert into order_events (order_id, kind) values ($1, $2)', [orderId, 'reserved']);
      return { left: rows[0]!.available };
    });
    report({ orderId, step: 'reserve', how: fresh ? 'executed' : 'replayed', detail: `${order.quantity} × ${order.item} reserved (${reserved.left} left)` });

    fresh = false;
    const charge = await ctx.step(
      'charge',
      async ({ attempt }) => {
        fresh = true;
        await new Promise((resolve) => setTimeout(resolve, PAYMENT_LATENCY_MS_MIN + Math.random() * (PAYMENT_LATENCY_MS_MAX - PAYMENT_LATENCY_MS_MIN)));
        if (orderId === FLAKY_PAYMENT_ORDER_ID && attempt === 1) {
          report({ orderId, step: 'charge', how: 'retrying', detail: 'payment provider timed out (simulated); the retry policy tries again' });
          throw new Error('payment provider timed out (simulated)');
        }
        return { chargeId: `ch_${orderId.replace('order-', '')}_${Math.random().toString(36).slice(2, 8)}`, attempt };
      },
      { retry: { maxAttempts: 3, intervalMs: 500 } },
    );
    report({
      orderId,
      step: 'charge',
      how: fresh ? 'executed' : 'replayed',
      detail: `$${(order.amountCents / 100).toFixed(2)} charged as ${charge.chargeId}${charge.attempt > 1 ? ` on attempt ${charge.attempt}` : ''}`,
    });

    await ctx.setEvent('status', 'waiting for the courier');
    const waitStartedAtMs = Date.now(); // only for the message; the wake-up time itself is recorded by ctx.sleep
    await ctx.sleep(COURIER_WAIT_MS);
    const waitedMs = Date.now() - waitStartedAtMs;
    report({
      orderId,
      step: 'courier',
      how: waitedMs >= COURIER_WAIT_MS - SLEEP_SLACK_MS ? 'executed' : waitedMs < SLEEP_SLACK_MS ? 'replayed' : 'resumed',
      detail: `courier arrived (waited ${(waitedMs / 1000).toFixed(1)} s in this run; the pickup time was recorded when the wait began)`,
    });

    fresh = false;
    const trackingNumber = await ctx.transaction('ship', async (tx) => {
      fresh = true;
      const tracking = `TRK-${orderId.replace('order-', '').padStart(4, '0')}`;
      await tx.query('update orders set status = $2, tracking_number = $3, updated_at = now() where order_id = $1', [orderId, 'shipped', tracking]);
      await tx.query('insert into order_events (order_id, kind) values ($1, $2)', [orderId, 'shipped']);
      return tracking;
    });
    report({ orderId, step: 'ship', how: fresh ? 'executed' : 'replayed', detail: `shipped, tracking ${trackingNumber}` });

    await ctx.setEvent('status', 'shipped');
    return { orderId, chargeId: charge.chargeId, trackingNumber };
  });
}
