import SuperJSON from 'superjson';
import { NotSerializableError, PayloadTooLargeError } from './errors.js';

/** Default size limit of one stored value: big enough for documents, small enough to keep rows cheap. */
export const DEFAULT_MAX_VALUE_BYTES = 4 * 1024 * 1024;
/** Nesting bound of the pre-serialization check; deeper data is almost always a bug (or a cycle in disguise). */
const MAX_DEPTH = 256;

const ALLOWED_CLASSES: ReadonlyArray<abstract new (...args: never[]) => unknown> = [Date, RegExp, Map, Set, URL, Error, Uint8Array];

/**
 * Turns values into the text stored in Strata's tables and back, preserving Date, BigInt, Map,
 * Set, Uint8Array, undefined, RegExp, URL and Error (name, message, stack, code). Values that
 * would not survive (functions, symbols, class instances, cycles) are rejected before anything is
 * written.
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
    this.#json.allowErrorProps('stack', 'code');
  }

  /** Serializes `value`; `what` names it in error messages ("input of workflow x"). */
  serialize(value: unknown, what: string): string {
    check(value, what, '(value)', new Set(), 0);
    const text = JSON.stringify(this.#json.serialize(value));
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#maxBytes) throw new PayloadTooLargeError(what, bytes, this.#maxBytes);
    return text;
  }

  /**
   * Serializes a thrown value for storage. Something that cannot be stored as it is (a thrown
   * function, an oversized error) is stored as an Error carrying its description instead, so a
   * failure is never lost to its own serialization.
   */
  serializeError(error: unknown): string {
    try {
      return this.serialize(error, 'error');
    } catch {
      const replacement = new Error(error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 10_000) : String(error).slice(0, 10_000));
      replacement.name = 'UnserializableError';
      return this.serialize(replacement, 'error');
    }
  }

  /** Inverse of {@link serialize}. */
  deserialize<T = unknown>(text: string): T {
    return this.#json.deserialize<T>(JSON.parse(text));
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
  if (value instanceof Error || value instanceof Date || value instanceof RegExp || value instanceof URL || value instanceof Uint8Array) return;
  ancestors.add(value);
  if (value instanceof Map) {
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
    for (const [key, item] of Object.entries(value)) check(item, what, `${path}.${key}`, ancestors, depth + 1);
  }
  ancestors.delete(value);
}
