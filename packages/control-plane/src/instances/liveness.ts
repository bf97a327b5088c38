// Node liveness: instances of a node that stopped heartbeating show as UNKNOWN (with an event), and get their status back when it returns.
import type { Database } from '@strata/store';
import { DEFAULT_NODE_STALE_AFTER_MS, nodesTableExists } from './nodes.js';

/** Default time between two liveness checks. */
export const DEFAULT_LIVENESS_INTERVAL_MS = 2_000;

/** What one liveness check changed. */
export interface LivenessChange {
  /** Instances now UNKNOWN, with their node. */
  readonly lost: ReadonlyArray<{ readonly instanceId: string; readonly nodeId: string }>;
  /** Instances whose node is back, with the status they returned to. */
  readonly restored: ReadonlyArray<{ readonly instanceId: string; readonly nodeId: string; readonly status: string }>;
}

/**
 * One liveness check, in one transaction: instances (not deleted, not failed) on nodes silent for
 * `staleAfterMs` become UNKNOWN, keeping their status in status_before_unknown; UNKNOWN instances
 * on live nodes get it back. Each change appends an instance event.
 *
 * @example
 * const { lost } = await checkNodeLiveness(db);
 * for (const { instanceId, nodeId } of lost) console.log(`${instanceId}: node ${nodeId} is silent`);
 */
export async function checkNodeLiveness(db: Database, staleAfterMs = DEFAULT_NODE_STALE_AFTER_MS): Promise<LivenessChange> {
  return db.transaction(async (tx) => {
    if (!(await nodesTableExists(tx))) return { lost: [], restored: [] };
    const lost = await tx.query<{ instance_id: string; node_id: string }>(
      `with silent as (select node_id from strata_cloud.nodes where heartbeat_at <= now() - $1::integer * interval '1 millisecond'),
            changed as (
              update strata_cloud.instances i set status_before_unknown = i.status, status = 'UNKNOWN', updated_at = now()
                from silent s where i.node_id = s.node_id and i.status not in ('UNKNOWN', 'DELETED', 'ERROR')
              returning i.instance_id, i.node_id),
            events as (
              insert into strata_cloud.instance_events (instance_id, kind, message)
              select instance_id, 'node_lost', 'node ' || node_id || ' stopped heartbeating; status UNKNOWN until it returns' from changed)
       select instance_id, node_id from changed order by instance_id`,
      [staleAfterMs],
    );
    const restored = await tx.query<{ instance_id: string; node_id: string; status: string }>(
      `with live as (select node_id from strata_cloud.nodes where heartbeat_at > now() - $1::integer * interval '1 millisecond'),
            changed as (
              update strata_cloud.instances i set status = coalesce(i.status_before_unknown, 'ERROR'), status_before_unknown = null, updated_at = now()
                from live l where i.node_id = l.node_id and i.status = 'UNKNOWN'
              returning i.instance_id, i.node_id, i.status),
            events as (
              insert into strata_cloud.instance_events (instance_id, kind, message)
              select instance_id, 'node_back', 'node ' || node_id || ' heartbeats again; status ' || status from changed)
       select instance_id, node_id, status from changed order by instance_id`,
      [staleAfterMs],
    );
    return {
      lost: lost.rows.map((row) => ({ instanceId: row.instance_id, nodeId: row.node_id })),
      restored: restored.rows.map((row) => ({ instanceId: row.instance_id, nodeId: row.node_id, status: row.status })),
    };
  });
}

/** A running liveness loop. */
export interface NodeLiveness {
  /** Stops the loop (waits for a check in flight). */
  stop(): Promise<void>;
}

/**
 * Runs {@link checkNodeLiveness} every `intervalMs` until stopped. A failed check (the database
 * away) is logged and tried again at the next tick.
 *
 * @example
 * const liveness = startNodeLiveness(db, { staleAfterMs: 10_000 });
 * // …
 * await liveness.stop();
 */
export function startNodeLiveness(
  db: Database,
  options: { readonly staleAfterMs?: number; readonly intervalMs?: number; readonly logger?: { warn(message: string): void } } = {},
): NodeLiveness {
  const logger = options.logger ?? console;
  let inFlight: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = inFlight.then(async () => {
      try {
        await checkNodeLiveness(db, options.staleAfterMs ?? DEFAULT_NODE_STALE_AFTER_MS);
      } catch (error) {
        logger.warn(`strata control plane: node liveness check failed (${(error as Error).message}); retrying at the next tick`);
      }
    });
  }, options.intervalMs ?? DEFAULT_LIVENESS_INTERVAL_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}
