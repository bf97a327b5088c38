// Atomic operations: how each one turns a key's current value (or its absence) into the new one,
// with FoundationDB's semantics (little-endian integers, v2 behaviour for a missing value).

import { equalBytes } from './bytes.js';
import { MAX_VALUE_BYTES } from './limits.js';

/** The atomic operations, by name. */
export type AtomicOp = 'add' | 'min' | 'max' | 'bitAnd' | 'bitOr' | 'bitXor' | 'appendIfFits' | 'compareAndClear';

/** One atomic mutation waiting to be applied to a value. */
export interface AtomicMutation {
  readonly op: AtomicOp;
  readonly param: Uint8Array;
}

/** `value` zero-extended or truncated to `width` bytes (little-endian: the low bytes are kept). */
function resize(value: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(width);
  out.set(value.subarray(0, width));
  return out;
}

/** Little-endian unsigned comparison of two equally wide integers. */
function compareLittleEndian(a: Uint8Array, b: Uint8Array): number {
  for (let i = a.length - 1; i >= 0; i--) {
    const diff = (a[i] as number) - (b[i] as number);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * The value after `mutation`, given the value before it (`undefined`: absent); `undefined`
 * means the key is cleared.
 *
 * @example
 * applyAtomic(Uint8Array.of(255, 0), { op: 'add', param: Uint8Array.of(1, 0) }); // Uint8Array [0, 1]
 */
export function applyAtomic(current: Uint8Array | undefined, mutation: AtomicMutation): Uint8Array | undefined {
  const { op, param } = mutation;
  switch (op) {
    case 'add': {
      const base = resize(current ?? new Uint8Array(0), param.length);
      let carry = 0;
      for (let i = 0; i < param.length; i++) {
        const sum = (base[i] as number) + (param[i] as number) + carry;
        base[i] = sum & 0xff;
        carry = sum >> 8;
      }
      return base;
    }
    case 'min':
    case 'max': {
      if (current === undefined) return param.slice();
      const base = resize(current, param.length);
      const order = compareLittleEndian(base, param);
      return (op === 'min' ? order <= 0 : order >= 0) ? base : param.slice();
    }
    case 'bitAnd':
    case 'bitOr':
    case 'bitXor': {
      if (current === undefined && op === 'bitAnd') return param.slice();
      const base = resize(current ?? new Uint8Array(0), param.length);
      for (let i = 0; i < param.length; i++) {
        const a = base[i] as number;
        const b = param[i] as number;
        base[i] = op === 'bitAnd' ? a & b : op === 'bitOr' ? a | b : a ^ b;
      }
      return base;
    }
    case 'appendIfFits': {
      if (current === undefined) return param.slice();
      if (current.length + param.length > MAX_VALUE_BYTES) return current;
      const out = new Uint8Array(current.length + param.length);
      out.set(current);
      out.set(param, current.length);
      return out;
    }
    case 'compareAndClear':
      return current !== undefined && equalBytes(current, param) ? undefined : current;
    default: {
      const unknown: never = op;
      throw new Error(`unknown atomic operation ${String(unknown)}`);
    }
  }
}

/** The value after every mutation of `mutations`, in order. */
export function applyAll(current: Uint8Array | undefined, mutations: readonly AtomicMutation[]): Uint8Array | undefined {
  let value = current;
  for (const mutation of mutations) value = applyAtomic(value, mutation);
  return value;
}
