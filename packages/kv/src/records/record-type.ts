// Record types: the schema of a record (fields, primary key, indexes), its validation and its tuple form.

import { pack } from '../tuple/encode.js';
import { unpack } from '../tuple/decode.js';
import { Float64, type Tuple, type TupleItem } from '../tuple/types.js';
import { InvalidRecordError, InvalidRecordTypeError } from './errors.js';

/** The types a record field can have; each maps to one tuple type, so it sorts in indexes. */
export type FieldType = 'string' | 'int' | 'bigint' | 'double' | 'boolean' | 'bytes';

const FIELD_TYPES: readonly FieldType[] = ['string', 'int', 'bigint', 'double', 'boolean', 'bytes'];

/** A field declared with options: `{ type: 'string', nullable: true }` also takes `null`. */
export interface FieldOptions {
  readonly type: FieldType;
  readonly nullable?: boolean;
}

/** A field's declaration: its type, or its type with options. */
export type FieldSpec = FieldType | FieldOptions;

/** The declared fields of a record type, by name. */
export type Fields = Readonly<Record<string, FieldSpec>>;

type ValueOfType<T> = T extends 'string'
  ? string
  : T extends 'int' | 'double'
    ? number
    : T extends 'bigint'
      ? bigint
      : T extends 'boolean'
        ? boolean
        : T extends 'bytes'
          ? Uint8Array
          : never;

/** The JavaScript value of a field: `int` and `double` are numbers, `bigint` a bigint, `bytes` a Uint8Array. */
export type ValueOfField<S> = S extends FieldType
  ? ValueOfType<S>
  : S extends { readonly type: infer T; readonly nullable: true }
    ? ValueOfType<T> | null
    : S extends { readonly type: infer T }
      ? ValueOfType<T>
      : never;

/** A record of a type with fields `F`: every declared field, nothing else. */
export type RecordOf<F extends Fields> = { -readonly [K in keyof F]: ValueOfField<F[K]> };

/**
 * A secondary index, maintained in the same transaction as every record write.
 *
 * - `value`: one entry per record, keyed by the `fields`' values then the primary key; scan it by
 *   range of those values (`scanIndex`).
 * - `count`: how many records share each combination of the `groupBy` fields (all records when
 *   empty); read it with `count`. Kept with atomic adds, so concurrent writers do not conflict on it.
 *
 * @example
 * const byEmail: IndexDefinition = { name: 'by_email', kind: 'value', fields: ['email'] };
 * const perCity: IndexDefinition = { name: 'per_city', kind: 'count', groupBy: ['city'] };
 */
export type IndexDefinition<K extends string = string> =
  | { readonly name: string; readonly kind: 'value'; readonly fields: readonly K[] }
  | { readonly name: string; readonly kind: 'count'; readonly groupBy: readonly K[] };

/** What {@link defineRecordType} takes. */
export interface RecordTypeDefinition<F extends Fields> {
  /** The type's name, shown in errors. */
  readonly name: string;
  /** Every field and its type. */
  readonly fields: F;
  /** The fields whose values, in this order, identify a record (its key). Not nullable. */
  readonly primaryKey: readonly (keyof F & string)[];
  /** Secondary indexes; names are unique within the type. */
  readonly indexes?: readonly IndexDefinition<keyof F & string>[];
}

interface FieldInfo {
  readonly name: string;
  readonly type: FieldType;
  readonly nullable: boolean;
}

/**
 * A validated record type. Make one with {@link defineRecordType}; give it to a `RecordStore`.
 *
 * @example
 * const user = defineRecordType({
 *   name: 'user',
 *   fields: { id: 'string', email: 'string', city: { type: 'string', nullable: true }, age: 'int' },
 *   primaryKey: ['id'],
 *   indexes: [
 *     { name: 'by_email', kind: 'value', fields: ['email'] },
 *     { name: 'per_city', kind: 'count', groupBy: ['city'] },
 *   ],
 * });
 */
export class RecordType<F extends Fields> {
  readonly name: string;
  readonly primaryKey: readonly (keyof F & string)[];
  readonly indexes: readonly IndexDefinition<keyof F & string>[];
  readonly #fields: ReadonlyMap<string, FieldInfo>;
  /** Fields stored in the record's value: every field but the primary key's, in declaration order. */
  readonly #valueFields: readonly FieldInfo[];
  readonly #keyFields: readonly FieldInfo[];

