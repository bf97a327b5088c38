// How values are stored: SuperJSON text with a size limit, errors kept with their name, message, stack and code.
import SuperJSON from 'superjson';
import { NotSerializableError, PayloadTooLargeError } from './errors.js';

/** Default size limit of one stored value: big enough for documents, small enough to keep rows cheap. */
export const DEFAULT_MAX_VALUE_BYTES = 4 * 1024 * 1024;
/** Nesting bound of the pre-serialization check; deeper data is almost always a bug (or a cycle in disguise). */
const MAX_DEPTH = 256;
/** Longest description kept when a thrown value is stored as a replacement Error. */
const MAX_REPLACEMENT_MESSAGE_CHARS = 10_000;

const ALLOWED_CLASSES: ReadonlyArray<abstract new (...args: never[]) => unknown> = [Date, RegExp, Map, Set, URL, Error, Uint8Array];

/** Keys superjson refuses (prototype pollution); refused here first, with the path. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * A NUL character or a lone UTF-16 surrogate: JSON can carry them (`\u0000`, `\ud800`) but
 * PostgreSQL's jsonb cannot, so a stored value holding one would break every query of the
 * `strata.*` views that decodes it.
 */
const UNSTORABLE_IN_JSONB = /[\0\p{Cs}]/u;
const NEEDS_TEXT_ESCAPE = /[\\\0\p{Cs}]/gu;
const TEXT_ESCAPE = /\\(\\|0|u[0-9A-F]{4})/g;

/**
 * Writes a string holding NUL or lone surrogates as text jsonb accepts: `\` → `\\`, NUL → `\0`,
 * a lone surrogate → `\uD800` (as plain characters). The value is marked in superjson's meta, so
 * only marked strings are decoded; readers of the views see the escaped, readable text.
 */
