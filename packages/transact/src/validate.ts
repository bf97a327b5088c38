// Argument checks shared by the public API: identifiers, durations, dates, options objects, wait timeouts.
import { InvalidArgumentError, UnknownOptionError } from './errors.js';

/** Longest workflow ID, name, topic or key: keeps index entries small. */
export const MAX_IDENTIFIER_LENGTH = 512;

/**
 * Longest delay, timeout or sleep Strata accepts, 10 years: far past any real schedule, and far
 * inside the timestamp range of PostgreSQL and of JavaScript's `Date`, so `now + duration` is
 * always a time both can store (`delayMs: 1e15` would otherwise reach PostgreSQL as a date error).
 */
export const MAX_DURATION_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * Throws unless `value` is a non-empty string of bounded length made of printable text: no C0
 * control character (U+0000–U+001F, which PostgreSQL cannot store in the case of NUL and which
 * make IDs ambiguous in logs and URLs) and no lone UTF-16 surrogate (which UTF-8 cannot encode,
 * so the stored ID would differ from the one given).
 *
 * @example
 * assertIdentifier('order-42', 'workflow ID');   // fine
 * assertIdentifier('order\u000042', 'workflow ID');
 * // InvalidArgumentError: workflow ID contains the control character U+0000 at position 5; …
 */
export function assertIdentifier(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string, got ${describe(value)}`);
  }
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidArgumentError(`${what} is ${value.length} characters long; the limit is ${MAX_IDENTIFIER_LENGTH}`);
  }
  assertStorableText(value, what, true);
}

/**
 * Most names one {@link IdentifierMemo} remembers as valid. Step names come from a program's
 * code, so a program has some hundreds at most; names built from data (`fetch-${url}`) would
 * grow the memo without bound, so past this it remembers no more (those are checked on every
 * call, as all names were before the memo).
 */
export const MAX_REMEMBERED_IDENTIFIERS = 4_096;

/**
 * {@link assertIdentifier} that skips the scan of a name it already found valid: a loop's
 * 1,000th `ctx.step('fetch', …)` does not check "fetch" again (~3.7% of a short step's CPU).
 *
 * @example
 * const stepNames: IdentifierMemo = new IdentifierMemo();
 * stepNames.assert(name, 'step name');
 */
export class IdentifierMemo {
  readonly #valid = new Set<string>();

  /** Throws as {@link assertIdentifier} does, unless `value` was found valid before. */
  assert(value: unknown, what: string): asserts value is string {
    if (typeof value === 'string' && this.#valid.has(value)) return;
    assertIdentifier(value, what);
    if (this.#valid.size < MAX_REMEMBERED_IDENTIFIERS) this.#valid.add(value);
  }
}

/**
 * Throws unless `value` is a string (possibly empty) of bounded length that PostgreSQL stores as
 * given: no NUL and no lone UTF-16 surrogate (line breaks and tabs are fine).
 */
export function assertString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be a string, got ${describe(value)}`);
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidArgumentError(`${what} is ${value.length} characters long; the limit is ${MAX_IDENTIFIER_LENGTH}`);
  }
  assertStorableText(value, what, false);
}

/** A character of a string that PostgreSQL cannot store as given, and where it is. */
export interface UnstorableCharacter {
  /** 0-based UTF-16 index. */
  readonly index: number;
  /** e.g. `U+0000`. */
  readonly codePoint: string;
  readonly kind: 'NUL' | 'control character' | 'lone surrogate';
}

/**
 * The first character of `text` that a PostgreSQL text column cannot hold as given (NUL, a lone
 * UTF-16 surrogate; with `controls`, also any other C0 control character), or undefined.
 */
export function findUnstorableCharacter(text: string, controls: boolean): UnstorableCharacter | undefined {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x20) {
      if (unit === 0) return { index, codePoint: 'U+0000', kind: 'NUL' };
      if (controls) return { index, codePoint: codePointName(unit), kind: 'control character' };
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = text.charCodeAt(index + 1);
      if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        index++; // a well-formed pair
      } else {
        return { index, codePoint: codePointName(unit), kind: 'lone surrogate' };
      }
    }
  }
  return undefined;
}

function assertStorableText(value: string, what: string, controls: boolean): void {
  const bad = findUnstorableCharacter(value, controls);
  if (bad === undefined) return;
  const fix =
    bad.kind === 'lone surrogate'
      ? 'a lone UTF-16 surrogate cannot be encoded as UTF-8; pass well-formed text (String.prototype.toWellFormed() replaces it)'
      : controls
        ? 'identifiers must be printable text; remove it or encode the value (e.g. encodeURIComponent)'
        : 'PostgreSQL cannot store NUL in text; remove it or encode the value';
  throw new InvalidArgumentError(`${what} contains ${bad.kind === 'NUL' ? 'the NUL character' : `the ${bad.kind}`} ${bad.codePoint} at position ${bad.index}; ${fix}`);
}

