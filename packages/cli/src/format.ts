/**
 * How values look in human output: times, durations, arbitrary decoded values, control
 * characters made visible, and the JSON the `--json` flag prints.
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
  // JSON.stringify escapes C0 and lone surrogates; DEL, C1 and bidi controls it leaves raw. Their
  // \u escapes are the same JSON (they only ever occur inside strings), so the output stays exact.
  return (JSON.stringify(value, jsonReplacer, indent) ?? 'null').replace(JSON_UNSAFE, unicodeEscape);
}

/**
 * Characters a terminal acts on instead of showing: C0 controls (ESC starts colour and title
 * sequences, CR and BS overwrite what is on screen), DEL, C1 controls (U+009B is CSI on some
 * terminals), the line and paragraph separators, bidi marks and overrides (U+202E shows text
 * backwards), and lone surrogates (a terminal would show U+FFFD and hide the real value).
 */
const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The same set without LF: text that is already laid out in lines. */
const TERMINAL_UNSAFE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** What {@link toJson} escapes after JSON.stringify: the unsafe characters JSON leaves raw. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every character a terminal would act on written as a visible escape: `\n`, `\r`,
 * `\t`, `\x1b` (C0, DEL, C1), `\u202e` (bidi controls, separators, lone surrogates). Everything
 * else, backslashes included, is unchanged; `--json` output has the exact values.
 *
 * @example
 * visible('a\x1b]0;pwned\x07\rb'); // the 19 characters a\x1b]0;pwned\x07\rb, nothing a terminal acts on
 */
export function visible(text: string): string {
  return text.replace(TERMINAL_UNSAFE, escapeCharacter);
}

/** {@link visible} for text laid out in lines: newlines stay, every other unsafe character is escaped. */
export function visibleLines(text: string): string {
  return text.replace(TERMINAL_UNSAFE_BUT_NEWLINE, escapeCharacter);
}

function escapeCharacter(character: string): string {
  const named = NAMED_ESCAPES[character];
  if (named !== undefined) return named;
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : unicodeEscape(character);
}

function unicodeEscape(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
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
