// How values look on the pages.

export const STATUSES = ['ENQUEUED', 'PENDING', 'SUCCESS', 'ERROR', 'CANCELLED'];

/** "850 ms", "12.3 s", "4 m 05 s", "2 h 10 m". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} m ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 1_440) return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} m`;
  return `${Math.floor(minutes / 1_440)} d ${Math.floor((minutes % 1_440) / 60)} h`;
}

/** "2026-01-31 12:04:05" in the browser's time zone. */
export function formatTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** "3 s ago", "in 2 m", for a time near now. */
export function formatRelative(iso, nowMs = Date.now()) {
  if (!iso) return '—';
  const deltaMs = new Date(iso).getTime() - nowMs;
  const text = formatDuration(Math.abs(deltaMs)).replace(/\.\d+ s$/, ' s');
  return deltaMs > 0 ? `in ${text}` : `${text} ago`;
}

/** How long a workflow ran (or has been running). */
export function workflowDurationMs(workflow, nowMs = Date.now()) {
  const start = new Date(workflow.startedAt ?? workflow.createdAt).getTime();
  const end = workflow.completedAt ? new Date(workflow.completedAt).getTime() : nowMs;
  return end - start;
}

/** A decoded value as readable JSON, cut at `maxChars`. */
export function formatValue(value, maxChars = 20_000) {
  const text = value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
  return text.length > maxChars ? `${text.slice(0, maxChars)}\n… (${text.length - maxChars} more characters)` : text;
}

/** "512 B", "1.5 KiB", "24.0 MiB", "3.20 GiB". */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(Math.abs(value) < 10 ? 2 : 1)} ${units[unit]}`;
}

/** "7", "12.5", "1,204": at most `digits` decimals, grouped. */
export function formatNumber(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** An ISO 8601 instant in UTC to the second, as the API takes it: "2026-01-31T12:04:05Z". */
export function isoSeconds(date) {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}
