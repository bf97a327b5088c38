// Decoded workflow values (superjson) hold types JSON.stringify rejects or flattens; the API
// shows them in a plain-JSON form that keeps what a person debugging a workflow needs to see.

/** Deeper than any value a person reads in a console; a guard against pathological nesting. */
const MAX_DEPTH = 64;

/**
 * A plain-JSON copy of a decoded value: BigInt as a decimal string, Map as an object (string
 * keys) or `[key, value]` pairs, Set as an array, Error as `{ name, message, code?, stack? }`,
 * bytes as `{ "$bytes": "<base64>" }`, RegExp and URL as strings, `undefined` as null. Dates
 * become ISO strings when stringified, as usual.
 *
 * @example
 * JSON.stringify(toPlainJson({ n: 12n, tags: new Set(['a']) })); // '{"n":"12","tags":["a"]}'
 */
export function toPlainJson(value: unknown): unknown {
  return convert(value, 0, new Set());
}

function convert(value: unknown, depth: number, path: Set<object>): unknown {
  if (value === undefined) return null;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return String(value); // functions and symbols are never stored
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof RegExp || value instanceof URL) return String(value);
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (path.has(value)) return '[circular]';
  path.add(value);
  try {
    if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      return {
        name: value.name,
        message: value.message,
        ...(code === undefined ? {} : { code: convert(code, depth + 1, path) }),
        ...(value.stack === undefined ? {} : { stack: value.stack }),
      };
    }
    if (Array.isArray(value)) return value.map((item) => convert(item, depth + 1, path));
    if (value instanceof Set) return [...value].map((item) => convert(item, depth + 1, path));
    if (value instanceof Map) {
      const entries = [...value.entries()];
      return entries.every(([key]) => typeof key === 'string')
        ? Object.fromEntries(entries.map(([key, item]) => [key, convert(item, depth + 1, path)]))
        : entries.map(([key, item]) => [convert(key, depth + 1, path), convert(item, depth + 1, path)]);
    }
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) result[key] = convert(item, depth + 1, path);
    return result;
  } finally {
    path.delete(value);
  }
}
