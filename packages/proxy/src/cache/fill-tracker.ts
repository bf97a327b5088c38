// Fills in flight (misses and revalidations on their way to the backend), and the invalidations
// each has seen since it began, so a result read before a write is never stored after it.

import type { FillTicket } from './interfaces.js';
import { MAX_FILL_DURATION_MS, MAX_INVALIDATIONS_TRACKED_PER_FILL, MAX_PENDING_FILLS } from './limits.js';

interface PendingFill {
  readonly ticket: FillTicket;
  readonly digest: string;
  readonly instanceId: string;
  readonly revalidation: boolean;
  /** Tables and tags of its instance invalidated since it began. */
  readonly tables: Set<string>;
  readonly tags: Set<string>;
  /** Its whole instance was invalidated, or too many names were to be remembered. */
  superseded: boolean;
}

/**
 * Why a fill's result may not be stored.
 *
 * @example
 * ```ts
 * const refusal: FillRefusal | undefined = fills.finish(ticket, digest, readTables, tags, nowMs);
 * ```
 */
export type FillRefusal = 'superseded' | 'ticket-expired';

/**
 * The pending fills. Each invalidation is recorded in the pending fills of its instance; when a
 * fill ends, its result is refused if anything it read (tables, tags, the instance) was
 * invalidated meanwhile. At most one revalidation per key is pending at a time.
 *
 * @example
 * ```ts
 * const fills = new FillTracker();
 * const ticket = fills.begin('digest', 'ins_1', 0, false) as FillTicket;
 * fills.invalidateTables('ins_1', ['public.products']);
 * fills.finish(ticket, 'digest', ['public.products'], [], 5); // 'superseded'
 * ```
 */
export class FillTracker {
  /** By ticket id, in the order they began (so the oldest comes first). */
  readonly #pending = new Map<number, PendingFill>();
  readonly #byInstance = new Map<string, Set<PendingFill>>();
  readonly #revalidating = new Map<string, PendingFill>();
  #nextId = 1;

  /** A ticket for a fill of `digest`; for a revalidation, `undefined` when one is already pending. */
  begin(digest: string, instanceId: string, nowMs: number, revalidation: boolean): FillTicket | undefined {
    this.#expire(nowMs);
    if (revalidation && this.#revalidating.has(digest)) return undefined;
    for (const oldest of this.#pending.values()) {
      if (this.#pending.size < MAX_PENDING_FILLS) break;
      this.#drop(oldest);
    }
    const ticket: FillTicket = Object.freeze({ id: this.#nextId++, startedAtMs: nowMs });
    const fill: PendingFill = { ticket, digest, instanceId, revalidation, tables: new Set(), tags: new Set(), superseded: false };
    this.#pending.set(ticket.id, fill);
    let fills = this.#byInstance.get(instanceId);
    if (fills === undefined) this.#byInstance.set(instanceId, (fills = new Set()));
    fills.add(fill);
    if (revalidation) this.#revalidating.set(digest, fill);
    return ticket;
  }

  /**
   * Ends a fill: `undefined` when its result may be stored, else why not. Throws when the ticket
   * was issued for another key (a caller's bug that could mix up two keys' results).
   */
  finish(ticket: FillTicket, digest: string, readTables: readonly string[], tags: readonly string[], nowMs: number): FillRefusal | undefined {
    this.#expire(nowMs);
    const fill = this.#pending.get(ticket.id);
    if (fill === undefined) return 'ticket-expired';
    if (fill.digest !== digest) throw new Error(`QueryCache.store: fill ticket ${ticket.id} was issued for another key; store each result under the key its ticket was begun for`);
    this.#drop(fill);
    const invalidated = fill.superseded || readTables.some((table) => fill.tables.has(table)) || tags.some((tag) => fill.tags.has(tag));
    return invalidated ? 'superseded' : undefined;
  }

  /** Forgets a fill that will not be stored (the backend failed, the client left). */
  abandon(ticket: FillTicket): void {
    const fill = this.#pending.get(ticket.id);
    if (fill !== undefined) this.#drop(fill);
  }

  invalidateTables(instanceId: string, tables: readonly string[]): void {
    for (const fill of this.#byInstance.get(instanceId) ?? []) this.#remember(fill, fill.tables, tables);
  }

  invalidateTags(instanceId: string, tags: readonly string[]): void {
    for (const fill of this.#byInstance.get(instanceId) ?? []) this.#remember(fill, fill.tags, tags);
  }

  invalidateInstance(instanceId: string): void {
    for (const fill of this.#byInstance.get(instanceId) ?? []) this.#supersede(fill);
  }

  /** Fills pending now. */
  get pending(): number {
    return this.#pending.size;
  }

  #remember(fill: PendingFill, seen: Set<string>, names: readonly string[]): void {
    if (fill.superseded) return;
    for (const name of names) seen.add(name);
    if (seen.size > MAX_INVALIDATIONS_TRACKED_PER_FILL) this.#supersede(fill);
  }

  #supersede(fill: PendingFill): void {
    fill.superseded = true;
    fill.tables.clear();
    fill.tags.clear();
  }

  #expire(nowMs: number): void {
    for (const fill of this.#pending.values()) {
      if (nowMs - fill.ticket.startedAtMs < MAX_FILL_DURATION_MS) break;
      this.#drop(fill);
    }
  }

  #drop(fill: PendingFill): void {
    this.#pending.delete(fill.ticket.id);
    const fills = this.#byInstance.get(fill.instanceId);
    fills?.delete(fill);
    if (fills?.size === 0) this.#byInstance.delete(fill.instanceId);
    if (this.#revalidating.get(fill.digest) === fill) this.#revalidating.delete(fill.digest);
  }
}
