// What faults to inject and when: the kinds, their rules, and the checks on a plan.

/**
 * The faults {@link faultyDatabase} can inject:
 *
 * - `lostBeforeCommit`: a transaction's body ran, then the connection "died" before COMMIT; the
 *   real transaction is rolled back and the caller gets a connection error.
 * - `ambiguousCommit`: the transaction committed, then the caller gets a connection error anyway
 *   (it cannot tell that its writes are durable).
 * - `lostNotify`: `notify()` / `tx.notify()` is silently not sent.
 * - `droppedDelivery`: a notification that arrived is not passed to the listener's handler
 *   (catches notifications sent from inside SQL, e.g. `select pg_notify(...)`, too).
 * - `serializationBurst`: the transaction's first matching statement fails with SQLSTATE 40001
 *   on N consecutive attempts, inside the store's own retry loop.
 * - `slowStatement`: a statement waits a seeded delay on the wrapper's clock before it is sent.
 * - `queryConnectionLost`: a `query`/`exec` outside a transaction fails with a connection error,
 *   before it reaches the server or (see {@link QueryConnectionLostRule.phase}) after it ran.
 *
 * @example
 * ```ts
 * const plan: FaultPlan = { lostBeforeCommit: { probability: 0.1 } };
 * const kinds: readonly FaultKind[] = FAULT_KINDS; // every kind, in this order
 * ```
 */
export type FaultKind =
  | 'lostBeforeCommit'
  | 'ambiguousCommit'
  | 'lostNotify'
  | 'droppedDelivery'
  | 'serializationBurst'
  | 'slowStatement'
  | 'queryConnectionLost';

/**
 * Every {@link FaultKind}, in a fixed order (the order of the PRNG streams and of `stats`).
 *
 * @example
 * ```ts
 * for (const kind of FAULT_KINDS) console.log(kind, db.stats.injected[kind]);
 * ```
 */
export const FAULT_KINDS: readonly FaultKind[] = [
  'lostBeforeCommit',
  'ambiguousCommit',
  'lostNotify',
  'droppedDelivery',
  'serializationBurst',
  'slowStatement',
  'queryConnectionLost',
];

/**
 * When one kind of fault fires. Every eligible operation draws from the kind's own seeded stream
 * and injects with `probability`; the optional limits narrow which operations are eligible.
 *
 * @example
 * ```ts
 * // At most 3 times, never in the first 20 operations, only for step checkpoints:
 * const rule: FaultRule = { probability: 0.5, maxCount: 3, afterOperations: 20, match: /insert into strata\.steps/i };
 * ```
 */
export interface FaultRule {
  /** Chance, 0 to 1, that an eligible operation gets the fault. */
  readonly probability: number;
  /** Inject at most this many times (a serialization burst counts once). Default: no bound. */
  readonly maxCount?: number;
  /**
   * Only operations after the first `afterOperations` are eligible (operation indexes start at
   * 1). For `droppedDelivery` the count is of delivered notifications instead. Default 0.
   */
  readonly afterOperations?: number;
  /**
   * Only operations whose subject matches: a statement's SQL; for transaction faults, any
   * statement the transaction ran; for `lostNotify` and `droppedDelivery`, the channel name.
   * Default: every operation.
   */
  readonly match?: RegExp;
}

/**
 * A {@link FaultRule} for `serializationBurst`: how many consecutive attempts of one transaction
 * fail with 40001.
 *
 * @example
 * ```ts
 * // Each hit transaction fails 2 to 4 times in a row, then the retry gets through (bound is 10).
 * const rule: SerializationBurstRule = { probability: 0.2, attempts: 2, attemptsMax: 4 };
 * ```
 */
export interface SerializationBurstRule extends FaultRule {
  /** Attempts that fail in a burst. Default 1. */
  readonly attempts?: number;
  /** When set, the burst length is drawn from `attempts` to `attemptsMax`, inclusive. */
  readonly attemptsMax?: number;
}

/**
 * A {@link FaultRule} for `droppedDelivery`.
 *
 * @example
 * ```ts
 * // Drop one notification in five, and tell `onListenRestored` callbacks, as a real reconnect would.
 * const rule: DroppedDeliveryRule = { probability: 0.2, signalRestored: true };
 * ```
 */
export interface DroppedDeliveryRule extends FaultRule {
  /**
   * After each dropped notification, call the callbacks registered with the wrapper's
   * `onListenRestored`, as the PostgreSQL driver does once its lost LISTEN connection is back.
   * Default false: the loss goes unannounced.
   */
  readonly signalRestored?: boolean;
}

/**
 * A {@link FaultRule} for `slowStatement`: the delay is drawn from `minDelayMs` to `maxDelayMs`.
 *
 * @example
 * ```ts
 * const rule: SlowStatementRule = { probability: 0.3, minDelayMs: 5, maxDelayMs: 200 };
 * ```
 */
export interface SlowStatementRule extends FaultRule {
  /** Shortest delay. Default 0. */
  readonly minDelayMs?: number;
  /** Longest delay. */
  readonly maxDelayMs: number;
}