  constructor(definition: RecordTypeDefinition<F>) {
    const name = definition.name;
    if (typeof name !== 'string' || name === '') throw new InvalidRecordTypeError(String(name), 'the name is a non-empty string');
    const fields = new Map<string, FieldInfo>();
    for (const [field, spec] of Object.entries(definition.fields ?? {})) {
      const type = typeof spec === 'string' ? spec : spec?.type;
      if (!FIELD_TYPES.includes(type as FieldType)) {
        throw new InvalidRecordTypeError(name, `field ${JSON.stringify(field)} has type ${JSON.stringify(type)}; use one of ${FIELD_TYPES.join(', ')}`);
      }
      fields.set(field, { name: field, type: type as FieldType, nullable: typeof spec === 'object' && spec.nullable === true });
    }
    const primaryKey = definition.primaryKey ?? [];
    if (primaryKey.length === 0) throw new InvalidRecordTypeError(name, 'declare a primaryKey of at least one field');
    if (new Set(primaryKey).size !== primaryKey.length) throw new InvalidRecordTypeError(name, 'the primaryKey names a field twice');
    const keyFields = primaryKey.map((field) => {
      const info = fields.get(field);
      if (info === undefined) throw new InvalidRecordTypeError(name, `primary key field ${JSON.stringify(field)} is not declared in fields`);
      if (info.nullable) throw new InvalidRecordTypeError(name, `primary key field ${JSON.stringify(field)} cannot be nullable`);
      return info;
    });
    const indexes = definition.indexes ?? [];
    const indexNames = new Set<string>();
    for (const index of indexes) {
      if (typeof index.name !== 'string' || index.name === '') throw new InvalidRecordTypeError(name, 'every index has a non-empty name');
      if (indexNames.has(index.name)) throw new InvalidRecordTypeError(name, `index name ${JSON.stringify(index.name)} is used twice`);
      indexNames.add(index.name);
      const indexed = index.kind === 'value' ? index.fields : index.kind === 'count' ? index.groupBy : undefined;
      if (indexed === undefined) throw new InvalidRecordTypeError(name, `index ${JSON.stringify(index.name)} has kind ${JSON.stringify((index as { kind: unknown }).kind)}; use 'value' or 'count'`);
      if (index.kind === 'value' && indexed.length === 0) throw new InvalidRecordTypeError(name, `value index ${JSON.stringify(index.name)} needs at least one field`);
      for (const field of indexed) {
        if (!fields.has(field)) throw new InvalidRecordTypeError(name, `index ${JSON.stringify(index.name)} names field ${JSON.stringify(field)}, which is not declared`);
      }
    }
    this.name = name;
    this.primaryKey = [...primaryKey];
    this.indexes = [...indexes];
    this.#fields = fields;
    this.#keyFields = keyFields;
    this.#valueFields = [...fields.values()].filter((field) => !primaryKey.includes(field.name as keyof F & string));
  }

  /** The index named `name`, if declared. */
  index(name: string): IndexDefinition<keyof F & string> | undefined {
    return this.indexes.find((index) => index.name === name);
  }

  /**
   * Checks that `record` has exactly the declared fields with values of their types.
   *
   * @throws {InvalidRecordError} naming the first field that does not fit.
   */
  validate(record: unknown): void {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new InvalidRecordError(this.name, `must be an object; got ${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record}`);
    }
    for (const field of Object.keys(record)) {
      if (!this.#fields.has(field)) throw new InvalidRecordError(this.name, `has field ${JSON.stringify(field)}, which the type does not declare`);
    }
    for (const field of this.#fields.values()) {
      const value = (record as Record<string, unknown>)[field.name];
      if (value === undefined) throw new InvalidRecordError(this.name, `is missing field ${JSON.stringify(field.name)}`);
      if (value === null) {
        if (!field.nullable) throw new InvalidRecordError(this.name, `has null in field ${JSON.stringify(field.name)}, which is not nullable`);
        continue;
      }
      if (!fits(field.type, value)) {
        throw new InvalidRecordError(this.name, `has ${describe(value)} in field ${JSON.stringify(field.name)}, which must be ${article(field.type)} ${field.type}`);
      }
    }
  }

