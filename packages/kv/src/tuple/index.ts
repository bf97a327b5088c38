// The tuple layer: FoundationDB-compatible, order-preserving encoding of tuples as keys.

export { pack, packWithVersionstamp } from './encode.js';
export { unpack } from './decode.js';
export { range, rangeOfPrefix, strinc, type KeyRange } from './range.js';
export { compareBytes, concatBytes } from './bytes.js';
export { TupleDecodingError, TupleEncodingError } from './errors.js';
export {
  Float32,
  Float64,
  MAX_VERSIONSTAMP_USER_VERSION,
  UUID,
  Versionstamp,
  VERSIONSTAMP_BYTES,
  VERSIONSTAMP_TRANSACTION_BYTES,
  type Tuple,
  type TupleItem,
} from './types.js';
