/**
 * How values look in human output: times, durations, arbitrary decoded values, and the JSON the
 * `--json` flag prints.
 */

/** `2026-01-31T12:00:05Z` (UTC, seconds); `-` for none. */
export function formatTime(date: Date | null | undefined): string {
  if (!date) return '-';
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `850ms`, `1.2s`, `3m4s`, `2h5m`, `3d4h`; `-` for none. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  const whole = Math.max(0, Math.round(ms));
  if (whole < 1_000) return `${whole}ms`;
  if (whole < 60_000) return `${(whole / 1_000).toFixed(1).replace(/\.0$/, '')}s`;
  const seconds = Math.floor(whole / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3_600)}h${Math.floor((seconds % 3_600) / 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${Math.floor((seconds % 86_400) / 3_600)}h`;
}

/** How long a workflow ran: from leaving its queue (or creation) to completion; `-` while unfinished. */
export function workflowDurationMs(workflow: { readonly createdAt: Date; readonly startedAt: Date | null; readonly completedAt: Date | null }): number | null {
  if (!workflow.completedAt) return null;
  return workflow.completedAt.getTime() - (workflow.startedAt ?? workflow.createdAt).getTime();
}

/**
 * JSON text of any decoded value: Dates as ISO strings, BigInt as strings, Map as an object of
 * its entries, Set as an array, Errors as { name, message }, `undefined` as null in arrays.
 */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, jsonReplacer, indent) ?? 'null';
}

function jsonReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), v]));
  if (value instanceof Set) return [...value];
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value instanceof RegExp || value instanceof URL) return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** A value in one short line for a table cell: strings as they are, everything else as JSON. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '';
  if (value === null) return 'null';
  if (typeof value === 'string') return value;
  if (value instanceof Date) return formatTime(value);
  return toJson(value);
}