  /**
   * The primary key tuple of a record, or of the key values given in primary-key order.
   *
   * @throws {InvalidRecordError} when a key value does not fit its field.
   */
  keyOf(recordOrKey: RecordOf<F> | Tuple): TupleItem[] {
    if (Array.isArray(recordOrKey)) {
      const key = recordOrKey as Tuple;
      if (key.length !== this.#keyFields.length) {
        throw new InvalidRecordError(this.name, `key has ${key.length} values; the primary key has ${this.#keyFields.length} (${this.primaryKey.join(', ')})`);
      }
      return this.#keyFields.map((field, i) => {
        const value = key[i];
        if (!fits(field.type, value)) throw new InvalidRecordError(this.name, `key has ${describe(value)} for ${JSON.stringify(field.name)}, which must be ${article(field.type)} ${field.type}`);
        return toTuple(field, value as FieldValue);
      });
    }
    return this.#keyFields.map((field) => toTuple(field, fieldsOf(recordOrKey)[field.name] ?? null));
  }

  /** The tuple items of the named fields of a validated record (index keys). */
  tupleOf(record: RecordOf<F>, fieldNames: readonly string[]): TupleItem[] {
    return fieldNames.map((name) => {
      const field = this.#fields.get(name);
      if (field === undefined) throw new InvalidRecordError(this.name, `has no field ${JSON.stringify(name)}`);
      return toTuple(field, fieldsOf(record)[name] ?? null);
    });
  }

  /**
   * Tuple items for the leading `values` of the named fields (an index scan bound), each checked
   * against its field's type and encoded as the index encodes it.
   *
   * @throws {InvalidRecordError} when there are more values than fields or one does not fit.
   */
  boundOf(fieldNames: readonly string[], values: Tuple): TupleItem[] {
    if (!Array.isArray(values) || values.length > fieldNames.length) {
      throw new InvalidRecordError(this.name, `index bound has ${Array.isArray(values) ? values.length : 'no'} values; give an array of at most ${fieldNames.length} (${fieldNames.join(', ')})`);
    }
    return values.map((value, i) => {
      const field = this.#fields.get(fieldNames[i] ?? '');
      if (field === undefined) throw new InvalidRecordError(this.name, `has no field ${JSON.stringify(fieldNames[i])}`);
      if (value === null && field.nullable) return null;
      if (!fits(field.type, value)) throw new InvalidRecordError(this.name, `index bound has ${describe(value)} for ${JSON.stringify(field.name)}, which must be ${article(field.type)} ${field.type}`);
      return toTuple(field, value as FieldValue);
    });
  }

  /** Field values from the tuple items of the named fields (an index entry), doubles and bigints restored. */
  valuesOf(fieldNames: readonly string[], items: Tuple): FieldValue[] {
    return fieldNames.map((name, i) => {
      const field = this.#fields.get(name);
      if (field === undefined) throw new InvalidRecordError(this.name, `has no field ${JSON.stringify(name)}`);
      return fromTuple(field, items[i] ?? null);
    });
  }

  /** The stored value of a validated record: its non-key fields, packed as a tuple. */
  encodeValue(record: RecordOf<F>): Uint8Array {
    return pack(this.#valueFields.map((field) => toTuple(field, fieldsOf(record)[field.name] ?? null)));
  }

  /** The record from its primary key tuple and stored value. */
  decode(key: Tuple, value: Uint8Array): RecordOf<F> {
    const record: Record<string, FieldValue> = {};
    this.#keyFields.forEach((field, i) => {
      record[field.name] = fromTuple(field, key[i] ?? null);
    });
    const items = unpack(value);
    this.#valueFields.forEach((field, i) => {
      record[field.name] = fromTuple(field, items[i] ?? null);
    });
    return record as unknown as RecordOf<F>;
  }
}

/**
 * Defines and validates a record type: its fields and their types, its primary key, its
 * secondary indexes. The record type is what a `RecordStore` stores.
 *
 * @throws {InvalidRecordTypeError} when the definition is inconsistent.
 *
 * @example
 * const order = defineRecordType({
 *   name: 'order',
 *   fields: { customer: 'string', id: 'int', cents: 'int', status: 'string' },
 *   primaryKey: ['customer', 'id'],
 *   indexes: [{ name: 'by_status', kind: 'value', fields: ['status', 'cents'] }, { name: 'count', kind: 'count', groupBy: [] }],
 * });
 * type Order = RecordOfType<typeof order>; // { customer: string; id: number; cents: number; status: string }
 */
export function defineRecordType<const F extends Fields>(definition: RecordTypeDefinition<F>): RecordType<F> {
  return new RecordType(definition);
}

/** The record of a {@link RecordType}: `RecordOfType<typeof user>`. */
export type RecordOfType<T> = T extends RecordType<infer F> ? RecordOf<F> : never;

/** The value of one field. */
export type FieldValue = string | number | bigint | boolean | Uint8Array | null;

function fieldsOf(record: object): Record<string, FieldValue> {
  return record as Record<string, FieldValue>;
}

function fits(type: FieldType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'int':
      return Number.isSafeInteger(value);
    case 'bigint':
      return typeof value === 'bigint';
    case 'double':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'bytes':
      return value instanceof Uint8Array;
  }
}

function toTuple(field: FieldInfo, value: FieldValue): TupleItem {
  if (value === null) return null;
  // Doubles always pack as doubles, so 2.0 and 2.5 sort together rather than 2.0 among the integers.
  if (field.type === 'double') return new Float64(value as number);
  if (field.type === 'int' && Object.is(value, -0)) return 0;
  return value;
}

function fromTuple(field: FieldInfo, item: TupleItem): FieldValue {
  if (item === null) return null;
  switch (field.type) {
    case 'double':
      return item instanceof Float64 ? item.value : (item as number);
    case 'bigint':
      return BigInt(item as number | bigint);
    default:
      return item as FieldValue;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (typeof value === 'bigint') return `bigint ${value}n`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}

function article(type: FieldType): string {
  return type === 'int' ? 'an' : 'a';
}
