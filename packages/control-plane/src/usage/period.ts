// Caps are per calendar month in UTC: the period a moment falls in, and its bounds.

/** One calendar month (UTC), the period of a cap. */
export interface CapPeriod {
  /** The first instant of the month. */
  readonly start: Date;
  /** The first instant of the next month (exclusive). */
  readonly end: Date;
  /** `2025-06-01`: the key of strata_cloud.usage_cap_state. */
  readonly startDate: string;
  /** `2025-06`: how messages name it. */
  readonly label: string;
}

/**
 * The calendar month (UTC) that `at` falls in.
 *
 * @example
 * monthOf(new Date('2025-06-17T08:00:00Z')).startDate; // '2025-06-01'
 */
export function monthOf(at: Date): CapPeriod {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  const startDate = start.toISOString().slice(0, 10);
  return { start, end, startDate, label: startDate.slice(0, 7) };
}
