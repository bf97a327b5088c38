// FoundationDB's tuple type codes (design/tuple.md in apple/foundationdb), the ones this layer reads and writes.

export const NULL = 0x00;
export const BYTES = 0x01;
export const STRING = 0x02;
export const NESTED = 0x05;
/** Negative integer of 9–255 bytes: a length byte (bits flipped), then one's complement. */
export const NEG_BIG_INT = 0x0b;
/** Zero; 0x0c–0x13 are negative integers of 8…1 bytes, 0x15–0x1c positive ones of 1…8 bytes. */
export const INT_ZERO = 0x14;
/** Positive integer of 9–255 bytes: a length byte, then the big-endian magnitude. */
export const POS_BIG_INT = 0x1d;
export const FLOAT = 0x20;
export const DOUBLE = 0x21;
export const FALSE = 0x26;
export const TRUE = 0x27;
export const UUID_CODE = 0x30;
export const VERSIONSTAMP = 0x33;
/** Follows a 0x00 inside byte strings, strings and nested tuples, so 0x00 0xff is an escaped 0x00 (or a nested null). */
export const ESCAPE = 0xff;

/** Widest integer the fixed-size codes hold; wider ones take 0x0b / 0x1d. */
export const MAX_FIXED_INT_BYTES = 8;
/** Widest integer the tuple layer holds: its length is one byte. */
export const MAX_INT_BYTES = 255;