function escapeText(text: string): string {
  return text.replace(NEEDS_TEXT_ESCAPE, (char) => {
    if (char === '\\') return '\\\\';
    if (char === '\0') return '\\0';
    return `\\u${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  });
}

function unescapeText(text: string): string {
  return text.replace(TEXT_ESCAPE, (_, code: string) => {
    if (code === '\\') return '\\';
    if (code === '0') return '\0';
    return String.fromCharCode(parseInt(code.slice(1), 16));
  });
}

/**
 * Turns values into the text stored in Strata's tables and back, preserving Date, BigInt, Map,
 * Set, Uint8Array, undefined, RegExp, URL and Error (name, message, stack, code, cause), and
 * every string exactly — including NUL characters and lone surrogates, which are stored escaped
 * (see docs/schema.md) so that PostgreSQL's jsonb, and with it the `strata.*` views, can always
 * read the stored text. Values that would not survive (functions, symbols, class instances,
 * cycles, invalid Dates, keys such as `__proto__`) are rejected with a
 * {@link NotSerializableError} naming their path, before anything is written.
 *
 * @example
 * const s = new Serializer();
 * const text = s.serialize({ at: new Date(0), ids: new Set([1n]) }, 'workflow input');
 * s.deserialize(text); // { at: Date(0), ids: Set { 1n } }
 */
export class Serializer {
  readonly #json = new SuperJSON();
  readonly #maxBytes: number;

  constructor(maxValueBytes: number = DEFAULT_MAX_VALUE_BYTES) {
    this.#maxBytes = maxValueBytes;
    this.#json.registerCustom<Uint8Array, string>(
      {
        isApplicable: (value): value is Uint8Array => value instanceof Uint8Array,
        serialize: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
        deserialize: (text) => new Uint8Array(Buffer.from(text, 'base64')),
      },
      'Uint8Array',
    );
    this.#json.registerCustom<string, string>(
      {
        isApplicable: (value): value is string => typeof value === 'string' && UNSTORABLE_IN_JSONB.test(value),
        serialize: escapeText,
        deserialize: unescapeText,
      },
      'escaped-text',
    );
    this.#json.allowErrorProps('stack', 'code');
  }

  /** Serializes `value`; `what` names it in error messages ("input of workflow x"). */
  serialize(value: unknown, what: string): string {
    // Primitives take a shortcut to the text superjson writes for them (byte for byte, see
    // serialization.test.ts), skipping the check walk and superjson's walker: steps mostly return
    // undefined, numbers, booleans or short strings, and this was ~5% of a step's CPU.
    const primitive = primitiveText(value);
    if (primitive !== undefined) return this.#limited(primitive, what);
    check(value, what, '(value)', new Set(), 0);
    let text: string;
    try {
      text = JSON.stringify(this.#json.serialize(value));
    } catch (error) {
      // check() refuses what superjson would; this keeps any other refusal typed.
      throw new NotSerializableError(what, '(value)', `could not be serialized (${(error as Error).message})`);
    }
    return this.#limited(text, what);
  }

  /** `text`, unless its UTF-8 form is larger than the limit. */
  #limited(text: string, what: string): string {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: text this short cannot be over the limit.
    if (text.length * 3 <= this.#maxBytes) return text;
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#maxBytes) throw new PayloadTooLargeError(what, bytes, this.#maxBytes);
    return text;
  }

  /**
   * Serializes a thrown value for storage. Something that cannot be stored as it is (a thrown
   * function, an oversized error) is stored as an Error carrying its description instead, cut
   * to fit the size limit, so a failure is never lost to its own serialization.
   */
  serializeError(error: unknown): string {
    try {
      return this.serialize(error, 'error');
    } catch {
      const description = error instanceof Error ? `${String(error.name)}: ${String(error.message)}` : safeString(error);
      for (let chars = MAX_REPLACEMENT_MESSAGE_CHARS; ; chars = Math.floor(chars / 4)) {
        const replacement = new Error(description.slice(0, chars));
        replacement.name = 'UnserializableError';
        if (chars < MAX_REPLACEMENT_MESSAGE_CHARS) replacement.stack = undefined;
        try {
          return this.serialize(replacement, 'error');
        } catch (failure) {
          if (chars === 0) throw failure; // a limit below an empty error's size: maxValueBytes is validated against this
        }
      }
    }
  }

  /** Inverse of {@link serialize}. */
  deserialize<T = unknown>(text: string): T {
    return this.#json.deserialize<T>(JSON.parse(text));
  }
}

/** What superjson writes for `undefined` (it has no JSON form: a meta entry marks it). */
const UNDEFINED_TEXT = JSON.stringify(new SuperJSON().serialize(undefined));

/**
 * The stored text of `value` when it is a primitive whose superjson form has no meta (a finite
 * number other than -0, a boolean, null, a string jsonb can store) or is `undefined`; else
 * undefined (-0, NaN, ±Infinity, bigint, strings to escape and objects go through superjson).
 */
function primitiveText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'undefined':
      return UNDEFINED_TEXT;
    case 'boolean':
      return value ? '{"json":true}' : '{"json":false}';
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? `{"json":${JSON.stringify(value)}}` : undefined;
    case 'string':
      return UNSTORABLE_IN_JSONB.test(value) ? undefined : `{"json":${JSON.stringify(value)}}`;
    case 'object':
      return value === null ? '{"json":null}' : undefined;
    default:
      return undefined;
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function check(value: unknown, what: string, path: string, ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'function':
      throw new NotSerializableError(what, path, 'is a function');
    case 'symbol':
      throw new NotSerializableError(what, path, 'is a symbol');
    case 'object':
      break;
    default:
      return;
  }
  if (value === null) return;
  if (depth > MAX_DEPTH) throw new NotSerializableError(what, path, `is nested more than ${MAX_DEPTH} levels deep`);
  if (ancestors.has(value)) throw new NotSerializableError(what, path, 'refers back to itself (a cycle)');
  const proto = Object.getPrototypeOf(value) as object | null;
  const plain = proto === null || proto === Object.prototype || Array.isArray(value);
  if (!plain && !ALLOWED_CLASSES.some((cls) => value instanceof cls)) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
    throw new NotSerializableError(what, path, `is an instance of class ${name}, which would lose its class when stored; convert it to plain data`);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new NotSerializableError(what, path, 'is an invalid Date (its time is NaN), which cannot be stored as a time; pass a valid Date or null');
    return;
  }
  if (value instanceof RegExp) {
    if (UNSTORABLE_IN_JSONB.test(value.source)) throw new NotSerializableError(what, path, 'is a RegExp whose source holds a NUL character or a lone surrogate; write it with an escape such as \\0');
    return;
  }
  if (value instanceof URL || value instanceof Uint8Array) return;
  ancestors.add(value);
  if (value instanceof Error) {
    // superjson stores name, message, stack, code and cause; the cause is stored as a value.
    if ('cause' in value) check(value.cause, what, `${path}.cause`, ancestors, depth + 1);
  } else if (value instanceof Map) {
    for (const [key, item] of value) {
      check(key, what, `${path} map key`, ancestors, depth + 1);
      check(item, what, `${path}.get(${String(key)})`, ancestors, depth + 1);
    }
  } else if (value instanceof Set) {
    for (const item of value) check(item, what, `${path} set item`, ancestors, depth + 1);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => check(item, what, `${path}[${index}]`, ancestors, depth + 1));
  } else {
    if (Object.getOwnPropertySymbols(value).length > 0) throw new NotSerializableError(what, path, 'has symbol keys');
    for (const [key, item] of Object.entries(value)) {
      if (RESERVED_KEYS.has(key)) {
        throw new NotSerializableError(what, `${path}.${key}`, `is a key named "${key}", refused as a prototype-pollution risk; rename the key`);
      }
      if (UNSTORABLE_IN_JSONB.test(key)) {
        throw new NotSerializableError(what, `${path}[${JSON.stringify(key)}]`, 'is a key holding a NUL character or a lone surrogate, which PostgreSQL cannot store; use a Map for such keys');
      }
      check(item, what, `${path}.${key}`, ancestors, depth + 1);
    }
  }
  ancestors.delete(value);
}