/**
 * A {@link FaultRule} for `queryConnectionLost`.
 *
 * @example
 * ```ts
 * // Half the failures happen after the statement ran (its effect is kept; the caller can't know).
 * const rule: QueryConnectionLostRule = { probability: 0.05, phase: 'either' };
 * ```
 */
export interface QueryConnectionLostRule extends FaultRule {
  /**
   * `'before'` (default): the statement never reaches the server. `'after'`: it ran (and, being
   * outside a transaction, committed) before the error. `'either'`: drawn per fault.
   */
  readonly phase?: 'before' | 'after' | 'either';
}

/**
 * Which faults to inject, one optional rule per {@link FaultKind}; kinds left out never fire.
 *
 * @example
 * ```ts
 * const plan: FaultPlan = {
 *   lostBeforeCommit: { probability: 0.05 },
 *   ambiguousCommit: { probability: 0.05, match: /insert into strata\.steps/i },
 *   serializationBurst: { probability: 0.1, attempts: 1, attemptsMax: 3 },
 *   droppedDelivery: { probability: 0.2 },
 * };
 * ```
 */
export interface FaultPlan {
  readonly lostBeforeCommit?: FaultRule;
  readonly ambiguousCommit?: FaultRule;
  readonly lostNotify?: FaultRule;
  readonly droppedDelivery?: DroppedDeliveryRule;
  readonly serializationBurst?: SerializationBurstRule;
  readonly slowStatement?: SlowStatementRule;
  readonly queryConnectionLost?: QueryConnectionLostRule;
}

/**
 * Thrown by {@link faultyDatabase} for a plan it cannot follow (an unknown kind, a probability
 * outside 0..1, a delay range upside down).
 *
 * @example
 * ```ts
 * faultyDatabase(db, { seed: 1, faults: { lostBeforeComit: { probability: 1 } } as FaultPlan });
 * // throws InvalidFaultPlanError: unknown fault kind "lostBeforeComit" …
 * ```
 */
export class InvalidFaultPlanError extends Error {
  readonly code = 'STRATA_INVALID_FAULT_PLAN';
  override readonly name = 'InvalidFaultPlanError';
}

/** Checks a plan and returns a copy whose regexes carry no g/y state (those make `test` alternate). */
export function validatePlan(plan: FaultPlan): FaultPlan {
  if (typeof plan !== 'object' || plan === null) throw new InvalidFaultPlanError('faults must be an object of fault rules, e.g. { lostBeforeCommit: { probability: 0.1 } }');
  const checked: Record<string, FaultRule> = {};
  for (const [kind, rule] of Object.entries(plan) as Array<[string, FaultRule | undefined]>) {
    if (rule === undefined) continue;
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new InvalidFaultPlanError(`unknown fault kind ${JSON.stringify(kind)}; use one of ${FAULT_KINDS.join(', ')}`);
    }
    const where = `faults.${kind}`;
    if (typeof rule.probability !== 'number' || !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new InvalidFaultPlanError(`${where}.probability must be a number from 0 to 1, got ${String(rule.probability)}`);
    }
    for (const field of ['maxCount', 'afterOperations'] as const) {
      const value = rule[field];
      if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
        throw new InvalidFaultPlanError(`${where}.${field} must be a whole number of at least 0, got ${String(value)}`);
      }
    }
    if (rule.match !== undefined && !(rule.match instanceof RegExp)) {
      throw new InvalidFaultPlanError(`${where}.match must be a RegExp, got ${typeof rule.match}`);
    }
    const match = rule.match === undefined ? undefined : new RegExp(rule.match.source, rule.match.flags.replace(/[gy]/g, ''));
    checked[kind] = { ...rule, ...(match === undefined ? {} : { match }) };
  }
  const burst = plan.serializationBurst;
  if (burst !== undefined) {
    const minAttempts = burst.attempts ?? 1;
    if (!Number.isInteger(minAttempts) || minAttempts < 1) {
      throw new InvalidFaultPlanError(`faults.serializationBurst.attempts must be a whole number of at least 1, got ${String(burst.attempts)}`);
    }
    if (burst.attemptsMax !== undefined && !(Number.isInteger(burst.attemptsMax) && burst.attemptsMax >= minAttempts)) {
      throw new InvalidFaultPlanError(`faults.serializationBurst.attemptsMax must be a whole number of at least attempts (${minAttempts}), got ${String(burst.attemptsMax)}`);
    }
  }
  const slow = plan.slowStatement;
  if (slow !== undefined) {
    const minDelayMs = slow.minDelayMs ?? 0;
    if (!Number.isInteger(minDelayMs) || minDelayMs < 0 || !Number.isInteger(slow.maxDelayMs) || slow.maxDelayMs < minDelayMs) {
      throw new InvalidFaultPlanError(
        `faults.slowStatement needs whole-number delays with 0 <= minDelayMs <= maxDelayMs, got ${String(slow.minDelayMs)} and ${String(slow.maxDelayMs)}`,
      );
    }
  }
  const phase = plan.queryConnectionLost?.phase;
  if (phase !== undefined && phase !== 'before' && phase !== 'after' && phase !== 'either') {
    throw new InvalidFaultPlanError(`faults.queryConnectionLost.phase must be 'before', 'after' or 'either', got ${JSON.stringify(phase)}`);
  }
  return checked as FaultPlan;
}