function codePointName(unit: number): string {
  return `U+${unit.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Throws unless `value` is a number of milliseconds from 0 to {@link MAX_DURATION_MS} (or
 * Infinity, when `allowInfinity`: a wait without end).
 */
export function assertDuration(value: unknown, what: string, allowInfinity = false): asserts value is number {
  const ok =
    typeof value === 'number' && !Number.isNaN(value) && value >= 0 && (value <= MAX_DURATION_MS || (allowInfinity && value === Infinity));
  if (!ok) {
    const tooLong = typeof value === 'number' && value > MAX_DURATION_MS;
    throw new InvalidArgumentError(
      `${what} must be a number of milliseconds from 0 to ${MAX_DURATION_MS} (10 years)${allowInfinity ? ', or Infinity to wait without end' : ''}, got ${describe(value)}` +
        (tooLong ? '; for a later time, schedule it with a cron schedule or a chain of shorter delays' : ''),
    );
  }
}

/** Earliest and latest time accepted as a Date argument: four-digit years, which every driver and PostgreSQL read alike. */
export const MIN_DATE_MS = Date.UTC(1, 0, 1);
export const MAX_DATE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Throws unless `value` is a valid Date between the years 1 and 9999 (an invalid Date or year 275760 would reach PostgreSQL as a date error). */
export function assertDate(value: unknown, what: string): asserts value is Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidArgumentError(`${what} must be a valid Date, got ${value instanceof Date ? 'an invalid Date' : describe(value)}`);
  if (value.getTime() < MIN_DATE_MS || value.getTime() > MAX_DATE_MS) {
    throw new InvalidArgumentError(`${what} must be between the years 1 and 9999, got ${value.toISOString()}`);
  }
}

/** Throws unless `value` is a function. */
export function assertFunction(value: unknown, what: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new InvalidArgumentError(`${what} must be a function, got ${describe(value)}`);
}

/**
 * Throws unless `value` is undefined or a plain options object; with `knownKeys`, also unless
 * every key it has is one of them — an {@link UnknownOptionError} naming the key and the closest
 * known one, so `{ workflowID: 'x' }` fails instead of being silently ignored.
 *
 * @example
 * assertOptions({ timeoutMs: 5 }, 'shutdown options', ['timeoutMs']);   // fine
 * assertOptions({ timeout: 5 }, 'shutdown options', ['timeoutMs']);
 * // UnknownOptionError: shutdown options has no option "timeout"; did you mean "timeoutMs"? …
 */
export function assertOptions<T = Record<string, unknown>>(value: unknown, what: string, knownKeys?: readonly (keyof T & string)[]): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be an options object, got ${describe(value)}`);
  }
  if (knownKeys === undefined) return;
  for (const key of Object.keys(value)) {
    if (!knownKeys.includes(key as keyof T & string)) throw new UnknownOptionError(what, key, closestMatch(key, knownKeys), knownKeys);
  }
}

/**
 * The candidate nearest to `word` by edit distance (case-insensitive) within max(2, a third of
 * the word's length) edits, else one that contains the word, else undefined: a suggestion worth
 * making, not a random key.
 *
 * @example
 * closestMatch('databse', ['database', 'appDatabase']); // 'database'
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A word a key holds whole is what the user meant more often than not (`offset` → `fromOffset`, `delay` → `delayMs`).
  return best ?? (lower.length >= 3 ? candidates.find((candidate) => candidate.toLowerCase().includes(lower)) : undefined);
}

/** Levenshtein distance (insertions, deletions, substitutions), in O(a·b) time and O(b) memory. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** A short description of a bad value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** Default wait of recv/getEvent: DBOS's default, long enough for a human-free round trip. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

/** The options a wait takes (`WaitOptions`). */
export const WAIT_OPTION_KEYS = ['timeoutMs'] as const;

/** The validated `timeoutMs` of a wait's options (default {@link DEFAULT_WAIT_TIMEOUT_MS}; Infinity allowed). */
export function waitTimeoutMs(options: { readonly timeoutMs?: number } | undefined, what: string): number {
  assertOptions(options, `${what} options`, WAIT_OPTION_KEYS);
  const timeoutMs = options?.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  assertDuration(timeoutMs, `${what} timeoutMs`, true);
  return timeoutMs;
}
