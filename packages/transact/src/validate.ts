import { InvalidArgumentError } from './errors.js';

/** Longest workflow ID, name, topic or key: keeps index entries small. */
export const MAX_IDENTIFIER_LENGTH = 512;

/** Throws unless `value` is a non-empty string of bounded length. */
export function assertIdentifier(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string, got ${describe(value)}`);
  }
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidArgumentError(`${what} is ${value.length} characters long; the limit is ${MAX_IDENTIFIER_LENGTH}`);
  }
}

/** Throws unless `value` is a string (possibly empty) of bounded length. */
export function assertString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be a string, got ${describe(value)}`);
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidArgumentError(`${what} is ${value.length} characters long; the limit is ${MAX_IDENTIFIER_LENGTH}`);
  }
}

/** Throws unless `value` is a number ≥ 0 (Infinity allowed when `allowInfinity`). */
export function assertDuration(value: unknown, what: string, allowInfinity = false): asserts value is number {
  const ok = typeof value === 'number' && !Number.isNaN(value) && value >= 0 && (allowInfinity || Number.isFinite(value));
  if (!ok) {
    throw new InvalidArgumentError(
      `${what} must be a number of milliseconds ≥ 0${allowInfinity ? ' (or Infinity)' : ''}, got ${describe(value)}`,
    );
  }
}

/** Throws unless `value` is a function. */
export function assertFunction(value: unknown, what: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new InvalidArgumentError(`${what} must be a function, got ${describe(value)}`);
}

/** Throws unless `value` is undefined or a plain options object. */
export function assertOptions(value: unknown, what: string): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidArgumentError(`${what} must be an options object, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** Default wait of recv/getEvent: DBOS's default, long enough for a human-free round trip. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

/** The validated `timeoutMs` of a wait's options (default {@link DEFAULT_WAIT_TIMEOUT_MS}; Infinity allowed). */
export function waitTimeoutMs(options: { readonly timeoutMs?: number } | undefined, what: string): number {
  assertOptions(options, `${what} options`);
  const timeoutMs = options?.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  assertDuration(timeoutMs, `${what} timeoutMs`, true);
  return timeoutMs;
}
